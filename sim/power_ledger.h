// Where every joule goes, over time: each rail's power as a sum of segments (an energy spread
// evenly over an interval: an op's compute, a DRAM transfer, a unit's static draw between DVFS
// changes), binned into the sampling windows of the INA3221 monitors as it is recorded. The
// board input VDD_IN is derived: the sub-rails' sum through the regulators plus the board's own
// draw, so the energy of all ops plus the idle (static) energy equals the integral of VDD_IN.
#pragma once

#include <string>
#include <vector>

#include "sim/platform.h"

namespace coda::sim {

class PowerLedger {
 public:
  PowerLedger(const RailModel& rails, double window_s);

  // Index of a sub-rail (or -1). The input rail has no index: it is derived.
  int rail_index(const std::string& rail) const;
  const std::vector<std::string>& rails() const { return rails_; }
  // Spreads `energy_j` (on sub-rail `rail`) evenly over [begin_s, end_s); an empty interval puts
  // it in the window containing begin_s. `is_static` separates idle from op energy.
  void add(int rail, double begin_s, double end_s, double energy_j, bool is_static);
  // A constant draw on a sub-rail from begin_s to end_s.
  void add_power(int rail, double begin_s, double end_s, double watts) {
    add(rail, begin_s, end_s, watts * (end_s - begin_s), true);
  }

  double window_s() const { return window_s_; }
  // Average power per sub-rail over window w, then VDD_IN, for windows ending at or before
  // `end_s` (the last one may be partial).
  struct Window {
    double end_s = 0;
    double length_s = 0;
    std::vector<double> rail_w;  // VDD_IN first, then the sub-rails
  };
  std::vector<Window> windows(double end_s) const;
  Window window(std::size_t index, double end_s) const;
  // Energy at the board input (VDD_IN) of sub-rail energy `rail_energy_j`.
  double at_input(double rail_energy_j) const { return rail_energy_j / model_.regulator_efficiency; }
  double board_static_w() const { return model_.board_static_w; }
  double static_energy_j(int rail) const { return static_j_[static_cast<std::size_t>(rail)]; }
  double dynamic_energy_j(int rail) const { return dynamic_j_[static_cast<std::size_t>(rail)]; }

 private:
  RailModel model_;
  std::vector<std::string> rails_;
  double window_s_;
  std::vector<std::vector<double>> energy_;  // per rail, per window
  std::vector<double> static_j_, dynamic_j_;
};

}  // namespace coda::sim
