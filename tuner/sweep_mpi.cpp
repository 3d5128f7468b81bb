#include "tuner/sweep_mpi.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <unordered_map>

#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/mpi/nonblocking.hpp>
#include <boost/mpi/request.hpp>
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

// Guided self-scheduling: a chunk is a share of what is left (about a quarter of each rank's
// part), capped at one batch, so chunks are large while much remains (messages stay rare next to
// evaluation) and shrink to single points at the end (no rank sits on a long tail while the
// others idle).
std::size_t chunk_size(std::size_t remaining, int ranks, int batch_points) {
  const std::size_t share = remaining / (static_cast<std::size_t>(ranks) * 4);
  return std::clamp<std::size_t>(share, 1, static_cast<std::size_t>(std::max(1, batch_points)));
}

// OpenMPI's blocking send returns only once the receiver has matched the message, so every send
// here is non-blocking: a rank never waits for another to finish the point it is evaluating.
void worker_loop(const mpi::communicator& world, SweepEvaluator& evaluator, const std::vector<SweepPoint>& design) {
  std::unordered_map<int64_t, const SweepPoint*> by_index;
  for (const SweepPoint& point : design) by_index.emplace(point.index, &point);
  std::vector<std::string> outgoing;
  std::optional<mpi::request> sending;
  for (;;) {
    std::vector<int64_t> chunk;
    world.recv(0, kTagWork, chunk);
    if (chunk.empty()) break;
    std::vector<std::string> records;
    for (int64_t index : chunk) {
      traces::SweepRecord record = evaluator.evaluate(*by_index.at(index));
      record.rank = world.rank();
      records.push_back(traces::sweep_record_to_json(record));
    }
    if (sending) sending->wait();
    outgoing = std::move(records);
    sending = world.isend(0, kTagRecords, outgoing);
  }
  if (sending) sending->wait();
}

// Pending points grouped by the network they load (model, configuration, batch), in design order.
// A rank keeps taking points of the group it works on, so each network is loaded by as few ranks
// as the balance allows; a rank whose group ran out takes the first group no other rank works on,
// or else shares the largest.
class AffinityQueue {
 public:
  AffinityQueue(const std::vector<SweepPoint>& pending, const SweepEvaluator& evaluator, int ranks)
      : current_(static_cast<std::size_t>(ranks), -1), remaining_(pending.size()) {
    std::map<std::string, std::size_t> group_of;
    for (const SweepPoint& point : pending) {
      auto [entry, fresh] = group_of.emplace(evaluator.network_key(point), groups_.size());
      if (fresh) groups_.emplace_back();
      groups_[entry->second].push_back(point);
    }
  }

  bool empty() const { return remaining_ == 0; }
  std::size_t size() const { return remaining_; }

  std::vector<SweepPoint> take(int rank, std::size_t count) {
    std::vector<SweepPoint> taken;
    int& group = current_[static_cast<std::size_t>(rank)];
    while (taken.size() < count && remaining_ > 0) {
      if (group < 0 || groups_[static_cast<std::size_t>(group)].empty()) group = next_group(rank);
      std::deque<SweepPoint>& points = groups_[static_cast<std::size_t>(group)];
      while (taken.size() < count && !points.empty()) {
        taken.push_back(std::move(points.front()));
        points.pop_front();
        --remaining_;
      }
    }
    return taken;
  }

 private:
  int next_group(int rank) const {
    auto taken_by_other = [&](std::size_t g) {
      for (std::size_t r = 0; r < current_.size(); ++r)
        if (static_cast<int>(r) != rank && current_[r] == static_cast<int>(g)) return true;
      return false;
    };
    for (std::size_t g = 0; g < groups_.size(); ++g)
      if (!groups_[g].empty() && !taken_by_other(g)) return static_cast<int>(g);
    std::size_t largest = 0;
    for (std::size_t g = 1; g < groups_.size(); ++g)
      if (groups_[g].size() > groups_[largest].size()) largest = g;
    return static_cast<int>(largest);
  }

  std::vector<std::deque<SweepPoint>> groups_;
  std::vector<int> current_;  // per rank, the group it takes from
  std::size_t remaining_;
};

class Coordinator {
 public:
  Coordinator(const mpi::communicator& world, const SweepSpec& spec, SweepEvaluator& evaluator,
              traces::ResultsStore& store, const std::vector<SweepPoint>& pending, const SweepRunOptions& options)
      : world_(world), spec_(spec), evaluator_(evaluator), store_(store), options_(options),
        queue_(pending, evaluator, world.size()),
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
        for (const SweepPoint& point : queue_.take(0, 1)) accept(evaluator_.evaluate(point));
        continue;
      }
      if (all_workers_released()) break;
      // Nothing left for rank 0 to evaluate: block until a worker reports.
      world_.probe(mpi::any_source, kTagRecords);
    }
    flush();
    finish_sends();
    return summary_;
  }

 private:
  // Sends `worker` its next chunk, or releases it once the queue is empty (or the run stops) and
  // it has no chunk left in flight.
  void feed(int worker) {
    const auto w = static_cast<std::size_t>(worker);
    if (!stopping_ && !queue_.empty()) {
      std::vector<int64_t> chunk;
      for (const SweepPoint& point : queue_.take(worker, chunk_size(queue_.size(), world_.size(), spec_.batch_points)))
        chunk.push_back(point.index);
      send_work(worker, std::move(chunk));
      ++outstanding_[w];
    } else if (outstanding_[w] == 0 && !released_[w]) {
      send_work(worker, {});
      released_[w] = true;
    }
  }

  // The chunk stays alive (and in place) until its send completes.
  void send_work(int worker, std::vector<int64_t> chunk) {
    sends_.remove_if([](WorkSend& send) { return static_cast<bool>(send.request.test()); });
    sends_.emplace_back();
    sends_.back().chunk = std::move(chunk);
    sends_.back().request = world_.isend(worker, kTagWork, sends_.back().chunk);
  }

  void finish_sends() {
    for (WorkSend& send : sends_) send.request.wait();
    sends_.clear();
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
  AffinityQueue queue_;
  std::vector<int> outstanding_;
  std::vector<bool> released_;
  bool stopping_ = false;
  struct WorkSend {
    std::vector<int64_t> chunk;
    mpi::request request;
  };
  std::list<WorkSend> sends_;
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
