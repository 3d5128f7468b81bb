// tegrastats logs from NVIDIA Jetson boards: one line per sampling interval with memory, CPU
// cores, memory-controller and GPU load and clock, temperatures and INA3221 power rails. Both
// formats of REFERENCE.md section 3 read:
//   L4T R28: RAM 2586/7846MB (lfb 1x1MB) CPU [0%@960,...] EMC_FREQ 10%@665 GR3D_FREQ 53%@140 APE 150
//            MTS fg 0% bg 0% BCPU@41C ... VDD_IN 3177/3177 VDD_CPU 536/536 ...
//   L4T R32: RAM 1404/7860MB (lfb 236x4MB) SWAP 0/3930MB (cached 0MB) CPU [0%@345,off,...]
//            EMC_FREQ 0% GR3D_FREQ 0% PLL@35.5C ... VDD_SYS_GPU 153/153 ... VDD_IN 1649/1649 ...
// A line may start with a timestamp: "MM-DD-YYYY HH:MM:SS" (tegrastats --logfile in newer L4T),
// ISO-8601 with a fraction, or epoch seconds (as `ts`-style tools prefix); see parse_log_time.
// Without timestamps the k-th line (k = 1, 2, ...) is taken at start + k * interval, tegrastats
// writing its first line one interval after it starts.
//
// Power rails read "NAME current/average" in mW ("mW" suffixes allowed). The R28 names are renamed
// to the R32 ones that sim/platforms/tx2.yaml uses: VDD_CPU -> VDD_SYS_CPU, VDD_GPU -> VDD_SYS_GPU,
// VDD_SOC -> VDD_SYS_SOC, VDD_DDR -> VDD_SYS_DDR, VDD_WIFI -> VDD_4V0_WIFI; VDD_IN and other names
// stay as they are.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "traces/power_alignment.h"

namespace coda::traces {

struct TegrastatsOptions {
  // For lines without timestamps: the tegrastats --interval (seconds) and the time tegrastats
  // started (seconds on the clock parse_log_time reads; 0 when unknown).
  double interval_s = 0;
  double start_s = 0;
  // Unknown fields are an error by default; with this they are skipped and counted.
  bool skip_unknown = false;
};

struct TegrastatsCore {
  bool online = true;                 // "off" when the core is offline
  double load_pct = 0;
  std::optional<double> freq_mhz;     // absent when the line shows only the load
};

struct TegrastatsRail {
  std::string name;                   // after the R28 -> R32 renaming
  double current_mw = 0;              // the reading at the sample time
  double average_mw = 0;              // tegrastats' running average since it started
};

struct TegrastatsSample {
  int line = 0;                       // in the file, 1-based
  double time_s = 0;
  std::optional<double> ram_used_mb, ram_total_mb, swap_used_mb, swap_total_mb;
  std::vector<TegrastatsCore> cpu;
  std::optional<double> emc_load_pct, emc_freq_mhz;
  std::optional<double> gr3d_load_pct, gr3d_freq_mhz;  // the GPU
  std::optional<double> ape_mhz;                       // the audio processing engine clock
  std::optional<double> mts_fg_pct, mts_bg_pct;
  std::map<std::string, double> temperature_c;         // zone -> degrees C
  std::vector<TegrastatsRail> rails;                   // in line order
};

struct TegrastatsLog {
  std::string source;
  bool timestamped = false;                     // the lines carried their own times
  bool renamed_r28_rails = false;               // some rail had an L4T R28 name
  std::vector<TegrastatsSample> samples;        // in time order, strictly increasing
  std::map<std::string, int> skipped_unknown;   // field -> how often it was skipped
};

// Parses `text` (the contents of `source`). Throws BadInput "SOURCE:LINE: problem" for an unknown
// field (unless options.skip_unknown), a value that is not a finite number in its place ("RAM
// nan/7846MB"), a field given twice on a line, a line with no field coda knows, lines with and
// without timestamps mixed, a timestamp not after the previous line's, lines without timestamps
// and no interval, and a line whose rails differ from the first line's. Empty lines are skipped.
TegrastatsLog parse_tegrastats(const std::string& text, const std::string& source, const TegrastatsOptions& options);
TegrastatsLog read_tegrastats_log(const std::string& path, const TegrastatsOptions& options);

// The log as power_alignment reads it: each rail's current reading in W (held over the window
// ending at the sample) and the GPU clock from GR3D_FREQ where the line gives it. The first window
// is `interval_s` when positive, else the spacing of the first two samples. Throws BadInput for a
// log without samples or rails, or of one sample and no interval.
PowerTimeline power_timeline(const TegrastatsLog& log, double interval_s);

}  // namespace coda::traces
