// The tuning pipeline on the committed LeNet-5 and real Fashion-MNIST images: running a
// configuration in padded batches equals running the graph directly; every shipped configuration
// meets the threshold on both splits and its reported QoS is what re-running it measures; the
// curve is a front; empirical tuning reports measured QoS as its prediction; install time keeps
// the shipped configurations that still pass and can add hardware knobs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "kernels/approx/knob_catalog.h"
#include "kernels/dataset.h"
#include "kernels/evaluate.h"
#include "kernels/executor.h"
#include "kernels/onnx_import.h"
#include "sim/platform.h"
#include "tuner/cost_model.h"
#include "tuner/tuning.h"

namespace coda::tuner {
namespace {

const std::string kLenet = std::string(CODA_SOURCE_DIR) + "/kernels/zoo/lenet5-fashion-mnist.onnx";

bool have_fashion_mnist() { return std::filesystem::exists("/usr/share/datasets/fashion-mnist"); }

TuningSplit split(const Dataset& data, int64_t begin, int64_t end, const std::string& name) {
  TuningSplit s;
  s.name = name;
  s.inputs = data.batch(begin, end);
  s.reference.labels.assign(data.labels.begin() + begin, data.labels.begin() + end);
  return s;
}

class TuningOnLenet : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
    model_ = load_onnx(kLenet);
    data_ = load_dataset("fashion-mnist:test", 600);
    apply_transform_choice(data_, resolve_transform(model_, "fashion-mnist:test"));
    cost_graph_ = prepare_for_batch(model_, data_.images, 1);
  }

  std::unique_ptr<Tuner> make_tuner(const CostModel& cost, TuneOptions options) const {
    return std::make_unique<Tuner>(model_, cost_graph_, cost, knob_catalog(), split(data_, 0, 300, "calibration"),
                                   split(data_, 300, 600, "test"), options);
  }

  // Accuracy (%) of the model with a configuration on images [begin, end), measured afresh.
  double accuracy_of(const Tuner& tuner, const ApproxConfig& config, int64_t begin, int64_t end) const {
    Graph prepared = prepare_for_batch(model_, data_.images, 64);
    Configuration c = from_approx_config(tuner.space(), config);
    Tensor out = run_configuration(prepared, node_choices(tuner.space(), c), knob_catalog(),
                                   data_.batch(begin, end), tuner.ranges(), 1);
    int64_t correct = 0;
    const int64_t k = out.size() / out.dim(0);
    for (int64_t i = 0; i < out.dim(0); ++i) {
      const float* row = out.f32() + i * k;
      correct += std::max_element(row, row + k) - row == data_.labels[static_cast<std::size_t>(begin + i)];
    }
    return 100.0 * static_cast<double>(correct) / static_cast<double>(end - begin);
  }

  static void expect_valid_curve(const Curve& curve) {
    ASSERT_FALSE(curve.points.empty());
    const double cal_floor = curve.baseline_qos_calibration - curve.max_loss;
    for (std::size_t i = 0; i < curve.points.size(); ++i) {
      const CurvePoint& p = curve.points[i];
      EXPECT_GE(p.qos_calibration, cal_floor - 1e-9) << p.name;
      if (i > 0) {
        // A front: more speed costs calibration QoS.
        EXPECT_GT(p.speedup, curve.points[i - 1].speedup);
        EXPECT_LT(p.qos_calibration, curve.points[i - 1].qos_calibration + 1e-9);
      }
    }
    // The exact network always passes, so the front starts at or above the baseline.
    EXPECT_GE(curve.points.front().qos_calibration, curve.baseline_qos_calibration - 1e-9);
  }

  Graph model_, cost_graph_;
  Dataset data_;
};

TEST_F(TuningOnLenet, RunConfigurationPadsTheLastBatchWithoutChangingResults) {
  Graph prepared = prepare_for_batch(model_, data_.images, 64);
  const TuningSpace space = build_tuning_space(prepared, knob_catalog(), KnobScope::Software);
  const Tensor inputs = data_.batch(0, 100);  // 64 + 36: the second batch is padded
  Tensor batched = run_configuration(prepared, node_choices(space, Configuration(space.ops.size(), 0)),
                                     knob_catalog(), inputs, {}, 1);
  ASSERT_EQ(batched.shape(), (Shape{100, 10}));
  Graph whole = prepare_for_batch(model_, data_.images, 100);
  Executor executor(whole);
  Tensor direct = executor.run({inputs.reshaped(whole.values[static_cast<std::size_t>(whole.inputs[0])].shape)})[0];
  for (int64_t i = 0; i < batched.size(); ++i) EXPECT_FLOAT_EQ(batched.f32()[i], direct.f32()[i]) << i;
}

