// A network's latency, power and energy from a layer-wise predictor, in the shape of a simulation
// result (same fields, same JSON keys as `coda simulate`). NeuralPower's network level: with the
// ops one after another T = sum T_n and E = sum P_n T_n; ops on different units may overlap, so
// the ops are list-scheduled (each waits for its inputs and its unit, as the SoC model's scheduler
// does), T is the makespan, and E = sum (P_n - P_idle) T_n + P_idle T -- the same as sum P_n T_n
// when nothing overlaps -- with P_idle the platform's idle draw.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/graph.h"
#include "models/layer_predictor.h"
#include "sim/platform.h"
#include "sim/sim_result.h"

namespace coda::models {

struct PredictOptions {
  std::string model_name;
  int batch = 1;
  bool with_features = true;  // copy each op's shape features into its record (traces want them)
};

// A network described for predictors: per node its query (class, unit, knob family, unit clock,
// shape features from sim::describe_op) and knob. Describing walks the graph's shapes once per
// configuration; predicting from a description is the fast part (the tuner re-predicts it).
struct NetworkDescription {
  std::vector<LayerQuery> queries;  // one per node
  std::vector<const Knob*> knobs;
  std::map<std::string, double> idle_power_w;  // sim::idle_power_w of the platform
  std::string input_rail;
  std::string platform;
};

// `graph` prepared, `choices` one per node. Unit clocks come from `platform`.
NetworkDescription describe_network(const Graph& graph, const std::vector<OpChoice>& choices,
                                    const sim::Platform& platform);

// Throws BadInput naming the op when the predictor has no model for an op's (class, unit, knob).
sim::SimResult predict_network(const Graph& graph, const NetworkDescription& description,
                               const LayerPredictor& predictor, const PredictOptions& options);
// describe_network, then predict_network.
sim::SimResult predict_network(const Graph& graph, const std::vector<OpChoice>& choices, const sim::Platform& platform,
                               const LayerPredictor& predictor, const PredictOptions& options);

}  // namespace coda::models
