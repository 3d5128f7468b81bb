// Alignment of layer timings with power logs, on synthetic logs whose power steps are known: each
// layer must get the overlap-weighted average of the windows it covers, computed here by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <ctime>

#include "tests/support/bad_input.h"
#include "traces/power_alignment.h"

namespace coda {
namespace {

using test::expect_bad_input;
using traces::AlignmentOptions;
using traces::PowerTimeline;

// Seconds since the epoch of a UTC date and time, by the C library (independent of parse_log_time).
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

TEST(ParseLogTime, ReadsEveryBoardLogStampLikeTheCLibrary) {
  const double expected = utc(2026, 11, 21, 10, 0, 0);
  EXPECT_EQ(traces::parse_log_time("11-21-2026 10:00:00"), expected);          // tegrastats --logfile
  EXPECT_EQ(traces::parse_log_time("2026/11/21 10:00:00.000"), expected);      // nvidia-smi
  EXPECT_EQ(traces::parse_log_time("2026-11-21T10:00:00"), expected);          // ISO-8601
  EXPECT_EQ(traces::parse_log_time("2026-11-21T10:00:00Z"), expected);
  EXPECT_EQ(traces::parse_log_time("2026-11-21T11:30:00+01:30"), expected);
  EXPECT_EQ(traces::parse_log_time("2026-11-21T08:00:00-0200"), expected);
  EXPECT_DOUBLE_EQ(*traces::parse_log_time("2026-11-21 10:00:00.123456"), expected + 0.123456);
  EXPECT_DOUBLE_EQ(*traces::parse_log_time("2026/11/21 10:00:00.5"), expected + 0.5);
  EXPECT_EQ(traces::parse_log_time("1763719200.25"), 1763719200.25);           // epoch seconds
  EXPECT_EQ(traces::parse_log_time("02-29-2024 23:59:59"), utc(2024, 2, 29, 23, 59, 59));
  EXPECT_EQ(traces::parse_log_time("1969-12-31T23:59:59"), -1.0);
  EXPECT_EQ(traces::parse_log_time("2000-03-01T00:00:00"), utc(2000, 3, 1, 0, 0, 0));
}

TEST(ParseLogTime, RefusesWhatIsNotADateAndTime) {
  for (const char* text : {"", "RAM", "02-29-2023 10:00:00", "2026-13-01T00:00:00", "2026-04-31T00:00:00",
                           "2026-11-21T24:00:00", "2026-11-21T10:60:00", "2026-11-21T10:00:00.", "2026-11-21T10:00",
                           "2026-11-21T10:00:00 junk", "2026-11/21 10:00:00", "nan", "-5", "1e9", "12:00:00",
                           "2026-11-21", "2026-11-21T10:00:00+25:00"})
    EXPECT_FALSE(traces::parse_log_time(text).has_value()) << text;
}

// A power log of 1 ms windows ending at base + k ms (k = 1..n): VDD_IN steps to 2 + 0.5 k W and
// VDD_SYS_GPU to 0.1 k W; the GPU clock reads 100 k MHz.
PowerTimeline stepped_log(int n, double base = 0) {
  PowerTimeline log;
  log.source = "power.log";
  log.rails = {"VDD_IN", "VDD_SYS_GPU"};
  log.first_window_s = 1e-3;
  for (int k = 1; k <= n; ++k) log.samples.push_back({base + k / 1000.0, {2 + 0.5 * k, 0.1 * k}, 100.0 * k});
  return log;
}
double in_w(int k) { return 2 + 0.5 * k; }
double gpu_w(int k) { return 0.1 * k; }

sim::OpRecord layer(const std::string& name, double start_s, double latency_s, const std::string& unit = "gpu") {
  sim::OpRecord op;
  op.name = name;
  op.op_type = "Conv";
  op.unit = unit;
  op.start_s = start_s;
  op.latency_s = latency_s;
  op.features = {{"in_channels", 16}};
  return op;
}

const sim::OpRecord& find(const traces::Alignment& alignment, const std::string& name) {
  for (const sim::OpRecord& op : alignment.ops)
    if (op.name == name) return op;
  throw std::logic_error("no op " + name);
}

TEST(PowerAlignment, LayersGetTheOverlapWeightedAverageOfTheirWindows) {
  // Windows k = 1..10 cover [(k-1), k] ms. Windows 1 and 8-10 overlap no layer: the idle power.
  const PowerTimeline log = stepped_log(10);
  std::vector<sim::OpRecord> layers = {
      layer("inside_one", 1.2e-3, 0.5e-3),       // in window 2 only
      layer("straddles", 2.5e-3, 1.75e-3),       // 0.5 ms of window 3, all of 4, 0.25 ms of 5
      layer("exact_window", 5e-3, 1e-3),         // window 6 exactly
      layer("tiny", 6.0001e-3, 1e-7),            // far shorter than a window, inside window 7
  };
  traces::Alignment a = traces::align_layers(layers, log, AlignmentOptions{});
  ASSERT_EQ(a.ops.size(), 4u);
  EXPECT_TRUE(a.skipped.empty());

  EXPECT_DOUBLE_EQ(find(a, "inside_one").avg_power_w.at("VDD_IN"), in_w(2));
  EXPECT_DOUBLE_EQ(find(a, "inside_one").avg_power_w.at("VDD_SYS_GPU"), gpu_w(2));
  const double straddle_in = (0.5 * in_w(3) + 1.0 * in_w(4) + 0.25 * in_w(5)) / 1.75;
  const double straddle_gpu = (0.5 * gpu_w(3) + 1.0 * gpu_w(4) + 0.25 * gpu_w(5)) / 1.75;
  EXPECT_NEAR(find(a, "straddles").avg_power_w.at("VDD_IN"), straddle_in, 1e-12);
  EXPECT_NEAR(find(a, "straddles").avg_power_w.at("VDD_SYS_GPU"), straddle_gpu, 1e-12);
  EXPECT_NEAR(find(a, "exact_window").avg_power_w.at("VDD_IN"), in_w(6), 1e-12);
  EXPECT_DOUBLE_EQ(find(a, "tiny").avg_power_w.at("VDD_IN"), in_w(7));

  // Idle: windows 1, 8, 9, 10 (1 ms each) overlap no layer.
  const double idle = (in_w(1) + in_w(8) + in_w(9) + in_w(10)) / 4;
  EXPECT_EQ(a.idle_samples, 4);
  EXPECT_NEAR(a.idle_time_s, 4e-3, 1e-15);
  EXPECT_NEAR(a.idle_input_w, idle, 1e-12);
  EXPECT_NEAR(find(a, "straddles").energy_j, (straddle_in - idle) * 1.75e-3, 1e-15);
  EXPECT_NEAR(find(a, "inside_one").energy_j, (in_w(2) - idle) * 0.5e-3, 1e-15);

  // Clock of the window holding the midpoint; start times from the earliest layer; measured.
  EXPECT_EQ(find(a, "straddles").freq_mhz, 400);  // midpoint 3.375 ms: window 4
  EXPECT_EQ(find(a, "inside_one").freq_mhz, 200);
  EXPECT_EQ(find(a, "straddles").cycles, std::llround(1.75e-3 * 400e6));
  EXPECT_NEAR(find(a, "straddles").start_s, 1.3e-3, 1e-15);
  EXPECT_EQ(find(a, "inside_one").start_s, 0);
  for (const sim::OpRecord& op : a.ops) {
    EXPECT_EQ(op.fidelity, "measured");
    EXPECT_EQ(op.features.at("in_channels"), 16);
  }
  for (std::size_t i = 1; i < a.ops.size(); ++i) EXPECT_LE(a.ops[i - 1].start_s, a.ops[i].start_s);
}

// The NeuralPower setting: layers back to back on window boundaries with idle gaps, the power log
// what a 1 ms monitor reads of them; every layer must come back with exactly its own power.
TEST(PowerAlignment, WindowAlignedLayersGetExactlyTheirOwnPower) {
  const double idle_w = 1.649;  // the R32 idle VDD_IN line of REFERENCE.md section 3
  const std::vector<std::pair<int, double>> runs = {{3, 5.5}, {1, 7.25}, {2, 3.0}, {4, 9.75}};  // ms, W
  PowerTimeline log;
  log.source = "board.log";
  log.rails = {"VDD_IN"};
  log.first_window_s = 1e-3;
  std::vector<sim::OpRecord> layers;
  int ms = 0;
  auto sample = [&](double w) {
    ++ms;
    log.samples.push_back({ms / 1000.0, {w}, std::nullopt});
  };
  sample(idle_w);
  sample(idle_w);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    layers.push_back(layer("layer" + std::to_string(i), ms / 1000.0, runs[i].first / 1000.0));
    for (int k = 0; k < runs[i].first; ++k) sample(runs[i].second);
    if (i % 2 == 1) sample(idle_w);  // a gap after every other layer
  }
  sample(idle_w);
  traces::Alignment a = traces::align_layers(layers, log, AlignmentOptions{});
  ASSERT_EQ(a.ops.size(), runs.size());
  EXPECT_NEAR(a.idle_input_w, idle_w, 1e-12);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(i);
    // Window ends and layer ends are both k / 1000 rounded, so at most a rounding error of overlap.
    EXPECT_NEAR(a.ops[i].avg_power_w.at("VDD_IN"), runs[i].second, 1e-12);
    EXPECT_NEAR(a.ops[i].energy_j, (runs[i].second - idle_w) * runs[i].first * 1e-3, 1e-15);
    EXPECT_EQ(a.ops[i].freq_mhz, 0);  // no clock in the log
  }
  EXPECT_EQ(a.layers_without_clock, static_cast<int>(runs.size()));
}

