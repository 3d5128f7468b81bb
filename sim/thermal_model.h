// Zone temperatures as first-order RC networks (one per thermal zone of the platform): each zone
// is heated by the power of the rails it lists and relaxes towards ambient, dT/dt = (P R - (T -
// T_ambient)) / (R C), stepped exactly over each sampling window with P held constant.
#pragma once

#include <string>
#include <vector>

#include "sim/platform.h"

namespace coda::sim {

class ThermalModel {
 public:
  // `rails`: names of the power values step() receives, in order (VDD_IN first).
  ThermalModel(const ThermalParams& params, const std::vector<std::string>& rails);

  void step(const std::vector<double>& rail_w, double seconds);
  const std::vector<double>& temperatures() const { return temperature_; }
  const std::vector<std::string>& zones() const { return names_; }
  // Power heating zone z given rail powers.
  double zone_power(std::size_t zone, const std::vector<double>& rail_w) const;
  // If the workload whose average rail powers are `rail_w` ran back to back from the current
  // temperatures, the seconds until the first zone reaches params.limit_c (-1 if none ever does).
  double time_to_limit(const std::vector<double>& rail_w) const;
  double max_temperature() const;

 private:
  ThermalParams params_;
  std::vector<std::string> names_;
  std::vector<std::vector<std::size_t>> sources_;  // rail indices heating each zone
  std::vector<double> temperature_;
};

}  // namespace coda::sim
