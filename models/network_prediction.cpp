#include "models/network_prediction.h"

#include <algorithm>
#include <chrono>

#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "sim/op_workload.h"
#include "sim/simulate.h"
#include "sim/unit_model.h"

namespace coda::models {

NetworkDescription describe_network(const Graph& graph, const std::vector<OpChoice>& choices,
                                    const sim::Platform& platform) {
  if (choices.size() != graph.nodes.size())
    throw std::logic_error("describe_network: " + std::to_string(choices.size()) + " choices for " +
                           std::to_string(graph.nodes.size()) + " nodes");
  std::vector<NodeReport> reports = analyse_graph(graph);
  std::map<std::string, double> clocks;
  for (const std::string& unit : sim::unit_model_names()) clocks[unit] = sim::unit_model(unit).freq_mhz(platform);
  NetworkDescription description;
  description.queries.resize(reports.size());
  description.knobs.resize(reports.size());
  for (std::size_t n = 0; n < reports.size(); ++n) {
    const Knob& knob = knob_catalog().require(choices[n].knob);
    sim::OpWorkload workload = sim::describe_op(graph, reports[n], knob);
    LayerQuery& q = description.queries[n];
    q.op_class = op_class(graph.nodes[n].op_type, workload.features);
    q.unit = unit_name(choices[n].unit);
    q.knob = knob_key(knob.id);
    q.freq_mhz = clocks.at(q.unit);
    q.features = std::move(workload.features);
    add_query_features(knob.id, q.features);
    description.knobs[n] = &knob;
  }
  description.idle_power_w = sim::idle_power_w(platform);
  description.input_rail = platform.power.input_rail;
  description.platform = platform.name;
  return description;
}

sim::SimResult predict_network(const Graph& graph, const std::vector<OpChoice>& choices, const sim::Platform& platform,
                               const LayerPredictor& predictor, const PredictOptions& options) {
  return predict_network(graph, describe_network(graph, choices, platform), predictor, options);
}

sim::SimResult predict_network(const Graph& graph, const NetworkDescription& description,
                               const LayerPredictor& predictor, const PredictOptions& options) {
  auto wall_start = std::chrono::steady_clock::now();
  const std::map<std::string, double>& idle = description.idle_power_w;
  // Energy is counted on the predictor's first rail: VDD_IN for simulator traces, whatever the
  // board log measured otherwise.
  const std::string input_rail = predictor.rails().empty() ? description.input_rail : predictor.rails().front();

  sim::SimResult result;
  result.platform = description.platform;
  result.model = options.model_name;
  result.batch = options.batch;
  result.rails = predictor.rails();
  result.units = sim::unit_model_names();

  // List scheduling in the graph's topological order: an op starts when its inputs are ready and
  // its unit is free.
  result.ops.reserve(description.queries.size());
  std::vector<double> ready(graph.values.size(), 0.0);
  std::map<std::string, double> unit_free, unit_busy;
  std::map<std::string, double> rail_op_energy;
  double end = 0;
  for (std::size_t n = 0; n < description.queries.size(); ++n) {
    const Node& node = graph.nodes[n];
    const LayerQuery& q = description.queries[n];
    sim::OpRecord record;
    record.node = static_cast<int>(n);
    record.network = options.model_name;
    record.name = node.name;
    record.op_type = node.op_type;
    record.unit = q.unit;
    record.knob = description.knobs[n]->id;
    record.knob_name = description.knobs[n]->name;
    record.batch = options.batch;
    record.fidelity = predictor.kind();
    record.freq_mhz = q.freq_mhz;
    if (q.op_class != "view") {
      if (!predictor.covers(q))
        throw BadInput(node.describe() + ": the predictor has no model for " + q.op_class + " on " + q.unit +
                       " with knob family " + q.knob);
      LayerEstimate estimate = predictor.predict(q);
      record.latency_s = std::max(0.0, estimate.latency_s);
      record.avg_power_w = std::move(estimate.power_w);
    }
    double start = unit_free[q.unit];
    for (int input : node.inputs)
      if (input >= 0) start = std::max(start, ready[static_cast<std::size_t>(input)]);
    record.start_s = start;
    double finish = start + record.latency_s;
    for (int output : node.outputs)
      if (output >= 0) ready[static_cast<std::size_t>(output)] = finish;
    if (record.latency_s > 0) {
      unit_free[q.unit] = finish;
      unit_busy[q.unit] += record.latency_s;
    }
    end = std::max(end, finish);
    // The op's own energy on each rail: what it draws above idle while it runs.
    for (const auto& [rail, watts] : record.avg_power_w) {
      auto idle_rail = idle.find(rail);
      double above = std::max(0.0, watts - (idle_rail == idle.end() ? 0.0 : idle_rail->second));
      rail_op_energy[rail] += above * record.latency_s;
      if (rail == input_rail) record.energy_j = above * record.latency_s;
    }
    result.ops_energy_j += record.energy_j;
    result.energy_breakdown_j[q.unit] += record.energy_j;
    // Views cost nothing and, as in a simulation, leave no record.
    if (q.op_class != "view") {
      if (options.with_features) record.features = q.features;
      result.ops.push_back(std::move(record));
    }
  }
  std::stable_sort(result.ops.begin(), result.ops.end(),
                   [](const sim::OpRecord& a, const sim::OpRecord& b) { return a.start_s < b.start_s; });

  result.latency_s = end;
  auto idle_input = idle.find(input_rail);
  result.idle_energy_j = idle_input == idle.end() ? 0.0 : idle_input->second * end;
  result.energy_j = result.ops_energy_j + result.idle_energy_j;
  result.energy_breakdown_j["static"] = result.idle_energy_j;
  for (const std::string& rail : result.rails) {
    auto idle_rail = idle.find(rail);
    double joules = rail_op_energy[rail] + (idle_rail == idle.end() ? 0.0 : idle_rail->second * end);
    result.rail_energy_j[rail] = joules;
    result.avg_power_w[rail] = end > 0 ? joules / end : 0.0;
  }
  for (const std::string& unit : result.units) result.utilisation[unit] = end > 0 ? unit_busy[unit] / end : 0.0;
  result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace coda::models
