#include "traces/op_trace_jsonl.h"

#include <nlohmann/json.hpp>

#include "kernels/atomic_file.h"
#include "traces/result_checks.h"

namespace coda::traces {

namespace {

// Keys in OpRecord's order, so a line reads like the CSV row.
using Json = nlohmann::ordered_json;

// One line of JSON; invalid UTF-8 in a name is replaced rather than refused.
std::string json_line(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

Json op_json(const sim::OpRecord& op) {
  return Json{{"node", op.node},
              {"name", op.name},
              {"op_type", op.op_type},
              {"unit", op.unit},
              {"knob", op.knob},
              {"knob_name", op.knob_name},
              {"batch", op.batch},
              {"freq_mhz", op.freq_mhz},
              {"start_s", op.start_s},
              {"latency_s", op.latency_s},
              {"compute_s", op.compute_s},
              {"memory_s", op.memory_s},
              {"cycles", op.cycles},
              {"macs", op.macs},
              {"dram_bytes", op.dram_bytes},
              {"energy_j", op.energy_j},
              {"energy_by_component_j", Json(op.energy_by_component_j)},
              {"avg_power_w", Json(op.avg_power_w)},
              {"features", Json(op.features)}};
}

}  // namespace

void write_op_trace_jsonl(const std::string& path, const sim::SimResult& result) {
  check_result(path, result);
  std::string text =
      json_line(Json{{"schema", "coda-op-trace"}, {"version", 1}, {"platform", result.platform}, {"model", result.model}});
  for (const sim::OpRecord& op : result.ops) text += json_line(op_json(op));
  write_file_atomically(path, text);
}

}  // namespace coda::traces
