// coda profile: training traces for the layer-wise predictors, from the SoC model. Layers drawn
// from the zoo's shapes (and jittered around them) run alone for every unit, knob family and DVFS
// point of a space file; adaptive rounds add layers where a refitted predictor still errs.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/progress.h"
#include "kernels/error.h"
#include "models/profiler.h"
#include "traces/op_trace_csv.h"
#include "traces/op_trace_jsonl.h"

namespace coda::cli {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class ProfileCommand : public Command {
 public:
  std::string name() const override { return "profile"; }
  std::string summary() const override { return "Training traces for predictors: sampled layers on the SoC model"; }
  void configure(CLI::App& app) override {
    app.add_option("--space", space_, "Layer space YAML (see models/spaces/)")->required();
    app.add_option("--platform", platform_, "Platform YAML (default: the built-in sim/platforms/tx2.yaml)");
    app.add_option("--set", sets_, "KEY=VALUE platform override, repeatable");
    app.add_option("--out", out_, "Trace file: .csv or .jsonl")->required();
    app.add_flag("--json", json_, "Print the summary as JSON");
  }

  int execute(const CommonOptions& common) override {
    if (!ends_with(out_, ".csv") && !ends_with(out_, ".jsonl"))
      throw BadInput(out_ + ": the trace file must end in .csv or .jsonl");
    sim::Platform platform = sim::Platform::from_option(platform_, sets_);
    models::LayerSpace space = models::load_layer_space(space_);
    models::ProfileOptions options;
    options.seed = common.seed;
    std::unique_ptr<ProgressBar> bar;
    std::string phase;
    options.progress = [&](const std::string& name, int64_t done, int64_t total) {
      if (name != phase) {
        if (bar) bar->finish();
        bar = std::make_unique<ProgressBar>("profile " + name, total, "layers");
        phase = name;
      }
      bar->update(done);
    };
    models::ProfileResult result = models::profile(space, platform, options);
    if (bar) bar->finish();

    sim::SimResult trace = models::profile_as_result(result, platform);
    if (ends_with(out_, ".jsonl")) traces::write_op_trace_jsonl(out_, trace);
    else traces::write_op_trace_csv(out_, trace);

    nlohmann::json summary;
    summary["out"] = out_;
    summary["records"] = result.records.size();
    summary["skipped"] = result.skipped;
    nlohmann::json rounds = nlohmann::json::array();
    for (const auto& round : result.rounds)
      rounds.push_back({{"points", round.points}, {"checked", round.checked}, {"over_threshold", round.over_threshold},
                        {"added", round.added}});
    summary["rounds"] = rounds;
    std::map<std::string, int> by_group;
    for (const auto& record : result.records) ++by_group[record.op_type + "/" + record.unit];
    summary["records_by_op_and_unit"] = by_group;
    if (json_) {
      std::printf("%s\n", summary.dump(2).c_str());
      return 0;
    }
    std::printf("%zu records written to %s\n", result.records.size(), out_.c_str());
    for (std::size_t r = 0; r < result.rounds.size(); ++r) {
      const auto& round = result.rounds[r];
      if (r == 0) {
        std::printf("initial set: %d points\n", round.points);
      } else {
        std::printf("adaptive round %zu: %d of %d held-out points off by more than %.0f%%, %d added around them\n", r,
                    round.over_threshold, round.checked, 100 * space.adaptive.threshold, round.added);
      }
    }
    for (const auto& [reason, count] : result.skipped) std::printf("skipped %d: %s\n", count, reason.c_str());
    return 0;
  }

 private:
  std::string space_, platform_, out_;
  std::vector<std::string> sets_;
  bool json_ = false;
};

CODA_REGISTER_COMMAND(ProfileCommand);

}  // namespace
}  // namespace coda::cli
