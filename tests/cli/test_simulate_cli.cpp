// `coda simulate` as a user runs it: the JSON document, the trace files, overrides, and bad input.
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

TEST(SimulateCli, JsonHasTheDocumentedKeysAndConsistentTotals) {
  TempDir dir;
  auto r = run_process(CODA_BINARY, {"simulate", "--model", "zoo:resnet20", "--json"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  ASSERT_TRUE(doc.contains("latency_s"));
  ASSERT_TRUE(doc.contains("energy_j"));
  for (const char* rail : {"VDD_IN", "VDD_SYS_GPU", "VDD_SYS_CPU", "VDD_SYS_DDR", "VDD_SYS_SOC"})
    EXPECT_TRUE(doc["avg_power_w"].contains(rail)) << rail;
  ASSERT_TRUE(doc["ops"].is_array());
  ASSERT_FALSE(doc["ops"].empty());
  double latency = doc["latency_s"].get<double>();
  double end = 0;
  for (const auto& op : doc["ops"]) {
    EXPECT_EQ(op["unit"], "gpu");
    end = std::max(end, op["start_s"].get<double>() + op["latency_s"].get<double>());
  }
  EXPECT_NEAR(end, latency, 1e-12);
  EXPECT_NEAR(doc["avg_power_w"]["VDD_IN"].get<double>() * latency, doc["energy_j"].get<double>(), 1e-9);
}

TEST(SimulateCli, WritesTraceTimelineAndVcd) {
  TempDir dir;
  auto r = run_process(CODA_BINARY,
                       {"simulate", "--model", "zoo:lenet5", "--op-knob", "conv1=1@promise", "--trace-out",
                        dir.file("ops.csv"), "--timeline", dir.file("t.json"), "--vcd", dir.file("p.vcd")},
                       dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("promise"), std::string::npos);
  std::string csv = slurp(dir.file("ops.csv"));
  EXPECT_EQ(csv.rfind("# coda op trace v1", 0), 0u);
  auto timeline = nlohmann::json::parse(slurp(dir.file("t.json")));
  EXPECT_TRUE(timeline.contains("traceEvents"));
  std::string vcd = slurp(dir.file("p.vcd"));
  EXPECT_NE(vcd.find("$enddefinitions"), std::string::npos);
}

TEST(SimulateCli, SetOverridesChangeTheResult) {
  TempDir dir;
  auto fast = run_process(CODA_BINARY, {"simulate", "--model", "zoo:resnet20", "--json"}, dir.path());
  auto slow = run_process(CODA_BINARY, {"simulate", "--model", "zoo:resnet20", "--json", "--set", "gpu.freq_mhz=420.75"},
                          dir.path());
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  EXPECT_GT(nlohmann::json::parse(slow.out)["latency_s"].get<double>(),
            nlohmann::json::parse(fast.out)["latency_s"].get<double>());
}

TEST(SimulateCli, BadPlatformInputExitsTwoNamingTheKey) {
  TempDir dir;
  auto unknown = run_process(CODA_BINARY, {"simulate", "--model", "zoo:lenet5", "--set", "gpu.frequency=1"}, dir.path());
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("gpu.frequency"), std::string::npos) << unknown.err;
  auto off_table = run_process(CODA_BINARY, {"simulate", "--model", "zoo:lenet5", "--set", "gpu.freq_mhz=600"}, dir.path());
  EXPECT_EQ(off_table.exit_code, 2);
  EXPECT_NE(off_table.err.find("gpu.freq_mhz"), std::string::npos) << off_table.err;
  auto negative = run_process(CODA_BINARY, {"simulate", "--model", "zoo:lenet5", "--set", "dram.bandwidth_gbs=-3"}, dir.path());
  EXPECT_EQ(negative.exit_code, 2);
  EXPECT_NE(negative.err.find("dram.bandwidth_gbs"), std::string::npos) << negative.err;
  auto missing = run_process(CODA_BINARY, {"simulate", "--model", "zoo:lenet5", "--platform", dir.file("none.yaml")}, dir.path());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("none.yaml"), std::string::npos) << missing.err;
  test::write_bytes(dir.file("s.yaml"), "schedule: [{time_ms: 1, unit: gpu, freq_mhz: 601}]\n");
  auto schedule = run_process(CODA_BINARY, {"simulate", "--model", "zoo:lenet5", "--dvfs-schedule", dir.file("s.yaml")}, dir.path());
  EXPECT_EQ(schedule.exit_code, 2);
  EXPECT_NE(schedule.err.find("s.yaml"), std::string::npos) << schedule.err;
  EXPECT_TRUE(dir.entries().count("none.yaml") == 0);
}

TEST(SimulateCli, AnOpPlacedOnAUnitThePlatformLacksExitsTwo) {
  TempDir dir;
  auto r = run_process(CODA_BINARY, {"simulate", "--model", "zoo:lenet5", "--knob", "1", "--set", "promise.present=false",
                                     "--trace-out", dir.file("ops.csv")}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("promise"), std::string::npos) << r.err;
  EXPECT_EQ(dir.entries().count("ops.csv"), 0u);
}

}  // namespace
}  // namespace coda
