// ApproxCaliper's error calibration: bisection along directions against synthetic QoS functions
// with known boundaries, the error models' statistics, and the whole calibration on the steering
// loop with a geometric estimator whose bias limit follows from the control law.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "kernels/dataset.h"
#include "kernels/error.h"
#include "tuner/error_calibration.h"
#include "tuner/steering.h"

namespace coda::tuner {
namespace {

TEST(ErrorCalibration, BisectionFindsAKnownThreshold) {
  const double threshold = 0.3712;
  int calls = 0;
  BisectionResult r = bisect_boundary(
      [&](double t) {
        ++calls;
        return t < threshold;
      },
      1.0, 1e-3);
  EXPECT_LT(r.passing, threshold);
  EXPECT_GE(r.failing, threshold);
  EXPECT_LE(r.failing - r.passing, 1e-3);
  EXPECT_FALSE(r.saturated());
  EXPECT_EQ(r.evaluations, calls);
  // One probe at the range end, then one halving per bit of 1/tolerance: 1 + ceil(log2(1000)).
  EXPECT_EQ(r.evaluations, 11);
}

TEST(ErrorCalibration, BisectionReportsARegionBeyondTheRange) {
  BisectionResult r = bisect_boundary([](double) { return true; }, 2.0, 0.01);
  EXPECT_TRUE(r.saturated());
  EXPECT_DOUBLE_EQ(r.passing, 2.0);
  EXPECT_EQ(r.evaluations, 1);
  BisectionResult none = bisect_boundary([](double t) { return t == 0.0; }, 1.0, 0.01);
  EXPECT_DOUBLE_EQ(none.passing, 0.0);
  EXPECT_LE(none.failing, 0.01);
}

TEST(ErrorCalibration, DirectionsCoverTheOrthantEvenly) {
  auto two = orthant_directions(2, 4);
  ASSERT_EQ(two.size(), 5u);
  for (const auto& d : two) {
    EXPECT_NEAR(std::hypot(d[0], d[1]), 1.0, 1e-12);
    EXPECT_GE(d[0], 0.0);
    EXPECT_GE(d[1], 0.0);
  }
  EXPECT_DOUBLE_EQ(two.front()[0], 1.0);  // the sigma axis
  EXPECT_DOUBLE_EQ(two.back()[1], 1.0);   // the bias axis
  EXPECT_NEAR(two[2][0], std::sqrt(0.5), 1e-12);
  // Simplex lattice with 3 divisions in 3-D: C(5, 2) = 10 points.
  EXPECT_EQ(orthant_directions(3, 3).size(), 10u);
  EXPECT_THROW(orthant_directions(0, 3), BadInput);
  EXPECT_THROW(orthant_directions(2, 0), BadInput);
}

TEST(ErrorCalibration, RegionSearchTracesAnEllipse) {
  // QoS holds inside (sigma/4)^2 + (bias/9)^2 <= 1; ranges 10 and 20.
  auto inside = [](const std::vector<double>& p) { return std::pow(p[0] / 4, 2) + std::pow(p[1] / 9, 2) <= 1.0; };
  const std::vector<double> ranges{10, 20};
  const double tolerance = 1.0 / 256;
  std::vector<BoundaryPoint> boundary = search_error_region(inside, ranges, orthant_directions(2, 6), tolerance);
  ASSERT_EQ(boundary.size(), 7u);
  for (const BoundaryPoint& b : boundary) {
    // The passing point is inside, the failing one outside, and both are within the tolerance
    // (scaled by the range) of the true crossing along the ray.
    const double dx = b.direction[0] * ranges[0], dy = b.direction[1] * ranges[1];
    const double crossing = 1.0 / std::sqrt(std::pow(dx / 4, 2) + std::pow(dy / 9, 2));
    EXPECT_LE(b.bisection.passing, crossing);
    EXPECT_GE(b.bisection.failing, crossing);
    EXPECT_NEAR(b.bisection.passing, crossing, tolerance);
    EXPECT_TRUE(inside(b.parameters));
    EXPECT_FALSE(inside({b.bisection.failing * dx, b.bisection.failing * dy}));
    // Monotone region: every point between the origin and the boundary holds.
    for (double f : {0.1, 0.5, 0.9}) EXPECT_TRUE(inside({f * b.parameters[0], f * b.parameters[1]}));
  }
  EXPECT_NEAR(boundary.front().parameters[0], 4.0, 10 * tolerance);  // sigma axis
  EXPECT_NEAR(boundary.back().parameters[1], 9.0, 20 * tolerance);   // bias axis
}

TEST(ErrorCalibration, GaussianModelHasItsMeanAndSpread) {
  ErrorModel model = ErrorModel::make("gaussian", 45.0);
  ASSERT_EQ(model.parameters().size(), 2u);
  EXPECT_EQ(model.parameters()[0].name, "sigma_deg");
  EXPECT_EQ(model.parameters()[1].name, "bias_deg");
  EstimateCorruption corrupt = model.corruption({2.0, 3.0});
  std::mt19937_64 rng(7);
  const int n = 20000;
  double sum = 0, squares = 0;
  for (int i = 0; i < n; ++i) {
    const double e = corrupt(10.0f, rng) - 10.0;
    sum += e;
    squares += e * e;
  }
  const double mean = sum / n, sd = std::sqrt(squares / n - mean * mean);
  // Standard errors: 2 / sqrt(20000) = 0.014 for the mean, about 0.01 for the deviation.
  EXPECT_NEAR(mean, 3.0, 0.06);
  EXPECT_NEAR(sd, 2.0, 0.05);
  // No error at the origin.
  EstimateCorruption none = model.corruption({0.0, 0.0});
  EXPECT_FLOAT_EQ(none(12.5f, rng), 12.5f);
}

TEST(ErrorCalibration, SettingsShareTheirRandomNumbers) {
  ErrorModel model = ErrorModel::make("gaussian", 45.0);
  std::mt19937_64 a(3), b(3);
  EstimateCorruption small = model.corruption({1.0, 0.0}), large = model.corruption({5.0, 0.0});
  for (int i = 0; i < 100; ++i) EXPECT_NEAR(large(0.0f, b), 5.0f * small(0.0f, a), 1e-4);
}

TEST(ErrorCalibration, OutliersReplaceEstimatesWithinTheRange) {
  ErrorModel model = ErrorModel::make("outlier", 30.0);
  ASSERT_EQ(model.parameters().size(), 3u);
  EXPECT_DOUBLE_EQ(model.parameters()[2].range, 0.5);
  EstimateCorruption always = model.corruption({0.0, 0.0, 1.0});
  EstimateCorruption sometimes = model.corruption({0.0, 0.0, 0.25});
  std::mt19937_64 rng(11);
  double sum = 0;
  int replaced = 0;
  for (int i = 0; i < 8000; ++i) {
    const float e = always(100.0f, rng);
    ASSERT_LE(std::fabs(e), 30.0f);
    sum += e;
    if (sometimes(100.0f, rng) != 100.0f) ++replaced;
  }
  EXPECT_NEAR(sum / 8000, 0.0, 1.0);             // uniform on [-30, 30]: standard error 0.19
  EXPECT_NEAR(replaced / 8000.0, 0.25, 0.02);    // binomial standard error 0.005
  EXPECT_THROW(ErrorModel::make("laplace", 45.0), BadInput);
  EXPECT_THROW(model.corruption({1.0, 2.0}), BadInput);
}

// A bright horizontal bar: its orientation, measured from second moments, is the rotation.
Tensor bar_scene() {
  Tensor scene = Tensor::zeros({1, 1, 28, 28});
  for (int y = 12; y <= 15; ++y)
    for (int x = 3; x <= 24; ++x) scene.f32()[y * 28 + x] = 1.0f;
  return scene;
}

// Orientation of each image's intensity from its central second moments (Gonzalez & Woods,
// Digital Image Processing, sec. 11.4), counter-clockwise as displayed.
std::vector<float> moment_orientation(const Tensor& images) {
  std::vector<float> angles;
  const int64_t h = images.dim(2), w = images.dim(3);
  for (int64_t n = 0; n < images.dim(0); ++n) {
    const float* p = images.f32() + n * h * w;
    double m = 0, mx = 0, my = 0;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) m += p[y * w + x], mx += p[y * w + x] * x, my += p[y * w + x] * -y;
    mx /= m, my /= m;
    double xx = 0, yy = 0, xy = 0;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const double v = p[y * w + x], dx = x - mx, dy = -y - my;
        xx += v * dx * dx, yy += v * dy * dy, xy += v * dx * dy;
      }
    angles.push_back(static_cast<float>(0.5 * std::atan2(2 * xy, xx - yy) * 180.0 / M_PI));
  }
  return angles;
}

