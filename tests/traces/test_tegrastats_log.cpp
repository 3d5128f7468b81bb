// tegrastats logs: the two real line formats of REFERENCE.md section 3 (verbatim), timestamps,
// rail renaming onto the platform's rail names, and every kind of bad line.
#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "traces/tegrastats_log.h"

namespace coda {
namespace {

using test::expect_bad_input;
using traces::TegrastatsOptions;

// REFERENCE.md section 3, verbatim.
const std::string kR28 =
    "RAM 2586/7846MB (lfb 1x1MB) CPU [0%@960,0%@499,0%@499,0%@959,0%@960,0%@960] EMC_FREQ 10%@665 GR3D_FREQ "
    "53%@140 APE 150 MTS fg 0% bg 0% BCPU@41C MCPU@41C GPU@39C PLL@41C Tboard@35C Tdiode@37.75C PMIC@100C "
    "thermal@40.2C VDD_IN 3177/3177 VDD_CPU 536/536 VDD_GPU 383/383 VDD_SOC 536/536 VDD_WIFI 0/0 VDD_DDR 575/575";
const std::string kR32 =
    "RAM 1404/7860MB (lfb 236x4MB) SWAP 0/3930MB (cached 0MB) CPU [0%@345,off,off,0%@345,0%@345,0%@345] EMC_FREQ "
    "0% GR3D_FREQ 0% PLL@35.5C MCPU@35.5C PMIC@100C Tboard@30C GPU@32C BCPU@35.5C thermal@34.1C Tdiode@31.5C "
    "VDD_SYS_GPU 153/153 VDD_SYS_SOC 306/306 VDD_4V0_WIFI 0/0 VDD_IN 1649/1649 VDD_SYS_CPU 306/306 VDD_SYS_DDR 173/173";

TegrastatsOptions every_ms(double start_s = 0) {
  TegrastatsOptions options;
  options.interval_s = 1e-3;
  options.start_s = start_s;
  return options;
}

std::map<std::string, double> current_mw(const traces::TegrastatsSample& sample) {
  std::map<std::string, double> rails;
  for (const auto& rail : sample.rails) rails[rail.name] = rail.current_mw;
  return rails;
}

// The rails sim/platforms/tx2.yaml names (input_rail and rails), read from its text.
std::set<std::string> platform_rails() {
  std::string yaml = test::read_bytes(std::string(CODA_SOURCE_DIR) + "/sim/platforms/tx2.yaml");
  std::set<std::string> rails;
  std::size_t input = yaml.find("input_rail:");
  std::size_t list = yaml.find("rails: [");
  EXPECT_NE(input, std::string::npos);
  EXPECT_NE(list, std::string::npos);
  std::size_t start = yaml.find_first_not_of(' ', input + 11);
  rails.insert(yaml.substr(start, yaml.find_first_of(" \n#", start) - start));
  std::string names = yaml.substr(list + 8, yaml.find(']', list) - list - 8);
  for (std::size_t at = 0; at < names.size();) {
    std::size_t comma = std::min(names.find(',', at), names.size());
    std::string name = names.substr(at, comma - at);
    name.erase(0, name.find_first_not_of(' '));
    rails.insert(name);
    at = comma + 1;
  }
  return rails;
}

TEST(TegrastatsLog, ReadsTheL4TR28Line) {
  traces::TegrastatsLog log = traces::parse_tegrastats(kR28 + "\n", "r28.log", every_ms());
  ASSERT_EQ(log.samples.size(), 1u);
  const traces::TegrastatsSample& s = log.samples[0];
  EXPECT_EQ(s.ram_used_mb, 2586);
  EXPECT_EQ(s.ram_total_mb, 7846);
  EXPECT_FALSE(s.swap_used_mb.has_value());
  ASSERT_EQ(s.cpu.size(), 6u);
  const double freqs[] = {960, 499, 499, 959, 960, 960};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(s.cpu[i].online);
    EXPECT_EQ(s.cpu[i].load_pct, 0);
    EXPECT_EQ(s.cpu[i].freq_mhz, freqs[i]);
  }
  EXPECT_EQ(s.emc_load_pct, 10);
  EXPECT_EQ(s.emc_freq_mhz, 665);
  EXPECT_EQ(s.gr3d_load_pct, 53);
  EXPECT_EQ(s.gr3d_freq_mhz, 140);
  EXPECT_EQ(s.ape_mhz, 150);
  EXPECT_EQ(s.mts_fg_pct, 0);
  EXPECT_EQ(s.mts_bg_pct, 0);
  EXPECT_EQ(s.temperature_c, (std::map<std::string, double>{{"BCPU", 41},
                                                            {"MCPU", 41},
                                                            {"GPU", 39},
                                                            {"PLL", 41},
                                                            {"Tboard", 35},
                                                            {"Tdiode", 37.75},
                                                            {"PMIC", 100},
                                                            {"thermal", 40.2}}));
  // R28 names read as the R32 ones, in line order.
  EXPECT_EQ(current_mw(s), (std::map<std::string, double>{{"VDD_IN", 3177},
                                                          {"VDD_SYS_CPU", 536},
                                                          {"VDD_SYS_GPU", 383},
                                                          {"VDD_SYS_SOC", 536},
                                                          {"VDD_4V0_WIFI", 0},
                                                          {"VDD_SYS_DDR", 575}}));
  EXPECT_EQ(s.rails.front().name, "VDD_IN");
  EXPECT_EQ(s.rails.back().name, "VDD_SYS_DDR");
  EXPECT_EQ(s.rails.back().average_mw, 575);
  EXPECT_TRUE(log.renamed_r28_rails);
  EXPECT_FALSE(log.timestamped);
  EXPECT_TRUE(log.skipped_unknown.empty());
}

TEST(TegrastatsLog, ReadsTheL4TR32Line) {
  traces::TegrastatsLog log = traces::parse_tegrastats(kR32, "r32.log", every_ms());
  ASSERT_EQ(log.samples.size(), 1u);
  const traces::TegrastatsSample& s = log.samples[0];
  EXPECT_EQ(s.ram_used_mb, 1404);
  EXPECT_EQ(s.ram_total_mb, 7860);
  EXPECT_EQ(s.swap_used_mb, 0);
  EXPECT_EQ(s.swap_total_mb, 3930);
  ASSERT_EQ(s.cpu.size(), 6u);
  const bool online[] = {true, false, false, true, true, true};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(s.cpu[i].online, online[i]) << i;
    EXPECT_EQ(s.cpu[i].freq_mhz, online[i] ? std::optional<double>(345) : std::nullopt) << i;
  }
  EXPECT_EQ(s.emc_load_pct, 0);
  EXPECT_FALSE(s.emc_freq_mhz.has_value());
  EXPECT_EQ(s.gr3d_load_pct, 0);
  EXPECT_FALSE(s.gr3d_freq_mhz.has_value());
  EXPECT_FALSE(s.ape_mhz.has_value());
  EXPECT_EQ(s.temperature_c.size(), 8u);
  EXPECT_EQ(s.temperature_c.at("thermal"), 34.1);
  EXPECT_EQ(current_mw(s), (std::map<std::string, double>{{"VDD_SYS_GPU", 153},
                                                          {"VDD_SYS_SOC", 306},
                                                          {"VDD_4V0_WIFI", 0},
                                                          {"VDD_IN", 1649},
                                                          {"VDD_SYS_CPU", 306},
                                                          {"VDD_SYS_DDR", 173}}));
  EXPECT_FALSE(log.renamed_r28_rails);
}

