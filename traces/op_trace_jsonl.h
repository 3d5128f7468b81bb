// The per-op trace as JSON Lines, for tools that want every field with its type: a first line
// {"schema": "coda-op-trace", "version": 1, "platform": ..., "model": ...}, then one object per op
// with the OpRecord fields by name (energy_by_component_j, avg_power_w and features as objects).
#pragma once

#include <string>

#include "sim/sim_result.h"

namespace coda::traces {

// Writes `result.ops` to `path` atomically. A result that fails check_result throws
// std::logic_error; a path that cannot be written throws BadInput.
void write_op_trace_jsonl(const std::string& path, const sim::SimResult& result);

}  // namespace coda::traces
