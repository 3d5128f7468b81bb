// The tuner's cost models (tuner/cost_model.h) on LeNet-5 at batch 1: the op-count model is
// ApproxTuner's sum of N_c / r_compute + N_m / r_memory, recomputed here from the graph's own
// counts; the predictor model gives what models::predict_network gives for the same choices; the
// simulator model gives sim::simulate's summary, and FP16 everywhere is faster and cheaper than
// FP32 on the simulated GPU. Tests that simulate expect no throw: under ASan a C++ throw after
// SystemC's sc_start aborts the process.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/knob_cost.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"
#include "models/network_prediction.h"
#include "models/predictor_fit.h"
#include "sim/simulate.h"
#include "tuner/cost_model.h"

namespace coda::tuner {
namespace {

// FP16 (knob 12) and row perforation k = 2 (knob 121), kernels/knobs.yaml.
constexpr int kFp16 = 12;
constexpr int kPerforateRows2 = 121;

Graph lenet5() {
  ZooOptions options;
  options.batch = 1;
  options.shapes_only = true;
  Graph graph = build_zoo_model_from_spec("lenet5", options);
  prepare_graph(graph);
  return graph;
}

std::vector<OpChoice> everywhere(const Graph& graph, int knob) {
  return std::vector<OpChoice>(graph.nodes.size(), OpChoice{knob, Unit::Gpu});
}

TEST(OpCountCost, IsApproxTunersSumOfScaledComputeAndMemory) {
  Graph graph = lenet5();
  const KnobCatalog& catalog = knob_catalog();
  std::unique_ptr<CostModel> cost = make_op_count_cost(graph, catalog);
  EXPECT_EQ(cost->name(), "ops");
  EXPECT_FALSE(cost->has_energy());

  std::vector<NodeReport> reports = analyse_graph(graph);
  double compute = 0, memory = 0, perforated = 0;
  for (const NodeReport& r : reports) {
    double c = static_cast<double>(r.cost.macs + r.cost.flops);
    double m = static_cast<double>(r.cost.bytes_read + r.cost.bytes_written);
    compute += c;
    memory += m;
    // Perforation k = 2 halves a convolution's compute and leaves its traffic (r_compute 2, r_memory 1).
    perforated += r.node->op_type == "Conv" ? c / 2.0 + m : c + m;
  }
  ASSERT_GT(compute, 0);
  ASSERT_GT(memory, 0);

  std::vector<OpChoice> exact = everywhere(graph, 11);
  CostEstimate exact_cost = cost->estimate(exact);
  EXPECT_DOUBLE_EQ(exact_cost.latency, compute + memory);
  EXPECT_DOUBLE_EQ(exact_cost.latency, configuration_cost(reports, exact, catalog).total());
  EXPECT_TRUE(std::isnan(exact_cost.energy));

  // FP16: compute / 1.5, memory / 2.
  CostEstimate fp16 = cost->estimate(everywhere(graph, kFp16));
  EXPECT_DOUBLE_EQ(fp16.latency, compute / 1.5 + memory / 2.0);
  EXPECT_LT(fp16.latency, exact_cost.latency);

  std::vector<OpChoice> perforation = exact;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n)
    if (graph.nodes[n].op_type == "Conv") perforation[n].knob = kPerforateRows2;
  EXPECT_DOUBLE_EQ(cost->estimate(perforation).latency, perforated);

  EXPECT_THROW(cost->estimate(std::vector<OpChoice>(graph.nodes.size() + 1)), std::invalid_argument);
}

TEST(PredictorCost, GivesTheNetworkPredictionForTheSameChoices) {
  Graph graph = lenet5();
  sim::Platform platform = sim::Platform::builtin();
  // A roofline predictor fitted on LeNet-5's own simulated ops in FP32 and FP16.
  std::vector<sim::OpRecord> records;
  for (int knob : {11, kFp16}) {
    sim::SimResult traced = sim::simulate(graph, everywhere(graph, knob), platform, {});
    records.insert(records.end(), traced.ops.begin(), traced.ops.end());
  }
  std::unique_ptr<models::LayerPredictor> predictor = models::fit_roofline(records);
  std::unique_ptr<CostModel> cost = make_predictor_cost(graph, platform, *predictor, "predictor:roofline.json");
  EXPECT_EQ(cost->name(), "predictor:roofline.json");
  EXPECT_TRUE(cost->has_energy());

  for (int knob : {11, kFp16}) {
    std::vector<OpChoice> choices = everywhere(graph, knob);
    sim::SimResult expected = models::predict_network(graph, choices, platform, *predictor, {});
    CostEstimate estimate = cost->estimate(choices);
    EXPECT_GT(estimate.latency, 0);
    EXPECT_GT(estimate.energy, 0);
    EXPECT_DOUBLE_EQ(estimate.latency, expected.latency_s) << knob;
    EXPECT_DOUBLE_EQ(estimate.energy, expected.energy_j) << knob;
  }
}

TEST(SimulatorCost, GivesTheSimulationSummaryAndFp16BeatsFp32) {
  Graph graph = lenet5();
  sim::Platform platform = sim::Platform::builtin();
  std::unique_ptr<CostModel> cost = make_simulator_cost(graph, platform, 5);
  EXPECT_EQ(cost->name(), "sim");
  EXPECT_TRUE(cost->has_energy());

  sim::SimOptions options;
  options.seed = 5;
  CostEstimate fp32 = cost->estimate(everywhere(graph, 11));
  sim::SimResult simulated = sim::simulate(graph, everywhere(graph, 11), platform, options);
  EXPECT_DOUBLE_EQ(fp32.latency, simulated.latency_s);
  EXPECT_DOUBLE_EQ(fp32.energy, simulated.energy_j);

  CostEstimate fp16 = cost->estimate(everywhere(graph, kFp16));
  EXPECT_LT(fp16.latency, fp32.latency);
  EXPECT_LT(fp16.energy, fp32.energy);
  // The same choices twice: the model keeps no state between estimates.
  CostEstimate again = cost->estimate(everywhere(graph, 11));
  EXPECT_DOUBLE_EQ(again.latency, fp32.latency);
  EXPECT_DOUBLE_EQ(again.energy, fp32.energy);
}

}  // namespace
}  // namespace coda::tuner
