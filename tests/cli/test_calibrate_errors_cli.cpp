// `coda calibrate --error-model` as a user runs it: the example network in a shortened steering
// application gives budgets.json; bad application files and mixed-up modes exit 2 with one line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda {
namespace {

using test::read_bytes;
using test::run_process;
using test::TempDir;
using test::write_bytes;

const std::string kModel = std::string(CODA_SOURCE_DIR) + "/tuner/examples/rotation-lenet5.onnx";
const std::string kExample = std::string(CODA_SOURCE_DIR) + "/tuner/examples/steering.yaml";

// The example application with fewer, shorter episodes so the test stays fast.
std::string short_application() {
  std::string yaml = read_bytes(kExample);
  auto set = [&](const std::string& key, const std::string& value) {
    const std::size_t at = yaml.find("\n" + key + ":");
    const std::size_t end = yaml.find('\n', at + 1);
    yaml.replace(at + 1, end - at - 1, key + ": " + value);
  };
  set("episodes", "3");
  set("steps", "60");
  set("image_limit", "50");
  return yaml;
}

TEST(CalibrateErrorsCli, WritesBudgetsForTheExample) {
  TempDir dir;
  write_bytes(dir.file("app.yaml"), short_application());
  auto r = run_process(CODA_BINARY,
                       {"calibrate", "--model", kModel, "--error-model", "gaussian", "--qos", dir.file("app.yaml"),
                        "--out", dir.file("budgets.json"), "--divisions", "1", "--tolerance", "0.125"},
                       dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("budget: L1 <="), std::string::npos) << r.out;
  nlohmann::json budgets = nlohmann::json::parse(read_bytes(dir.file("budgets.json")));
  EXPECT_EQ(budgets["error_model"], "gaussian");
  EXPECT_EQ(budgets["qos"]["episodes"], 3);
  EXPECT_EQ(budgets["exact"]["collisions"], 0);
  ASSERT_EQ(budgets["region"].size(), 2u);  // the sigma axis and the bias axis
  const double exact_l1 = budgets["exact"]["l1_deg"].get<double>();
  double smallest = 1e9;
  for (const auto& direction : budgets["region"]) {
    EXPECT_EQ(direction["collisions"], 0);
    // Along each ray the boundary is at most the range end (1) and the passing point is
    // within the tolerance of the failing one.
    if (!direction["beyond_searched_range"].get<bool>()) {
      EXPECT_LE(direction["ray_failing"].get<double>() - direction["ray_passing"].get<double>(), 0.125 + 1e-12);
    }
    smallest = std::min(smallest, direction["l1_deg"].get<double>());
  }
  EXPECT_DOUBLE_EQ(budgets["budget"]["max_l1"].get<double>(), smallest);
  // Injected errors only add to the network's own: the budget is at least the exact L1.
  EXPECT_GE(smallest, exact_l1);
}

TEST(CalibrateErrorsCli, BadApplicationFileExitsTwo) {
  TempDir dir;
  write_bytes(dir.file("broken.yaml"), "corridor_half_width_m: [0.3\n");
  auto r = run_process(CODA_BINARY,
                       {"calibrate", "--model", kModel, "--error-model", "gaussian", "--qos", dir.file("broken.yaml"),
                        "--out", dir.file("budgets.json")},
                       dir.path());
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("broken.yaml"), std::string::npos) << r.err;
  EXPECT_EQ(dir.entries().count("budgets.json"), 0u);

  write_bytes(dir.file("unknown.yaml"), short_application() + "wind: strong\n");
  r = run_process(CODA_BINARY,
                  {"calibrate", "--model", kModel, "--error-model", "gaussian", "--qos", dir.file("unknown.yaml"),
                   "--out", dir.file("budgets.json")},
                  dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown key 'wind'"), std::string::npos) << r.err;
}

TEST(CalibrateErrorsCli, ModesAndModelsAreChecked) {
  TempDir dir;
  write_bytes(dir.file("app.yaml"), short_application());
  // An unknown error model.
  auto r = run_process(CODA_BINARY,
                       {"calibrate", "--model", kModel, "--error-model", "laplace", "--qos", dir.file("app.yaml"),
                        "--out", dir.file("b.json")},
                       dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown error model 'laplace'"), std::string::npos) << r.err;
  // Error calibration without an application.
  r = run_process(CODA_BINARY, {"calibrate", "--model", kModel, "--error-model", "gaussian", "--out", dir.file("b.json")},
                  dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--qos"), std::string::npos) << r.err;
  // A classifier is not a heading estimator.
  r = run_process(CODA_BINARY,
                  {"calibrate", "--model", std::string(CODA_SOURCE_DIR) + "/kernels/zoo/lenet5-fashion-mnist.onnx",
                   "--error-model", "gaussian", "--qos", dir.file("app.yaml"), "--out", dir.file("b.json")},
                  dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("one angle per image"), std::string::npos) << r.err;
  // Activation-range mode still needs its data.
  r = run_process(CODA_BINARY, {"calibrate", "--model", kModel, "--out", dir.file("c.json")}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--data"), std::string::npos) << r.err;
  EXPECT_EQ(dir.entries().count("b.json"), 0u);
}

TEST(CalibrateErrorsCli, ChecksAnApproximationAgainstTheBudget) {
  TempDir dir;
  write_bytes(dir.file("app.yaml"), short_application());
  write_bytes(dir.file("budgets.json"), R"({"budget": {"max_l1": 0.001}})");
  // FP16 changes the estimates by far less than a degree; a budget of 0.001 degrees is still
  // exceeded (the exact network's own error counts), while the loop itself stays collision-free.
  auto r = run_process(CODA_BINARY,
                       {"calibrate", "--model", kModel, "--qos", dir.file("app.yaml"), "--check", "--knob", "12",
                        "--budgets", dir.file("budgets.json"), "--test-limit", "100", "--out", dir.file("check.json")},
                       dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json check = nlohmann::json::parse(read_bytes(dir.file("check.json")));
  EXPECT_EQ(check["approximate"]["collisions"], 0);
  EXPECT_TRUE(check["qos_holds"].get<bool>());
  EXPECT_FALSE(check["within_budget"].get<bool>());
  EXPECT_NEAR(check["approximate"]["test_l1_deg"].get<double>(), check["exact"]["test_l1_deg"].get<double>(), 0.05);
  // Without an approximation there is nothing to check.
  r = run_process(CODA_BINARY, {"calibrate", "--model", kModel, "--qos", dir.file("app.yaml"), "--check"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--knob"), std::string::npos) << r.err;
}

TEST(CalibrateErrorsCli, TrainsTheExampleNetworkShape) {
  // A tiny run of the documented reproduction command: the model it writes is a heading
  // estimator (one angle per image) that the error calibration accepts.
  TempDir dir;
  auto r = run_process(CODA_BINARY,
                       {"calibrate", "--train-example", dir.file("tiny.onnx"), "--train-limit", "256", "--epochs", "1",
                        "--test-limit", "100"},
                       dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("L1"), std::string::npos) << r.out;
  write_bytes(dir.file("app.yaml"), short_application());
  r = run_process(CODA_BINARY,
                  {"calibrate", "--model", dir.file("tiny.onnx"), "--qos", dir.file("app.yaml"), "--check", "--knob",
                   "12", "--test-limit", "50"},
                  dir.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace coda
