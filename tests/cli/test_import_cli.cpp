// `coda import` as a user runs it: a per-layer timing CSV and a tegrastats or nvidia-smi log in,
// an op trace out with each layer's measured power, and bad logs refused with exit code 2.
#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda {
namespace {

using nlohmann::json;
using test::run_process;
using test::TempDir;

// An L4T R32 line (REFERENCE.md section 3) with VDD_IN reading `vdd_in_mw`.
std::string r32_line(int vdd_in_mw) {
  return "RAM 1404/7860MB (lfb 236x4MB) SWAP 0/3930MB (cached 0MB) CPU [0%@345,off,off,0%@345,0%@345,0%@345] "
         "EMC_FREQ 0% GR3D_FREQ 0% PLL@35.5C MCPU@35.5C PMIC@100C Tboard@30C GPU@32C BCPU@35.5C thermal@34.1C "
         "Tdiode@31.5C VDD_SYS_GPU 153/153 VDD_SYS_SOC 306/306 VDD_4V0_WIFI 0/0 VDD_IN " +
         std::to_string(vdd_in_mw) + "/1649 VDD_SYS_CPU 306/306 VDD_SYS_DDR 173/173\n";
}

// VDD_IN in mW per 1 ms window, windows 1..20: idle 1649, conv1 over windows 6-10 (5 W), fc over
// 13-15 (7 W).
int vdd_in_mw(int window) {
  if (window >= 6 && window <= 10) return 5000;
  if (window >= 13 && window <= 15) return 7000;
  return 1649;
}

std::string tegrastats_log(const std::string& extra_field = "") {
  std::string text;
  for (int k = 1; k <= 20; ++k) {
    std::string line = r32_line(vdd_in_mw(k));
    if (!extra_field.empty()) line.insert(0, extra_field + " ");
    text += line;
  }
  return text;
}

// Layers on the timing clock, which starts with tegrastats: conv1 over 5-10 ms, fc over 12-15 ms,
// and one more run of fc after the log ends.
const char* const kTiming =
    "name,op_type,start_ms,latency_ms,network,feature_in_channels\n"
    "conv1,Conv,5,5,lenet5,1\n"
    "fc,Gemm,12,3,lenet5,400\n"
    "fc,Gemm,30,3,lenet5,400\n";

std::vector<json> jsonl_lines(const std::string& path) {
  std::istringstream in(test::read_bytes(path));
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

double utc(int year, int month, int day, int hour, int minute, int second) {
  std::tm parts{};
  parts.tm_year = year - 1900;
  parts.tm_mon = month - 1;
  parts.tm_mday = day;
  parts.tm_hour = hour;
  parts.tm_min = minute;
  parts.tm_sec = second;
  return static_cast<double>(timegm(&parts));
}

TEST(ImportCli, TegrastatsAndTimingBecomeAnOpTraceWithEachLayersPower) {
  TempDir dir;
  test::write_bytes(dir.file("tegrastats.txt"), tegrastats_log());
  test::write_bytes(dir.file("timing.csv"), kTiming);
  // tegrastats started at 10:00:00 UTC; the timing log counts from that moment.
  const double start = utc(2026, 11, 21, 10, 0, 0);
  auto r = run_process(CODA_BINARY,
                       {"import", "--layers", dir.file("timing.csv"), "--tegrastats", dir.file("tegrastats.txt"),
                        "--interval-ms", "1", "--log-start", "2026-11-21T10:00:00", "--offset-s",
                        std::to_string(static_cast<long long>(start)), "--out", dir.file("ops.jsonl"), "--json"},
                       dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json report = json::parse(r.out);
  EXPECT_EQ(report["aligned"], 2);
  EXPECT_EQ(report["skipped"], json({{"ends after the power log", 1}}));
  EXPECT_EQ(report["power_log"]["samples"], 20);
  EXPECT_EQ(report["idle_source"], "measured");
  EXPECT_NEAR(report["idle_input_w"].get<double>(), 1.649, 1e-9);
  // Windows 1-5, 11, 12 and 16-20 overlap no layer; rounding on the epoch clock must not make
  // a layer touch its neighbours' windows.
  EXPECT_EQ(report["idle_samples"], 12);

  std::vector<json> lines = jsonl_lines(dir.file("ops.jsonl"));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["schema"], "coda-op-trace");
  const json& conv = lines[1];
  const json& fc = lines[2];
  EXPECT_EQ(conv["name"], "conv1");
  EXPECT_EQ(conv["network"], "lenet5");
  EXPECT_EQ(conv["fidelity"], "measured");
  EXPECT_NEAR(conv["avg_power_w"]["VDD_IN"].get<double>(), 5.0, 1e-9);
  EXPECT_NEAR(conv["avg_power_w"]["VDD_SYS_GPU"].get<double>(), 0.153, 1e-9);
  EXPECT_NEAR(conv["energy_j"].get<double>(), (5.0 - 1.649) * 5e-3, 1e-12);
  EXPECT_NEAR(fc["avg_power_w"]["VDD_IN"].get<double>(), 7.0, 1e-9);
  EXPECT_NEAR(fc["start_s"].get<double>(), 7e-3, 1e-9);
  EXPECT_EQ(conv["start_s"], 0.0);
  EXPECT_EQ(fc["features"]["in_channels"], 400);
}

TEST(ImportCli, NvidiaSmiPowerGoesToTheNamedRailInACsvTrace) {
  TempDir dir;
  std::string smi = "timestamp, power.draw [W], clocks.sm [MHz]\n";
  for (int k = 1; k <= 10; ++k)
    smi += "2026/11/21 10:00:00." + std::string(k < 10 ? "00" : "0") + std::to_string(k) + ", " +
           (k >= 4 && k <= 6 ? "150.00 W" : "60.00 W") + ", 1410 MHz\n";
  test::write_bytes(dir.file("smi.csv"), smi);
  test::write_bytes(dir.file("timing.csv"), "name,op_type,start_s,latency_s\nconv1,Conv,0.003,0.003\n");
  const double start = utc(2026, 11, 21, 10, 0, 0);
  auto r = run_process(CODA_BINARY,
                       {"import", "--layers", dir.file("timing.csv"), "--nvidia-smi", dir.file("smi.csv"), "--offset-s",
                        std::to_string(static_cast<long long>(start)), "--out", dir.file("ops.csv")},
                       dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("aligned 1 of 1 layers"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("idle GPU_BOARD: 60.0000 W"), std::string::npos) << r.out;

  std::istringstream csv(test::read_bytes(dir.file("ops.csv")));
  std::string version, header, row;
  std::getline(csv, version);
  std::getline(csv, header);
  std::getline(csv, row);
  EXPECT_EQ(version, "# coda op trace v1");
  auto cell = [&](const std::string& column) {
    auto split = [](const std::string& line) {
      std::vector<std::string> fields;
      std::istringstream in(line);
      for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
      return fields;
    };
    std::vector<std::string> names = split(header), values = split(row);
    auto at = std::find(names.begin(), names.end(), column);
    EXPECT_NE(at, names.end()) << column << " in " << header;
    return at == names.end() ? std::string() : values.at(static_cast<std::size_t>(at - names.begin()));
  };
  EXPECT_NEAR(std::stod(cell("power_GPU_BOARD_w")), 150.0, 0.05);
  EXPECT_EQ(std::stod(cell("freq_mhz")), 1410);
  EXPECT_EQ(cell("fidelity"), "measured");
}

TEST(ImportCli, UnknownFieldsFailUnlessSkippedAndThenAreCounted) {
  TempDir dir;
  test::write_bytes(dir.file("tegrastats.txt"), tegrastats_log("FAN 30%"));
  test::write_bytes(dir.file("timing.csv"), kTiming);
  std::vector<std::string> args = {"import", "--layers", dir.file("timing.csv"), "--tegrastats",
                                   dir.file("tegrastats.txt"), "--interval-ms", "1", "--out", dir.file("ops.csv")};
  auto refused = run_process(CODA_BINARY, args, dir.path());
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find(dir.file("tegrastats.txt") + ":1: unknown tegrastats field 'FAN'"), std::string::npos)
      << refused.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("ops.csv")));

