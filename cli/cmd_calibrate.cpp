// coda calibrate, three modes:
//  - activation ranges (default): measures the ranges that PROMISE, fixed-point and shift-add
//    knobs quantize to (0.1/99.9 percentiles, the network input at its full range; Srivastava et
//    al. 2018 as used by HPVM) on data, and writes them into a configuration so later runs are
//    reproducible without the data;
//  - error calibration (--error-model, ApproxCaliper, tuner/error_calibration.h): the region of
//    injected output errors in which an application's QoS holds, as an accuracy budget
//    (budgets.json);
//  - --train-example: trains the example application's network (tuner/examples/rotation-lenet5.onnx).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/approx_options.h"
#include "cli/command.h"
#include "cli/progress.h"
#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/atomic_file.h"
#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/executor.h"
#include "kernels/onnx_export.h"
#include "kernels/onnx_import.h"
#include "tuner/error_calibration.h"
#include "tuner/steering.h"

namespace coda::cli {
namespace {

class CalibrateCommand : public Command {
 public:
  std::string name() const override { return "calibrate"; }
  std::string summary() const override {
    return "Measure activation ranges for quantizing knobs (default), or an application's error budget "
           "(--error-model, ApproxCaliper)";
  }

  void configure(CLI::App& app) override {
    app.footer(
        "Modes:\n"
        "  activation ranges (default): --model M --data SPEC --out config.json [--config C]\n"
        "  error calibration:           --model M --error-model gaussian|outlier --qos APP.yaml --out budgets.json\n"
        "                               injects errors into M's output (an angle) inside the application's\n"
        "                               closed loop and searches, by bisection along directions, the error\n"
        "                               parameters for which the QoS (collisions) holds; see docs/calibration.md\n"
        "  check an approximation:      --model M --qos APP.yaml --check (--knob K | --op-knob N=K | --config C)\n"
        "                               [--budgets budgets.json] [--out check.json]: the approximated network's\n"
        "                               L1 and collisions in the application, against the budget\n"
        "  example network:             --train-example OUT.onnx trains tuner/examples/rotation-lenet5.onnx");
    app.add_option("--model", model_, "ONNX model file");
    app.add_option("--data", data_, "Activation ranges: calibration data set (see coda eval), preferably a training split");
    app.add_option("--config", config_path_,
                   "Activation ranges: configuration to add the ranges to (default: an empty one); "
                   "--check: the approximation to check");
    app.add_option("--out", out_, "Where to write the configuration with ranges, budgets.json or the check (JSON)");
    app.add_option("--error-model", error_model_, "Error calibration: injected error model (gaussian: sigma, bias; "
                                                  "outlier: sigma, bias, outlier probability)");
    app.add_option("--qos", qos_path_, "Error calibration, --check: application YAML (e.g. tuner/examples/steering.yaml)");
    app.add_option("--divisions", divisions_, "Error calibration: search directions per axis (simplex lattice)")
        ->check(CLI::Range(1, 64));
    app.add_option("--tolerance", tolerance_, "Error calibration: bisection tolerance, a fraction of each parameter's range")
        ->check(CLI::Range(1e-6, 0.5));
    app.add_flag("--check", check_, "Check an approximated network (--knob, --op-knob or --config) in the application");
    app.add_option("--knob", knob_, "--check: run this knob on every op it applies to");
    app.add_option("--op-knob", op_knobs_, "--check: NAME=ID[@UNIT], knob ID on op NAME (repeatable)");
    app.add_option("--budgets", budgets_path_, "--check: budgets.json from --error-model to compare against");
    app.add_option("--test-limit", test_limit_,
                   "--check, --train-example: rotated test images for the network's L1 (default 2000, 10000)")
        ->check(CLI::PositiveNumber);
    app.add_option("--train-example", train_example_, "Train the example rotation network and write it here (ONNX)");
    app.add_option("--train-limit", training_.train_limit, "--train-example: training images")
        ->check(CLI::PositiveNumber);
    app.add_option("--epochs", training_.epochs, "--train-example: passes over the training images")
        ->check(CLI::PositiveNumber);
    app.add_option("--limit", limit_, "Activation ranges: images to calibrate on")->check(CLI::PositiveNumber);
    app.add_option("--batch", batch_, "Activation ranges: images per run")->check(CLI::PositiveNumber);
    app.add_option("--low", low_, "Activation ranges: lower percentile")->check(CLI::Range(0.0, 50.0));
    app.add_option("--high", high_, "Activation ranges: upper percentile")->check(CLI::Range(50.0, 100.0));
  }

