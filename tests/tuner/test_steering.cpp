// The steering application: its YAML, the closed loop with a geometric (moment-based) heading
// estimator whose behaviour is known, and the committed rotation network in the loop.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/onnx_import.h"
#include "kernels/zoo.h"
#include "tests/support/temp_files.h"
#include "tuner/steering.h"

namespace coda::tuner {
namespace {

const std::string kExampleYaml = std::string(CODA_SOURCE_DIR) + "/tuner/examples/steering.yaml";
const std::string kExampleModel = std::string(CODA_SOURCE_DIR) + "/tuner/examples/rotation-lenet5.onnx";

// Scenes whose rotation a geometric estimator reads almost exactly: bright bars of two lengths.
Tensor bar_scenes() {
  Tensor scenes = Tensor::zeros({2, 1, 28, 28});
  for (int y = 12; y <= 15; ++y)
    for (int x = 3; x <= 24; ++x) scenes.f32()[y * 28 + x] = 1.0f;
  for (int y = 13; y <= 14; ++y)
    for (int x = 6; x <= 21; ++x) scenes.f32()[784 + y * 28 + x] = 1.0f;
  return scenes;
}

// Orientation from central second moments (Gonzalez & Woods, Digital Image Processing, sec.
// 11.4), counter-clockwise as displayed (rows run down, hence y = -row).
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
  app.scenes = bar_scenes();
  app.source = "bars";
  app.params.episodes = 8;
  app.params.steps = 200;
  return app;
}

EstimateCorruption bias_of(float degrees) {
  return [degrees](float estimate, std::mt19937_64&) { return estimate + degrees; };
}

TEST(Steering, ExampleYamlParses) {
  SteeringParams p = parse_steering_params(test::read_bytes(kExampleYaml), kExampleYaml);
  EXPECT_DOUBLE_EQ(p.corridor_half_width_m, 0.3);
  EXPECT_DOUBLE_EQ(p.offset_gain, 1.0);
  EXPECT_DOUBLE_EQ(p.rate_gain, 1.6);
  EXPECT_EQ(p.episodes, 20);
  EXPECT_EQ(p.max_collisions, 0);
  EXPECT_EQ(p.images, "fashion-mnist:test");
}

TEST(Steering, BadYamlIsRejectedWithTheKey) {
  const std::string good = test::read_bytes(kExampleYaml);
  auto message = [](const std::string& text) -> std::string {
    try {
      parse_steering_params(text, "app.yaml");
    } catch (const BadInput& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(message("corridor_half_width_m: [1, 2"), "");
  EXPECT_NE(message("- 1\n- 2\n").find("mapping"), std::string::npos);
  EXPECT_NE(message(good + "colour: red\n").find("unknown key 'colour'"), std::string::npos);
  std::string no_steps = good;
  no_steps.replace(no_steps.find("steps: 300"), 10, "");
  EXPECT_NE(message(no_steps).find("missing key 'steps'"), std::string::npos);
  std::string negative = good;
  negative.replace(negative.find("corridor_half_width_m: 0.3"), 26, "corridor_half_width_m: -1");
  EXPECT_NE(message(negative).find("'corridor_half_width_m' must be in"), std::string::npos);
  std::string words = good;
  words.replace(words.find("episodes: 20"), 12, "episodes: many");
  EXPECT_NE(message(words).find("'episodes' must be an integer"), std::string::npos);
  EXPECT_THROW(load_steering_app("/nonexistent/app.yaml"), BadInput);
}

TEST(Steering, PerfectEstimatorNeverCollides) {
  SteeringApp app = bar_app();
  SteeringResult r = run_steering(app, moment_orientation);
  EXPECT_EQ(r.collisions, 0);
  EXPECT_EQ(r.estimates, 8 * 200);
  EXPECT_LT(r.mean_abs_error_deg, 0.5);
  EXPECT_LT(r.max_abs_offset_m, app.params.corridor_half_width_m);
  for (int step : r.collision_step) EXPECT_EQ(step, -1);
}

TEST(Steering, HugeBiasCollidesEveryEpisode) {
  SteeringApp app = bar_app();
  SteeringOptions options;
  options.corruption = bias_of(30.0f);
  SteeringResult r = run_steering(app, moment_orientation, options);
  EXPECT_EQ(r.collisions, app.params.episodes);
  // A 30-degree bias settles at 1.6 * sin(30 deg) = 0.8 m, far past the 0.3 m wall.
  for (int step : r.collision_step) {
    EXPECT_GE(step, 0);
    EXPECT_LT(step, 60);
  }
  EXPECT_LT(r.estimates, 8 * 200);
  EXPECT_NEAR(r.mean_abs_error_deg, 30.0, 0.5);
  EXPECT_EQ(count_collisions(app, moment_orientation, bias_of(30.0f)), r.collisions);
  // Stopping at the first collision gives the verdict with fewer frames.
  options.stop_after_collisions = 1;
  SteeringResult first = run_steering(app, moment_orientation, options);
  EXPECT_GE(first.collisions, 1);
  EXPECT_LT(first.estimates, r.estimates);
}

TEST(Steering, SmallBiasStaysInside) {
  // 4 degrees settles at 1.6 * sin(4 deg) = 0.11 m: well inside, gusts included.
  SteeringApp app = bar_app();
  EXPECT_EQ(count_collisions(app, moment_orientation, bias_of(4.0f)), 0);
}

TEST(Steering, ReproducibleWithItsSeed) {
  SteeringApp app = bar_app();
  auto noisy = [](float estimate, std::mt19937_64& rng) { return estimate + 12.0f * static_cast<float>(standard_normal(rng)); };
  SteeringOptions options;
  options.corruption = noisy;
  SteeringResult a = run_steering(app, moment_orientation, options);
  SteeringResult b = run_steering(app, moment_orientation, options);
  EXPECT_EQ(a.collision_step, b.collision_step);
  EXPECT_EQ(a.mean_abs_error_deg, b.mean_abs_error_deg);
  EXPECT_EQ(a.max_abs_offset_m, b.max_abs_offset_m);
  app.params.seed = 2;
  SteeringResult c = run_steering(app, moment_orientation, options);
  EXPECT_NE(a.max_abs_offset_m, c.max_abs_offset_m);
}

TEST(Steering, SoftArgmaxHeadIsTheExpectedBinCentre) {
  ZooOptions zoo;
  zoo.batch = 0;
  zoo.classes = 5;
  Graph classifier = build_zoo_model("lenet5", zoo);
  Graph regression = classifier;
  append_soft_argmax(regression, 30.0f, 5);
  Tensor images = Tensor::zeros({3, 1, 28, 28});
  for (int64_t i = 0; i < images.size(); ++i) images.f32()[i] = static_cast<float>((i * 37) % 101) / 101.0f;
  auto run = [&](Graph g) {
    bind_input_shapes(g, {images.shape()});
    prepare_graph(g);
    Executor executor(g);
    return executor.run({images}).front();
  };
  Tensor logits = run(classifier), angles = run(regression);
  ASSERT_EQ(angles.shape(), (Shape{3, 1}));
  for (int n = 0; n < 3; ++n) {
    double top = -1e30, total = 0, weighted = 0;
    for (int k = 0; k < 5; ++k) top = std::max(top, static_cast<double>(logits.f32()[n * 5 + k]));
    for (int k = 0; k < 5; ++k) {
      const double p = std::exp(logits.f32()[n * 5 + k] - top);
      total += p;
      weighted += p * (-24.0 + 12.0 * k);  // centres of 5 bins over [-30, 30]
    }
    EXPECT_NEAR(angles.f32()[n], weighted / total, 1e-4);
  }
}

TEST(Steering, NetworkEstimatorRejectsAClassifier) {
  Graph classifier = load_onnx(std::string(CODA_SOURCE_DIR) + "/kernels/zoo/lenet5-fashion-mnist.onnx");
  HeadingEstimator estimator = network_estimator(classifier);
  EXPECT_THROW(estimator(Tensor::zeros({2, 1, 28, 28})), BadInput);
}

TEST(Steering, CommittedNetworkEstimatesRotationAndSteers) {
  Graph graph = load_onnx(kExampleModel);
  HeadingEstimator estimator = network_estimator(graph);
  Dataset test = load_dataset("rotated-fashion-mnist:test", 500);
  const double l1 = regression_l1(estimator, test.images, test.targets, 250);
  // The committed model's L1 on the whole test split is in docs/calibration.md; on these 500
  // images it must beat guessing 0 (22.5 degrees for uniform angles on [-45, 45]) by far.
  EXPECT_LT(l1, 4.0);

  SteeringApp app = load_steering_app(kExampleYaml);
  app.params.episodes = 4;
  app.params.steps = 120;
  SteeringResult exact = run_steering(app, estimator);
  EXPECT_EQ(exact.collisions, 0);
  EXPECT_LT(exact.mean_abs_error_deg, 4.0);
  EXPECT_EQ(count_collisions(app, estimator, bias_of(25.0f)), app.params.episodes);
}

}  // namespace
}  // namespace coda::tuner