TEST_F(TuningOnLenet, ShippedConfigurationsMeetTheThresholdOnBothSplits) {
  auto cost = make_op_count_cost(cost_graph_, knob_catalog());
  TuneOptions options;
  options.threshold = QosThreshold::parse("3");
  options.budget = 400;
  options.patience = 200;
  options.alpha_samples = 12;
  options.max_configs = 20;
  options.batch = 100;
  auto tuner = make_tuner(*cost, options);
  const Curve curve = tuner->tune();
  expect_valid_curve(curve);
  ASSERT_FALSE(curve.points.empty());
  EXPECT_GT(curve.points.back().speedup, 1.3);  // FP16 alone is 1.5x-2x in op counts
  EXPECT_TRUE(std::isnan(curve.points.back().energy_reduction));
  const double test_floor = curve.baseline_qos_test - 3.0;
  for (const CurvePoint& p : curve.points) {
    EXPECT_GE(p.qos_test, test_floor - 1e-9) << p.name;
    // What the curve says is what running the configuration measures.
    EXPECT_NEAR(p.qos_calibration, accuracy_of(*tuner, p.config, 0, 300), 1e-9) << p.name;
    EXPECT_NEAR(p.qos_test, accuracy_of(*tuner, p.config, 300, 600), 1e-9) << p.name;
  }
  const TuneStats& stats = tuner->stats();
  EXPECT_GT(stats.profile_seconds, 0.0);
  EXPECT_LE(stats.evaluations, 400);
  EXPECT_LE(stats.candidates, 21);  // PS_eps, and the exact configuration
  EXPECT_GE(stats.passed_calibration, stats.passed_test);
  EXPECT_GT(stats.alpha, 0.0);
}

TEST_F(TuningOnLenet, EmpiricalTuningPredictsWhatItMeasures) {
  auto cost = make_op_count_cost(cost_graph_, knob_catalog());
  TuneOptions options;
  options.method = TuningMethod::Empirical;
  options.threshold = QosThreshold::parse("3");
  options.budget = 30;
  options.patience = 30;
  options.max_configs = 8;
  auto tuner = make_tuner(*cost, options);
  const Curve curve = tuner->tune();
  expect_valid_curve(curve);
  EXPECT_EQ(curve.tuning, "empirical");
  for (const CurvePoint& p : curve.points) EXPECT_DOUBLE_EQ(p.predicted_qos, p.qos_calibration) << p.name;
  EXPECT_EQ(tuner->stats().profile_seconds, 0.0);
}

TEST_F(TuningOnLenet, ProfilesOfSlicesMergeIntoTheSameCurve) {
  auto cost = make_op_count_cost(cost_graph_, knob_catalog());
  TuneOptions options;
  options.threshold = QosThreshold::parse("2");
  options.budget = 200;
  options.patience = 100;
  options.alpha_samples = 8;
  options.max_configs = 8;
  auto whole = make_tuner(*cost, options);
  const Curve reference = whole->tune();

  auto slicer = make_tuner(*cost, options);
  const OpProfiles merged = merge_op_profiles({slicer->collect_profiles(0, 180), slicer->collect_profiles(180, 300)});
  options.profiles = &merged;
  auto from_merged = make_tuner(*cost, options);
  const Curve curve = from_merged->tune();
  EXPECT_EQ(from_merged->stats().profile_seconds, 0.0);
  expect_valid_curve(curve);
  // The merged profiles predict what the whole does (dQ: size-weighted means of the slices), so
  // alpha, fitted on the same measured configurations, agrees to rounding. The searches may
  // still part ways where rounding breaks ties between equally predicted configurations.
  EXPECT_NEAR(from_merged->stats().alpha, whole->stats().alpha, 1e-9);
  EXPECT_NEAR(from_merged->stats().alpha_r2, whole->stats().alpha_r2, 1e-9);
}

TEST_F(TuningOnLenet, InstallTimeAddsHardwareKnobsAndEnergy) {
  auto ops = make_op_count_cost(cost_graph_, knob_catalog());
  TuneOptions dev_options;
  dev_options.threshold = QosThreshold::parse("3");
  dev_options.budget = 150;
  dev_options.patience = 100;
  dev_options.alpha_samples = 8;
  dev_options.max_configs = 6;
  const Curve shipped = make_tuner(*ops, dev_options)->tune();

  const sim::Platform platform = sim::Platform::builtin();
  auto sim_cost = make_simulator_cost(cost_graph_, platform, 1);
  TuneOptions options = dev_options;
  options.scope = KnobScope::Hardware;
  options.energy_objective = true;
  options.budget = 60;
  options.patience = 60;
  auto tuner = make_tuner(*sim_cost, options);
  const Curve curve = tuner->install(shipped);
  EXPECT_EQ(curve.phase, "install");
  EXPECT_EQ(curve.objective, "energy");
  ASSERT_FALSE(curve.points.empty());
  EXPECT_GT(curve.baseline_energy, 0.0);
  for (const CurvePoint& p : curve.points) {
    EXPECT_TRUE(std::isfinite(p.energy_reduction)) << p.name;
    EXPECT_GE(p.qos_test, curve.baseline_qos_test - 3.0 - 1e-9) << p.name;
  }
  bool hardware_knob = false;
  for (const TunableOp& op : tuner->space().ops)
    for (const OpChoice& c : op.choices) hardware_knob |= c.unit == Unit::Promise || c.unit == Unit::LightNN;
  EXPECT_TRUE(hardware_knob);
}

}  // namespace
}  // namespace coda::tuner
