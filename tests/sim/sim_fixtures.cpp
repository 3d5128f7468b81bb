#include "tests/sim/sim_fixtures.h"

#include <stdexcept>

#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"

namespace coda::test {

Graph prepared_zoo(const std::string& name, int64_t batch, bool with_weights) {
  ZooOptions options;
  options.batch = batch;
  options.shapes_only = !with_weights;
  Graph graph = build_zoo_model(name, options);
  prepare_graph(graph);
  return graph;
}

std::vector<OpChoice> choices_for(const Graph& graph, int knob, Unit unit) {
  std::vector<OpChoice> choices(graph.nodes.size());
  const Knob& k = knob_catalog().require(knob);
  for (std::size_t n = 0; n < graph.nodes.size(); ++n)
    if (k.applies_to_op(graph.nodes[n].op_type)) choices[n] = OpChoice{knob, unit};
  return choices;
}

sim::SimResult simulate_on(const Graph& graph, const std::vector<OpChoice>& choices,
                           const std::vector<std::string>& overrides, const sim::SimOptions& options) {
  return sim::simulate(graph, choices, sim::Platform::builtin(overrides), options);
}

const sim::OpRecord& record_of(const sim::SimResult& result, const std::string& name) {
  for (const auto& op : result.ops)
    if (op.name == name) return op;
  throw std::runtime_error("no record for op " + name);
}

}  // namespace coda::test
