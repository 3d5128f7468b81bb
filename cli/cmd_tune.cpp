// coda tune: ApproxTuner's predictive approximation tuning (development time) and its install-time
// phase, from a model and a labelled data set to a tradeoff curve of validated configurations.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/gnuplot.h"
#include "cli/model_source.h"
#include "cli/progress.h"
#include "kernels/atomic_file.h"
#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/executor.h"
#include "models/predictor_fit.h"
#include "sim/platform.h"
#include "tuner/cost_model.h"
#include "tuner/curve.h"
#include "tuner/op_profile.h"
#include "tuner/pruning_curve.h"
#include "tuner/tuning.h"

namespace coda::cli {
namespace {

using tuner::Curve;

// Images [begin, end) of a data set as a split the tuner scores.
tuner::TuningSplit split_of(const Dataset& data, int64_t begin, int64_t end, const std::string& name) {
  tuner::TuningSplit split;
  split.name = name;
  split.inputs = data.batch(begin, end);
  split.reference.labels.assign(data.labels.begin() + begin, data.labels.begin() + end);
  if (!data.targets.empty()) {
    const int64_t width = data.targets.size() / data.targets.dim(0);
    split.reference.targets = Tensor({end - begin, width});
    std::copy(data.targets.f32() + begin * width, data.targets.f32() + end * width, split.reference.targets.f32());
  }
  return split;
}

// "i/N" -> (i, N) with 0 <= i < N.
std::pair<int, int> parse_slice(const std::string& text) {
  const std::size_t slash = text.find('/');
  try {
    if (slash != std::string::npos) {
      const int i = std::stoi(text.substr(0, slash)), n = std::stoi(text.substr(slash + 1));
      if (n >= 1 && i >= 0 && i < n) return {i, n};
    }
  } catch (const std::exception&) {
  }
  throw BadInput("--profile-slice '" + text + "': expected I/N with 0 <= I < N");
}

// QoS against speedup (or energy reduction): the front on the calibration split, the same
// configurations on the test split, the exact baseline and the threshold.
void plot_curve(const Curve& curve, const std::string& path) {
  PlotWorkspace workspace("tune-plot");
  const bool energy = curve.objective == "energy";
  const double bound = curve.higher_is_better ? curve.baseline_qos_calibration - curve.max_loss
                                              : curve.baseline_qos_calibration + curve.max_loss;
  double x_high = 1.0, y_low = std::min(bound, curve.baseline_qos_calibration),
         y_high = std::max(bound, curve.baseline_qos_calibration);
  std::string data;
  for (const tuner::CurvePoint& p : curve.points) {
    const double x = energy ? p.energy_reduction : p.speedup;
    data += fmt::format("{:.9g} {:.9g} {:.9g}\n", x, p.qos_calibration, p.qos_test);
    x_high = std::max(x_high, x);
    y_low = std::min({y_low, p.qos_calibration, p.qos_test});
    y_high = std::max({y_high, p.qos_calibration, p.qos_test});
  }
  write_file_atomically(workspace.file("curve.dat"), data);
  const double x_pad = 0.05 * (x_high - 1.0) + 0.02, y_pad = 0.1 * (y_high - y_low) + 0.05;
  const std::string png = workspace.file("curve.png");
  const std::string model = std::filesystem::path(curve.model).filename().string();
  const std::string script = fmt::format(
      "set terminal pngcairo size 900,600 font ',11' noenhanced\nset output '{}'\nset grid\nset key top right\n"
      "set title '{}: {} tuning, {} cost, {} loss {}'\nset xlabel '{}'\nset ylabel '{}{}'\n"
      "set xrange [{:.9g}:{:.9g}]\nset yrange [{:.9g}:{:.9g}]\n"
      "plot '{}' using 1:2 with linespoints pt 7 title 'Pareto front (calibration split)', "
      "'{}' using 1:3 with points pt 6 ps 1.3 title 'same configurations, test split', "
      "'+' using (1):({:.9g}) every ::0::0 with points pt 5 ps 1.5 lc 'black' title 'exact baseline', "
      "{:.9g} with lines dt 2 lc 'red' title 'threshold'\n",
      png, model, curve.tuning, curve.cost_model, curve.qos_metric, curve.threshold,
      energy ? "energy reduction (x)" : "speedup (x)", curve.qos_metric,
      curve.qos_unit.empty() ? "" : " (" + curve.qos_unit + ")", 1.0 - x_pad, x_high + x_pad, y_low - y_pad,
      y_high + y_pad, workspace.file("curve.dat"), workspace.file("curve.dat"), curve.baseline_qos_calibration, bound);
  run_gnuplot(workspace, script, "--plot");
  publish_plot(png, path);
}

class TuneCommand : public Command {
 public:
  std::string name() const override { return "tune"; }
  std::string summary() const override {
    return "Tune per-op approximation knobs for speed or energy within a QoS loss (ApproxTuner)";
  }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file, or zoo:NAME[?...]")->required();
    app.add_option("--data", data_,
                   "Labelled data set (see coda eval); its first --calibration-size images are the calibration "
                   "split and the next --test-size the test split, unless --test-data is given")
        ->required();
    app.add_option("--test-data", test_data_, "Separate data set for the test split");
    app.add_option("--calibration-size", calibration_size_, "Images in the calibration split")
        ->check(CLI::PositiveNumber);
    app.add_option("--test-size", test_size_, "Images in the test split")->check(CLI::PositiveNumber);
    app.add_option("--qos-loss", qos_loss_,
                   "QoS threshold: a loss in the metric's unit (1 = one accuracy point), a relative loss (1%), or an "
                   "absolute bound (=88.5)")
        ->required();
    app.add_option("--qos-metric", qos_metric_, "accuracy, agreement, mse, psnr or l1");
    app.add_option("--method", method_,
                   "p1 (default: composes output changes, the more accurate on deep networks), p2 (adds QoS changes) "
                   "or empirical (measures every candidate)");
    app.add_option("--phase", phase_, "dev (software knobs) or install (re-measure --curve on the target and "
                                      "search the hardware knobs too)")
        ->check(CLI::IsMember({"dev", "install"}));
    app.add_option("--curve", shipped_, "Development-time curve to re-measure (--phase install)");
    app.add_option("--cost", cost_, "Cost model: ops (ApproxTuner's op counts), predictor:FILE or sim");
    app.add_option("--objective", objective_, "speed or energy")->check(CLI::IsMember({"speed", "energy"}));
    app.add_option("--platform", platform_, "Platform YAML for predictor and sim costs (default: built-in tx2.yaml)");
    app.add_option("--set", sets_, "KEY=VALUE platform override, repeatable");
    app.add_option("--knobs-allowed", allowed_, "Only these knob ids (comma-separated; 11 is always allowed)")
        ->delimiter(',');
    app.add_option("--budget", budget_, "Search evaluations at most")->check(CLI::PositiveNumber);
    app.add_option("--patience", patience_, "Stop after this many evaluations without improvement")
        ->check(CLI::PositiveNumber);
    app.add_option("--alpha-samples", alpha_samples_, "Configurations measured to fit alpha")
        ->check(CLI::PositiveNumber);
    app.add_option("--max-configs", max_configs_, "Candidates validated at most (PS_eps)")->check(CLI::PositiveNumber);
    app.add_option("--batch", batch_, "Images per executor run")->check(CLI::PositiveNumber);
    app.add_option("--profiles", profiles_, "Profiles collected beforehand (with --profile-slice), merged in order")
        ->delimiter(',');
    app.add_option("--profile-slice", slice_, "Only collect the profiles of calibration slice I/N into --out");
    app.add_option("--pruning-curve", pruning_curve_,
                   "Also tune the pruned models of this curve (coda prune --curve) against this model's baseline and "
                   "merge them into one front");
    app.add_option("--out", out_, "Curve to write (JSON; with --profile-slice, the profile file)")->required();
    app.add_option("--hpvm", hpvm_, "Also write the curve as an HPVM/ApproxTuner configuration file");
    app.add_option("--plot", plot_, "Also plot QoS against speedup or energy reduction (PNG, needs gnuplot)");
    app.add_flag("--json", json_, "Print the curve summary and tuning statistics as JSON");
  }

