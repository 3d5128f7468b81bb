// nvidia-smi power logs: what `nvidia-smi --query-gpu=timestamp,power.draw --format=csv -lms 1`
// prints, a header and one row per GPU and sample:
//   timestamp, power.draw [W]
//   2026/11/21 10:00:00.123, 45.67 W
// Columns may come in any order; besides timestamp and power.draw [W] (or power.draw.instant /
// power.draw.average, and without units under --format=csv,nounits) a log may have `index` (one
// row per GPU and sample; one GPU is selected) and `clocks.sm [MHz]` (the SM clock, which the
// alignment gives GPU layers without a clock of their own). "[N/A]" cells are kept as samples
// without a reading and counted.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "traces/power_alignment.h"

namespace coda::traces {

struct NvidiaSmiOptions {
  int gpu_index = 0;          // the GPU whose rows are read, where the log has an index column
  bool skip_unknown = false;  // other columns: an error by default, else ignored and listed
};

struct NvidiaSmiSample {
  int line = 0;
  double time_s = 0;                    // parse_log_time of the timestamp
  std::optional<double> power_w;        // absent for [N/A]
  std::optional<double> sm_clock_mhz;   // absent without the column or for [N/A]
};

struct NvidiaSmiLog {
  std::string source;
  bool has_index = false, has_sm_clock = false;
  std::vector<NvidiaSmiSample> samples;  // the selected GPU's, strictly increasing in time
  int power_not_available = 0;           // [N/A] power cells
  int clock_not_available = 0;           // [N/A] clock cells
  int other_gpu_rows = 0;                // rows of GPUs other than the selected one
  std::vector<std::string> skipped_columns;
};

// Throws BadInput "SOURCE:LINE: problem": no header, a missing timestamp or power column, an
// unknown column (unless skip_unknown), a row with the wrong number of cells, a timestamp, power
// or clock that is not a finite non-negative number with its unit, the selected GPU absent,
// timestamps not increasing.
NvidiaSmiLog parse_nvidia_smi(const std::string& text, const std::string& source, const NvidiaSmiOptions& options);
NvidiaSmiLog read_nvidia_smi_log(const std::string& path, const NvidiaSmiOptions& options);

// The log as power_alignment reads it: one rail named `rail` (nvidia-smi measures the whole
// board, not one supply), samples without a reading where the power was [N/A], the SM clock. The
// first window is `interval_s` when positive, else the spacing of the first two samples.
PowerTimeline power_timeline(const NvidiaSmiLog& log, const std::string& rail, double interval_s);

}  // namespace coda::traces
