// coda sweep: batch design-space sweeps into a SQLite results store -- resumable (a re-run skips
// stored points), crash-proof (one transaction per batch), Ctrl-C stops after the current batch,
// `mpirun -n N coda sweep ...` spreads the points over MPI ranks, `--shard i/N` runs a slice for
// clusters without MPI. `coda sweep merge` combines shard databases; `coda sweep export` writes CSV.
#include <array>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/network_setup.h"
#include "cli/progress.h"
#include "kernels/error.h"
#include "kernels/parallel.h"
#include "traces/results_store.h"
#include "tuner/curve.h"
#include "tuner/sweep_mpi.h"
#include "tuner/sweep_runner.h"

namespace coda::cli {
namespace {

std::atomic<bool> g_stop_requested{false};

extern "C" void request_stop(int) { g_stop_requested.store(true); }

// SIGINT (Ctrl-C), SIGTERM and SIGUSR1 (which mpirun forwards to every rank) ask for a stop after
// the batch in flight; the previous handlers come back when the run ends.
class StopOnSignals {
 public:
  StopOnSignals() {
    for (int signal : kSignals) previous_.push_back(std::signal(signal, request_stop));
  }
  ~StopOnSignals() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) std::signal(kSignals[i], previous_[i]);
  }

 private:
  static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGUSR1};
  std::vector<void (*)(int)> previous_;
};

// The configuration a sweep's config value names: "exact" (none), "knob:ID" (that knob on every op
// it applies to), "CURVE.json#confN" (a point of a `coda tune` curve, with the model it was tuned
// for when that is a pruned one) or a configuration file.
struct SweepConfiguration {
  std::optional<ApproxConfig> config;
  std::string model_override;
};

SweepConfiguration sweep_configuration(const std::string& value) {
  SweepConfiguration result;
  if (value == "exact") return result;
  if (value.rfind("knob:", 0) == 0) {
    ApproxConfig config;
    config.source = value;
    config.has_all = true;
    try {
      std::size_t used = 0;
      config.all.knob = std::stoi(value.substr(5), &used);
      if (used != value.size() - 5) throw std::invalid_argument(value);
    } catch (const std::logic_error&) {
      throw BadInput("config " + value + ": expected knob:ID with a knob id (see coda knobs)");
    }
    knob_catalog().require(config.all.knob);
    result.config = std::move(config);
    return result;
  }
  const auto hash = value.rfind('#');
  if (hash != std::string::npos) {
    const std::string file = value.substr(0, hash), name = value.substr(hash + 1);
    const tuner::Curve curve = tuner::Curve::load(file);
    for (const tuner::CurvePoint& point : curve.points)
      if (point.name == name) {
        result.config = point.config;
        result.model_override = point.model;
        return result;
      }
    throw BadInput(file + ": no point named '" + name + "' (the curve has " + std::to_string(curve.points.size()) +
                   " points, conf1 ...)");
  }
  result.config = ApproxConfig::load(value);
  return result;
}

tuner::SweepNetworkLoader network_loader(std::uint64_t seed) {
  return [seed](const std::string& model, const std::string& config_value, int batch) {
    const SweepConfiguration configuration = sweep_configuration(config_value);
    const std::string& source = configuration.model_override.empty() ? model : configuration.model_override;
    NetworkSetup network =
        load_network_for_costs(source, batch, configuration.config ? &*configuration.config : nullptr, seed);
    return tuner::SweepNetwork{std::move(network.graph), std::move(network.choices)};
  };
}

// Everything a rank needs before evaluating: the spec, its evaluator and the distinct points.
struct SweepPlan {
  tuner::SweepSpec spec;
  std::unique_ptr<tuner::SweepEvaluator> evaluator;
  std::vector<tuner::SweepPoint> points;

  explicit SweepPlan(const std::string& spec_path)
      : spec(tuner::SweepSpec::load(spec_path)),
        evaluator(std::make_unique<tuner::SweepEvaluator>(spec, network_loader(spec.seed))),
        points(tuner::distinct_points(tuner::make_design(spec), *evaluator)) {}
};

nlohmann::json summary_json(const tuner::SweepSpec& spec, const std::string& db, const tuner::SweepRunSummary& s) {
  return {{"sweep", spec.name}, {"db", db}, {"design_points", s.design_points}, {"in_shard", s.in_shard},
          {"already_stored", s.already_stored}, {"evaluated", s.evaluated}, {"errors", s.errors},
          {"interrupted", s.interrupted}, {"ranks", s.ranks}, {"wall_s", s.wall_s}};
}

