// ApproxTuner's QoS predictors (tuner/qos_predictor.h): P2 adds profiled QoS changes, P1 scores
// the composed output changes with the real metric (reproducing a single op's measured accuracy
// exactly, its MSE up to the float rounding of dT), and calibration recovers a known alpha.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <stdexcept>

#include "kernels/approx/approx_plan.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"
#include "tests/support/bad_input.h"
#include "tuner/qos_predictor.h"

namespace coda::tuner {
namespace {

// Two ops (three and two choices), four samples of two outputs; values are small dyadic
// fractions so that sums and squares below are exact in float and double.
OpProfiles synthetic_profiles() {
  OpProfiles p;
  p.model = "synthetic";
  p.op_names = {"a", "b"};
  p.choice_counts = {3, 2};
  p.samples = 4;
  p.base_outputs = Tensor::from_floats({4, 2}, {1, 0, 0, 2, -1, 1, 3, 0});
  p.delta_outputs = {{Tensor(), Tensor::from_floats({4, 2}, {0.5f, 0, 0, -0.5f, 0.25f, 0, 0, 1}),
                      Tensor::from_floats({4, 2}, {1, 1, -1, 0, 0, 0, 0.5f, 0})},
                     {Tensor(), Tensor::from_floats({4, 2}, {0, 0.5f, 0.5f, 0, 0, -0.25f, 0, 0})}};
  p.base_qos = 80.0;
  p.delta_qos = {{0.0, -1.0, -2.0}, {0.0, -0.5}};
  return p;
}

// P2 reads QoS changes in the orientation of a higher-is-better metric such as accuracy.
std::unique_ptr<QosEvaluator> accuracy_of_four() {
  QosReference reference;
  reference.labels = {0, 1, 0, 1};
  return make_metric_evaluator("accuracy", reference);
}

std::unique_ptr<QosEvaluator> mse_against_base(const OpProfiles& p) {
  QosReference reference;
  reference.exact_outputs = p.base_outputs;
  return make_metric_evaluator("mse", reference);
}

TEST(QosPredictor, ParsesItsName) {
  EXPECT_EQ(parse_predictor_kind("p1"), PredictorKind::P1);
  EXPECT_EQ(parse_predictor_kind("p2"), PredictorKind::P2);
  EXPECT_STREQ(predictor_name(PredictorKind::P1), "p1");
  EXPECT_STREQ(predictor_name(PredictorKind::P2), "p2");
  test::expect_bad_input([] { parse_predictor_kind("p3"); }, {"'p3'", "p1 or p2"});
}

TEST(QosPredictor, P2AddsProfiledQosChanges) {
  OpProfiles p = synthetic_profiles();
  auto accuracy = accuracy_of_four();
  QosPredictor p2(PredictorKind::P2, p, *accuracy);
  EXPECT_EQ(p2.alpha(), 1.0);
  EXPECT_EQ(p2.predict({0, 0}), 80.0);
  EXPECT_EQ(p2.predict({2, 1}), 80.0 - 2.0 - 0.5);
  EXPECT_EQ(p2.unscaled_delta({1, 1}), -1.5);
  p2.set_alpha(0.5);
  EXPECT_EQ(p2.predict({2, 1}), 80.0 - 0.5 * 2.5);
  EXPECT_THROW(p2.predict({3, 0}), std::invalid_argument);
  EXPECT_THROW(p2.predict({0}), std::invalid_argument);
}

TEST(QosPredictor, NoOpIsPredictedToImproveQos) {
  OpProfiles p = synthetic_profiles();
  p.delta_qos = {{0.0, 1.5, -2.0}, {0.0, 0.5}};  // apparent gains of 1.5 and 0.5 points
  auto accuracy = accuracy_of_four();
  QosPredictor p2(PredictorKind::P2, p, *accuracy);
  EXPECT_EQ(p2.predict({1, 1}), 80.0);        // gains count as none
  EXPECT_EQ(p2.predict({2, 1}), 80.0 - 2.0);  // a loss is not offset by another op's gain
  EXPECT_EQ(p2.unscaled_delta({2, 1}), -2.0);
  // P1 on a lower-is-better metric never predicts less error than the exact outputs have.
  QosReference shifted;
  shifted.exact_outputs = Tensor::from_floats({4, 2}, {1.5f, 0, 0, 1.5f, -0.75f, 1, 3, 1});  // = base + dT(a, 1)
  auto mse = make_metric_evaluator("mse", shifted);
  QosPredictor p1(PredictorKind::P1, p, *mse);
  const double exact_mse = mse->evaluate(p.base_outputs);
  EXPECT_GT(exact_mse, 0.0);
  EXPECT_EQ(p1.predict({1, 0}), exact_mse);  // composing dT(a, 1) would give an MSE of 0
}

TEST(QosPredictor, P1ScoresTheComposedOutputs) {
  OpProfiles p = synthetic_profiles();
  auto mse = mse_against_base(p);
  QosPredictor p1(PredictorKind::P1, p, *mse);
  // Config {1, 1}: summed change 0.5, 0.5, 0.5, -0.5, 0.25, -0.25, 0, 1; squares sum to 2.125.
  EXPECT_EQ(p1.predict({1, 1}), 2.125 / 8.0);
  EXPECT_EQ(p1.unscaled_delta({1, 1}), 2.125 / 8.0 - 80.0);  // against the profiled base QoS
  EXPECT_EQ(p1.predict({0, 0}), 0.0);
  p1.set_alpha(2.0);
  EXPECT_EQ(p1.predict({1, 1}), 4.0 * 2.125 / 8.0);
}

TEST(QosPredictor, CalibrationOfP2IsLeastSquaresThroughTheOrigin) {
  OpProfiles p = synthetic_profiles();
  auto accuracy = accuracy_of_four();
  QosPredictor p2(PredictorKind::P2, p, *accuracy);
  // Unscaled deltas -1 and -2, measured changes -1 and -3: alpha = (1 + 6) / (1 + 4) = 1.4;
  // predictions -1.4 and -2.8 leave SSE 0.2 around a spread SST 2, so R^2 = 0.9.
  double r2 = p2.calibrate({{1, 0}, {2, 0}}, {79.0, 77.0});
  EXPECT_NEAR(p2.alpha(), 1.4, 1e-15);
  EXPECT_NEAR(r2, 0.9, 1e-12);
  // Noiseless data generated with alpha = 1.7 over every configuration.
  std::vector<Configuration> configs;
  std::vector<double> measured;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 2; ++b) {
      configs.push_back({a, b});
      measured.push_back(80.0 + 1.7 * (p.delta_qos[0][static_cast<std::size_t>(a)] + p.delta_qos[1][static_cast<std::size_t>(b)]));
    }
  EXPECT_NEAR(p2.calibrate(configs, measured), 1.0, 1e-12);
  EXPECT_NEAR(p2.alpha(), 1.7, 1e-12);
}

TEST(QosPredictor, CalibrationOfP1RecoversAKnownAlpha) {
  OpProfiles p = synthetic_profiles();
  p.base_qos = 0.0;  // MSE of the base outputs against themselves
  auto mse = mse_against_base(p);
  QosPredictor p1(PredictorKind::P1, p, *mse);
  // MSE(alpha) = alpha^2 * mean(sum of dT)^2: the measurements of alpha = 1.7.
  std::vector<Configuration> configs;
  std::vector<double> measured;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 2; ++b) {
      Configuration config{a, b};
      p1.set_alpha(1.0);
      configs.push_back(config);
      measured.push_back(1.7 * 1.7 * p1.predict(config));
    }
  double r2 = p1.calibrate(configs, measured);
  EXPECT_NEAR(p1.alpha(), 1.7, 1e-5);
  EXPECT_GT(r2, 0.999999);
}

