// Per-layer power from real board logs, as NeuralPower (Cai et al., ACML 2017) measured it: a power
// log sampled every millisecond or so (tegrastats, nvidia-smi) beside a per-layer timing log (CUDA
// events, a TensorRT profiler), put on one clock, and each layer given the time-weighted average
// of the power samples its run overlaps.
//
// A power sample is the average over the window that ends at its timestamp and starts at the
// previous sample's (the first sample's window has length `first_window_s`). A layer running over
// [a, b] gets, per rail, sum_i P_i |[a, b] ∩ window_i| / (b - a): exact overlap integrals, so a
// layer shorter than a window takes that window's power and a layer straddling two takes their
// weighted mean. Layers not wholly inside the log, or overlapping a sample without a reading, are
// skipped and counted by reason, never dropped silently. Overlaps shorter than the rounding of the
// clock values (a few units in the last place: about 1 us on an epoch clock) count as none.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/sim_result.h"

namespace coda::traces {

// A wall-clock stamp from a board log as seconds since 1970-01-01 00:00:00, the stamp read as UTC
// unless it carries a zone (logs rarely do; both logs being read the same way, only differences
// matter). Accepts "MM-DD-YYYY HH:MM:SS" (tegrastats --logfile), "YYYY/MM/DD HH:MM:SS.fff"
// (nvidia-smi), ISO-8601 "YYYY-MM-DDTHH:MM:SS.fff" with an optional "Z" or "+HH:MM" (a space may
// stand for the T), and epoch seconds "1763719200.123"; fractions of any length. Nothing for
// anything else, including impossible dates and times. A double holds epoch seconds to about
// 0.25 us, far below the millisecond sampling this is for.
std::optional<double> parse_log_time(std::string_view text);

// A power log on its own clock: samples in strictly increasing time, each the average power of
// every rail over its window (see above).
struct PowerTimeline {
  struct Sample {
    double time_s = 0;               // end of the window
    std::vector<double> rail_w;      // in rails order; empty when the log has no reading here
    std::optional<double> clock_mhz; // the unit clock the log reports at this time, if it does
  };
  std::string source;                // the log file, for messages
  std::vector<std::string> rails;
  double first_window_s = 0;
  std::vector<Sample> samples;
};

struct AlignmentOptions {
  // Added to the timing log's times to put them on the power log's clock.
  double offset_s = 0;
  // The board input rail: dynamic energy is (its power - its idle power) * latency.
  std::string input_rail = "VDD_IN";
  // The input rail's idle power. When not given it is measured from the samples whose windows
  // overlap no layer; with neither, align_layers throws BadInput.
  std::optional<double> idle_input_w;
  // Layers on this unit without their own freq_mhz take the clock the power log reports.
  std::string clocked_unit = "gpu";
};

struct Alignment {
  std::vector<sim::OpRecord> ops;       // the aligned layers, in start order
  std::map<std::string, int> skipped;   // layers left out, by reason
  double idle_input_w = 0;
  int idle_samples = 0;                 // samples the idle power was measured from (0: given)
  double idle_time_s = 0;               // and the time they cover
  int layers_without_clock = 0;         // on the clocked unit, without freq_mhz from either log
};

// Aligns `layers` (from read_layer_timing_csv: start_s and latency_s on the timing log's clock,
// freq_mhz 0 where the timing log has none) with `power`. Each aligned op gets avg_power_w per
// rail, energy_j = (input rail power - idle input power) * latency_s (negative when the layer
// draws less than idle, as noise can make it), freq_mhz (from the timing log, else for the clocked
// unit from the sample whose window holds the layer's midpoint), cycles from latency and clock,
// fidelity "measured", and start_s from the earliest start in `layers`, so traces start at 0.
// Throws BadInput naming the power log when it lacks the input rail or the idle power can be
// neither measured nor taken from the options, and when no layer falls inside the log.
Alignment align_layers(const std::vector<sim::OpRecord>& layers, const PowerTimeline& power,
                       const AlignmentOptions& options);

}  // namespace coda::traces