TEST(TegrastatsLog, BothFormatsUseThePlatformsRailNames) {
  const std::set<std::string> platform = platform_rails();
  ASSERT_EQ(platform.size(), 6u);
  for (const std::string& line : {kR28, kR32}) {
    std::set<std::string> read;
    const traces::TegrastatsLog log = traces::parse_tegrastats(line, "t.log", every_ms());
    for (const auto& rail : log.samples.at(0).rails) read.insert(rail.name);
    EXPECT_EQ(read, platform);
  }
}

TEST(TegrastatsLog, LinesWithoutTimestampsAreSpacedByTheInterval) {
  std::string text = kR32 + "\n\n" + kR32 + "\r\n" + kR32 + "\n";  // an empty line and a CRLF on the way
  traces::TegrastatsLog log = traces::parse_tegrastats(text, "t.log", [] {
    TegrastatsOptions options;
    options.interval_s = 0.1;
    options.start_s = 1000;
    return options;
  }());
  ASSERT_EQ(log.samples.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_DOUBLE_EQ(log.samples[k].time_s, 1000 + 0.1 * (k + 1));
  EXPECT_EQ(log.samples[1].line, 3);
  EXPECT_EQ(log.samples[2].line, 4);
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

TEST(TegrastatsLog, ReadsEachKindOfLeadingTimestamp) {
  const double t0 = utc(2026, 11, 21, 10, 0, 0);
  struct Case {
    std::vector<std::string> stamps;
    std::vector<double> expected;
  };
  const Case cases[] = {
      {{"11-21-2026 10:00:00", "11-21-2026 10:00:01", "11-21-2026 10:00:02"}, {t0, t0 + 1, t0 + 2}},
      {{"2026-11-21T10:00:00.001", "2026-11-21T10:00:00.002", "2026-11-21T10:00:00.0035"},
       {t0 + 0.001, t0 + 0.002, t0 + 0.0035}},
      {{"1763719200.001", "1763719200.002", "1763719200.003"}, {1763719200.001, 1763719200.002, 1763719200.003}},
  };
  for (const Case& c : cases) {
    std::string text;
    for (const std::string& stamp : c.stamps) text += stamp + " " + kR28 + "\n";
    // The interval does not override the lines' own times.
    traces::TegrastatsLog log = traces::parse_tegrastats(text, "t.log", every_ms());
    EXPECT_TRUE(log.timestamped);
    ASSERT_EQ(log.samples.size(), c.expected.size());
    for (std::size_t k = 0; k < c.expected.size(); ++k) EXPECT_DOUBLE_EQ(log.samples[k].time_s, c.expected[k]) << k;
    EXPECT_EQ(log.samples[0].rails.size(), 6u);
  }
}

TEST(TegrastatsLog, PowerTimelineIsInWattsWithTheGpuClock) {
  std::string text = "1000.001 " + kR28 + "\n1000.002 " + kR28 + "\n";
  traces::TegrastatsLog log = traces::parse_tegrastats(text, "t.log", TegrastatsOptions{});
  traces::PowerTimeline timeline = traces::power_timeline(log, 0);
  EXPECT_EQ(timeline.rails,
            (std::vector<std::string>{"VDD_IN", "VDD_SYS_CPU", "VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_4V0_WIFI", "VDD_SYS_DDR"}));
  ASSERT_EQ(timeline.samples.size(), 2u);
  EXPECT_NEAR(timeline.first_window_s, 0.001, 1e-9);  // the spacing, no interval given
  EXPECT_DOUBLE_EQ(timeline.samples[0].rail_w[0], 3.177);
  EXPECT_DOUBLE_EQ(timeline.samples[1].rail_w[5], 0.575);
  EXPECT_EQ(timeline.samples[1].clock_mhz, 140);
  EXPECT_DOUBLE_EQ(traces::power_timeline(log, 0.005).first_window_s, 0.005);

  traces::TegrastatsLog r32 = traces::parse_tegrastats(kR32, "t.log", every_ms());
  EXPECT_FALSE(traces::power_timeline(r32, 1e-3).samples[0].clock_mhz.has_value());  // "GR3D_FREQ 0%"
  expect_bad_input([&] { traces::power_timeline(r32, 0); }, {"t.log", "one tegrastats line", "--interval-ms"});
}

TEST(TegrastatsLog, UnknownFieldsAreAnErrorOrSkippedAndCounted) {
  const std::string nano = "RAM 1404/3964MB (lfb 236x4MB) IRAM 0/252kB (lfb 252kB) " + kR32.substr(kR32.find("SWAP"));
  std::string text = kR32 + "\n" + nano + "\n" + nano + " FAN 30%\n";
  expect_bad_input([&] { traces::parse_tegrastats(text, "nano.log", every_ms()); },
                   {"nano.log:2: unknown tegrastats field 'IRAM'", "--skip-unknown"});
  TegrastatsOptions skip = every_ms();
  skip.skip_unknown = true;
  traces::TegrastatsLog log = traces::parse_tegrastats(text, "nano.log", skip);
  ASSERT_EQ(log.samples.size(), 3u);
  EXPECT_EQ(log.skipped_unknown, (std::map<std::string, int>{{"IRAM", 2}, {"FAN", 1}}));
  // What follows the skipped field is still read.
  EXPECT_EQ(log.samples[1].swap_total_mb, 3930);
  EXPECT_EQ(current_mw(log.samples[2]).at("VDD_IN"), 1649);
}

TEST(TegrastatsLog, BadLinesNameTheFileLineAndProblem) {
  auto expect_rejected = [](const std::string& text, const std::vector<std::string>& fragments,
                            const TegrastatsOptions& options = every_ms()) {
    expect_bad_input([&] { traces::parse_tegrastats(text, "bad.log", options); }, fragments);
  };
  auto replaced = [](std::string line, const std::string& from, const std::string& to) {
    line.replace(line.find(from), from.size(), to);
    return line;
  };
  expect_rejected(kR28 + "\n" + replaced(kR28, "2586/7846MB", "nan/7846MB"),
                  {"bad.log:2: RAM: expected USED/TOTALMB, got 'nan/7846MB'"});
  expect_rejected(replaced(kR28, "3177/3177", "3177/inf"), {"bad.log:1: VDD_IN: expected CURRENT/AVERAGE"});
  expect_rejected(replaced(kR28, "3177/3177", "-3/3177"), {"bad.log:1: VDD_IN"});
  expect_rejected(replaced(kR28, "EMC_FREQ 10%@665", "EMC_FREQ high"), {"bad.log:1: EMC_FREQ: expected LOAD%"});
  expect_rejected(replaced(kR28, "0%@499,", "0%@x,"), {"bad.log:1: CPU: core 1"});
  expect_rejected(replaced(kR28, "APE 150", "APE 150 APE 150"), {"bad.log:1: APE appears twice"});
  expect_rejected(replaced(kR28, "MTS fg 0% bg 0%", "MTS fg 0%"), {"bad.log:1: MTS: expected bg"});
  expect_rejected(kR28 + "\nhello world\n", {"bad.log:2: unknown tegrastats field 'hello'"});
  TegrastatsOptions skip = every_ms();
  skip.skip_unknown = true;
  expect_rejected(kR28 + "\nhello world\n", {"bad.log:2: not a tegrastats line"}, skip);
  expect_rejected(kR28 + "\n" + replaced(kR28, " VDD_DDR 575/575", ""),
                  {"bad.log:2: rails", "differ from line 1's", "VDD_SYS_DDR"});
  // Timestamps: out of order, repeated, mixed with unstamped lines, or none and no interval.
  expect_rejected("1000.002 " + kR32 + "\n1000.001 " + kR32, {"bad.log:2: timestamp", "not after the previous"});
  expect_rejected("11-21-2026 10:00:00 " + kR32 + "\n11-21-2026 10:00:00 " + kR32, {"bad.log:2: timestamp"});
  expect_rejected("1000.001 " + kR32 + "\n" + kR32, {"bad.log:2: no timestamp"});
  expect_rejected(kR32 + "\n1000.001 " + kR32, {"bad.log:2: a timestamp"});
  expect_rejected(kR32, {"bad.log:1:", "no timestamps", "--interval-ms"}, TegrastatsOptions{});
}

TEST(TegrastatsLog, ReadsFilesAndEmptyLogsHaveNoTimeline) {
  test::TempDir dir;
  test::write_bytes(dir.file("t.log"), kR28 + "\n" + kR28 + "\n");
  EXPECT_EQ(traces::read_tegrastats_log(dir.file("t.log"), every_ms()).samples.size(), 2u);
  expect_bad_input([&] { traces::read_tegrastats_log(dir.file("absent.log"), every_ms()); }, {dir.file("absent.log")});
  traces::TegrastatsLog empty = traces::parse_tegrastats("\n\n", "empty.log", every_ms());
  EXPECT_TRUE(empty.samples.empty());
  expect_bad_input([&] { traces::power_timeline(empty, 1e-3); }, {"empty.log: no tegrastats lines"});
}

}  // namespace
}  // namespace coda
