// Clock changes during a run: a schedule of (time, unit, frequency) steps, and optionally a
// governor that the power monitor consults after every sampling window, as Linux devfreq
// governors do on the Jetson: "ondemand" steps the clock up when the unit was busier than
// up_threshold and down when below down_threshold; "thermal" steps down while the hottest zone
// is at or above trip_c and back up (never above the starting clock) once below release_c.
// File format (YAML):
//   schedule: [{time_ms: 5, unit: gpu, freq_mhz: 624.75}, ...]
//   governor: {unit: gpu, kind: ondemand, up_threshold: 0.8, down_threshold: 0.3}
//   governor: {unit: gpu, kind: thermal, trip_c: 85, release_c: 80}
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sim/platform.h"

namespace coda::sim {

struct DvfsStep {
  double time_s = 0;
  std::string unit;
  double freq_mhz = 0;
};

struct Governor {
  std::string unit;
  std::string kind;  // ondemand | thermal
  double up_threshold = 0.8, down_threshold = 0.3;
  double trip_c = 85, release_c = 80;

  // The governor's next clock for its unit given the last window's busy share and the hottest
  // zone; `start_mhz` caps the thermal governor's recovery.
  double next_freq(const DvfsTable& table, double current_mhz, double start_mhz, double busy, double max_temp_c) const;
};

struct DvfsPlan {
  std::vector<DvfsStep> schedule;  // sorted by time
  std::optional<Governor> governor;

  // Throws BadInput "FILE: schedule[2].freq_mhz: 600 is not a step of gpu.dvfs" etc.; the units
  // must have DVFS tables in `platform`.
  static DvfsPlan parse(const std::string& yaml_text, const std::string& source, const Platform& platform);
  static DvfsPlan load(const std::string& path, const Platform& platform);
  bool empty() const { return schedule.empty() && !governor; }
};

// The DVFS table of a unit ("cpu", "gpu"), or null.
const DvfsTable* dvfs_table(const Platform& platform, const std::string& unit);

}  // namespace coda::sim
