#include "sim/soc_run.h"

#include <algorithm>

#include <systemc>

namespace coda::sim {

double SocRun::elapsed_s() const {
  return sc_core::sc_time::from_value(sc_core::sc_time_stamp().value() - origin_ticks).to_seconds();
}

double SocRun::static_w(const UnitState& unit) const {
  const UnitPower& power = unit.model->power(*platform);
  // Leakage grows about linearly with supply voltage over a DVFS range (a first-order fit; the
  // exponential subthreshold term is folded into the platform's static_w at nominal_v).
  return power.static_w * unit.voltage_v / power.nominal_v;
}

void SocRun::change_clock(int index, double t, double freq_mhz, const std::string& cause) {
  UnitState& unit = units[static_cast<std::size_t>(index)];
  if (unit.dvfs == nullptr || freq_mhz == unit.freq_mhz) return;
  ledger->add_power(unit.rail, unit.static_since_s, t, static_w(unit));
  unit.static_since_s = t;
  unit.freq_mhz = freq_mhz;
  unit.voltage_v = unit.dvfs->voltage_at(freq_mhz);
  dvfs_events.push_back({t, unit.name, freq_mhz, cause});
}

double SocRun::busy_share(int index, double begin_s, double end_s) const {
  const UnitState& unit = units[static_cast<std::size_t>(index)];
  double busy = 0;
  for (const auto& [b, e] : unit.busy) busy += std::max(0.0, std::min(e, end_s) - std::max(b, begin_s));
  return end_s > begin_s ? busy / (end_s - begin_s) : 0.0;
}

}  // namespace coda::sim
