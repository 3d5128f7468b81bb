// The run as a timeline in the Chrome trace event format (JSON object form), which Perfetto
// (ui.perfetto.dev) and chrome://tracing open:
//   {"traceEvents": [...], "displayTimeUnit": "ns", "metadata": {...}}
// One process per unit, named by "process_name" metadata events; each op a complete ("X") event,
// ts and dur in microseconds, args knob, knob_name, energy_j, macs, dram_bytes, freq_mhz, node,
// batch; ops that overlap on a unit go to separate threads ("ops 2", ...) so the events nest.
// Counter ("C") events: in a last process "soc", each rail's average power at the start of each
// sampling window ("power <RAIL>", args {"W"}) and each zone's temperature at its end
// ("temperature <ZONE>", args {"C"}); in each unit's process its busy share per window ("busy",
// args {"share"}) and its clock ("clock", args {"MHz"}) at time 0 and at each DVFS event, with an
// instant ("i") event "DVFS" carrying the cause. metadata holds the platform, model and totals.
#pragma once

#include <string>

#include "sim/sim_result.h"

namespace coda::traces {

// Writes the timeline to `path` atomically. A result that fails check_result throws
// std::logic_error; a path that cannot be written throws BadInput.
void write_chrome_trace(const std::string& path, const sim::SimResult& result);

}  // namespace coda::traces
