// Network-level composition (NeuralPower's T = sum T_n, E = sum P_n T_n, list-scheduled when ops
// overlap), checked with a predictor that answers each op with the simulator's own record for it:
// the composition must then give back the simulation's latency and energy.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"
#include "models/network_prediction.h"
#include "sim/simulate.h"

namespace coda::models {
namespace {

// Answers a query with the record the simulation made for the op with the same features, unit,
// knob and clock: a perfect layer predictor for that network.
class RecordedPredictor : public LayerPredictor {
 public:
  explicit RecordedPredictor(const sim::SimResult& result) : rails_(result.rails) {
    for (const sim::OpRecord& record : result.ops) records_[key(query_of(record))] = record;
  }
  std::string kind() const override { return "recorded"; }
  bool covers(const LayerQuery& query) const override { return records_.count(key(query)) != 0; }
  LayerEstimate predict(const LayerQuery& query) const override {
    const sim::OpRecord& record = records_.at(key(query));
    return {record.latency_s, record.avg_power_w};
  }
  std::vector<std::string> rails() const override { return rails_; }

 private:
  static std::string key(const LayerQuery& q) {
    std::string text = q.op_class + "|" + q.unit + "|" + q.knob + "|" + std::to_string(q.freq_mhz);
    for (const auto& [name, value] : q.features) text += "|" + name + "=" + std::to_string(value);
    return text;
  }
  std::map<std::string, sim::OpRecord> records_;
  std::vector<std::string> rails_;
};

Graph prepared(const std::string& name) {
  ZooOptions options;
  options.batch = 1;
  options.shapes_only = true;
  Graph graph = build_zoo_model(name, options);
  prepare_graph(graph);
  return graph;
}

TEST(NetworkPrediction, SequentialNetworkMatchesItsSimulation) {
  Graph graph = prepared("resnet20");
  std::vector<OpChoice> choices(graph.nodes.size());
  sim::Platform platform = sim::Platform::builtin();
  sim::SimResult simulated = sim::simulate(graph, choices, platform, {});
  RecordedPredictor predictor(simulated);
  sim::SimResult predicted = predict_network(graph, choices, platform, predictor, {});

  // With every op on the GPU nothing overlaps: T = sum T_n and E = sum P_n T_n.
  double sum_t = 0, sum_pt = 0;
  for (const auto& op : predicted.ops) {
    sum_t += op.latency_s;
    if (op.latency_s > 0) sum_pt += op.avg_power_w.at("VDD_IN") * op.latency_s;
  }
  EXPECT_NEAR(predicted.latency_s, sum_t, 1e-12);
  EXPECT_NEAR(predicted.energy_j, sum_pt, 1e-9 * sum_pt);
  EXPECT_NEAR(predicted.latency_s, simulated.latency_s, 1e-9 * simulated.latency_s);
  EXPECT_NEAR(predicted.energy_j, simulated.energy_j, 1e-6 * simulated.energy_j);
  EXPECT_NEAR(predicted.ops_energy_j, simulated.ops_energy_j, 1e-6 * simulated.ops_energy_j);
  EXPECT_NEAR(predicted.avg_power_w.at("VDD_IN"), simulated.avg_power_w.at("VDD_IN"), 1e-6 * simulated.avg_power_w.at("VDD_IN"));
  // The same ops with the same costs (the dispatch order of independent ops may differ), one
  // after another on the GPU.
  ASSERT_EQ(predicted.ops.size(), simulated.ops.size());
  std::map<std::string, double> simulated_latency;
  for (const auto& op : simulated.ops) simulated_latency[op.name] = op.latency_s;
  double previous_end = 0;
  for (const auto& op : predicted.ops) {
    ASSERT_TRUE(simulated_latency.count(op.name)) << op.name;
    EXPECT_NEAR(op.latency_s, simulated_latency[op.name], 1e-9 * op.latency_s) << op.name;
    EXPECT_GE(op.start_s, previous_end - 1e-15) << op.name;
    previous_end = op.start_s + op.latency_s;
  }
}

TEST(NetworkPrediction, IdlePowerIsWhatASimulationChargesForStaticDraw) {
  Graph graph = prepared("lenet5");
  sim::Platform platform = sim::Platform::builtin({"gpu.freq_mhz=522.75"});
  sim::SimResult simulated = sim::simulate(graph, std::vector<OpChoice>(graph.nodes.size()), platform, {});
  std::map<std::string, double> idle = sim::idle_power_w(platform);
  EXPECT_NEAR(idle.at("VDD_IN") * simulated.latency_s, simulated.idle_energy_j, 1e-9 * simulated.idle_energy_j);
}

TEST(NetworkPrediction, OpsOnDifferentUnitsOverlapAndShareTheIdleDraw) {
  // ResNet-20's projection shortcuts run beside the main branch when they sit on another unit.
  Graph graph = prepared("resnet20");
  std::vector<OpChoice> choices(graph.nodes.size());
  int on_cpu = 0;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n)
    if (graph.nodes[n].name.find("shortcut") != std::string::npos || graph.nodes[n].name.find("downsample") != std::string::npos) {
      choices[n].unit = Unit::Cpu;
      ++on_cpu;
    }
  ASSERT_GT(on_cpu, 0) << "no shortcut ops found by name";
  sim::Platform platform = sim::Platform::builtin();
  sim::SimResult simulated = sim::simulate(graph, choices, platform, {});
  RecordedPredictor predictor(simulated);
  sim::SimResult predicted = predict_network(graph, choices, platform, predictor, {});
  double sum_t = 0, sum_pt = 0;
  for (const auto& op : predicted.ops) {
    sum_t += op.latency_s;
    if (op.latency_s > 0) sum_pt += op.avg_power_w.at("VDD_IN") * op.latency_s;
  }
  EXPECT_LT(predicted.latency_s, sum_t);
  double idle = sim::idle_power_w(platform).at("VDD_IN");
  EXPECT_NEAR(predicted.energy_j, sum_pt - idle * (sum_t - predicted.latency_s), 1e-9 * sum_pt);
  // The SoC model overlaps them the same way (up to DRAM contention between the two units).
  EXPECT_NEAR(predicted.latency_s, simulated.latency_s, 0.02 * simulated.latency_s);
  EXPECT_NEAR(predicted.energy_j, simulated.energy_j, 0.02 * simulated.energy_j);
}

TEST(NetworkPrediction, MissingModelNamesTheOp) {
  Graph graph = prepared("lenet5");
  std::vector<OpChoice> choices(graph.nodes.size());
  sim::Platform platform = sim::Platform::builtin();
  // No simulation in this process: under ASan, GCC 12 misreports exceptions thrown after SystemC
  // ran (google/sanitizers#189).
  RecordedPredictor predictor{sim::SimResult{}};
  EXPECT_THROW(predict_network(graph, choices, platform, predictor, {}), BadInput);
}

}  // namespace
}  // namespace coda::models
