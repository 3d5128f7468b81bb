#include "cli/network_setup.h"

#include "cli/model_source.h"
#include "kernels/error.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"

namespace coda::cli {

namespace {

NetworkSetup prepare_network(Graph loaded, const std::string& model, int batch, const std::vector<std::string>& shapes,
                             const ApproxSession* session) {
  NetworkSetup network{std::move(loaded), {}};
  Graph& graph = network.graph;
  try {
    // --batch re-binds the leading dimension of every input, also for models exported at batch 1.
    if (batch > 1)
      for (int id : graph.inputs) {
        Value& input = graph.values[static_cast<std::size_t>(id)];
        if (!input.shape.empty()) input.shape[0] = -1;
      }
    bind_input_shapes(graph, resolve_input_shapes(graph, parse_shape_overrides(shapes), batch));
    prepare_graph(graph);
    if (session) session->apply_pruning(graph);
    network.choices = session ? session->resolve(graph) : std::vector<OpChoice>(graph.nodes.size());
  } catch (const BadInput& e) {
    rethrow_with_context(model, e);
  }
  return network;
}

// Pruning ranks filters by their weights, and the LightNN model counts the shift terms present in
// each layer's quantized weights (its energy follows them), so those knobs need the weight data.
bool needs_weights(const ApproxConfig& config) {
  auto transforms = [](const OpChoice& choice) {
    const Knob* knob = knob_catalog().find(choice.knob);
    return knob != nullptr && (knob->transforms_graph() || knob->family == KnobFamily::ShiftAdd);
  };
  if (transforms(config.defaults) || (config.has_all && transforms(config.all))) return true;
  for (const auto& entry : config.ops)
    if (transforms(entry.second)) return true;
  return false;
}

}  // namespace

NetworkSetup load_network(const std::string& model, int batch, const std::vector<std::string>& shapes,
                          const ApproxOptions& approx, std::uint64_t seed) {
  std::unique_ptr<ApproxSession> session = approx.make_session(seed);
  return prepare_network(load_model(model, seed), model, batch, shapes, session.get());
}

NetworkSetup load_network_for_costs(const std::string& model, int batch, const ApproxConfig* config,
                                    std::uint64_t seed) {
  std::unique_ptr<ApproxSession> session;
  if (config) session = std::make_unique<ApproxSession>(*config, knob_catalog(), seed);
  const bool shapes_only = config == nullptr || !needs_weights(*config);
  return prepare_network(load_model(model, seed, shapes_only), model, batch, {}, session.get());
}

}  // namespace coda::cli
