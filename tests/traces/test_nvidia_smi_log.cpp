// nvidia-smi power logs (--query-gpu=timestamp,power.draw[,index,clocks.sm] --format=csv -lms 1).
#include <gtest/gtest.h>

#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "traces/nvidia_smi_log.h"

namespace coda {
namespace {

using test::expect_bad_input;
using traces::NvidiaSmiOptions;

TEST(NvidiaSmiLog, ReadsTheDefaultQueryWithNotAvailableRowsCounted) {
  const std::string text =
      "timestamp, power.draw [W]\n"
      "2026/11/21 10:00:00.123, 45.67 W\n"
      "2026/11/21 10:00:00.124, [N/A]\n"
      "2026/11/21 10:00:00.125, 101.5 W\n";
  traces::NvidiaSmiLog log = traces::parse_nvidia_smi(text, "smi.csv", NvidiaSmiOptions{});
  ASSERT_EQ(log.samples.size(), 3u);
  EXPECT_FALSE(log.has_index);
  EXPECT_FALSE(log.has_sm_clock);
  EXPECT_EQ(log.samples[0].power_w, 45.67);
  EXPECT_FALSE(log.samples[1].power_w.has_value());
  EXPECT_EQ(log.samples[2].power_w, 101.5);
  EXPECT_EQ(log.power_not_available, 1);
  EXPECT_NEAR(log.samples[1].time_s - log.samples[0].time_s, 0.001, 1e-6);
  EXPECT_NEAR(log.samples[2].time_s - log.samples[0].time_s, 0.002, 1e-6);
  EXPECT_EQ(log.samples[2].line, 4);

  traces::PowerTimeline timeline = traces::power_timeline(log, "GPU_BOARD", 0);
  EXPECT_EQ(timeline.rails, std::vector<std::string>{"GPU_BOARD"});
  EXPECT_NEAR(timeline.first_window_s, 0.001, 1e-6);
  EXPECT_EQ(timeline.samples[0].rail_w, std::vector<double>{45.67});
  EXPECT_TRUE(timeline.samples[1].rail_w.empty());  // a gap the alignment will not bridge
  EXPECT_EQ(traces::power_timeline(log, "P", 0.002).first_window_s, 0.002);
}

TEST(NvidiaSmiLog, SelectsOneGpuAndReadsItsSmClock) {
  // Columns in another order, two GPUs interleaved, a clock [N/A], no units (csv,nounits).
  const std::string text =
      "index, clocks.sm [MHz], timestamp, power.draw [W]\n"
      "0, 1410 MHz, 2026/11/21 10:00:00.100, 60.00 W\n"
      "1, 1980 MHz, 2026/11/21 10:00:00.100, 250.25 W\n"
      "0, 1395 MHz, 2026/11/21 10:00:00.101, 61.00 W\n"
      "1, [N/A], 2026/11/21 10:00:00.101, 251.5\n";
  NvidiaSmiOptions second;
  second.gpu_index = 1;
  traces::NvidiaSmiLog log = traces::parse_nvidia_smi(text, "smi.csv", second);
  EXPECT_TRUE(log.has_index);
  EXPECT_TRUE(log.has_sm_clock);
  ASSERT_EQ(log.samples.size(), 2u);
  EXPECT_EQ(log.other_gpu_rows, 2);
  EXPECT_EQ(log.samples[0].power_w, 250.25);
  EXPECT_EQ(log.samples[0].sm_clock_mhz, 1980);
  EXPECT_EQ(log.samples[1].power_w, 251.5);
  EXPECT_FALSE(log.samples[1].sm_clock_mhz.has_value());
  EXPECT_EQ(log.clock_not_available, 1);
  EXPECT_EQ(traces::power_timeline(log, "GPU_BOARD", 0).samples[0].clock_mhz, 1980);

  traces::NvidiaSmiLog first = traces::parse_nvidia_smi(text, "smi.csv", NvidiaSmiOptions{});
  ASSERT_EQ(first.samples.size(), 2u);
  EXPECT_EQ(first.samples[1].sm_clock_mhz, 1395);
  NvidiaSmiOptions absent;
  absent.gpu_index = 7;
  expect_bad_input([&] { traces::parse_nvidia_smi(text, "smi.csv", absent); }, {"smi.csv: no rows of GPU 7"});
}

TEST(NvidiaSmiLog, BadLogsNameTheFileLineAndProblem) {
  auto expect_rejected = [](const std::string& text, const std::vector<std::string>& fragments,
                            const NvidiaSmiOptions& options = NvidiaSmiOptions{}) {
    expect_bad_input([&] { traces::parse_nvidia_smi(text, "smi.csv", options); }, fragments);
  };
  const std::string header = "timestamp, power.draw [W]\n";
  expect_rejected("", {"smi.csv: empty nvidia-smi log"});
  expect_rejected("timestamp, temperature.gpu\n", {"smi.csv:1: unknown column 'temperature.gpu'"});
  expect_rejected("timestamp\n2026/11/21 10:00:00.100\n", {"smi.csv:1: no 'power.draw [W]' column"});
  expect_rejected(header + "2026/11/21 10:00:00.100, nan W\n", {"smi.csv:2: power.draw: not a power in W ('nan W')"});
  expect_rejected(header + "2026/11/21 10:00:00.100, 45 kW\n", {"smi.csv:2: power.draw"});
  expect_rejected(header + "2026/11/21 10:00:00.100, -4 W\n", {"smi.csv:2: power.draw"});
  expect_rejected(header + "yesterday, 45 W\n", {"smi.csv:2: timestamp: not a date and time ('yesterday')"});
  expect_rejected(header + "2026/11/21 10:00:00.100, 45 W\n2026/11/21 10:00:00.099, 45 W\n",
                  {"smi.csv:3: timestamp 2026/11/21 10:00:00.099 is not after the previous row's (line 2)"});
  expect_rejected(header + "2026/11/21 10:00:00.100, 45 W, 3\n", {"smi.csv:2: 3 cells where the header has 2"});
  expect_rejected("index, timestamp, power.draw [W]\nzero, 2026/11/21 10:00:00.100, 45 W\n",
                  {"smi.csv:2: index: not a GPU index"});
  expect_rejected("timestamp, power.draw [W], clocks.sm [MHz]\n2026/11/21 10:00:00.100, 45 W, fast\n",
                  {"smi.csv:2: clocks.sm: not a clock in MHz"});
  expect_rejected("timestamp, power.draw [W], power.draw [W]\n", {"smi.csv:1: column 'power.draw [W]' appears twice"});

  NvidiaSmiOptions skip;
  skip.skip_unknown = true;
  traces::NvidiaSmiLog log =
      traces::parse_nvidia_smi("timestamp, temperature.gpu, power.draw [W]\n2026/11/21 10:00:00.100, 41, 45 W\n",
                               "smi.csv", skip);
  EXPECT_EQ(log.skipped_columns, std::vector<std::string>{"temperature.gpu"});
  ASSERT_EQ(log.samples.size(), 1u);
  EXPECT_EQ(log.samples[0].power_w, 45);
  expect_bad_input([&] { traces::power_timeline(log, "GPU_BOARD", 0); }, {"smi.csv: one sample", "--interval-ms"});
}

TEST(NvidiaSmiLog, ReadsAFile) {
  test::TempDir dir;
  test::write_bytes(dir.file("smi.csv"), "timestamp, power.draw [W]\r\n2026/11/21 10:00:00.123, 45.67 W\r\n");
  traces::NvidiaSmiLog log = traces::read_nvidia_smi_log(dir.file("smi.csv"), NvidiaSmiOptions{});
  ASSERT_EQ(log.samples.size(), 1u);
  EXPECT_EQ(log.samples[0].power_w, 45.67);
  EXPECT_EQ(log.source, dir.file("smi.csv"));
}

}  // namespace
}  // namespace coda