class SweepCommand : public Command {
 public:
  std::string name() const override { return "sweep"; }
  std::string summary() const override { return "Design-space sweeps into a SQLite results store (resumable, MPI)"; }
  void configure(CLI::App& app) override {
    app.add_option("--spec", spec_, "Sweep spec YAML: axes, design, evaluator (see docs/sweeps.md)");
    app.add_option("--db", db_, "SQLite results database (created, or resumed when it holds this sweep)");
    app.add_option("--shard", shard_, "I/N: evaluate only the I-th of N deterministic slices (e.g. a Slurm array task)");
    app.add_flag("--dry-run", dry_run_, "Check the spec and count the points to evaluate; evaluate nothing");
    app.add_flag("--json", json_, "Print the run's summary as JSON");
    merge_ = app.add_subcommand("merge", "Combine shard databases of one sweep into --db");
    merge_->add_option("--db", merge_db_, "Database receiving the points (created if missing)")->required();
    merge_->add_option("shards", merge_inputs_, "Shard databases")->required();
    export_ = app.add_subcommand("export", "Write a sweep database as CSV");
    export_->add_option("--db", export_db_, "Sweep database")->required();
    export_->add_option("--csv", export_csv_, "CSV file to write")->required();
  }

  int execute(const CommonOptions& common) override {
    if (merge_->parsed()) return merge();
    if (export_->parsed()) return export_csv();
    if (spec_.empty() || db_.empty()) throw BadInput("coda sweep needs --spec SPEC.yaml and --db RESULTS.sqlite");
    return run(common);
  }

 private:
  int run(const CommonOptions& common) {
    // From the start, so that a stop requested while the spec is being checked (or a signal mpirun
    // forwards to a worker) is honoured rather than killing the process.
    StopOnSignals signals;
    std::unique_ptr<tuner::MpiSession> mpi;
    if (tuner::started_by_mpirun()) {
      mpi = std::make_unique<tuner::MpiSession>();
      // A rank per core: kernel threads of one rank would only take cores from the others (and
      // OpenMP's spinning idle threads would do so even between parallel regions).
      if (common.threads == 0) set_thread_count(1);
    }
    const bool writer = !mpi || mpi->rank() == 0;

    // Rank 0 checks everything before any rank works; the others follow its verdict.
    std::unique_ptr<SweepPlan> plan;
    std::unique_ptr<traces::ResultsStore> store;
    std::vector<tuner::SweepPoint> pending;
    tuner::SweepRunSummary summary;
    std::optional<BadInput> problem;
    if (writer) {
      try {
        int shard_index = 0, shard_count = 1;
        if (!shard_.empty()) tuner::parse_shard(shard_, shard_index, shard_count);
        options_.shard_index = shard_index;
        options_.shard_count = shard_count;
        plan = std::make_unique<SweepPlan>(spec_);
        plan->evaluator->validate(plan->points);
        if (!dry_run_ || std::filesystem::exists(db_)) {
          store = std::make_unique<traces::ResultsStore>(db_, !dry_run_);
          if (!dry_run_) tuner::prepare_store(*store, plan->spec, *plan->evaluator, static_cast<int64_t>(plan->points.size()));
          else if (auto id = store->meta("sweep_id"); id && *id != plan->evaluator->sweep_id())
            throw BadInput(db_ + ": holds another sweep; use another --db");
        }
        summary.design_points = static_cast<int64_t>(plan->points.size());
        pending = tuner::pending_points(plan->points, *plan->evaluator, store.get(), shard_index, shard_count,
                                        &summary.in_shard);
        summary.already_stored = summary.in_shard - static_cast<int64_t>(pending.size());
        if (!dry_run_) plan->evaluator->warm_up(pending);
      } catch (const BadInput& e) {
        problem = e;
      }
    } else {
      // Workers load their first networks while rank 0 validates; a spec it refuses ends them below.
      try {
        plan = std::make_unique<SweepPlan>(spec_);
        plan->evaluator->warm_up(plan->points);
      } catch (const BadInput&) {
        plan.reset();
      }
    }
    const bool go_on = mpi ? mpi->agree(!problem && !dry_run_) : !problem;
    if (problem) {
      // MPI ends cleanly first: Boost.MPI aborts the whole job when MPI ends during an exception.
      mpi.reset();
      throw *problem;
    }
    if (!writer) {
      if (!go_on) return dry_run_ ? 0 : 2;  // rank 0 reports
      if (!plan) plan = std::make_unique<SweepPlan>(spec_);  // rank 0 read the spec fine: so will this rank
      tuner::run_sweep_mpi(*mpi, plan->spec, *plan->evaluator, nullptr, plan->points, {}, options_);
      return 0;
    }
    if (dry_run_) {
      report(plan->spec, summary, true);
      return 0;
    }

    ProgressBar bar("sweep " + plan->spec.name, static_cast<int64_t>(pending.size()), "points");
    options_.progress = [&bar](const tuner::SweepProgress& progress) {
      bar.update(progress.done, progress.errors ? fmt::format("{} errors", progress.errors) : std::string());
    };
    options_.stop = &g_stop_requested;
    const tuner::SweepRunSummary run =
        mpi ? tuner::run_sweep_mpi(*mpi, plan->spec, *plan->evaluator, store.get(), plan->points, pending, options_)
            : tuner::run_sweep(plan->spec, *plan->evaluator, *store, pending, options_);
    bar.finish(run.errors ? fmt::format("{} errors", run.errors) : std::string());
    summary.evaluated = run.evaluated;
    summary.errors = run.errors;
    summary.interrupted = run.interrupted;
    summary.ranks = run.ranks;
    summary.wall_s = run.wall_s;
    report(plan->spec, summary, false);
    // 130: the shell's code for a run ended by SIGINT, so scripts do not take a stopped sweep for a finished one.
    return summary.interrupted ? 130 : 0;
  }