TEST(PowerAlignment, AClockOffsetMovesTheLayersOntoThePowerLogsClock) {
  const double base = utc(2026, 11, 21, 10, 0, 0);  // the power log on wall-clock time
  const PowerTimeline log = stepped_log(10, base);
  // The timing log counts from the start of the run, which began 2 ms into the power log.
  std::vector<sim::OpRecord> layers = {layer("a", 0.25e-3, 0.5e-3), layer("b", 1.0e-3, 2.0e-3)};
  AlignmentOptions options;
  options.offset_s = base + 2e-3;
  traces::Alignment a = traces::align_layers(layers, log, options);
  ASSERT_EQ(a.ops.size(), 2u);
  // Epoch seconds as doubles hold about 0.25 us, so compare to that.
  EXPECT_NEAR(find(a, "a").avg_power_w.at("VDD_IN"), in_w(3), 1e-3);
  EXPECT_NEAR(find(a, "b").avg_power_w.at("VDD_IN"), (in_w(4) + in_w(5)) / 2, 1e-3);
  // Without the offset nothing lines up.
  expect_bad_input([&] { traces::align_layers(layers, log, AlignmentOptions{}); },
                   {"power.log: no layer falls inside the power log", "--offset-s"});
}

TEST(PowerAlignment, LayersOutsideTheLogOrOverAMissingReadingAreSkippedAndCounted) {
  PowerTimeline log = stepped_log(10);
  log.samples[5].rail_w.clear();  // window 6, [5, 6] ms: [N/A]
  std::vector<sim::OpRecord> layers = {
      layer("early", -0.5e-3, 1e-3),   // starts before the first window
      layer("late", 9.5e-3, 1e-3),     // ends after the last
      layer("gap", 5.5e-3, 1e-3),      // over the missing reading
      layer("fine", 2e-3, 1e-3),
      layer("touching", 4e-3, 1e-3),   // ends where the missing window starts
  };
  AlignmentOptions options;
  options.idle_input_w = 1.5;  // given: no measuring
  traces::Alignment a = traces::align_layers(layers, log, options);
  ASSERT_EQ(a.ops.size(), 2u);
  EXPECT_EQ(a.skipped, (std::map<std::string, int>{{"starts before the power log", 1},
                                                   {"ends after the power log", 1},
                                                   {"overlaps a sample without a power reading", 1}}));
  EXPECT_EQ(a.idle_input_w, 1.5);
  EXPECT_EQ(a.idle_samples, 0);
  EXPECT_NEAR(find(a, "touching").avg_power_w.at("VDD_IN"), in_w(5), 1e-12);
  EXPECT_NEAR(find(a, "fine").energy_j, (in_w(3) - 1.5) * 1e-3, 1e-15);
}