  int execute(const CommonOptions& common) override {
    if (!train_example_.empty()) return train_example();
    if (check_) return check_configuration(common);
    if (!error_model_.empty()) return calibrate_errors();
    if (model_.empty() || data_.empty() || out_.empty())
      throw BadInput("calibrate: activation ranges need --model, --data and --out (or give --error-model, --check "
                     "or --train-example for the other modes)");
    ApproxConfig config;
    if (!config_path_.empty()) config = ApproxConfig::load(config_path_);
    Graph graph = load_onnx(model_);
    Dataset data = load_dataset(data_, limit_);
    try {
      check_classifier(graph);
      apply_transform_choice(data, resolve_transform(graph, data_));
      Value& in = graph.values[static_cast<std::size_t>(graph.inputs.front())];
      const int64_t batch = std::min(batch_, data.size());
      Shape shape{batch};
      if (in.shape.size() == 2) shape.push_back(data.images.size() / data.images.dim(0));
      else for (int i = 1; i < 4; ++i) shape.push_back(data.images.dim(i));
      if (!in.shape.empty()) in.shape[0] = -1;
      bind_input_shapes(graph, {shape});
      prepare_graph(graph);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    resolve_config(config, graph, knob_catalog());  // the configuration must fit the model

    std::vector<std::size_t> nodes;
    for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
      const std::string& type = graph.nodes[n].op_type;
      if (type == "Conv" || type == "Gemm" || type == "MatMul") nodes.push_back(n);
    }
    const Shape& input = graph.values[static_cast<std::size_t>(graph.inputs.front())].shape;
    std::vector<std::vector<Tensor>> batches = calibration_batches(data.images, input.front(), limit_);
    for (auto& b : batches) b.front() = b.front().reshaped(input);
    std::map<std::string, OpRanges> ranges = calibrate_ranges(graph, batches, nodes, low_, high_);
    for (auto& [name, r] : ranges) config.ranges[name] = r;
    write_file_atomically(out_, config.to_json());
    std::printf("calibrated %zu op(s) of %s on %lld image(s) of %s (percentiles %g/%g); wrote %s\n", ranges.size(),
                model_.c_str(), static_cast<long long>(std::min<int64_t>(limit_, data.size())), data_.c_str(), low_,
                high_, out_.c_str());
    return 0;
  }

