// What every trace writer asks of a SimResult before writing it: per-sample vectors as long as the
// rails, zones and units they belong to, finite numbers, no negative times, durations, clocks or
// counts, batches of at least 1 -- so what is written, read_op_trace_csv accepts back. A result
// failing this is a simulator bug, not a user error, so the writers report it as std::logic_error
// (`coda` prints "internal error") rather than BadInput.
#pragma once

#include <string>

#include "sim/sim_result.h"

namespace coda::traces {

// Throws std::logic_error "cannot write PATH: op 'conv1' (node 3): latency_s is nan" (and the like)
// at the first problem.
void check_result(const std::string& path, const sim::SimResult& result);

}  // namespace coda::traces
