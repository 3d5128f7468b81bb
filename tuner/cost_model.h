// How much a configuration costs, behind one interface, so the tuner is independent of where the
// figure comes from: ApproxTuner's op-count model (hardware-independent, no energy), the fitted
// layer-wise predictors of models/ (latency and energy on a platform, sub-millisecond), or the
// SoC simulator of sim/ (the reference, slower). Tuning reports gains as baseline / configuration.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/graph.h"
#include "models/layer_predictor.h"
#include "sim/platform.h"

namespace coda::tuner {

struct CostEstimate {
  double latency = 0.0;   // seconds (predictor, sim) or op-count units (ops)
  double energy = 0.0;    // joules; NaN when the model has none (ops)
};

class CostModel {
 public:
  virtual ~CostModel() = default;
  // "ops", "predictor:FILE" or "sim".
  virtual std::string name() const = 0;
  virtual bool has_energy() const = 0;
  // `choices`: one per node of the prepared graph the model was made for.
  virtual CostEstimate estimate(const std::vector<OpChoice>& choices) const = 0;
};

// `prepared` (and the predictor) must outlive the models: they keep references.
std::unique_ptr<CostModel> make_op_count_cost(const Graph& prepared, const KnobCatalog& catalog);
std::unique_ptr<CostModel> make_predictor_cost(const Graph& prepared, const sim::Platform& platform,
                                               const models::LayerPredictor& predictor, const std::string& name);
std::unique_ptr<CostModel> make_simulator_cost(const Graph& prepared, const sim::Platform& platform,
                                               std::uint64_t seed);

}  // namespace coda::tuner