TEST(QosPredictor, CalibrationEdgeCases) {
  OpProfiles p = synthetic_profiles();
  auto mse = mse_against_base(p);
  QosPredictor p2(PredictorKind::P2, p, *mse);
  p2.set_alpha(3.0);
  // Only exact configurations: nothing to fit, alpha back to 1; one configuration: no R^2.
  EXPECT_TRUE(std::isnan(p2.calibrate({{0, 0}}, {80.0})));
  EXPECT_EQ(p2.alpha(), 1.0);
  EXPECT_THROW(p2.calibrate({{0, 0}}, {}), std::invalid_argument);
  EXPECT_THROW(p2.calibrate({{5, 0}}, {1.0}), std::invalid_argument);
}

// --- P1 on a real network ----------------------------------------------------------------------

constexpr int64_t kBatch = 8;

Tensor random_images(int64_t n, std::uint64_t seed) {
  Tensor images({n, 1, 28, 28});
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < images.size(); ++i) images.f32()[i] = static_cast<float>(std::generate_canonical<double, 53>(rng));
  return images;
}

// First output of the whole network on all inputs in batches of kBatch, after `setup`.
Tensor run_all(const Graph& g, const Tensor& inputs, ApproxPlan* plan) {
  Executor executor(g);
  if (plan) plan->install(executor);
  int64_t n = inputs.dim(0);
  int64_t row = inputs.size() / n;
  Tensor out;
  for (int64_t begin = 0; begin < n; begin += kBatch) {
    Tensor batch({kBatch, 1, 28, 28});
    std::memcpy(batch.f32(), inputs.f32() + begin * row, static_cast<std::size_t>(kBatch * row) * sizeof(float));
    Tensor y = executor.run({batch}).front();
    int64_t width = y.size() / kBatch;
    if (out.empty()) out = Tensor({n, width});
    std::memcpy(out.f32() + begin * width, y.f32(), static_cast<std::size_t>(kBatch * width) * sizeof(float));
  }
  return out;
}

