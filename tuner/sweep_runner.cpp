#include "tuner/sweep_runner.h"

#include <chrono>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "kernels/error.h"

namespace coda::tuner {

void parse_shard(const std::string& text, int& index, int& count) {
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument(text);
    std::size_t used_i = 0, used_n = 0;
    const std::string i_text = text.substr(0, slash), n_text = text.substr(slash + 1);
    index = std::stoi(i_text, &used_i);
    count = std::stoi(n_text, &used_n);
    if (used_i != i_text.size() || used_n != n_text.size()) throw std::invalid_argument(text);
  } catch (const std::logic_error&) {
    throw BadInput("--shard " + text + ": expected I/N, e.g. 0/4");
  }
  if (count < 1 || index < 0 || index >= count)
    throw BadInput("--shard " + text + ": needs N >= 1 and 0 <= I < N");
}

std::vector<SweepPoint> distinct_points(const std::vector<SweepPoint>& design, const SweepEvaluator& evaluator) {
  std::vector<SweepPoint> points;
  std::unordered_set<std::string> seen;
  for (const SweepPoint& point : design)
    if (seen.insert(evaluator.key(point)).second) points.push_back(point);
  return points;
}

void prepare_store(traces::ResultsStore& store, const SweepSpec& spec, const SweepEvaluator& evaluator,
                   int64_t design_points) {
  const std::optional<std::string> stored = store.meta("sweep_id");
  if (stored && *stored != evaluator.sweep_id()) {
    const std::string name = store.meta("spec_name").value_or("?");
    throw BadInput(store.path() + ": holds another sweep ('" + name +
                   "': different axes, platform, evaluator, settings or coda version); use another --db");
  }
  store.set_meta({{"sweep_id", evaluator.sweep_id()},
                  {"spec_name", spec.name},
                  {"spec", spec.text},
                  {"spec_file", spec.source},
                  {"axes", nlohmann::json(spec.axis_names()).dump()},
                  {"evaluator", spec.evaluator},
                  {"design_points", std::to_string(design_points)},
                  {"coda_version", CODA_VERSION}});
}

std::vector<SweepPoint> pending_points(const std::vector<SweepPoint>& points, const SweepEvaluator& evaluator,
                                       const traces::ResultsStore* store, int shard_index, int shard_count,
                                       int64_t* in_shard) {
  const std::unordered_set<std::string> stored = store ? store->stored_keys() : std::unordered_set<std::string>();
  std::vector<SweepPoint> pending;
  int64_t shard_size = 0;
  for (std::size_t position = 0; position < points.size(); ++position) {
    if (static_cast<int>(position % static_cast<std::size_t>(shard_count)) != shard_index) continue;
    ++shard_size;
    if (!stored.count(evaluator.key(points[position]))) pending.push_back(points[position]);
  }
  if (in_shard) *in_shard = shard_size;
  return pending;
}

SweepRunSummary run_sweep(const SweepSpec& spec, SweepEvaluator& evaluator, traces::ResultsStore& store,
                          const std::vector<SweepPoint>& pending, const SweepRunOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  SweepRunSummary summary;
  SweepProgress progress;
  progress.total = static_cast<int64_t>(pending.size());
  const std::size_t batch = static_cast<std::size_t>(std::max(1, spec.batch_points));
  std::vector<traces::SweepRecord> records;
  for (std::size_t begin = 0; begin < pending.size(); begin += batch) {
    if (options.stop && options.stop->load()) {
      summary.interrupted = true;
      break;
    }
    records.clear();
    const std::size_t end = std::min(pending.size(), begin + batch);
    for (std::size_t i = begin; i < end; ++i) {
      records.push_back(evaluator.evaluate(pending[i]));
      if (records.back().status != "ok") ++summary.errors;
    }
    store.write_batch(records);
    summary.evaluated += static_cast<int64_t>(records.size());
    progress.done = summary.evaluated;
    progress.errors = summary.errors;
    if (options.progress) options.progress(progress);
  }
  summary.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace coda::tuner
