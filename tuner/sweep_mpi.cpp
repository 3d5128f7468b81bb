#include "tuner/sweep_mpi.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <unordered_map>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

namespace coda::tuner {
namespace {

namespace mpi = boost::mpi;

constexpr int kTagWork = 1;     // rank 0 -> worker: point indices to evaluate; empty: no more work
constexpr int kTagRecords = 2;  // worker -> rank 0: the chunk's records as JSON; also asks for more

// How many chunks a worker holds at once: while it evaluates one, the next is already on its way,
// so a worker never waits for rank 0 to finish the point it is evaluating itself.
constexpr int kChunksInFlight = 2;

// Chunks small enough that the last ones balance the ranks' finishing times, large enough that
// messages stay rare next to evaluation: about eight chunks per rank, at most one batch.
std::size_t chunk_size(std::size_t pending, int ranks, int batch_points) {
  const std::size_t per_rank = pending / (static_cast<std::size_t>(ranks) * 8);
  return std::clamp<std::size_t>(per_rank, 1, static_cast<std::size_t>(std::max(1, batch_points)));
}

void worker_loop(const mpi::communicator& world, SweepEvaluator& evaluator, const std::vector<SweepPoint>& design) {
  std::unordered_map<int64_t, const SweepPoint*> by_index;
  for (const SweepPoint& point : design) by_index.emplace(point.index, &point);
  for (;;) {
    std::vector<int64_t> chunk;
    world.recv(0, kTagWork, chunk);
    if (chunk.empty()) return;
    std::vector<std::string> records;
    for (int64_t index : chunk) {
      traces::SweepRecord record = evaluator.evaluate(*by_index.at(index));
      record.rank = world.rank();
      records.push_back(traces::sweep_record_to_json(record));
    }
    world.send(0, kTagRecords, records);
  }
}

class Coordinator {
 public:
  Coordinator(const mpi::communicator& world, const SweepSpec& spec, SweepEvaluator& evaluator,
              traces::ResultsStore& store, const std::vector<SweepPoint>& pending, const SweepRunOptions& options)
      : world_(world), spec_(spec), evaluator_(evaluator), store_(store), options_(options),
        queue_(pending.begin(), pending.end()),
        chunk_(chunk_size(pending.size(), world.size(), spec.batch_points)),
        outstanding_(static_cast<std::size_t>(world.size()), 0),
        released_(static_cast<std::size_t>(world.size()), false) {
    progress_.total = static_cast<int64_t>(pending.size());
  }

  SweepRunSummary run() {
    for (int worker = 1; worker < world_.size(); ++worker)
      for (int k = 0; k < kChunksInFlight; ++k) feed(worker);
    for (;;) {
      serve_waiting_workers();
      if (!stopping_ && options_.stop && options_.stop->load()) stopping_ = summary_.interrupted = true;
      if (!stopping_ && !queue_.empty()) {
        const SweepPoint point = queue_.front();
        queue_.pop_front();
        accept(evaluator_.evaluate(point));
        continue;
      }
      if (all_workers_released()) break;
      // Nothing left for rank 0 to evaluate: block until a worker reports.
      world_.probe(mpi::any_source, kTagRecords);
    }
    flush();
    return summary_;
  }

 private:
  // Sends `worker` its next chunk, or releases it once the queue is empty (or the run stops) and
  // it has no chunk left in flight.
  void feed(int worker) {
    const auto w = static_cast<std::size_t>(worker);
    if (!stopping_ && !queue_.empty()) {
      std::vector<int64_t> chunk;
      while (chunk.size() < chunk_ && !queue_.empty()) {
        chunk.push_back(queue_.front().index);
        queue_.pop_front();
      }
      world_.send(worker, kTagWork, chunk);
      ++outstanding_[w];
    } else if (outstanding_[w] == 0 && !released_[w]) {
      world_.send(worker, kTagWork, std::vector<int64_t>{});
      released_[w] = true;
    }
  }

  void serve_waiting_workers() {
    while (boost::optional<mpi::status> status = world_.iprobe(mpi::any_source, kTagRecords)) {
      const int worker = status->source();
      std::vector<std::string> records;
      world_.recv(worker, kTagRecords, records);
      --outstanding_[static_cast<std::size_t>(worker)];
      for (const std::string& json : records)
        accept(traces::sweep_record_from_json(json, "rank " + std::to_string(worker)));
      if (!stopping_ && options_.stop && options_.stop->load()) stopping_ = summary_.interrupted = true;
      feed(worker);
    }
    // A stop leaves idle workers holding nothing: release them.
    if (stopping_)
      for (int worker = 1; worker < world_.size(); ++worker) feed(worker);
  }

  void accept(traces::SweepRecord record) {
    if (record.status != "ok") ++summary_.errors;
    ++summary_.evaluated;
    buffer_.push_back(std::move(record));
    if (buffer_.size() >= static_cast<std::size_t>(std::max(1, spec_.batch_points))) flush();
    progress_.done = summary_.evaluated;
    progress_.errors = summary_.errors;
    if (options_.progress) options_.progress(progress_);
  }

  void flush() {
    if (buffer_.empty()) return;
    store_.write_batch(buffer_);
    buffer_.clear();
  }

  bool all_workers_released() const {
    return std::all_of(released_.begin() + 1, released_.end(), [](bool released) { return released; });
  }

  const mpi::communicator& world_;
  const SweepSpec& spec_;
  SweepEvaluator& evaluator_;
  traces::ResultsStore& store_;
  const SweepRunOptions& options_;
  std::deque<SweepPoint> queue_;
  std::size_t chunk_;
  std::vector<int> outstanding_;
  std::vector<bool> released_;
  bool stopping_ = false;
  std::vector<traces::SweepRecord> buffer_;
  SweepRunSummary summary_;
  SweepProgress progress_;
};

}  // namespace

bool started_by_mpirun() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  return size != nullptr && std::atoi(size) > 1;
}

struct MpiSession::State {
  mpi::environment environment;
  mpi::communicator world;
};

MpiSession::MpiSession() : state_(std::make_unique<State>()) {}
MpiSession::~MpiSession() = default;
int MpiSession::rank() const { return state_->world.rank(); }
int MpiSession::size() const { return state_->world.size(); }

bool MpiSession::agree(bool rank0_ok) const {
  bool ok = rank0_ok;
  mpi::broadcast(state_->world, ok, 0);
  return ok;
}

SweepRunSummary run_sweep_mpi(const MpiSession& session, const SweepSpec& spec, SweepEvaluator& evaluator,
                              traces::ResultsStore* store, const std::vector<SweepPoint>& design,
                              const std::vector<SweepPoint>& pending, const SweepRunOptions& options) {
  const mpi::communicator world;
  const auto start = std::chrono::steady_clock::now();
  SweepRunSummary summary;
  if (world.rank() == 0) {
    summary = Coordinator(world, spec, evaluator, *store, pending, options).run();
  } else {
    worker_loop(world, evaluator, design);
  }
  world.barrier();
  summary.ranks = session.size();
  summary.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace coda::tuner