SteeringApp bar_app() {
  SteeringApp app;
  app.scenes = bar_scene();
  app.source = "bar";
  app.params.episodes = 3;
  app.params.steps = 150;
  app.params.initial_offset_m = 0.0;
  app.params.initial_heading_deg = 0.0;
  app.params.gust_deg_per_s = 0.0;
  return app;
}

TEST(ErrorCalibration, SteeringBiasLimitMatchesTheControlLaw) {
  // Without disturbances only the bias matters: the PD loop settles at
  // y = rate_gain * v * sin(b) / offset_gain, which meets the corridor wall at
  // b = asin(0.3 * 1.0 / (1.6 * 1.0)) = 10.81 degrees; the step response's overshoot (damping
  // 0.8: exp(-pi*0.8/sqrt(1-0.64)) = 1.5%) lowers the limit to about 10.64 degrees.
  SteeringApp app = bar_app();
  ErrorModel model = ErrorModel::make("gaussian", 45.0);
  CalibrationOptions options;
  options.divisions = 1;  // the two axes: sigma alone, bias alone
  options.tolerance = 1.0 / 512;
  CalibrationReport report = calibrate_errors(app, moment_orientation, model, options);
  ASSERT_EQ(report.directions.size(), 2u);
  EXPECT_EQ(report.exact_collisions, 0);
  EXPECT_LT(report.exact_l1_deg, 0.5);
  const BudgetDirection& bias = report.directions[1];
  EXPECT_NEAR(bias.boundary.parameters[1], 10.64, 0.2);  // bisection step 45/512 = 0.09
  EXPECT_EQ(bias.collisions, 0);
  // The L1 the controller saw there is the bias (the estimator's own error is far smaller).
  EXPECT_NEAR(bias.l1_deg, bias.boundary.parameters[1], 0.6);
  const BudgetDirection& noise = report.directions[0];
  EXPECT_GT(noise.boundary.parameters[0], 0.0);
  EXPECT_DOUBLE_EQ(report.l1_budget_deg, std::min(bias.l1_deg, noise.l1_deg));
  // Reproducible: the same calibration again gives the same region.
  CalibrationReport again = calibrate_errors(app, moment_orientation, model, options);
  for (std::size_t i = 0; i < 2; ++i)
    EXPECT_EQ(again.directions[i].boundary.parameters, report.directions[i].boundary.parameters);

  nlohmann::json json = nlohmann::json::parse(calibration_report_json(report, "m.onnx", "app.yaml"));
  EXPECT_EQ(json["error_model"], "gaussian");
  EXPECT_EQ(json["region"].size(), 2u);
  EXPECT_DOUBLE_EQ(json["budget"]["max_l1"].get<double>(), report.l1_budget_deg);
  EXPECT_DOUBLE_EQ(json["region"][1]["boundary"]["bias_deg"].get<double>(), bias.boundary.parameters[1]);
}

TEST(ErrorCalibration, RefusesAnApplicationTheExactEstimatorAlreadyFails) {
  SteeringApp app = bar_app();
  // An estimator that always reads 20 degrees too much drives into the wall without help.
  HeadingEstimator biased = [](const Tensor& images) {
    std::vector<float> a = moment_orientation(images);
    for (float& v : a) v += 20.0f;
    return a;
  };
  EXPECT_THROW(calibrate_errors(app, biased, ErrorModel::make("gaussian", 45.0)), BadInput);
}

}  // namespace
}  // namespace coda::tuner
