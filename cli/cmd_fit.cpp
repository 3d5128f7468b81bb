// coda fit: layer-wise latency/power predictors from op traces -- the NeuralPower-style
// polynomial models and the roofline baseline -- with their accuracy on held-out records (a
// random share, and leave-one-network-out), a markdown report and a predicted-vs-measured plot.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/gnuplot.h"
#include "cli/progress.h"
#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "models/fit_evaluation.h"
#include "models/predictor_fit.h"
#include "traces/op_trace_csv.h"
#include "traces/op_trace_jsonl.h"

namespace coda::cli {
namespace {

std::vector<sim::OpRecord> read_traces(const std::vector<std::string>& paths) {
  std::vector<sim::OpRecord> records;
  for (const auto& path : paths) {
    bool jsonl = path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0;
    std::vector<sim::OpRecord> part = jsonl ? traces::read_op_trace_jsonl(path) : traces::read_op_trace_csv(path);
    records.insert(records.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return records;
}

// Predicted vs measured (log-log) on the held-out records: runtime and power, one colour per
// unit, with y = x and +-10% lines.
void write_scatter(const models::SplitReport& report, const std::string& png_path) {
  PlotWorkspace workspace("fit-plot");
  const std::filesystem::path dir = workspace.file("");
  std::string rail = "VDD_IN";
  if (std::find(report.rails.begin(), report.rails.end(), rail) == report.rails.end())
    rail = report.rails.empty() ? "" : report.rails.front();
  std::map<std::string, std::ofstream> files;
  for (const auto& p : report.predictions) {
    auto it = files.find(p.unit);
    if (it == files.end()) it = files.emplace(p.unit, std::ofstream(dir / (p.unit + ".dat"))).first;
    auto measured = p.measured_power_w.find(rail);
    auto predicted = p.polynomial_power_w.find(rail);
    bool power = measured != p.measured_power_w.end() && predicted != p.polynomial_power_w.end() && measured->second > 0;
    it->second << fmt::format("{:.9g} {:.9g} {:.9g} {:.9g}\n", p.measured_latency_s * 1e3, p.polynomial_latency_s * 1e3,
                              power ? measured->second : NAN, power ? predicted->second : NAN);
  }
  for (auto& [unit, file] : files) file.close();
  std::string png = (dir / "plot.png").string();
  std::string script = fmt::format(
      "set terminal pngcairo size 1400,650 font ',11' noenhanced\nset output '{}'\nset multiplot layout 1,2\n"
      "set logscale xy\nset grid\nset key top left\nset datafile missing 'nan'\n",
      png);
  for (int panel = 0; panel < 2; ++panel) {
    bool runtime = panel == 0;
    script += runtime ? "set title 'Runtime, held-out records'\nset xlabel 'measured (ms)'\nset ylabel 'predicted (ms)'\n"
                      : fmt::format("set title 'Power ({}), held-out records'\nset xlabel 'measured (W)'\nset ylabel 'predicted (W)'\n", rail);
    script += "plot ";
    for (const auto& [unit, file] : files)
      script += fmt::format("'{}' using {}:{} with points pt 7 ps 0.5 title '{}', ", (dir / (unit + ".dat")).string(),
                            runtime ? 1 : 3, runtime ? 2 : 4, unit);
    script += "x with lines lc 'black' title 'y = x', 1.1*x with lines dt 2 lw 1.5 lc 'dark-gray' title '+-10%', "
              "0.9*x with lines dt 2 lw 1.5 lc 'dark-gray' notitle\n";
  }
  script += "unset multiplot\n";
  run_gnuplot(workspace, script, "--plot");
  publish_plot(png, png_path);
}

class FitCommand : public Command {
 public:
  std::string name() const override { return "fit"; }
  std::string summary() const override {
    return "Fit layer-wise latency/power predictors (NeuralPower-style polynomials, roofline baseline) from op traces";
  }
  void configure(CLI::App& app) override {
    app.add_option("--traces", traces_, "Op trace (.csv or .jsonl from coda simulate/profile), repeatable")->required();
    app.add_option("--out", out_, "Polynomial predictor model file to write (JSON)")->required();
    app.add_option("--roofline-out", roofline_out_, "Roofline baseline model file to write (JSON)");
    app.add_option("--report", report_, "Accuracy report to write (markdown)");
    app.add_option("--plot", plot_, "Predicted-vs-measured scatter plot to write (PNG, needs gnuplot)");
    app.add_flag("--json", json_, "Print the accuracy report as JSON");
    app.add_option("--folds", folds_, "Cross-validation folds for the Lasso penalty and degree")->check(CLI::Range(2, 100));
    app.add_option("--test-share", test_share_, "Share of the records held out for the accuracy report")
        ->check(CLI::Range(0.01, 0.9));
    app.add_flag("--no-lono", skip_lono_, "Skip the leave-one-network-out evaluation (one fit per network)");
  }

  int execute(const CommonOptions& common) override {
    if (!plot_.empty()) require_gnuplot("--plot");
    std::vector<sim::OpRecord> records = read_traces(traces_);
    // Records that are not layer measurements are left out of every fit; say how many.
    int views = 0, zero_duration = 0;
    for (const auto& record : records) {
      if (models::op_class(record.op_type, record.features) == "view") ++views;
      else if (!(record.latency_s > 0)) ++zero_duration;
    }

    models::EvaluationOptions options;
    options.fit.folds = folds_;
    options.fit.seed = common.seed;
    options.seed = common.seed;
    options.test_share = test_share_;
    std::unique_ptr<ProgressBar> bar;
    options.fit.progress = [&bar](int done, int total) {
      if (bar) bar->update(done, fmt::format("{} of {} groups", done, total));
    };
    options.progress = [&bar](const std::string& stage) { bar = std::make_unique<ProgressBar>(stage, 0, "groups"); };

    std::vector<models::SplitReport> reports;
    reports.push_back(models::evaluate_holdout(records, options));
    if (!skip_lono_) reports.push_back(models::evaluate_leave_one_network_out(records, options));
    options.progress(fmt::format("final fit on {} records", records.size()));
    std::unique_ptr<models::LayerPredictor> predictor = models::fit_polynomial(records, options.fit);
    bar.reset();
    models::save_predictor(*predictor, out_);
    if (!roofline_out_.empty()) models::save_predictor(*models::fit_roofline(records), roofline_out_);
    if (!report_.empty()) write_file_atomically(report_, models::report_markdown(reports));
    if (!plot_.empty()) write_scatter(reports.front(), plot_);

    if (json_) {
      nlohmann::json document = {{"records", records.size()},
                                 {"skipped", {{"views", views}, {"zero_duration", zero_duration}}},
                                 {"predictor", out_},
                                 {"accuracy", models::report_json(reports)}};
      if (!roofline_out_.empty()) document["roofline"] = roofline_out_;
      std::printf("%s\n", document.dump(2).c_str());
    } else {
      std::printf("%zu records from %zu trace file(s); predictor written to %s\n", records.size(), traces_.size(), out_.c_str());
      if (views + zero_duration > 0)
        std::printf("skipped: %d view records (no work), %d records with zero duration (no latency fit)\n", views,
                    zero_duration);
      std::printf("%s", models::report_text(reports).c_str());
    }
    return 0;
  }

 private:
  std::vector<std::string> traces_;
  std::string out_, roofline_out_, report_, plot_;
  bool json_ = false;
  bool skip_lono_ = false;
  int folds_ = 10;
  double test_share_ = 0.2;
};

CODA_REGISTER_COMMAND(FitCommand);

}  // namespace
}  // namespace coda::cli
