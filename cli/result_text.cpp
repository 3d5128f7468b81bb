#include "cli/result_text.h"

#include <cstdio>

#include <fmt/format.h>

namespace coda::cli {

std::string si_seconds(double s) {
  if (s >= 1) return fmt::format("{:.3f} s", s);
  if (s >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.2f} us", s * 1e6);
}

std::string si_joules(double j) {
  if (j >= 1) return fmt::format("{:.3f} J", j);
  if (j >= 1e-3) return fmt::format("{:.3f} mJ", j * 1e3);
  return fmt::format("{:.2f} uJ", j * 1e6);
}

void print_op_table(const sim::SimResult& r) {
  std::printf("%-28s %-18s %-8s %-14s %10s %11s %11s %9s\n", "op", "type", "unit", "knob", "start ms",
              "latency ms", "energy mJ", "power W");
  for (const auto& op : r.ops) {
    auto power = op.avg_power_w.find(r.rails.front());
    std::printf("%-28.28s %-18.18s %-8s %-14.14s %10.4f %11.4f %11.4f %9.3f\n", op.name.c_str(), op.op_type.c_str(),
                op.unit.c_str(), fmt::format("{} {}", op.knob, op.knob_name).c_str(), op.start_s * 1e3,
                op.latency_s * 1e3, op.energy_j * 1e3, power == op.avg_power_w.end() ? 0.0 : power->second);
  }
}

void print_result_summary(const sim::SimResult& r, ResultKind kind) {
  std::printf("\nplatform %s, model %s, batch %d: %zu ops\n", r.platform.c_str(), r.model.c_str(), r.batch, r.ops.size());
  std::printf("latency   %s\n", si_seconds(r.latency_s).c_str());
  std::printf("energy    %s (ops %s + static %s)\n", si_joules(r.energy_j).c_str(), si_joules(r.ops_energy_j).c_str(),
              si_joules(r.idle_energy_j).c_str());
  std::printf("average power per rail:\n");
  for (const auto& rail : r.rails) {
    auto power = r.avg_power_w.find(rail);
    if (power != r.avg_power_w.end()) std::printf("  %-14s %8.3f W\n", rail.c_str(), power->second);
  }
  std::printf("utilisation per unit:\n");
  for (const auto& [unit, share] : r.utilisation) std::printf("  %-14s %7.1f %%\n", unit.c_str(), 100 * share);
  std::printf("energy by component (at %s):\n", r.rails.front().c_str());
  for (const auto& [component, joules] : r.energy_breakdown_j)
    std::printf("  %-20s %12s %6.1f %%\n", component.c_str(), si_joules(joules).c_str(),
                r.energy_j > 0 ? 100 * joules / r.energy_j : 0.0);
  if (kind == ResultKind::Predicted) return;
  std::printf("peak temperature %.2f C (%s)", r.peak_temp_c, r.peak_zone.c_str());
  if (r.time_to_limit_s >= 0) std::printf(", sustained back to back it reaches the limit after %.1f s\n", r.time_to_limit_s);
  else std::printf(", sustained back to back it stays below the limit\n");
  for (const auto& e : r.dvfs_events)
    std::printf("dvfs at %s: %s -> %.2f MHz (%s)\n", si_seconds(e.time_s).c_str(), e.unit.c_str(), e.freq_mhz, e.cause.c_str());
  std::printf("simulated %lld unit cycles in %.3f s wall (%.3g cycles/s)\n", static_cast<long long>(r.simulated_cycles),
              r.wall_s, r.wall_s > 0 ? static_cast<double>(r.simulated_cycles) / r.wall_s : 0.0);
}


}  // namespace coda::cli