TEST(QosPredictor, P1WithOneApproximatedOpReproducesItsMeasuredQos) {
  ZooOptions options;
  options.batch = kBatch;
  options.seed = 11;
  Graph g = build_zoo_model("lenet5", options);
  prepare_graph(g);
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {12, 121, 233});
  Tensor inputs = random_images(16, 12);
  Tensor exact = run_all(g, inputs, nullptr);
  QosReference reference;
  reference.exact_outputs = exact;
  for (int64_t i = 0; i < exact.dim(0); ++i) reference.labels.push_back(static_cast<int>((i * 7) % 10));
  auto accuracy = make_metric_evaluator("accuracy", reference);
  auto mse = make_metric_evaluator("mse", reference);
  auto agreement = make_metric_evaluator("agreement", reference);
  ProfileOptions profile_options;
  profile_options.batch = kBatch;
  OpProfiles profiles = collect_op_profiles(g, space, knob_catalog(), inputs, *accuracy, {}, profile_options);

  for (const QosEvaluator* metric : {accuracy.get(), mse.get(), agreement.get()}) {
    QosPredictor p1(PredictorKind::P1, profiles, *metric);
    p1.set_alpha(0.0);
    EXPECT_EQ(p1.predict(Configuration(space.ops.size(), 1)), metric->evaluate(exact)) << metric->name();
    p1.set_alpha(1.0);
    for (std::size_t op = 0; op < space.ops.size(); ++op)
      for (int c = 1; c < static_cast<int>(space.ops[op].choices.size()); ++c) {
        Configuration config(space.ops.size(), 0);
        config[op] = c;
        ApproxPlan plan(g, node_choices(space, config), knob_catalog(), profile_options.seed);
        Tensor measured = run_all(g, inputs, &plan);
        double predicted = p1.predict(config), actual = metric->evaluate(measured);
        if (metric->unit() == "%") {
          // Top-1 classes survive the float rounding of the stored dT: the same value exactly.
          EXPECT_EQ(predicted, actual) << metric->name() << " " << space.ops[op].name;
        } else {
          EXPECT_NEAR(predicted, actual, 1e-6 * actual) << metric->name() << " " << space.ops[op].name;
        }
      }
  }
  // P2 of a single op is its profiled change, which is the same measurement.
  QosPredictor p2(PredictorKind::P2, profiles, *accuracy);
  Configuration conv1_perforated(space.ops.size(), 0);
  conv1_perforated[0] = 2;
  ApproxPlan plan(g, node_choices(space, conv1_perforated), knob_catalog(), profile_options.seed);
  EXPECT_NEAR(p2.predict(conv1_perforated), accuracy->evaluate(run_all(g, inputs, &plan)), 1e-12);
}

}  // namespace
}  // namespace coda::tuner
