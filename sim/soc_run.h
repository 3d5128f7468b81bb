// The state one simulation run shares between the SoC's SystemC modules: the jobs (one per
// executed op, with its unit, its work and its record being filled), the clocks, the shared
// memory timeline and the power ledger. Times are seconds from the start of the run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/bandwidth_timeline.h"
#include "sim/dvfs_plan.h"
#include "sim/power_ledger.h"
#include "sim/sim_result.h"
#include "sim/thermal_model.h"
#include "sim/unit_model.h"

namespace coda::sim {

struct Job {
  int unit = 0;          // index into SocRun::units
  OpWork work;
  OpRecord record;
  std::vector<int> consumers;  // jobs that read this one's outputs
  int pending = 0;             // producers not finished yet
};

struct UnitState {
  std::string name;
  const UnitModel* model = nullptr;
  int rail = -1;                // sub-rail index in the ledger
  const DvfsTable* dvfs = nullptr;
  double start_freq_mhz = 0;
  double freq_mhz = 0;
  double voltage_v = 1;
  double static_since_s = 0;    // start of the current static-power segment
  double busy_s = 0;
  double busy_cycles = 0;       // clock cycles over the unit's busy time
  std::vector<std::pair<double, double>> busy;  // op intervals, for per-window busy shares
};

struct SocRun {
  const Platform* platform = nullptr;
  std::vector<Job> jobs;
  std::vector<UnitState> units;
  std::unique_ptr<BandwidthTimeline> dram;
  std::unique_ptr<PowerLedger> ledger;
  std::unique_ptr<ThermalModel> thermal;  // evolves online, for the thermal governor
  DvfsPlan dvfs;
  std::vector<DvfsEvent> dvfs_events;
  int dram_rail = -1;
  int interconnect_rail = -1;
  // SystemC time of the run's start in kernel ticks: the kernel's time never resets, and run
  // times are taken as exact tick differences so that a rerun gives bit-identical times.
  std::uint64_t origin_ticks = 0;
  double elapsed_s() const;
  std::vector<int> finished_jobs; // completed since the scheduler last looked
  int finished = 0;
  double end_s = 0;
  bool done = false;

  // Static power of a unit at its current voltage.
  double static_w(const UnitState& unit) const;
  // Closes the unit's static segment at time t and starts one at its new clock.
  void change_clock(int unit, double t, double freq_mhz, const std::string& cause);
  // Share of [begin, end) the unit was busy.
  double busy_share(int unit, double begin_s, double end_s) const;
};

}  // namespace coda::sim