TEST(PowerAlignment, ClocksComeFromTheTimingLogFirstAndOnlyForTheClockedUnit) {
  const PowerTimeline log = stepped_log(10);
  std::vector<sim::OpRecord> layers = {layer("own_clock", 1e-3, 1e-3), layer("on_cpu", 3e-3, 1e-3, "cpu"),
                                       layer("from_log", 5e-3, 1e-3)};
  layers[0].freq_mhz = 1300.5;
  traces::Alignment a = traces::align_layers(layers, log, AlignmentOptions{});
  EXPECT_EQ(find(a, "own_clock").freq_mhz, 1300.5);
  EXPECT_EQ(find(a, "on_cpu").freq_mhz, 0);
  EXPECT_EQ(find(a, "from_log").freq_mhz, 600);
  EXPECT_EQ(a.layers_without_clock, 0);
}

TEST(PowerAlignment, BadCombinationsAreBadInputNamingTheLog) {
  const PowerTimeline log = stepped_log(4);
  // Every window overlaps a layer: no idle power to measure, none given.
  expect_bad_input([&] { traces::align_layers({layer("all", 0, 4e-3)}, log, AlignmentOptions{}); },
                   {"power.log", "idle VDD_IN", "--idle-w"});
  AlignmentOptions other_rail;
  other_rail.input_rail = "GPU_BOARD";
  expect_bad_input([&] { traces::align_layers({layer("a", 1e-3, 1e-3)}, log, other_rail); },
                   {"power.log", "no rail 'GPU_BOARD'", "VDD_IN, VDD_SYS_GPU"});
  expect_bad_input([&] { traces::align_layers({}, log, AlignmentOptions{}); }, {"power.log: no layers"});
  PowerTimeline empty = log;
  empty.samples.clear();
  expect_bad_input([&] { traces::align_layers({layer("a", 1e-3, 1e-3)}, empty, AlignmentOptions{}); },
                   {"power.log: no power samples"});
}

}  // namespace
}  // namespace coda
