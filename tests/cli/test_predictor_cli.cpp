// profile -> fit -> predict / lut as a user runs them, and their bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda {
namespace {

using test::run_process;
using test::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const std::string kQuickSpace = std::string(CODA_SOURCE_DIR) + "/models/spaces/quick.yaml";

int count_lines(const std::string& text) {
  int lines = 0;
  for (char c : text) lines += c == '\n';
  return lines;
}

TEST(ProfileCli, WritesAReadableTraceReproducibly) {
  TempDir dir;
  auto a = run_process(CODA_BINARY, {"profile", "--space", kQuickSpace, "--out", dir.file("a.csv"), "--json"}, dir.path());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto summary = nlohmann::json::parse(a.out);
  int records = summary["records"].get<int>();
  EXPECT_GT(records, 100);
  std::string csv = slurp(dir.file("a.csv"));
  EXPECT_EQ(csv.rfind("# coda op trace v1", 0), 0u);
  EXPECT_EQ(count_lines(csv), records + 2);
  auto b = run_process(CODA_BINARY, {"profile", "--space", kQuickSpace, "--out", dir.file("b.csv")}, dir.path());
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(slurp(dir.file("b.csv")), csv);  // same seed, same trace
}

TEST(ProfileCli, BadSpaceExitsTwoBeforeWriting) {
  TempDir dir;
  write(dir.file("bad.yaml"), "samples: {conv: 3}\nprior: {networks: [lenet5]}\ndvfs: {gpu: [1000]}\n");
  auto r = run_process(CODA_BINARY, {"profile", "--space", dir.file("bad.yaml"), "--out", dir.file("t.csv")}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("1000 MHz is not a DVFS step"), std::string::npos) << r.err;
  EXPECT_FALSE(std::ifstream(dir.file("t.csv")).good());
  auto missing = run_process(CODA_BINARY, {"profile", "--space", dir.file("none.yaml"), "--out", dir.file("t.csv")}, dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.yaml"), std::string::npos);
  auto ext = run_process(CODA_BINARY, {"profile", "--space", kQuickSpace, "--out", dir.file("t.txt")}, dir.path());
  EXPECT_EQ(ext.exit_code, 2);
}

// One profile and fit shared by the predict and lut tests below.
class FittedPredictor : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    auto p = run_process(CODA_BINARY, {"profile", "--space", kQuickSpace, "--out", dir_->file("t.csv")}, dir_->path());
    ASSERT_EQ(p.exit_code, 0) << p.err;
    auto f = run_process(CODA_BINARY, {"fit", "--traces", dir_->file("t.csv"), "--out", dir_->file("p.json"), "--folds", "5", "--no-lono"},
                         dir_->path());
    ASSERT_EQ(f.exit_code, 0) << f.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static TempDir* dir_;
};
TempDir* FittedPredictor::dir_ = nullptr;

TEST_F(FittedPredictor, PredictGivesSimulateKeysAndTracksTheSimulation) {
  auto r = run_process(CODA_BINARY, {"predict", "--predictor", dir_->file("p.json"), "--model", "zoo:lenet5", "--json", "--compare"},
                       dir_->path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  for (const char* key : {"latency_s", "energy_j", "ops_energy_j", "idle_energy_j", "avg_power_w", "rail_energy_j",
                          "utilisation", "ops"})
    EXPECT_TRUE(doc.contains(key)) << key;
  double latency = doc["latency_s"].get<double>();
  EXPECT_NEAR(doc["avg_power_w"]["VDD_IN"].get<double>() * latency, doc["energy_j"].get<double>(), 1e-9);
  // LeNet-5's layers are in the quick space's prior, so the prediction is close.
  EXPECT_LT(std::abs(doc["comparison"]["latency_error"].get<double>()), 0.10) << r.out;
  EXPECT_LT(std::abs(doc["comparison"]["energy_error"].get<double>()), 0.10) << r.out;
}

TEST_F(FittedPredictor, PredictRefusesWhatThePredictorDoesNotCover) {
  auto r = run_process(CODA_BINARY, {"predict", "--predictor", dir_->file("p.json"), "--model", "zoo:lenet5", "--op-knob",
                                     "conv1=1@promise"},
                       dir_->path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no model for conv on promise"), std::string::npos) << r.err;
  write(dir_->file("broken.json"), "{\"schema\": \"coda-predictor\"");
  auto broken = run_process(CODA_BINARY, {"predict", "--predictor", dir_->file("broken.json"), "--model", "zoo:lenet5"},
                            dir_->path());
  EXPECT_EQ(broken.exit_code, 2);
  EXPECT_NE(broken.err.find("broken.json"), std::string::npos) << broken.err;
}

TEST_F(FittedPredictor, LutTablesAgreeAcrossFormats) {
  auto csv = run_process(CODA_BINARY, {"lut", "--predictor", dir_->file("p.json"), "--space", kQuickSpace, "--out",
                                       dir_->file("lut.csv"), "--json"},
                         dir_->path());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  int rows = nlohmann::json::parse(csv.out)["rows"].get<int>();
  EXPECT_GT(rows, 100);
  EXPECT_EQ(count_lines(slurp(dir_->file("lut.csv"))), rows + 2);
  auto json = run_process(CODA_BINARY, {"lut", "--predictor", dir_->file("p.json"), "--space", kQuickSpace, "--out",
                                        dir_->file("lut.json")},
                          dir_->path());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto table = nlohmann::json::parse(slurp(dir_->file("lut.json")));
  ASSERT_EQ(table["rows"].size(), static_cast<std::size_t>(rows));
  for (const auto& row : table["rows"])
    EXPECT_NEAR(row["energy_mj"].get<double>(), row["latency_ms"].get<double>() * row["power_w"].get<double>(),
                1e-9 * row["energy_mj"].get<double>() + 1e-15);
  auto sp = run_process(CODA_BINARY, {"lut", "--predictor", dir_->file("p.json"), "--space", kQuickSpace, "--out",
                                      dir_->file("sp.json"), "--format", "singlepath"},
                        dir_->path());
  ASSERT_EQ(sp.exit_code, 0) << sp.err;
  auto singlepath = nlohmann::json::parse(slurp(dir_->file("sp.json")));
  auto legend = nlohmann::json::parse(slurp(dir_->file("sp.json.legend.json")));
  std::size_t entries = 0;
  for (const auto& [layer, choices] : singlepath.items()) {
    EXPECT_LT(std::stoul(layer), legend["layers"].size());
    for (const auto& [choice, ms] : choices.items()) {
      EXPECT_LT(std::stoul(choice), legend["choices"].size());
      EXPECT_GT(ms.get<double>(), 0);
      ++entries;
    }
  }
  EXPECT_EQ(entries, static_cast<std::size_t>(rows));
}

TEST_F(FittedPredictor, LutFromTheSimulatorMatchesProfiledRecords) {
  // Without a predictor every row is simulated: the GPU rows at 1300.5 MHz are exactly what the
  // profile recorded for the same layers.
  write(dir_->file("one.yaml"),
        "layers: [{op_type: Conv, in_channels: 16, in_h: 32, out_channels: 32, kernel: 3, stride: 1}]\n"
        "units: [gpu]\nknobs: [11]\n");
  auto r = run_process(CODA_BINARY, {"lut", "--space", dir_->file("one.yaml"), "--out", dir_->file("one.json")}, dir_->path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto table = nlohmann::json::parse(slurp(dir_->file("one.json")));
  ASSERT_EQ(table["rows"].size(), 1u);
  auto sim = run_process(CODA_BINARY, {"profile", "--space", dir_->file("one.yaml"), "--out", dir_->file("one.jsonl")},
                         dir_->path());
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  std::istringstream lines(slurp(dir_->file("one.jsonl")));
  std::string header, record;
  std::getline(lines, header);
  std::getline(lines, record);
  auto op = nlohmann::json::parse(record);
  EXPECT_NEAR(table["rows"][0]["latency_ms"].get<double>(), op["latency_s"].get<double>() * 1e3, 1e-12);
  EXPECT_NEAR(table["rows"][0]["power_w"].get<double>(), op["avg_power_w"]["VDD_IN"].get<double>(), 1e-12);
}

TEST(LutCli, BadArgumentsExitTwo) {
  TempDir dir;
  auto r = run_process(CODA_BINARY, {"lut", "--space", kQuickSpace, "--out", dir.file("lut.csv"), "--format", "singlepath"},
                       dir.path());
  EXPECT_EQ(r.exit_code, 2);
  auto missing = run_process(CODA_BINARY, {"lut", "--predictor", dir.file("none.json"), "--space", kQuickSpace, "--out",
                                           dir.file("lut.csv")},
                             dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.json"), std::string::npos);
  EXPECT_FALSE(std::ifstream(dir.file("lut.csv")).good());
}

}  // namespace
}  // namespace coda
