// coda adapt: run-time adaptation on the SoC model. The GPU clock follows a schedule of steps
// while ApproxTuner's controller keeps the invocation time at its target by moving along the
// tradeoff curve (policy 1 or 2); reports time, QoS, power and energy per step and over time.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "cli/approx_options.h"
#include "cli/command.h"
#include "cli/gnuplot.h"
#include "cli/network_setup.h"
#include "cli/progress.h"
#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "sim/platform.h"
#include "tuner/curve.h"
#include "tuner/runtime_adapt.h"

namespace coda::cli {
namespace {

std::string used_text(const tuner::StepSummary& step) {
  std::string text;
  for (const auto& [name, count] : step.used)
    text += (text.empty() ? "" : " ") + (count == step.invocations ? name : fmt::format("{}x{}", name, count));
  return text;
}

// Top: invocation time, its window average and the target band; bottom: GPU clock and QoS.
void write_plot(const tuner::AdaptResult& result, const tuner::Curve& curve, const std::string& png_path) {
  PlotWorkspace workspace("adapt-plot");
  {
    std::ofstream data(workspace.file("series.dat"));
    data << "# invocation time_ms window_avg_ms target_ms gpu_mhz qos\n";
    for (const auto& r : result.invocations)
      data << fmt::format("{} {:.9g} {:.9g} {:.9g} {:.9g} {:.9g}\n", r.index, r.time_s * 1e3, r.window_avg_s * 1e3,
                          result.target_s * 1e3, r.gpu_mhz, r.qos);
  }
  const std::string png = workspace.file("adapt.png");
  const std::string qos_label = curve.qos_metric.empty() ? "QoS" : curve.qos_metric + (curve.qos_unit.empty() ? "" : " (" + curve.qos_unit + ")");
  const double target_ms = result.target_s * 1e3;
  std::string script = fmt::format(
      "set terminal pngcairo size 1100,800 font ',10'\n"
      "set output '{png}'\n"
      "set multiplot layout 2,1 title 'coda adapt: {model}, policy {policy}, window {window}'\n"
      "set xlabel 'invocation'\n"
      "set ylabel 'invocation time (ms)'\n"
      "set key outside right\n"
      "set grid\n"
      "plot '{data}' using 1:2 with points pt 7 ps 0.4 lc rgb '#4c72b0' title 'invocation', \\\n"
      "     '' using 1:3 with lines lw 2 lc rgb '#dd8452' title 'window average', \\\n"
      "     '' using 1:4 with lines lw 2 dt 2 lc rgb 'black' title 'target', \\\n"
      "     {lo} with lines lw 1.5 dt 4 lc rgb '#777777' title '-{pct}%', \\\n"
      "     {hi} with lines lw 1.5 dt 4 lc rgb '#777777' title '+{pct}%'\n"
      "set ylabel 'GPU clock (MHz)'\n"
      "set y2label '{qos}'\n"
      "set ytics nomirror\n"
      "set y2tics\n"
      "plot '{data}' using 1:5 with steps lw 2 lc rgb '#55a868' title 'GPU clock', \\\n"
      "     '' using 1:6 axes x1y2 with steps lw 2 lc rgb '#c44e52' title 'expected QoS'\n"
      "unset multiplot\n",
      fmt::arg("png", png), fmt::arg("model", curve.model), fmt::arg("policy", result.policy),
      fmt::arg("window", result.window), fmt::arg("data", workspace.file("series.dat")),
      fmt::arg("lo", fmt::format("{:.9g}", target_ms * (1 - result.tolerance))),
      fmt::arg("hi", fmt::format("{:.9g}", target_ms * (1 + result.tolerance))),
      fmt::arg("pct", fmt::format("{:g}", result.tolerance * 100)), fmt::arg("qos", qos_label));
  run_gnuplot(workspace, script, "--plot");
  publish_plot(png, png_path);
}

class AdaptCommand : public Command {
 public:
  std::string name() const override { return "adapt"; }
  std::string summary() const override {
    return "Run-time adaptation: keep the invocation time on target while the GPU clock falls (ApproxTuner policies)";
  }
  void configure(CLI::App& app) override {
    app.add_option("--curve", curve_path_, "Tradeoff curve from coda tune (JSON)")->required();
    app.add_option("--dvfs-schedule", schedule_path_,
                   "YAML: steps: [{gpu_mhz: 1300.5, invocations: 100}, ...] (see tuner/examples/dvfs_step_down.yaml)")
        ->required();
    app.add_option("--model", model_, "ONNX model or zoo spec (default: the curve's model)");
    app.add_option("--platform", platform_, "Platform YAML (default: the built-in sim/platforms/tx2.yaml)");
    app.add_option("--policy", policy_, "1: cheapest point meeting the required speedup; 2: random mix of two neighbours");
    app.add_option("--window", window_, "Invocations in the controller's sliding window");
    app.add_option("--tolerance", tolerance_, "Band around the target, as a share of it, before the controller acts");
    app.add_option("--target-ms", target_ms_, "Target invocation time (default: the exact baseline's at the first clock)");
    app.add_option("--out", out_, "Report to write (JSON: per-step summary and per-invocation series)");
    app.add_option("--plot", plot_, "Plot to write (PNG, needs gnuplot): invocation time vs target, GPU clock, QoS");
  }

