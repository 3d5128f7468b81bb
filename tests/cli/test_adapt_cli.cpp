// `coda adapt` end to end on the committed LeNet-5 with a hand-written curve of four
// configurations, and its bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda {
namespace {

using nlohmann::json;
using test::run_process;
using test::TempDir;

const std::string kLenet = std::string(CODA_SOURCE_DIR) + "/kernels/zoo/lenet5-fashion-mnist.onnx";
const std::string kStepDown = std::string(CODA_SOURCE_DIR) + "/tuner/examples/dvfs_step_down.yaml";

json point(const std::string& name, double qos, double speedup, const json& config) {
  return {{"name", name},        {"predicted_qos", qos}, {"qos_calibration", qos}, {"qos_test", qos},
          {"speedup", speedup},  {"energy_reduction", nullptr}, {"latency", 1.76e-4 / speedup},
          {"energy", nullptr},   {"config", config}};
}

// Test accuracies measured with `coda eval --data fashion-mnist:test --config ...` on the
// committed model (exact: 90.56%). conf4 adds PROMISE (swing 7) on fc1.
std::string lenet_curve() {
  json curve = {{"format", "coda-curve"},
                {"version", 1},
                {"model", kLenet},
                {"op_names", {"conv1", "conv1.relu", "pool1", "conv2", "conv2.relu", "pool2", "flatten", "fc1",
                              "fc1.relu", "fc2", "fc2.relu", "fc3"}},
                {"data", "fashion-mnist:test"},
                {"phase", "dev"},
                {"objective", "speed"},
                {"cost_model", "sim"},
                {"platform", "tx2"},
                {"tuning", "empirical"},
                {"qos_metric", "accuracy"},
                {"qos_unit", "%"},
                {"higher_is_better", true},
                {"threshold", "20 points"},
                {"max_loss", 20},
                {"baseline_qos_calibration", 90.56},
                {"baseline_qos_test", 90.56},
                {"baseline_latency", 1.76e-4},
                {"baseline_energy", nullptr},
                {"tuning_seconds", 0},
                {"evaluations", 4}};
  json fp16 = {{"default", {{"knob", 12}}}};
  json perforated = {{"default", {{"knob", 12}}}, {"ops", {{"conv1", {{"knob", 151}}}, {"conv2", {{"knob", 151}}}}}};
  json sampled = {{"default", {{"knob", 12}}}, {"ops", {{"conv1", {{"knob", 261}}}, {"conv2", {{"knob", 261}}}}}};
  json promise = sampled;
  promise["ops"]["fc1"] = {{"knob", 7}};
  curve["points"] = {point("conf1", 90.55, 1.22, fp16), point("conf2", 81.6, 1.23, perforated),
                     point("conf3", 75.38, 1.26, sampled), point("conf4", 73.84, 1.46, promise)};
  return curve.dump(2);
}

struct AdaptRun {
  test::ProcessResult process;
  json report;
};

AdaptRun run_adapt(const TempDir& dir, const std::vector<std::string>& extra) {
  test::write_bytes(dir.file("curve.json"), lenet_curve());
  std::vector<std::string> args = {"adapt", "--curve", dir.file("curve.json"), "--dvfs-schedule", kStepDown,
                                   "--out", dir.file("report.json")};
  args.insert(args.end(), extra.begin(), extra.end());
  AdaptRun run{run_process(CODA_BINARY, args, dir.path()), {}};
  if (run.process.exit_code == 0) run.report = json::parse(test::read_bytes(dir.file("report.json")));
  return run;
}

TEST(AdaptCli, Policy1NeverRunsSlowerThanTheBandAndPicksTheLeastApproximatePoint) {
  TempDir dir;
  AdaptRun run = run_adapt(dir, {"--policy", "1", "--plot", dir.file("adapt.png")});
  ASSERT_EQ(run.process.exit_code, 0) << run.process.err;
  const json& report = run.report;
  ASSERT_EQ(report["steps"].size(), 6u);
  ASSERT_EQ(report["invocations"].size(), 6000u);
  EXPECT_EQ(report["steps"][0]["gpu_mhz"], 1300.5);
  EXPECT_EQ(report["steps"][5]["gpu_mhz"], 522.75);
  // The default target is the exact network at the first clock, which the first step runs.
  const double target = report["target_ms"].get<double>();
  EXPECT_NEAR(report["steps"][0]["avg_time_ms"].get<double>(), target, 1e-12);
  EXPECT_EQ(report["steps"][0]["used"], json({{"baseline", 1000}}));
  for (const json& step : report["steps"]) {
    EXPECT_LE(step["avg_time_ms"].get<double>(), target * 1.05) << step.dump();
    EXPECT_GE(step["qos_loss"].get<double>(), -1e-9);
  }
  // Each invocation took its configuration's simulated time at its clock.
  std::map<std::string, std::map<double, double>> time_ms;
  for (const json& p : report["points"])
    for (const json& c : p["by_clock"])
      time_ms[p["name"].get<std::string>()][c["gpu_mhz"].get<double>()] = c["time_ms"].get<double>();
  for (const json& r : report["invocations"])
    EXPECT_DOUBLE_EQ(r["time_ms"].get<double>(), time_ms[r["point"].get<std::string>()][r["gpu_mhz"].get<double>()]);
  // The baseline slows down as the clock falls.
  EXPECT_GT(time_ms["baseline"][522.75], 1.3 * time_ms["baseline"][1300.5]);
  // At 522.75 MHz only the PROMISE point is fast enough: policy 1 settles on it.
  const double required = time_ms["baseline"][522.75] / target;
  for (const auto& [name, by_clock] : time_ms) {
    const double speedup = time_ms["baseline"][522.75] / by_clock.at(522.75);
    EXPECT_EQ(speedup >= required, name == "conf4") << name << " " << speedup << " vs " << required;
  }
  EXPECT_EQ(report["invocations"].back()["point"], "conf4");
  EXPECT_NE(run.process.out.find("522.75"), std::string::npos);
  EXPECT_EQ(test::read_bytes(dir.file("adapt.png")).substr(0, 4), "\x89PNG");
}

TEST(AdaptCli, Policy2KeepsEveryStepWithinFivePercentOfTheTarget) {
  TempDir dir;
  AdaptRun run = run_adapt(dir, {"--policy", "2", "--window", "8", "--seed", "5"});
  ASSERT_EQ(run.process.exit_code, 0) << run.process.err;
  const double target = run.report["target_ms"].get<double>();
  for (const json& step : run.report["steps"])
    EXPECT_LE(std::fabs(step["avg_time_ms"].get<double>() / target - 1), 0.05) << step.dump();
  // The accuracy cost grows as the clock falls.
  EXPECT_GT(run.report["steps"][5]["qos_loss"].get<double>(), run.report["steps"][1]["qos_loss"].get<double>());
  EXPECT_EQ(run.report["window"], 8);
}

TEST(AdaptCli, BadInputExitsTwoAndWritesNothing) {
  struct Case {
    std::string what;
    std::string schedule;  // empty: the shipped one
    std::vector<std::string> extra;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"unknown clock", "steps:\n  - {gpu_mhz: 600, invocations: 5}\n", {}, "600 is not a GPU clock"},
      {"empty schedule", "steps: []\n", {}, "the schedule has no steps"},
      {"window", "", {"--window", "0"}, "--window must be at least 1"},
      {"policy", "", {"--policy", "3"}, "--policy must be 1 or 2"},
      {"other model", "", {"--model", std::string(CODA_SOURCE_DIR) + "/kernels/zoo/resnet20-fashion-mnist.onnx"},
       "curve was tuned for"},
  };
  for (const Case& c : cases) {
    TempDir dir;
    test::write_bytes(dir.file("curve.json"), lenet_curve());
    std::string schedule = kStepDown;
    if (!c.schedule.empty()) {
      schedule = dir.file("s.yaml");
      test::write_bytes(schedule, c.schedule);
    }
    std::vector<std::string> args = {"adapt", "--curve", dir.file("curve.json"), "--dvfs-schedule", schedule,
                                     "--out", dir.file("report.json"), "--plot", dir.file("adapt.png")};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    auto r = run_process(CODA_BINARY, args, dir.file("scratch"));
    EXPECT_EQ(r.exit_code, 2) << c.what << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.what << ": " << r.err;
    EXPECT_EQ(r.err_lines().size(), 1u) << c.what << ": " << r.err;
    EXPECT_EQ(dir.entries().count("report.json"), 0u) << c.what;
    EXPECT_EQ(dir.entries().count("adapt.png"), 0u) << c.what;
  }
}

}  // namespace
}  // namespace coda
