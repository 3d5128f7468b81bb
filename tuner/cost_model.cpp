#include "tuner/cost_model.h"

#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/approx/knob_cost.h"
#include "kernels/executor.h"
#include "models/network_prediction.h"
#include "sim/simulate.h"

namespace coda::tuner {
namespace {

void check_choice_count(const std::string& model, const Graph& graph, const std::vector<OpChoice>& choices) {
  if (choices.size() != graph.nodes.size())
    throw std::invalid_argument(model + " cost: " + std::to_string(choices.size()) + " choices for a graph of " +
                                std::to_string(graph.nodes.size()) + " nodes");
}

// ApproxTuner's op-count model (kernels/approx/knob_cost.h): the per-node counts depend only on
// the graph, so they are analysed once; a configuration is then a sum over the nodes.
class OpCountCost : public CostModel {
 public:
  OpCountCost(const Graph& prepared, const KnobCatalog& catalog)
      : graph_(prepared), catalog_(catalog), reports_(analyse_graph(prepared)) {}

  std::string name() const override { return "ops"; }
  bool has_energy() const override { return false; }
  CostEstimate estimate(const std::vector<OpChoice>& choices) const override {
    check_choice_count(name(), graph_, choices);
    return {configuration_cost(reports_, choices, catalog_).total(), std::numeric_limits<double>::quiet_NaN()};
  }

 private:
  const Graph& graph_;
  KnobCatalog catalog_;
  std::vector<NodeReport> reports_;
};

// The fitted layer-wise predictors composed over the network (models/network_prediction.h).
class PredictorCost : public CostModel {
 public:
  PredictorCost(const Graph& prepared, const sim::Platform& platform, const models::LayerPredictor& predictor,
                std::string name)
      : graph_(prepared), platform_(platform), predictor_(predictor), name_(std::move(name)) {
    // Only the totals are read: records without their shape features are cheaper to build.
    options_.with_features = false;
  }

  std::string name() const override { return name_; }
  bool has_energy() const override { return true; }
  CostEstimate estimate(const std::vector<OpChoice>& choices) const override {
    check_choice_count(name_, graph_, choices);
    models::NetworkDescription description = models::describe_network(graph_, choices, platform_);
    sim::SimResult predicted = models::predict_network(graph_, description, predictor_, options_);
    return {predicted.latency_s, predicted.energy_j};
  }

 private:
  const Graph& graph_;
  sim::Platform platform_;
  const models::LayerPredictor& predictor_;
  std::string name_;
  models::PredictOptions options_;
};

// The SoC simulator (sim/simulate.h), the reference the predictors are fitted to.
class SimulatorCost : public CostModel {
 public:
  SimulatorCost(const Graph& prepared, const sim::Platform& platform, std::uint64_t seed)
      : graph_(prepared), platform_(platform) {
    options_.seed = seed;
  }

  std::string name() const override { return "sim"; }
  bool has_energy() const override { return true; }
  CostEstimate estimate(const std::vector<OpChoice>& choices) const override {
    check_choice_count(name(), graph_, choices);
    sim::SimResult simulated = sim::simulate(graph_, choices, platform_, options_);
    return {simulated.latency_s, simulated.energy_j};
  }

 private:
  const Graph& graph_;
  sim::Platform platform_;
  sim::SimOptions options_;
};

}  // namespace

std::unique_ptr<CostModel> make_op_count_cost(const Graph& prepared, const KnobCatalog& catalog) {
  return std::make_unique<OpCountCost>(prepared, catalog);
}

std::unique_ptr<CostModel> make_predictor_cost(const Graph& prepared, const sim::Platform& platform,
                                               const models::LayerPredictor& predictor, const std::string& name) {
  return std::make_unique<PredictorCost>(prepared, platform, predictor, name);
}

std::unique_ptr<CostModel> make_simulator_cost(const Graph& prepared, const sim::Platform& platform,
                                               std::uint64_t seed) {
  return std::make_unique<SimulatorCost>(prepared, platform, seed);
}

}  // namespace coda::tuner
