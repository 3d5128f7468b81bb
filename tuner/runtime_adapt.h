// Run-time adaptation (ApproxTuner, PPoPP 2021, section "run-time tuning"; REFERENCE.md section 7):
// while the GPU clock is lowered step by step, a controller watches a sliding window of the last
// N invocation times and, when their average leaves the band around the target, switches to
// another point of the tradeoff curve: policy 1 the cheapest point (least approximation) whose
// speedup at the current clock meets the required speedup, found by binary search; policy 2 a
// seeded random mix of the two neighbouring points with p1*S1 + p2*S2 = S_target.
//
// The invocation times, energies and powers come from a table measured once per (configuration,
// clock) on the SoC simulator (measure_curve_on_clocks); the controller itself only reads the
// table, so it is tested on synthetic tables.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/graph.h"
#include "sim/platform.h"
#include "tuner/curve.h"

namespace coda::tuner {

// One step of a DVFS schedule: the GPU runs at `gpu_mhz` for `invocations` invocations.
struct ClockStep {
  double gpu_mhz = 0;
  int invocations = 0;
};

// The schedule file (YAML):
//   steps:
//     - {gpu_mhz: 1300.5, invocations: 100}
//     - {gpu_mhz: 1122.0, invocations: 100}
// Throws BadInput "SOURCE: steps[2].gpu_mhz: 600 is not a GPU clock of PLATFORM (its steps: ...)",
// and for an empty schedule, a step without invocations or an unknown field.
std::vector<ClockStep> parse_clock_schedule(const std::string& yaml_text, const std::string& source,
                                            const sim::Platform& platform);
std::vector<ClockStep> load_clock_schedule(const std::string& path, const sim::Platform& platform);

struct PointCost {
  double latency_s = 0;
  double energy_j = 0;
  double power_w = 0;  // average VDD_IN power over the invocation
};

// What the controller can choose from: the exact baseline (index 0) and the curve's points, each
// with its QoS and its cost at every clock of the schedule.
struct AdaptTable {
  std::vector<double> clocks_mhz;           // distinct clocks, in schedule order
  std::vector<std::string> names;           // "baseline", then the curve's point names
  std::vector<double> qos;                  // the curve's test QoS (baseline: the baseline's)
  std::vector<std::vector<PointCost>> cost; // [point][clock index]

  // Index of a clock (within 0.01 MHz); throws std::out_of_range when absent.
  std::size_t clock_index(double mhz) const;
};

// Simulates the baseline and every point of `curve` on `prepared` once at each clock (the GPU
// clock set through the platform's gpu.freq_mhz, voltage from its DVFS table). `progress` is
// called after each simulation with (done, total).
AdaptTable measure_curve_on_clocks(const Curve& curve, const Graph& prepared, const std::string& platform_path,
                                   const std::vector<double>& clocks_mhz, std::uint64_t seed,
                                   const std::function<void(int, int)>& progress = {});

struct AdaptOptions {
  int policy = 1;            // 1 or 2
  int window = 10;           // invocations in the sliding window
  // Half-width of the band around the target, relative to the target: the controller acts when the
  // window average is more than this much slower or faster than the target. 5% is the accuracy
  // the roadmap asks of the controller (issue 7, "Done means").
  double tolerance = 0.05;
  double target_s = 0;       // 0: the baseline's time at the schedule's first clock
  std::uint64_t seed = 0;    // policy 2's draws
  bool higher_is_better = true;  // QoS direction, for choosing among points of equal speedup
};

// One decision: use `first` with probability 1 - p_second, else `second` (policy 1: p_second = 0).
struct Choice {
  std::size_t first = 0;
  std::size_t second = 0;
  double p_second = 0;
  double required_speedup = 1;
  bool reachable = true;  // false when even the fastest point is too slow
};

// The controller's policies, at one clock of a table.
class AdaptController {
 public:
  AdaptController(const AdaptTable& table, const AdaptOptions& options);
  // Points worth choosing at a clock: sorted by speedup there (over the baseline at that clock),
  // each faster than the previous one and with lower QoS (a point that is slower and no better
  // than another is never the cheapest choice).
  std::vector<std::size_t> frontier(std::size_t clock) const;
 private:
  std::vector<std::size_t>::const_iterator first_fast_enough(const std::vector<std::size_t>& points, std::size_t clock,
                                                              double required_speedup) const;

 public:
  double speedup(std::size_t point, std::size_t clock) const;
  // Policy 1: the frontier point with the smallest speedup >= required (binary search); the
  // fastest when none is fast enough.
  Choice policy1(std::size_t clock, double required_speedup) const;
  // Policy 2: frontier neighbours S1 < required <= S2 mixed with p2 = (required - S1) / (S2 - S1),
  // so that p1*S1 + p2*S2 = required.
  Choice policy2(std::size_t clock, double required_speedup) const;
  Choice choose(std::size_t clock, double required_speedup) const;

 private:
  const AdaptTable& table_;
  AdaptOptions options_;
};

struct InvocationRecord {
  int index = 0;
  int step = 0;
  double gpu_mhz = 0;
  std::string point;      // the configuration that ran
  double time_s = 0;
  double window_avg_s = 0;  // over the window after this invocation
  double qos = 0;         // the running choice's expected QoS (policy 2: the mix's)
  double power_w = 0;
  double energy_j = 0;
  bool switched = false;  // the controller changed its choice after this invocation
};

struct StepSummary {
  double gpu_mhz = 0;
  int invocations = 0;
  double avg_time_s = 0;
  double target_s = 0;
  double baseline_time_s = 0;   // the exact configuration's time at this clock
  std::map<std::string, int> used;  // point name -> invocations
  double avg_qos = 0;           // mean expected QoS over the step
  double qos_loss = 0;          // against the baseline (positive = worse)
  double avg_power_w = 0;       // energy / time over the step
  double energy_per_invocation_j = 0;
  int switches = 0;
};

struct AdaptResult {
  double target_s = 0;
  int policy = 1;
  int window = 0;
  double tolerance = 0;
  std::vector<StepSummary> steps;
  std::vector<InvocationRecord> invocations;
};

// Runs the schedule: each invocation takes the running configuration's time at the current clock;
// after each one the window is checked, and on leaving the band the controller chooses again for
// the speedup required at the current clock, T_baseline(clock) / target. The window restarts after
// every change of choice so that the next decision sees only the new configuration.
// Throws BadInput for an empty schedule, a window < 1, a policy other than 1 or 2, a negative
// target or a clock missing from the table.
AdaptResult run_adaptation(const AdaptTable& table, const std::vector<ClockStep>& schedule, const AdaptOptions& options);

// {"target_ms": ..., "steps": [...], "invocations": [...]}, times in ms, energies in mJ.
std::string adapt_result_json(const AdaptResult& result, const AdaptTable& table, const Curve& curve);

}  // namespace coda::tuner