  void report(const tuner::SweepSpec& spec, const tuner::SweepRunSummary& s, bool dry_run) const {
    if (json_) {
      nlohmann::json doc = summary_json(spec, db_, s);
      doc["dry_run"] = dry_run;
      std::printf("%s\n", doc.dump(2).c_str());
      return;
    }
    const std::string slice = s.in_shard != s.design_points ? fmt::format(" ({} in shard {})", s.in_shard, shard_) : "";
    if (dry_run) {
      std::printf("sweep %s: %lld design points%s, %lld already in %s, %lld to evaluate with %s\n", spec.name.c_str(),
                  static_cast<long long>(s.design_points), slice.c_str(), static_cast<long long>(s.already_stored),
                  db_.c_str(), static_cast<long long>(s.in_shard - s.already_stored), spec.evaluator.c_str());
      return;
    }
    std::printf("sweep %s: %lld design points%s, %lld already stored, %lld evaluated (%lld errors) in %.2f s on %d rank%s "
                "(%.1f points/s) -> %s\n",
                spec.name.c_str(), static_cast<long long>(s.design_points), slice.c_str(),
                static_cast<long long>(s.already_stored), static_cast<long long>(s.evaluated),
                static_cast<long long>(s.errors), s.wall_s, s.ranks, s.ranks == 1 ? "" : "s",
                s.wall_s > 0 ? static_cast<double>(s.evaluated) / s.wall_s : 0.0, db_.c_str());
    if (s.interrupted)
      std::printf("stopped on request after the batch in flight; run the same command again to resume\n");
  }

  int merge() {
    // Every shard is checked before the target changes, so a bad shard leaves it as it was.
    std::optional<std::string> sweep_id;
    for (const std::string& input : merge_inputs_) {
      traces::ResultsStore shard(input, false);
      const std::optional<std::string> id = shard.meta("sweep_id");
      if (!id) throw BadInput(input + ": holds no sweep yet");
      if (sweep_id && *id != *sweep_id) throw BadInput(input + ": holds another sweep than " + merge_inputs_.front());
      sweep_id = id;
    }
    const bool fresh = !std::filesystem::exists(merge_db_);
    if (!fresh) {
      traces::ResultsStore target(merge_db_, false);
      if (auto id = target.meta("sweep_id"); id && *id != *sweep_id)
        throw BadInput(merge_db_ + ": holds another sweep than " + merge_inputs_.front());
    }
    // A new database is built beside its final name and renamed into place once complete.
    const std::string building = fresh ? merge_db_ + ".merging" : merge_db_;
    if (fresh) std::filesystem::remove(building);
    int64_t added = 0, total = 0;
    {
      traces::ResultsStore target(building, true);
      for (const std::string& input : merge_inputs_) added += target.merge_from(input);
      total = target.count();
    }
    // Closing the last connection checkpointed the write-ahead log into the file, so the file alone moves.
    if (fresh) std::filesystem::rename(building, merge_db_);
    std::printf("merged %zu databases into %s: %lld points added, %lld stored\n", merge_inputs_.size(),
                merge_db_.c_str(), static_cast<long long>(added), static_cast<long long>(total));
    return 0;
  }

  int export_csv() {
    traces::ResultsStore store(export_db_, false);
    std::vector<std::string> axes;
    if (auto text = store.meta("axes")) {
      try {
        axes = nlohmann::json::parse(*text).get<std::vector<std::string>>();
      } catch (const nlohmann::json::exception&) {
        throw BadInput(export_db_ + ": malformed axes in the meta table");
      }
    }
    const std::vector<traces::SweepRecord> records = store.read_all();
    traces::write_sweep_csv(records, axes, export_csv_);
    std::printf("wrote %zu points to %s\n", records.size(), export_csv_.c_str());
    return 0;
  }

  std::string spec_, db_, shard_;
  bool dry_run_ = false, json_ = false;
  tuner::SweepRunOptions options_;
  CLI::App* merge_ = nullptr;
  CLI::App* export_ = nullptr;
  std::string merge_db_, export_db_, export_csv_;
  std::vector<std::string> merge_inputs_;
};

CODA_REGISTER_COMMAND(SweepCommand);

}  // namespace
}  // namespace coda::cli