  int execute(const CommonOptions& common) override {
    const tuner::QosThreshold threshold = tuner::QosThreshold::parse(qos_loss_);
    const tuner::TuningMethod method = tuner::parse_method(method_);
    if (phase_ == "install" && shipped_.empty()) throw BadInput("--phase install needs --curve (the shipped curve)");
    if (phase_ == "dev" && !shipped_.empty()) throw BadInput("--curve is only read with --phase install");
    if (!slice_.empty() && !profiles_.empty()) throw BadInput("--profile-slice and --profiles exclude each other");
    if (!slice_.empty() && method == tuner::TuningMethod::Empirical)
      throw BadInput("--profile-slice: empirical tuning collects no profiles");
    if (!plot_.empty()) require_gnuplot("--plot");
    Curve shipped;
    if (!shipped_.empty()) shipped = Curve::load(shipped_);

    Dataset data = load_dataset(data_, test_data_.empty() ? calibration_size_ + test_size_ : calibration_size_);
    Graph model = load_model(model_, common.seed);
    try {
      check_classifier(model);
      apply_transform_choice(data, resolve_transform(model, data_));
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    if (data.size() == 0) throw BadInput(data_ + ": the data set is empty");
    tuner::TuningSplit calibration, test;
    if (test_data_.empty()) {
      if (data.size() < 2) throw BadInput(data_ + ": " + std::to_string(data.size()) +
                                          " image(s) cannot make a calibration and a test split");
      const int64_t calibration_end = std::min(calibration_size_, data.size() / 2);
      if (calibration_end < calibration_size_)
        spdlog::warn("{} has {} images: calibrating on the first {} and testing on the rest", data_, data.size(),
                     calibration_end);
      calibration = split_of(data, 0, calibration_end, "calibration");
      test = split_of(data, calibration_end, data.size(), "test");
    } else {
      Dataset test_data = load_dataset(test_data_, test_size_);
      if (test_data.size() == 0) throw BadInput(test_data_ + ": the data set is empty");
      try {
        apply_transform_choice(test_data, resolve_transform(model, test_data_));
      } catch (const BadInput& e) {
        rethrow_with_context(model_, e);
      }
      calibration = split_of(data, 0, data.size(), "calibration");
      test = split_of(test_data, 0, test_data.size(), "test");
    }

    Graph cost_graph;
    try {
      cost_graph = tuner::prepare_for_batch(model, calibration.inputs, 1);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    const bool install = phase_ == "install";
    if (install) shipped.check_matches(cost_graph, shipped_);
    std::string cost = cost_.empty() ? (install ? "sim" : "ops") : cost_;
    sim::Platform platform = sim::Platform::from_option(platform_, sets_);
    std::unique_ptr<models::LayerPredictor> predictor;
    if (cost.rfind("predictor:", 0) == 0 && cost.size() > 10) predictor = models::load_predictor(cost.substr(10));
    auto make_cost = [&](const Graph& graph) -> std::unique_ptr<tuner::CostModel> {
      if (cost == "ops") {
        if (install) throw BadInput("--phase install measures on the target: use --cost sim or --cost predictor:FILE");
        return tuner::make_op_count_cost(graph, knob_catalog());
      }
      if (cost == "sim") return tuner::make_simulator_cost(graph, platform, common.seed);
      if (predictor) return tuner::make_predictor_cost(graph, platform, *predictor, cost);
      throw BadInput("--cost '" + cost + "': expected ops, predictor:FILE or sim");
    };
    std::unique_ptr<tuner::CostModel> cost_model = make_cost(cost_graph);

    tuner::TuneOptions options;
    options.metric = qos_metric_;
    options.threshold = threshold;
    options.method = method;
    options.scope = install ? tuner::KnobScope::Hardware : tuner::KnobScope::Software;
    options.allowed_knobs = allowed_;
    options.energy_objective = objective_.empty() ? install : objective_ == "energy";
    options.budget = budget_;
    options.patience = patience_;
    options.alpha_samples = alpha_samples_;
    options.max_configs = static_cast<std::size_t>(max_configs_);
    options.batch = batch_;
    options.seed = common.seed;
    std::vector<tuner::OpProfiles> parts;
    tuner::OpProfiles merged;
    if (!profiles_.empty()) {
      for (const std::string& path : profiles_) parts.push_back(tuner::load_op_profiles(path));
      merged = tuner::merge_op_profiles(parts);
      options.profiles = &merged;
    }

    calibration_count_ = calibration.inputs.dim(0);
    const tuner::TuningSplit calibration_copy = calibration, test_copy = test;
    std::unique_ptr<tuner::Tuner> tuner;
    try {
      tuner = std::make_unique<tuner::Tuner>(model, cost_graph, *cost_model, knob_catalog(), std::move(calibration),
                                             std::move(test), options);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    spdlog::info("{} tunable ops, {:.3g} configurations; baseline {} {:.4g} (calibration), {:.4g} (test)",
                 tuner->stats().tunable_ops, tuner->stats().space_size, qos_metric_, tuner->baseline_qos_calibration(),
                 tuner->baseline_qos_test());

    std::unique_ptr<ProgressBar> bar;
    std::string stage;
    tuner->set_progress([&](const std::string& s, int64_t done, int64_t total) {
      if (s != stage) {
        if (bar) bar->finish();
        stage = s;
        bar = std::make_unique<ProgressBar>(s, total, s == "profile" ? "(op, knob)s" : "configurations");
      }
      bar->update(done);
    });

    if (!slice_.empty()) {
      const auto [index, count] = parse_slice(slice_);
      const int64_t samples = calibration_count_;
      const int64_t begin = samples * index / count, end = samples * (index + 1) / count;
      tuner::OpProfiles profiles = tuner->collect_profiles(begin, end);
      profiles.model = model_;
      if (bar) bar->finish();
      tuner::save_op_profiles(profiles, out_);
      std::printf("profiles of calibration images [%lld, %lld) written to %s (%.1f s)\n",
                  static_cast<long long>(begin), static_cast<long long>(end), out_.c_str(), profiles.seconds);
      return 0;
    }

    Curve curve = install ? tuner->install(shipped) : tuner->tune();
    if (bar) bar->finish();
    bar.reset();
    stage.clear();
    if (!pruning_curve_.empty()) {
      // Each pruned model is tuned against the unpruned baseline, and the fronts merge into one.
      tuner::TuneOptions::Reference reference{tuner->baseline_qos_calibration(), tuner->baseline_qos_test(),
                                              curve.baseline_latency, curve.baseline_energy};
      options.reference = &reference;
      options.profiles = nullptr;
      for (const tuner::PruningLevel& level : tuner::load_pruning_curve(pruning_curve_)) {
        if (level.flops_target >= 1.0 || level.model.empty()) continue;
        Graph pruned = load_model(level.model, common.seed);
        Graph pruned_cost_graph;
        try {
          check_classifier(pruned);
          pruned_cost_graph = tuner::prepare_for_batch(pruned, calibration_copy.inputs, 1);
        } catch (const BadInput& e) {
          rethrow_with_context(level.model, e);
        }
        std::unique_ptr<tuner::CostModel> pruned_cost = make_cost(pruned_cost_graph);
        tuner::Tuner pruned_tuner(pruned, pruned_cost_graph, *pruned_cost, knob_catalog(), calibration_copy, test_copy,
                                  options);
        pruned_tuner.set_progress([&](const std::string& s, int64_t done, int64_t total) {
          if (s != stage) {
            if (bar) bar->finish();
            stage = s;
            bar = std::make_unique<ProgressBar>(fmt::format("{:.2f} MACs: {}", level.flops_target, s), total);
          }
          bar->update(done);
        });
        Curve pruned_curve = pruned_tuner.tune();
        if (bar) bar->finish();
        bar.reset();
        stage.clear();
        for (tuner::CurvePoint& p : pruned_curve.points) {
          p.model = level.model;
          curve.points.push_back(std::move(p));
        }
        curve.evaluations += pruned_curve.evaluations;
        curve.tuning_seconds += pruned_curve.tuning_seconds;
      }
      tuner::merge_into_front(curve);
    }
    curve.model = model_;
    curve.data = data_;
    curve.platform = cost == "ops" ? "" : platform.name;
    write_file_atomically(out_, curve.to_json());
    if (!hpvm_.empty()) write_file_atomically(hpvm_, tuner::to_hpvm_config(curve, cost_graph));
    if (!plot_.empty()) plot_curve(curve, plot_);
    print_summary(curve, tuner->stats());
    return 0;
  }

 private:
  void print_summary(const Curve& curve, const tuner::TuneStats& stats) const {
    if (json_) {
      nlohmann::json doc = nlohmann::json::parse(curve.to_json());
      doc.erase("points");
      doc["stats"] = {{"exact_seconds", stats.exact_seconds},       {"profile_seconds", stats.profile_seconds},
                      {"alpha_seconds", stats.alpha_seconds},       {"search_seconds", stats.search_seconds},
                      {"validation_seconds", stats.validation_seconds}, {"total_seconds", stats.total_seconds},
                      {"alpha", stats.alpha},                       {"alpha_r2", stats.alpha_r2},
                      {"evaluations", stats.evaluations},           {"candidates", stats.candidates},
                      {"passed_calibration", stats.passed_calibration}, {"passed_test", stats.passed_test},
                      {"tunable_ops", stats.tunable_ops},           {"space_size", stats.space_size}};
      double best_speedup = 1, best_energy = 1;
      for (const auto& p : curve.points) {
        best_speedup = std::max(best_speedup, p.speedup);
        if (std::isfinite(p.energy_reduction)) best_energy = std::max(best_energy, p.energy_reduction);
      }
      doc["best_speedup"] = best_speedup;
      doc["best_energy_reduction"] = best_energy;
      doc["configurations"] = curve.points.size();
      std::printf("%s\n", doc.dump(2).c_str());
      return;
    }
    std::printf("%s: %s tuning, %s cost, %s threshold %s; baseline %.4g%s (calibration) %.4g%s (test)\n",
                curve.model.c_str(), curve.tuning.c_str(), curve.cost_model.c_str(), curve.qos_metric.c_str(),
                curve.threshold.c_str(), curve.baseline_qos_calibration, curve.qos_unit.c_str(),
                curve.baseline_qos_test, curve.qos_unit.c_str());
    std::printf("%-8s %10s %12s %10s %9s %9s  %s\n", "config", "predicted", "calibration", "test", "speedup",
                "energy", "approximated ops");
    for (const auto& p : curve.points)
      std::printf("%-8s %10.4g %12.4g %10.4g %8.3fx %8s  %zu\n", p.name.c_str(), p.predicted_qos, p.qos_calibration,
                  p.qos_test, p.speedup,
                  std::isfinite(p.energy_reduction) ? fmt::format("{:.3f}x", p.energy_reduction).c_str() : "-",
                  p.config.ops.size());
    std::printf("%zu configurations in %s; %d evaluations, %d candidates validated, %d passed calibration, %d passed "
                "test; alpha %.3g (R^2 %.3f); %.1f s (profiles %.1f s, alpha %.1f s, search %.1f s, validation %.1f s)\n",
                curve.points.size(), out_.c_str(), stats.evaluations, stats.candidates, stats.passed_calibration,
                stats.passed_test, stats.alpha, stats.alpha_r2, stats.total_seconds, stats.profile_seconds,
                stats.alpha_seconds, stats.search_seconds, stats.validation_seconds);
  }

  std::string model_, data_, test_data_, qos_loss_, qos_metric_ = "accuracy", method_ = "p1", phase_ = "dev";
  std::string pruning_curve_;
  std::string shipped_, cost_, objective_, platform_, slice_, out_, hpvm_, plot_;
  std::vector<std::string> sets_, profiles_;
  std::vector<int> allowed_;
  int64_t calibration_size_ = 1000, test_size_ = 1000, calibration_count_ = 0;
  int budget_ = 3000, patience_ = 500, alpha_samples_ = 50, max_configs_ = 50;
  int64_t batch_ = 100;
  bool json_ = false;
};

CODA_REGISTER_COMMAND(TuneCommand);

}  // namespace
}  // namespace coda::cli