 private:
  int calibrate_errors() {
    if (model_.empty() || qos_path_.empty() || out_.empty())
      throw BadInput("calibrate --error-model: needs --model, --qos APP.yaml and --out budgets.json");
    if (!data_.empty() || !config_path_.empty())
      throw BadInput("calibrate --error-model: --data and --config belong to activation-range calibration; the "
                     "application YAML names its own images");
    tuner::SteeringApp app = tuner::load_steering_app(qos_path_);
    Graph graph = load_onnx(model_);
    tuner::HeadingEstimator estimator;
    try {
      estimator = tuner::network_estimator(graph);
      // One frame through the network now, so a model that does not fit fails with its name.
      Shape one_frame = app.scenes.shape();
      one_frame[0] = 1;
      Tensor frame(one_frame, DType::Float32);
      std::copy(app.scenes.f32(), app.scenes.f32() + frame.size(), frame.f32());
      estimator(frame);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    // The estimator's range: the rotations it was trained on (its soft-argmax cannot leave it).
    const double view_degrees = view_range(graph);
    const tuner::ErrorModel model = tuner::ErrorModel::make(error_model_, view_degrees);
    tuner::CalibrationOptions options;
    options.divisions = divisions_;
    options.tolerance = tolerance_;
    const int directions =
        static_cast<int>(tuner::orthant_directions(static_cast<int>(model.parameters().size()), divisions_).size());
    ProgressBar bar("error region", directions, "directions");
    tuner::CalibrationReport report =
        tuner::calibrate_errors(app, estimator, model, options, [&](int done, int) { bar.update(done); });
    bar.finish();
    write_file_atomically(out_, tuner::calibration_report_json(report, model_, qos_path_));
    std::printf("exact network: L1 %.2f deg, %d/%d episodes collided\n", report.exact_l1_deg, report.exact_collisions,
                report.episodes);
    for (const tuner::BudgetDirection& d : report.directions) {
      std::string at;
      for (std::size_t i = 0; i < report.parameters.size(); ++i)
        at += fmt::format("{}{}={:.3g}", i ? " " : "", report.parameters[i].name, d.boundary.parameters[i]);
      std::printf("  boundary %s%s: L1 %.2f deg\n", at.c_str(), d.boundary.bisection.saturated() ? " (beyond range)" : "",
                  d.l1_deg);
    }
    std::printf("budget: L1 <= %.2f deg (%.1fx the exact network's); %d simulations in %.1f s; wrote %s\n",
                report.l1_budget_deg, report.l1_budget_deg / std::max(report.exact_l1_deg, 1e-9), report.simulations,
                report.seconds, out_.c_str());
    return 0;
  }

  int check_configuration(const CommonOptions& common) {
    if (model_.empty() || qos_path_.empty())
      throw BadInput("calibrate --check: needs --model and --qos APP.yaml, and the approximation as --knob, "
                     "--op-knob or --config");
    ApproxOptions approx;
    approx.config_path = config_path_;
    approx.knob = knob_;
    approx.op_knobs = op_knobs_;
    std::unique_ptr<ApproxSession> session = approx.make_session(common.seed);
    if (!session) throw BadInput("calibrate --check: give the approximation with --knob, --op-knob or --config");
    double budget = -1;
    if (!budgets_path_.empty()) {
      try {
        budget = nlohmann::json::parse(read_file(budgets_path_)).at("budget").at("max_l1").get<double>();
      } catch (const nlohmann::json::exception& e) {
        throw BadInput(budgets_path_ + ": not a budgets file from coda calibrate --error-model (" + e.what() + ")");
      }
    }
    tuner::SteeringApp app = tuner::load_steering_app(qos_path_);
    Graph graph = load_onnx(model_);
    ImageTransform preprocess;
    if (graph.metadata.count(kPreprocessMetadataKey))
      preprocess = ImageTransform::parse(graph.metadata.at(kPreprocessMetadataKey), model_ + ": metadata");
    // Knobs that quantize need activation ranges: measured on rotated training images, which
    // neither the test split nor the application's scenes share.
    const Tensor calibration_images =
        apply_transform(load_dataset("rotated-fashion-mnist:train", kCalibrationImages).images, preprocess);
    session->set_calibration_source([&](const Graph& prepared) {
      const Shape& input = prepared.values[static_cast<std::size_t>(prepared.inputs.front())].shape;
      return calibration_batches(calibration_images, input.front(), kCalibrationImages);
    });
    tuner::HeadingEstimator exact = tuner::network_estimator(graph);
    tuner::HeadingEstimator approximate =
        tuner::network_estimator(graph, [&](const Graph& prepared, Executor& executor) {
          session->install(prepared, executor);
        },
        // Configuration errors name the configuration file, so they are not prefixed with the model.
        [&](Graph& prepared) { session->apply_pruning(prepared); });
    Dataset test = load_dataset("rotated-fashion-mnist:test", test_limit_ > 0 ? test_limit_ : kCheckTestImages);
    const double exact_split_l1 = tuner::regression_l1(exact, test.images, test.targets);
    const double split_l1 = tuner::regression_l1(approximate, test.images, test.targets);
    const tuner::SteeringResult exact_run = tuner::run_steering(app, exact);
    const tuner::SteeringResult run = tuner::run_steering(app, approximate);
    const bool qos = run.qos_holds(app.params.max_collisions);
    std::printf("exact:       L1 %.2f deg on %lld test images, %.2f deg in the loop, %d/%d collisions\n",
                exact_split_l1, static_cast<long long>(test.size()), exact_run.mean_abs_error_deg,
                exact_run.collisions, exact_run.episodes);
    std::printf("approximate: L1 %.2f deg on %lld test images, %.2f deg in the loop, %d/%d collisions (QoS %s)\n",
                split_l1, static_cast<long long>(test.size()), run.mean_abs_error_deg, run.collisions, run.episodes,
                qos ? "holds" : "fails");
    nlohmann::json out = {{"model", model_},
                          {"application", qos_path_},
                          {"approximation", nlohmann::json::parse(session->config().to_json())},
                          {"exact", {{"test_l1_deg", exact_split_l1}, {"loop_l1_deg", exact_run.mean_abs_error_deg},
                                     {"collisions", exact_run.collisions}}},
                          {"approximate", {{"test_l1_deg", split_l1}, {"loop_l1_deg", run.mean_abs_error_deg},
                                           {"collisions", run.collisions}}},
                          {"episodes", run.episodes},
                          {"qos_holds", qos}};
    if (budget >= 0) {
      const bool within = run.mean_abs_error_deg <= budget;
      std::printf("budget:      L1 <= %.2f deg in the loop: %s\n", budget, within ? "within" : "over");
      out["budget_l1_deg"] = budget;
      out["within_budget"] = within;
    }
    if (!out_.empty()) write_file_atomically(out_, out.dump(2) + "\n");
    return 0;
  }

  // The largest |bin centre| of the soft-argmax head bounds the estimates; a model without that
  // head is taken to estimate within the rotated-fashion-mnist default of +-45 degrees.
  static double view_range(const Graph& graph) {
    const int centres = graph.find_value("rotation.bin_centres");
    if (centres >= 0 && graph.values[static_cast<std::size_t>(centres)].constant) {
      double largest = 0;
      for (float c : graph.values[static_cast<std::size_t>(centres)].constant->to_float_vector())
        largest = std::max(largest, std::fabs(static_cast<double>(c)));
      const auto bins = graph.values[static_cast<std::size_t>(centres)].constant->size();
      // The outermost centre lies half a bin inside the range.
      if (largest > 0 && bins > 1) return largest * static_cast<double>(bins) / static_cast<double>(bins - 1);
    }
    return kDefaultViewDegrees;
  }

  int train_example() {
    if (!model_.empty() || !data_.empty() || !error_model_.empty())
      throw BadInput("calibrate --train-example: takes no --model, --data or --error-model (its data are fixed: "
                     "rotated-fashion-mnist)");
    if (test_limit_ > 0) training_.test_limit = test_limit_;
    std::printf("training LeNet-5 on %lld images of %s for %d epoch(s)\n",
                static_cast<long long>(training_.train_limit), training_.train_data.c_str(), training_.epochs);
    tuner::RotationTrainingResult result = tuner::train_rotation_estimator(training_, [&](int epoch, double loss) {
      std::printf("  epoch %d/%d: loss %.4f\n", epoch, training_.epochs, loss);
      std::fflush(stdout);
    });
    save_onnx(result.graph, train_example_);
    std::printf("test (%s, %lld images): bin accuracy %.2f%%, L1 %.2f deg; %.0f s; wrote %s\n",
                training_.test_data.c_str(), static_cast<long long>(training_.test_limit),
                100.0 * result.test_bin_accuracy, result.test_l1_deg, result.seconds, train_example_.c_str());
    return 0;
  }

  static constexpr double kDefaultViewDegrees = 45.0;
  // As many images as activation-range calibration takes by default (--limit).
  static constexpr int64_t kCalibrationImages = 500;
  // Enough for the L1 to settle within about 0.1 degrees, at a few seconds per check.
  static constexpr int64_t kCheckTestImages = 2000;

  std::string model_;
  std::string data_;
  std::string config_path_;
  std::string out_;
  int64_t limit_ = 500;
  int64_t batch_ = 100;
  double low_ = 0.1;
  double high_ = 99.9;
  std::string error_model_;
  std::string qos_path_;
  int divisions_ = 4;
  double tolerance_ = 1.0 / 64;
  std::string train_example_;
  tuner::RotationTrainingOptions training_;
  bool check_ = false;
  int knob_ = 0;
  std::vector<std::string> op_knobs_;
  std::string budgets_path_;
  int64_t test_limit_ = 0;  // 0: the mode's default
};

CODA_REGISTER_COMMAND(CalibrateCommand);

}  // namespace
}  // namespace coda::cli
