#include "cli/network_setup.h"

#include "cli/model_source.h"
#include "kernels/error.h"
#include "kernels/executor.h"

namespace coda::cli {

NetworkSetup load_network(const std::string& model, int batch, const std::vector<std::string>& shapes,
                          const ApproxOptions& approx, std::uint64_t seed) {
  std::unique_ptr<ApproxSession> session = approx.make_session(seed);
  NetworkSetup network{load_model(model, seed), {}};
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

}  // namespace coda::cli