  args.push_back("--skip-unknown");
  auto skipped = run_process(CODA_BINARY, args, dir.path());
  ASSERT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_NE(skipped.out.find("skipped unknown fields: 20 FAN"), std::string::npos) << skipped.out;
  EXPECT_NE(skipped.out.find("skipped 1 layers: 1 ends after the power log"), std::string::npos) << skipped.out;
  EXPECT_TRUE(std::filesystem::exists(dir.file("ops.csv")));
}

TEST(ImportCli, BadInputExitsTwoWithOneLineAndWritesNothing) {
  TempDir dir;
  std::string nan_log = tegrastats_log();
  nan_log.replace(nan_log.find("RAM 1404"), 8, "RAM nan");
  test::write_bytes(dir.file("nan.txt"), nan_log);
  test::write_bytes(dir.file("good.txt"), tegrastats_log());
  test::write_bytes(dir.file("timing.csv"), kTiming);
  test::write_bytes(dir.file("zero.csv"), "name,op_type,start_ms,latency_ms\nconv1,Conv,5,0\n");
  test::write_bytes(dir.file("late.csv"), "name,op_type,start_ms,latency_ms\nconv1,Conv,500,1\n");
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::string out = dir.file("ops.csv");
  const std::vector<Case> cases = {
      {{"--layers", dir.file("timing.csv"), "--tegrastats", dir.file("nan.txt"), "--interval-ms", "1"},
       dir.file("nan.txt") + ":1: RAM"},
      {{"--layers", dir.file("zero.csv"), "--tegrastats", dir.file("good.txt"), "--interval-ms", "1"},
       dir.file("zero.csv") + ":2: latency_ms: zero or negative duration"},
      {{"--layers", dir.file("late.csv"), "--tegrastats", dir.file("good.txt"), "--interval-ms", "1"},
       dir.file("good.txt") + ": no layer falls inside the power log"},
      {{"--layers", dir.file("timing.csv"), "--tegrastats", dir.file("good.txt")}, "--interval-ms"},
      {{"--layers", dir.file("timing.csv"), "--tegrastats", dir.file("good.txt"), "--interval-ms", "1", "--log-start",
        "yesterday"},
       "--log-start"},
      {{"--layers", dir.file("timing.csv")}, "--tegrastats or --nvidia-smi"},
      {{"--layers", dir.file("timing.csv"), "--tegrastats", dir.file("good.txt"), "--nvidia-smi", dir.file("good.txt")},
       "excludes"},
      {{"--layers", dir.file("absent.csv"), "--tegrastats", dir.file("good.txt"), "--interval-ms", "1"},
       dir.file("absent.csv")},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"import", "--out", out};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = run_process(CODA_BINARY, args, dir.path());
    SCOPED_TRACE(c.expected);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(out));
  }
}

}  // namespace
}  // namespace coda
