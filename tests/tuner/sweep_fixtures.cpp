#include "tests/tuner/sweep_fixtures.h"

#include "kernels/approx/approx_session.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"

namespace coda::tuner {

SweepNetwork load_zoo(const std::string& model, const std::string& config, int batch) {
  if (model.rfind("zoo:", 0) != 0) throw BadInput(model + ": not a zoo model");
  ZooOptions options;
  options.batch = batch;
  options.shapes_only = true;
  SweepNetwork network{build_zoo_model_from_spec(model.substr(4), options), {}};
  prepare_graph(network.graph);
  if (config == "exact") {
    network.choices.resize(network.graph.nodes.size());
    return network;
  }
  if (config.rfind("knob:", 0) != 0) throw BadInput(config + ": not a configuration this test loads");
  ApproxConfig approx;
  approx.source = config;
  approx.has_all = true;
  approx.all.knob = std::stoi(config.substr(5));
  approx.all_unit_given = false;
  ApproxSession session(approx, knob_catalog(), 0);
  session.apply_pruning(network.graph);
  network.choices = session.resolve(network.graph);
  return network;
}

}  // namespace coda::tuner
