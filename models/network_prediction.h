// A network's latency, power and energy from a layer-wise predictor, in the shape of a simulation
// result (same fields, same JSON keys as `coda simulate`). NeuralPower's network level: with the
// ops one after another T = sum T_n and E = sum P_n T_n; ops on different units may overlap, so
// the ops are list-scheduled (each waits for its inputs and its unit, as the SoC model's scheduler
// does), T is the makespan, and E = sum (P_n - P_idle) T_n + P_idle T -- the same as sum P_n T_n
// when nothing overlaps -- with P_idle the platform's idle draw.
#pragma once

#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/graph.h"
#include "models/layer_predictor.h"
#include "sim/platform.h"
#include "sim/sim_result.h"

namespace coda::models {

struct PredictOptions {
  std::string model_name;
  int batch = 1;
};

// The ops' queries: `graph` prepared, `choices` one per node. Unit clocks come from `platform`.
std::vector<LayerQuery> network_queries(const Graph& graph, const std::vector<OpChoice>& choices,
                                        const sim::Platform& platform);

// Throws BadInput naming the op when the predictor has no model for an op's (class, unit, knob).
sim::SimResult predict_network(const Graph& graph, const std::vector<OpChoice>& choices, const sim::Platform& platform,
                               const LayerPredictor& predictor, const PredictOptions& options);

}  // namespace coda::models
