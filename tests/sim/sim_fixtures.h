// Graphs and runs shared by the simulator tests.
#pragma once

#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/graph.h"
#include "sim/platform.h"
#include "sim/sim_result.h"
#include "sim/simulate.h"

namespace coda::test {

// A prepared zoo network (shapes only unless `with_weights`).
Graph prepared_zoo(const std::string& name, int64_t batch = 1, bool with_weights = false);
// Every op on `unit` with `knob` where the knob applies, the exact op on the GPU elsewhere.
std::vector<OpChoice> choices_for(const Graph& graph, int knob, Unit unit);
sim::SimResult simulate_on(const Graph& graph, const std::vector<OpChoice>& choices,
                           const std::vector<std::string>& overrides = {}, const sim::SimOptions& options = {});
// Total latency of the records of one node name.
const sim::OpRecord& record_of(const sim::SimResult& result, const std::string& name);

}  // namespace coda::test
