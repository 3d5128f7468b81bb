// `coda fit` as a user runs it: traces from `coda simulate --trace-out` in, a loadable predictor
// and reports out; bad traces are refused with one line and nothing written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda {
namespace {

using test::read_bytes;
using test::run_process;
using test::TempDir;

std::vector<std::string> simulate_traces(const TempDir& dir) {
  std::vector<std::string> traces;
  struct Run {
    const char* model;
    const char* set;
  };
  for (Run run : {Run{"zoo:lenet5", "gpu.freq_mhz=420.75"}, Run{"zoo:lenet5", "gpu.freq_mhz=1300.5"},
                  Run{"zoo:resnet20", "gpu.freq_mhz=854.25"}, Run{"zoo:resnet20", "gpu.freq_mhz=1300.5"}}) {
    std::string path = dir.file("trace" + std::to_string(traces.size()) + ".csv");
    auto r = run_process(CODA_BINARY, {"simulate", "--model", run.model, "--set", run.set, "--trace-out", path}, dir.path());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    traces.push_back(path);
  }
  return traces;
}

TEST(FitCli, FitsSimulatorTracesIntoALoadablePredictor) {
  TempDir dir;
  std::vector<std::string> args = {"fit", "--out", dir.file("p.json"), "--roofline-out", dir.file("r.json"), "--report",
                                   dir.file("report.md"), "--json", "--folds", "4"};
  for (const auto& trace : simulate_traces(dir)) {
    args.push_back("--traces");
    args.push_back(trace);
  }
  auto r = run_process(CODA_BINARY, args, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json doc = nlohmann::json::parse(r.out);
  EXPECT_GT(doc["records"].get<int>(), 0);
  const auto& holdout = doc["accuracy"]["holdout"];
  EXPECT_GT(holdout["test_records"].get<int>(), 0);
  EXPECT_EQ(holdout["rows"].back()["op_class"], "all");
  EXPECT_TRUE(doc["accuracy"].contains("leave-one-network-out"));  // two networks

  nlohmann::json predictor = nlohmann::json::parse(read_bytes(dir.file("p.json")));
  EXPECT_EQ(predictor["schema"], "coda-predictor");
  EXPECT_EQ(predictor["kind"], "polynomial");
  EXPECT_EQ(predictor["rails"][0], "VDD_IN");
  EXPECT_EQ(nlohmann::json::parse(read_bytes(dir.file("r.json")))["kind"], "roofline");
  EXPECT_NE(read_bytes(dir.file("report.md")).find("| conv | gpu |"), std::string::npos);

  // Loadable: coda predict reads it back and predicts a network it was fitted on.
  for (const char* file : {"p.json", "r.json"}) {
    auto p = run_process(CODA_BINARY, {"predict", "--predictor", dir.file(file), "--model", "zoo:lenet5", "--json"},
                         dir.path());
    ASSERT_EQ(p.exit_code, 0) << file << ": " << p.err;
    EXPECT_GT(nlohmann::json::parse(p.out)["latency_s"].get<double>(), 0) << file;
  }
}

TEST(FitCli, BadTracesExitTwoWithOneLineAndWriteNothing) {
  TempDir dir;
  test::write_bytes(dir.file("bad.csv"), "# coda op trace v1\nnode,name\n0,conv1\n");
  auto r = run_process(CODA_BINARY, {"fit", "--traces", dir.file("bad.csv"), "--out", dir.file("p.json")}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("bad.csv"), std::string::npos) << r.err;
  EXPECT_EQ(read_bytes(dir.file("p.json")), "");
  auto missing = run_process(CODA_BINARY, {"fit", "--traces", dir.file("none.csv"), "--out", dir.file("p.json")}, dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.csv"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace coda
