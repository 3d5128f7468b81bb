#include "traces/sim_result_json.h"

namespace coda::traces {

nlohmann::json op_record_json(const sim::OpRecord& op) {
  return {{"node", op.node},
          {"name", op.name},
          {"network", op.network},
          {"op_type", op.op_type},
          {"unit", op.unit},
          {"knob", op.knob},
          {"knob_name", op.knob_name},
          {"batch", op.batch},
          {"fidelity", op.fidelity},
          {"freq_mhz", op.freq_mhz},
          {"start_s", op.start_s},
          {"latency_s", op.latency_s},
          {"compute_s", op.compute_s},
          {"memory_s", op.memory_s},
          {"cycles", op.cycles},
          {"macs", op.macs},
          {"dram_bytes", op.dram_bytes},
          {"energy_j", op.energy_j},
          {"energy_by_component_j", op.energy_by_component_j},
          {"avg_power_w", op.avg_power_w},
          {"features", op.features}};
}

nlohmann::json sim_result_json(const sim::SimResult& result, bool with_samples) {
  nlohmann::json doc;
  doc["platform"] = result.platform;
  doc["model"] = result.model;
  doc["batch"] = result.batch;
  doc["latency_s"] = result.latency_s;
  doc["energy_j"] = result.energy_j;
  doc["ops_energy_j"] = result.ops_energy_j;
  doc["idle_energy_j"] = result.idle_energy_j;
  doc["avg_power_w"] = result.avg_power_w;
  doc["rail_energy_j"] = result.rail_energy_j;
  doc["utilisation"] = result.utilisation;
  doc["energy_breakdown_j"] = result.energy_breakdown_j;
  doc["peak_temp_c"] = result.peak_temp_c;
  doc["peak_zone"] = result.peak_zone;
  doc["time_to_limit_s"] = result.time_to_limit_s < 0 ? nlohmann::json(nullptr) : nlohmann::json(result.time_to_limit_s);
  doc["simulated_cycles"] = result.simulated_cycles;
  doc["wall_s"] = result.wall_s;
  nlohmann::json events = nlohmann::json::array();
  for (const auto& e : result.dvfs_events)
    events.push_back({{"time_s", e.time_s}, {"unit", e.unit}, {"freq_mhz", e.freq_mhz}, {"cause", e.cause}});
  doc["dvfs_events"] = events;
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& op : result.ops) ops.push_back(op_record_json(op));
  doc["ops"] = ops;
  if (with_samples) {
    nlohmann::json samples = nlohmann::json::array();
    for (const auto& s : result.samples)
      samples.push_back({{"time_s", s.time_s}, {"window_s", s.window_s}, {"rail_w", s.rail_w}, {"zone_c", s.zone_c},
                         {"unit_busy", s.unit_busy}, {"unit_freq_mhz", s.unit_freq_mhz}});
    doc["rails"] = result.rails;
    doc["zones"] = result.zones;
    doc["units"] = result.units;
    doc["samples"] = samples;
  }
  return doc;
}

}  // namespace coda::traces
