// The profiler's premise: a layer simulated alone costs what it costs inside a network (the SoC
// model has no state that carries from op to op when they run one after another), so predictors
// fitted on single layers compose into network predictions.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"
#include "models/layer_predictor.h"
#include "models/profiler.h"
#include "sim/simulate.h"

namespace coda::models {
namespace {

TEST(Profiler, LayerAloneCostsWhatItCostsInTheNetwork) {
  ZooOptions options;
  options.shapes_only = true;
  Graph graph = build_zoo_model("resnet20", options);
  prepare_graph(graph);
  sim::Platform platform = sim::Platform::builtin({"gpu.freq_mhz=854.25"});
  sim::SimResult network = sim::simulate(graph, std::vector<OpChoice>(graph.nodes.size()), platform, {});
  std::vector<NodeReport> reports = analyse_graph(graph);
  int compared = 0;
  for (const auto& [cls, layers] : zoo_layers({"resnet20"})) {
    for (const LayerConfig& layer : layers) {
      sim::OpRecord alone = simulate_point({layer, "gpu", 11, 854.25}, sim::Platform::builtin(), 1);
      // The network op with the same features.
      for (const sim::OpRecord& op : network.ops) {
        if (op.op_type != layer.op_type || op.features != alone.features) continue;
        EXPECT_NEAR(alone.latency_s, op.latency_s, 1e-12) << layer.describe();
        EXPECT_NEAR(alone.avg_power_w.at("VDD_IN"), op.avg_power_w.at("VDD_IN"), 1e-9) << layer.describe();
        EXPECT_NEAR(alone.energy_j, op.energy_j, 1e-12) << layer.describe();
        ++compared;
        break;
      }
    }
  }
  EXPECT_GE(compared, 15);
}

TEST(Profiler, PointsCoverUnitsKnobFamiliesAndClocks) {
  LayerSpace space = parse_layer_space(R"(
seed: 2
units: [cpu, gpu, promise]
dvfs: {gpu: all}
dvfs_per_layer: 2
knobs: families
prior: {networks: [lenet5]}
samples: {conv: 2, pool: 1}
)", "s.yaml");
  sim::Platform platform = sim::Platform::builtin();
  std::vector<LayerConfig> layers = draw_layers(space);
  std::vector<ProfilePoint> points = expand_points(space, platform, layers, 9);
  std::set<std::string> conv_gpu_families, pool_units;
  std::set<double> gpu_clocks;
  for (const ProfilePoint& p : points) {
    if (p.layer.op_class == "conv" && p.unit == "gpu") conv_gpu_families.insert(knob_key(p.knob));
    if (p.layer.op_class == "pool") pool_units.insert(p.unit);
    if (p.unit == "gpu") gpu_clocks.insert(p.freq_mhz);
    if (p.unit == "cpu") {
      EXPECT_DOUBLE_EQ(p.freq_mhz, platform.cpu.freq_mhz);  // no cpu DVFS points asked for
    }
    if (p.unit == "promise") {
      EXPECT_EQ(knob_key(p.knob), "promise");
    }
  }
  EXPECT_TRUE(conv_gpu_families.count("exact") && conv_gpu_families.count("fp16") &&
              conv_gpu_families.count("perforation") && conv_gpu_families.count("filter_sampling"));
  EXPECT_EQ(pool_units, (std::set<std::string>{"cpu", "gpu"}));  // PROMISE runs no pooling
  EXPECT_GT(gpu_clocks.size(), 2u);
  // Every knob family of a layer on a unit appears at dvfs_per_layer clocks.
  std::map<std::string, int> per_combination;
  for (const ProfilePoint& p : points)
    if (p.unit == "gpu") ++per_combination[p.layer.describe() + std::to_string(p.knob)];
  for (const auto& [key, count] : per_combination) EXPECT_EQ(count, 2) << key;
  std::vector<ProfilePoint> exhaustive = expand_points(space, platform, layers, 9, Expansion::Exhaustive);
  EXPECT_GT(exhaustive.size(), points.size());
}

TEST(Profiler, SimulatedRecordsScaleWithTheClock) {
  LayerConfig conv;
  conv.op_class = "conv";
  conv.op_type = "Conv";
  conv.network = "test";
  conv.in_channels = 64;
  conv.in_h = conv.in_w = 28;
  conv.out_channels = 128;
  conv.kernel = 3;
  conv.pad = 1;
  sim::Platform platform = sim::Platform::builtin();
  // First: under ASan, GCC 12 misreports exceptions thrown after SystemC ran (google/sanitizers#189).
  EXPECT_THROW(simulate_point({conv, "cpu", 1, 1300.5}, platform, 1), BadInput);  // a PROMISE knob on the CPU
  sim::OpRecord fast = simulate_point({conv, "gpu", 11, 1300.5}, platform, 1);
  sim::OpRecord slow = simulate_point({conv, "gpu", 11, 522.75}, platform, 1);
  EXPECT_EQ(fast.network, "test");
  EXPECT_DOUBLE_EQ(fast.freq_mhz, 1300.5);
  EXPECT_DOUBLE_EQ(slow.freq_mhz, 522.75);
  // Compute-bound: latency grows by up to the clock ratio, and the slow clock draws less power.
  EXPECT_GT(slow.latency_s, 1.5 * fast.latency_s);
  EXPECT_LE(slow.latency_s, fast.latency_s * 1300.5 / 522.75 * 1.001);
  EXPECT_LT(slow.avg_power_w.at("VDD_IN"), fast.avg_power_w.at("VDD_IN"));
}

}  // namespace
}  // namespace coda::models