  int execute(const CommonOptions& common) override {
    // Everything is checked before anything is simulated or written.
    if (policy_ != 1 && policy_ != 2) throw BadInput(fmt::format("--policy must be 1 or 2 (it is {})", policy_));
    if (window_ < 1) throw BadInput(fmt::format("--window must be at least 1 (it is {})", window_));
    if (!(tolerance_ >= 0 && tolerance_ < 1)) throw BadInput("--tolerance must be in [0, 1)");
    if (target_ms_ < 0 || !std::isfinite(target_ms_)) throw BadInput("--target-ms must be a positive time");
    if (!plot_.empty()) require_gnuplot("--plot");
    const tuner::Curve curve = tuner::Curve::load(curve_path_);
    const sim::Platform platform = sim::Platform::from_option(platform_, {});
    const std::vector<tuner::ClockStep> schedule = tuner::load_clock_schedule(schedule_path_, platform);
    for (const tuner::CurvePoint& point : curve.points)
      if (!point.model.empty())
        throw BadInput(curve_path_ + ": " + point.name + " runs the pruned model " + point.model +
                       "; coda adapt switches among configurations of one model (tune without --pruning-curve)");
    const std::string model = model_.empty() ? curve.model : model_;
    if (model.empty()) throw BadInput(curve_path_ + ": the curve names no model; give --model");
    NetworkSetup network = load_network(model, 1, {}, ApproxOptions{}, common.seed);
    curve.check_matches(network.graph, curve_path_);

    std::vector<double> clocks;
    for (const auto& step : schedule) clocks.push_back(step.gpu_mhz);
    tuner::AdaptTable table;
    {
      ProgressBar bar("simulating configurations x clocks", 0, "simulations");
      table = tuner::measure_curve_on_clocks(curve, network.graph, platform_, clocks, common.seed,
                                             [&bar](int done, int total) { bar.update(done, fmt::format("{} of {}", done, total)); });
      bar.finish();
    }
    tuner::AdaptOptions options;
    options.policy = policy_;
    options.window = window_;
    options.tolerance = tolerance_;
    options.target_s = target_ms_ * 1e-3;
    options.seed = common.seed;
    options.higher_is_better = curve.higher_is_better;
    const tuner::AdaptResult result = tuner::run_adaptation(table, schedule, options);

    if (!plot_.empty()) write_plot(result, curve, plot_);
    if (!out_.empty()) write_file_atomically(out_, tuner::adapt_result_json(result, table, curve));
    print_summary(result, curve, platform, model);
    return 0;
  }

 private:
  void print_summary(const tuner::AdaptResult& result, const tuner::Curve& curve, const sim::Platform& platform,
                     const std::string& model) const {
    std::printf("coda adapt: %s on %s, policy %d, window %d, target %.4f ms (+-%g%%)%s\n", model.c_str(),
                platform.name.c_str(), result.policy, result.window, result.target_s * 1e3, result.tolerance * 100,
                target_ms_ > 0 ? "" : " = the exact baseline at the first clock");
    std::printf("%8s %6s %9s %9s %7s %11s %9s %9s %8s %9s  %s\n", "GPU MHz", "calls", "avg ms", "target ms", "dev",
                "baseline ms", "QoS", "QoS loss", "power W", "energy mJ", "configurations");
    int slower = 0, faster = 0;
    for (const auto& step : result.steps) {
      const double deviation = step.avg_time_s / step.target_s - 1;
      slower += deviation > result.tolerance;
      faster += deviation < -result.tolerance;
      std::printf("%8.2f %6d %9.4f %9.4f %+6.1f%% %11.4f %9.3f %9.3f %8.3f %9.5f  %s\n", step.gpu_mhz, step.invocations,
                  step.avg_time_s * 1e3, step.target_s * 1e3, deviation * 100, step.baseline_time_s * 1e3,
                  step.avg_qos, step.qos_loss, step.avg_power_w, step.energy_per_invocation_j * 1e3,
                  used_text(step).c_str());
    }
    const int steps = static_cast<int>(result.steps.size());
    std::printf("%d of %d steps within +-%g%% of the target", steps - slower - faster, steps, result.tolerance * 100);
    if (slower > 0) std::printf("; %d slower (no curve point is fast enough there)", slower);
    if (faster > 0) std::printf("; %d faster (no curve point lies between the neighbours%s)", faster,
                                result.policy == 1 ? ": policy 2 mixes them" : "");
    std::printf(". QoS: %s%s, baseline %.4g\n", curve.qos_metric.c_str(),
                curve.qos_unit.empty() ? "" : (" " + curve.qos_unit).c_str(), curve.baseline_qos_test);
  }

  std::string curve_path_, schedule_path_, model_, platform_, out_, plot_;
  int policy_ = 1;
  int window_ = 10;
  double tolerance_ = 0.05;
  double target_ms_ = 0;
};

CODA_REGISTER_COMMAND(AdaptCommand);

}  // namespace
}  // namespace coda::cli
