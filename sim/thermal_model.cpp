#include "sim/thermal_model.h"

#include <algorithm>
#include <cmath>

namespace coda::sim {

ThermalModel::ThermalModel(const ThermalParams& params, const std::vector<std::string>& rails) : params_(params) {
  for (const ThermalZone& zone : params.zones) {
    names_.push_back(zone.name);
    std::vector<std::size_t> sources;
    for (const std::string& rail : zone.heat_from) {
      auto it = std::find(rails.begin(), rails.end(), rail);
      if (it != rails.end()) sources.push_back(static_cast<std::size_t>(it - rails.begin()));
    }
    sources_.push_back(sources);
    temperature_.push_back(params.initial_c);
  }
}

double ThermalModel::zone_power(std::size_t zone, const std::vector<double>& rail_w) const {
  double power = 0;
  for (std::size_t r : sources_[zone]) power += rail_w[r];
  return power;
}

void ThermalModel::step(const std::vector<double>& rail_w, double seconds) {
  for (std::size_t z = 0; z < temperature_.size(); ++z) {
    const ThermalZone& zone = params_.zones[z];
    double steady = params_.ambient_c + zone_power(z, rail_w) * zone.r_c_per_w;
    double decay = std::exp(-seconds / (zone.r_c_per_w * zone.c_j_per_c));
    temperature_[z] = steady + (temperature_[z] - steady) * decay;
  }
}

double ThermalModel::time_to_limit(const std::vector<double>& rail_w) const {
  double best = -1;
  for (std::size_t z = 0; z < temperature_.size(); ++z) {
    const ThermalZone& zone = params_.zones[z];
    double steady = params_.ambient_c + zone_power(z, rail_w) * zone.r_c_per_w;
    double t;
    if (temperature_[z] >= params_.limit_c) t = 0;
    else if (steady <= params_.limit_c) continue;
    else t = -zone.r_c_per_w * zone.c_j_per_c * std::log((steady - params_.limit_c) / (steady - temperature_[z]));
    if (best < 0 || t < best) best = t;
  }
  return best;
}

double ThermalModel::max_temperature() const {
  return temperature_.empty() ? params_.initial_c : *std::max_element(temperature_.begin(), temperature_.end());
}

}  // namespace coda::sim
