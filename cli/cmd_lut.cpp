// coda lut: energy/latency lookup tables over the layers, knobs, units and DVFS points of a space,
// answered by a fitted predictor (--predictor) or by the SoC model (--platform alone).
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/progress.h"
#include "kernels/error.h"
#include "models/lut.h"
#include "models/predictor_fit.h"

namespace coda::cli {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class LutCommand : public Command {
 public:
  std::string name() const override { return "lut"; }
  std::string summary() const override { return "Energy/latency lookup table over layers x knobs x units x DVFS points"; }
  void configure(CLI::App& app) override {
    app.add_option("--predictor", predictor_, "Predictor file written by coda fit (without it: simulate every row)");
    app.add_option("--platform", platform_, "Platform YAML (default: the built-in sim/platforms/tx2.yaml)");
    app.add_option("--set", sets_, "KEY=VALUE platform override, repeatable");
    app.add_option("--space", space_, "Layer space YAML (see models/spaces/)")->required();
    app.add_option("--out", out_, "lut.csv or lut.json")->required();
    app.add_option("--format", format_, "table (rows with shapes) or singlepath (Single-Path NAS latency JSON)")
        ->check(CLI::IsMember({"table", "singlepath"}));
    app.add_flag("--json", json_, "Print the summary as JSON");
  }

  int execute(const CommonOptions& common) override {
    bool csv = ends_with(out_, ".csv");
    if (!csv && !ends_with(out_, ".json")) throw BadInput(out_ + ": the table must end in .csv or .json");
    if (format_ == "singlepath" && csv) throw BadInput(out_ + ": --format singlepath writes JSON (use a .json name)");
    sim::Platform platform = sim::Platform::from_option(platform_, sets_);
    models::LayerSpace space = models::load_layer_space(space_);
    std::unique_ptr<models::LayerPredictor> predictor;
    if (!predictor_.empty()) predictor = models::load_predictor(predictor_);

    models::LutOptions options;
    options.seed = common.seed;
    ProgressBar bar("lut", 0, "rows");
    options.progress = [&](int64_t done, int64_t) { bar.update(done); };
    auto start = std::chrono::steady_clock::now();
    models::LutTable table = predictor ? models::build_lut(space, platform, *predictor, predictor_, options)
                                       : models::build_lut(space, platform, options);
    double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    bar.finish();
    if (table.rows.empty()) throw BadInput(space_ + ": no row could be computed (" + std::to_string(table.skipped.size()) + " skipped)");
    auto write_start = std::chrono::steady_clock::now();
    if (format_ == "singlepath") models::write_lut_singlepath(table, out_);
    else if (csv) models::write_lut_csv(table, out_);
    else models::write_lut_json(table, out_);
    double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();

    double rows = static_cast<double>(table.rows.size());
    if (json_) {
      nlohmann::json summary{{"out", out_}, {"source", table.source}, {"layers", table.layers.size()},
                             {"rows", table.rows.size()}, {"skipped", table.skipped.size()},
                             {"build_s", build_s}, {"write_s", write_s},
                             {"rows_per_s", rows / std::max(1e-9, build_s + write_s)}};
      std::printf("%s\n", summary.dump(2).c_str());
      return 0;
    }
    std::printf("%zu rows over %zu layers from %s written to %s\n", table.rows.size(), table.layers.size(),
                table.source.c_str(), out_.c_str());
    std::printf("%.0f rows/s (%.3f s computing, %.3f s writing)\n", rows / std::max(1e-9, build_s + write_s), build_s,
                write_s);
    if (!table.skipped.empty())
      std::printf("skipped %zu points, first: %s\n", table.skipped.size(), table.skipped.front().c_str());
    return 0;
  }

 private:
  std::string predictor_, platform_, space_, out_, format_ = "table";
  std::vector<std::string> sets_;
  bool json_ = false;
};

CODA_REGISTER_COMMAND(LutCommand);

}  // namespace
}  // namespace coda::cli
