// The per-op trace as JSON Lines, for tools that want every field with its type: a first line
// {"schema": "coda-op-trace", "version": 1, "platform": ..., "model": ...}, then one object per op
// with the OpRecord fields by name (energy_by_component_j, avg_power_w and features as objects).
#pragma once

#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace coda::traces {

// Writes `result.ops` to `path` atomically. A result that fails check_result throws
// std::logic_error; a path that cannot be written throws BadInput.
void write_op_trace_jsonl(const std::string& path, const sim::SimResult& result);

// The records of a trace written by write_op_trace_jsonl, as strict as read_op_trace_csv. Throws
// BadInput "FILE:LINE: FIELD: problem" (or "FILE:LINE: problem"): a first line that is not the
// schema object or names another schema or version, a line that is not a JSON object, a missing,
// unknown or mistyped field (a string where a number belongs, a fraction where an integer does,
// a map entry that is not a number), a negative time or count, a batch below 1, a fidelity other
// than model, rtl or measured. `network` and `fidelity` may be absent (no network, "model").
// Blank lines are skipped.
std::vector<sim::OpRecord> read_op_trace_jsonl(const std::string& path);

}  // namespace coda::traces
