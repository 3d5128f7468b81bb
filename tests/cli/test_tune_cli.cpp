// `coda tune` as a user runs it on the committed LeNet-5 and Fashion-MNIST: the curve it writes
// feeds `coda eval --config` and `coda simulate --config` directly and they reproduce its figures;
// the HPVM export and the plot are written; profiles collected in slices fit the same alpha;
// bad input ends with exit code 2, one line, and no curve.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda::test {
namespace {

namespace fs = std::filesystem;

const std::string kLenet = std::string(CODA_SOURCE_DIR) + "/kernels/zoo/lenet5-fashion-mnist.onnx";
const std::string kResnet = std::string(CODA_SOURCE_DIR) + "/kernels/zoo/resnet20-fashion-mnist.onnx";

class TuneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  ProcessResult run(const std::vector<std::string>& args) const { return run_process(CODA_BINARY, args, tmp_.path()); }
  std::string path(const std::string& name) const { return tmp_.file(name); }

  // A quick tune: calibration on training images, test on test images, so `coda eval --limit`
  // sees exactly the test split.
  std::vector<std::string> tune_args(const std::string& out) const {
    return {"tune", "--model", kLenet, "--data", "fashion-mnist:train", "--test-data", "fashion-mnist:test",
            "--calibration-size", "200", "--test-size", "200", "--qos-loss", "2", "--budget", "200", "--patience",
            "100", "--alpha-samples", "8", "--max-configs", "8", "--out", out};
  }

  static void expect_bad_input(const ProcessResult& p, const std::vector<std::string>& needles) {
    EXPECT_EQ(p.exit_code, 2) << p.err;
    EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << "want exactly one line, got: " << p.err;
    for (const std::string& n : needles)
      EXPECT_NE(p.err.find(n), std::string::npos) << "'" << n << "' missing from: " << p.err;
  }

  TempDir tmp_{"coda_tune_"};
};

TEST_F(TuneCli, CurveConfigurationsRunUnderEvalAndSimulate) {
  std::vector<std::string> args = tune_args(path("curve.json"));
  args.insert(args.end(), {"--hpvm", path("curve.txt"), "--plot", path("curve.png"), "--json"});
  ProcessResult p = run(args);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const nlohmann::json summary = nlohmann::json::parse(p.out);
  EXPECT_GE(summary["best_speedup"].get<double>(), 1.0);
  EXPECT_GT(fs::file_size(path("curve.png")), 1000u);
  ASSERT_TRUE(fs::exists(path("curve.txt")));

  const nlohmann::json curve = nlohmann::json::parse(read_bytes(path("curve.json")));
  ASSERT_FALSE(curve["points"].empty());
  const nlohmann::json& last = curve["points"].back();
  write_bytes(path("best.json"), last["config"].dump());

  // coda eval on the test split measures the curve's test accuracy.
  ProcessResult e = run({"eval", "--model", kLenet, "--data", "fashion-mnist:test", "--limit", "200", "--config",
                         path("best.json"), "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_NEAR(100.0 * nlohmann::json::parse(e.out)["accuracy"].get<double>(), last["qos_test"].get<double>(), 1e-9);

  // coda simulate takes the same file.
  ProcessResult s = run({"simulate", "--model", kLenet, "--config", path("best.json"), "--json"});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_GT(nlohmann::json::parse(s.out)["latency_s"].get<double>(), 0.0);
}

TEST_F(TuneCli, ProfileSlicesMergeIntoTheSameCurve) {
  std::vector<std::string> whole_args = tune_args(path("whole.json"));
  whole_args.push_back("--json");
  ProcessResult w = run(whole_args);
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const nlohmann::json whole = nlohmann::json::parse(w.out);
  for (const char* slice : {"0/2", "1/2"}) {
    std::vector<std::string> args = tune_args(path(std::string("p") + slice[0] + ".bin"));
    args.insert(args.end(), {"--profile-slice", slice});
    ProcessResult p = run(args);
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  std::vector<std::string> args = tune_args(path("merged.json"));
  args.insert(args.end(), {"--profiles", path("p0.bin") + "," + path("p1.bin"), "--json"});
  ProcessResult p = run(args);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const nlohmann::json merged = nlohmann::json::parse(p.out);
  EXPECT_EQ(merged["stats"]["profile_seconds"].get<double>(), 0.0);
  EXPECT_NEAR(merged["stats"]["alpha"].get<double>(), whole["stats"]["alpha"].get<double>(), 1e-9);
  EXPECT_TRUE(fs::exists(path("merged.json")));
}

TEST_F(TuneCli, BadInputExitsWithTwoAndWritesNothing) {
  const std::string out = path("curve.json");
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = tune_args(out);
    for (std::size_t i = 0; i + 1 < extra.size(); i += 2) {
      auto it = std::find(args.begin(), args.end(), extra[i]);
      if (it != args.end()) *(it + 1) = extra[i + 1];
      else args.insert(args.end(), {extra[i], extra[i + 1]});
    }
    return run(args);
  };
  expect_bad_input(with({"--qos-loss", "-1"}), {"--qos-loss"});
  expect_bad_input(with({"--qos-loss", "100%"}), {"--qos-loss"});
  expect_bad_input(with({"--qos-loss", "150"}), {"100"});
  expect_bad_input(with({"--qos-metric", "f1"}), {"unknown QoS metric 'f1'"});
  expect_bad_input(with({"--qos-metric", "l1"}), {"l1"});  // Fashion-MNIST has no regression targets
  expect_bad_input(with({"--method", "exhaustive"}), {"unknown tuning method"});
  expect_bad_input(with({"--objective", "energy"}), {"ops", "energy"});
  expect_bad_input(with({"--cost", "oracle"}), {"--cost 'oracle'"});
  expect_bad_input(with({"--model", path("missing.onnx")}), {"missing.onnx"});
  expect_bad_input(with({"--phase", "install"}), {"--curve"});
  expect_bad_input(with({"--profile-slice", "2/2"}), {"--profile-slice"});
  write_bytes(path("empty.npy"), "");
  expect_bad_input(with({"--data", "npy:" + path("empty.npy") + "," + path("empty.npy")}), {"empty.npy"});
  // A curve tuned for another model.
  ProcessResult other = run({"tune", "--model", kResnet, "--data", "fashion-mnist:train", "--test-data",
                             "fashion-mnist:test", "--calibration-size", "20", "--test-size", "20", "--qos-loss", "50%",
                             "--method", "empirical", "--budget", "2", "--max-configs", "2", "--out", path("r.json")});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  expect_bad_input(with({"--phase", "install", "--cost", "sim", "--curve", path("r.json")}), {"r.json"});
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace coda::test
