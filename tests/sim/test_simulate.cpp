// Invariants of the SoC simulation: energy conservation between ops, idle power and the sampled
// rails; latency against DRAM bandwidth and GPU clock; determinism; placement; concurrency.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/graph_builder.h"
#include "kernels/executor.h"
#include "sim/simulate.h"
#include "tests/sim/sim_fixtures.h"

namespace coda {
namespace {

using test::choices_for;
using test::prepared_zoo;
using test::simulate_on;

double sampled_energy(const sim::SimResult& r, std::size_t rail) {
  double joules = 0;
  for (const auto& s : r.samples) joules += s.rail_w[rail] * s.window_s;
  return joules;
}

TEST(Simulate, OpsPlusIdleEnergyEqualsTheIntegralOfSampledInputPower) {
  Graph graph = prepared_zoo("resnet20");
  for (const auto& choices : {std::vector<OpChoice>(graph.nodes.size()), choices_for(graph, 1, Unit::Promise),
                              choices_for(graph, 11, Unit::Cpu)}) {
    sim::SimResult r = simulate_on(graph, choices);
    ASSERT_GT(r.latency_s, 0);
    ASSERT_FALSE(r.samples.empty());
    double integral = sampled_energy(r, 0);
    EXPECT_NEAR(r.ops_energy_j + r.idle_energy_j, integral, 0.01 * integral);
    EXPECT_NEAR(r.energy_j, integral, 1e-9 * integral);
    double windows = 0;
    for (const auto& s : r.samples) windows += s.window_s;
    EXPECT_NEAR(windows, r.latency_s, 1e-12);
    // Every sub-rail's samples integrate to its energy, and the ops' own energies add up.
    for (std::size_t rail = 1; rail < r.rails.size(); ++rail)
      EXPECT_NEAR(sampled_energy(r, rail), r.rail_energy_j.at(r.rails[rail]), 1e-9 + 1e-9 * r.energy_j);
    double ops = 0;
    for (const auto& op : r.ops) ops += op.energy_j;
    EXPECT_NEAR(ops, r.ops_energy_j, 1e-12);
  }
}

TEST(Simulate, WithoutAConfigurationEveryOpRunsOnTheGpuInFp32) {
  Graph graph = prepared_zoo("lenet5");
  sim::SimResult r = simulate_on(graph, std::vector<OpChoice>(graph.nodes.size()));
  ASSERT_FALSE(r.ops.empty());
  for (const auto& op : r.ops) {
    EXPECT_EQ(op.unit, "gpu") << op.name;
    EXPECT_EQ(op.knob, 11) << op.name;
  }
  EXPECT_GT(r.utilisation.at("gpu"), 0.0);
  EXPECT_EQ(r.utilisation.at("promise"), 0.0);
}

TEST(Simulate, SameInputsGiveIdenticalTraces) {
  Graph graph = prepared_zoo("resnet20");
  auto choices = choices_for(graph, 1, Unit::Promise);
  sim::SimResult a = simulate_on(graph, choices);
  sim::SimResult b = simulate_on(graph, choices);
  ASSERT_EQ(a.ops.size(), b.ops.size());
  for (std::size_t i = 0; i < a.ops.size(); ++i) {
    EXPECT_EQ(a.ops[i].name, b.ops[i].name);
    EXPECT_EQ(a.ops[i].start_s, b.ops[i].start_s);
    EXPECT_EQ(a.ops[i].latency_s, b.ops[i].latency_s);
    EXPECT_EQ(a.ops[i].energy_j, b.ops[i].energy_j);
    EXPECT_EQ(a.ops[i].avg_power_w, b.ops[i].avg_power_w);
  }
  ASSERT_EQ(a.samples.size(), b.samples.size());
  for (std::size_t i = 0; i < a.samples.size(); ++i) {
    EXPECT_EQ(a.samples[i].rail_w, b.samples[i].rail_w);
    EXPECT_EQ(a.samples[i].zone_c, b.samples[i].zone_c);
  }
  EXPECT_EQ(a.energy_j, b.energy_j);
}

// Ops whose DRAM traffic alone takes longer than their arithmetic.
bool memory_bound(const sim::OpRecord& op) { return op.memory_s > 2 * op.compute_s; }
bool compute_bound(const sim::OpRecord& op) { return op.compute_s > 8 * op.memory_s; }

TEST(Simulate, LatencyGrowsWhenDramBandwidthShrinksMostlyForMemoryBoundOps) {
  Graph graph = prepared_zoo("resnet18");
  std::vector<OpChoice> gpu(graph.nodes.size());
  sim::SimResult fast = simulate_on(graph, gpu);
  sim::SimResult slow = simulate_on(graph, gpu, {"dram.bandwidth_gbs=14.9"});
  EXPECT_GT(slow.latency_s, fast.latency_s);
  int memory_ops = 0, compute_ops = 0;
  for (std::size_t i = 0; i < fast.ops.size(); ++i) {
    const auto& f = fast.ops[i];
    const auto& s = test::record_of(slow, f.name);
    EXPECT_GE(s.latency_s, f.latency_s * (1 - 1e-9)) << f.name;
    if (memory_bound(f) && f.latency_s > 20e-6) {
      ++memory_ops;
      EXPECT_GT(s.latency_s / f.latency_s, 2.0) << f.name;  // bandwidth cut 4x
    }
    if (compute_bound(f)) {
      ++compute_ops;
      EXPECT_LT(s.latency_s / f.latency_s, 1.5) << f.name;
    }
  }
  EXPECT_GT(memory_ops, 0);
  EXPECT_GT(compute_ops, 0);
}

TEST(Simulate, LatencyGrowsWhenTheGpuClockDropsSublinearlyForMemoryBoundOps) {
  Graph graph = prepared_zoo("resnet18");
  std::vector<OpChoice> gpu(graph.nodes.size());
  sim::SimResult fast = simulate_on(graph, gpu);
  sim::SimResult slow = simulate_on(graph, gpu, {"gpu.freq_mhz=318.75"});
  double clock_ratio = 1300.5 / 318.75;
  EXPECT_GT(slow.latency_s, fast.latency_s);
  EXPECT_LT(slow.latency_s / fast.latency_s, clock_ratio);
  int memory_ops = 0, compute_ops = 0;
  for (const auto& f : fast.ops) {
    const auto& s = test::record_of(slow, f.name);
    double ratio = s.latency_s / f.latency_s;
    EXPECT_GE(ratio, 1 - 1e-9) << f.name;
    if (memory_bound(f)) {
      ++memory_ops;
      EXPECT_LT(ratio, 0.8 * clock_ratio) << f.name;
    }
    if (compute_bound(f) && f.latency_s > 100e-6) {
      ++compute_ops;
      EXPECT_GT(ratio, 0.8 * clock_ratio) << f.name;
    }
  }
  EXPECT_GT(memory_ops, 0);
  EXPECT_GT(compute_ops, 0);
}

TEST(Simulate, PowerDropsWithTheGpuClockAndVoltage) {
  Graph graph = prepared_zoo("resnet18");
  std::vector<OpChoice> gpu(graph.nodes.size());
  sim::SimResult fast = simulate_on(graph, gpu);
  sim::SimResult slow = simulate_on(graph, gpu, {"gpu.freq_mhz=318.75"});
  EXPECT_LT(slow.avg_power_w.at("VDD_SYS_GPU"), fast.avg_power_w.at("VDD_SYS_GPU"));
  // Dynamic GPU energy per cycle scales with V^2: lower at the lower step.
  EXPECT_LT(slow.energy_breakdown_j.at("gpu.compute"), fast.energy_breakdown_j.at("gpu.compute"));
}

// x -> conv a (one unit) and conv b (another unit) -> add: the two branches run concurrently.
Graph two_branches() {
  GraphBuilder b("branches", 7, true);
  int x = b.input("x", {1, 64, 56, 56});
  ConvSpec spec;
  spec.out_channels = 64;
  int left = b.conv(x, spec, "left");
  int right = b.conv(x, spec, "right");
  b.output(b.add(left, right, "join"));
  Graph graph = b.finish();
  prepare_graph(graph);
  return graph;
}

TEST(Simulate, IndependentOpsOnDifferentUnitsOverlapInTime) {
  Graph graph = two_branches();
  std::vector<OpChoice> choices(graph.nodes.size());
  for (std::size_t n = 0; n < graph.nodes.size(); ++n)
    if (graph.nodes[n].name == "right") choices[n] = OpChoice{1, Unit::Promise};
  sim::SimResult r = simulate_on(graph, choices);
  const auto& left = test::record_of(r, "left");
  const auto& right = test::record_of(r, "right");
  const auto& join = test::record_of(r, "join");
  EXPECT_EQ(left.unit, "gpu");
  EXPECT_EQ(right.unit, "promise");
  EXPECT_DOUBLE_EQ(left.start_s, right.start_s);
  EXPECT_GE(join.start_s, std::max(left.start_s + left.latency_s, right.start_s + right.latency_s) - 1e-12);
  EXPECT_LT(r.latency_s, left.latency_s + right.latency_s + join.latency_s);
}

TEST(Simulate, ConcurrentUnitsContendForDram) {
  Graph graph = two_branches();
  std::vector<OpChoice> choices(graph.nodes.size());
  for (std::size_t n = 0; n < graph.nodes.size(); ++n)
    if (graph.nodes[n].name == "right") choices[n] = OpChoice{11, Unit::Cpu};
  // Starve the DRAM so both branches are memory bound: together they share it.
  std::vector<std::string> narrow{"dram.bandwidth_gbs=0.5"};
  sim::SimResult r = simulate_on(graph, choices, narrow);
  const auto& left = test::record_of(r, "left");
  const auto& right = test::record_of(r, "right");
  double overlap = std::min(left.start_s + left.latency_s, right.start_s + right.latency_s) -
                   std::max(left.start_s, right.start_s);
  ASSERT_GT(overlap, 0);
  // Sharing the bandwidth, each takes longer than its own traffic at full bandwidth.
  EXPECT_GT(left.latency_s, 1.3 * left.memory_s);
  EXPECT_GT(right.latency_s, 1.3 * right.memory_s);
  // And the pair finishes no earlier than their combined traffic allows.
  EXPECT_GE(std::max(left.latency_s, right.latency_s), 0.99 * (left.memory_s + right.memory_s) * 0.5);
}

TEST(Simulate, PromiseFollowsTheBankTilingOfItsPaper) {
  // Conv 64 -> 64, 3x3, 32x32 output: cols_A = rows_B = 64*9 = 576 (REFERENCE.md section 2),
  // 5 banks per copy (ceil(576/128)) x 1 column tile; 256 banks hold 51 copies, so 51 rows of
  // A stream at once: ceil(1024/51) = 21 row steps of 64 dot products at 14 ns plus 10 ns,
  // after loading the banks (128 rows at 14 ns).
  GraphBuilder b("promise", 3, true);
  int x = b.input("x", {1, 64, 32, 32});
  ConvSpec spec;
  spec.out_channels = 64;
  b.output(b.conv(x, spec, "conv"));
  Graph graph = b.finish();
  prepare_graph(graph);
  auto choices = choices_for(graph, 1, Unit::Promise);
  sim::SimResult r = simulate_on(graph, choices);
  const auto& conv = test::record_of(r, "conv");
  double expected_s = (128 * 14 + 21 * (64 * 14 + 10)) * 1e-9;
  EXPECT_NEAR(conv.compute_s, expected_s, 1e-12);
  sim::Platform platform = sim::Platform::builtin();
  double dot_products = 1024.0 * 5 * 64;
  EXPECT_NEAR(conv.energy_by_component_j.at("promise.dot"),
              dot_products * 30.544e-12 / platform.power.regulator_efficiency, 1e-15);
  // A lower swing level costs less energy per dot product.
  sim::SimResult p7 = simulate_on(graph, choices_for(graph, 7, Unit::Promise));
  EXPECT_GT(test::record_of(p7, "conv").energy_by_component_j.at("promise.dot"),
            3 * conv.energy_by_component_j.at("promise.dot"));
}

TEST(Simulate, AScheduledClockChangeTakesEffectDuringTheRun) {
  Graph graph = prepared_zoo("resnet18");
  std::vector<OpChoice> gpu(graph.nodes.size());
  sim::SimResult base = simulate_on(graph, gpu);
  sim::Platform platform = sim::Platform::builtin();
  sim::SimOptions options;
  options.dvfs = sim::DvfsPlan::parse(
      "schedule: [{time_ms: " + std::to_string(base.latency_s * 1e3 / 2) + ", unit: gpu, freq_mhz: 522.75}]", "s.yaml",
      platform);
  sim::SimResult r = sim::simulate(graph, gpu, platform, options);
  ASSERT_EQ(r.dvfs_events.size(), 1u);
  EXPECT_EQ(r.dvfs_events[0].cause, "schedule");
  EXPECT_GT(r.latency_s, base.latency_s);
  bool saw_fast = false, saw_slow = false;
  for (const auto& op : r.ops) {
    if (op.start_s < r.dvfs_events[0].time_s) saw_fast |= op.freq_mhz == 1300.5;
    else saw_slow |= op.freq_mhz == 522.75;
  }
  EXPECT_TRUE(saw_fast);
  EXPECT_TRUE(saw_slow);
  EXPECT_EQ(r.samples.back().unit_freq_mhz[1], 522.75);
}

TEST(Simulate, TheThermalGovernorStepsTheClockDownAboveItsTrip) {
  Graph graph = prepared_zoo("resnet18");
  sim::Platform platform = sim::Platform::builtin();
  sim::SimOptions options;
  // Trip below the starting temperature: every window steps the GPU down one step.
  options.dvfs = sim::DvfsPlan::parse("governor: {unit: gpu, kind: thermal, trip_c: 20, release_c: 10}", "g.yaml", platform);
  sim::SimResult r = sim::simulate(graph, std::vector<OpChoice>(graph.nodes.size()), platform, options);
  ASSERT_GE(r.dvfs_events.size(), 2u);
  for (std::size_t i = 1; i < r.dvfs_events.size(); ++i) {
    EXPECT_EQ(r.dvfs_events[i].cause, "governor");
    EXPECT_LE(r.dvfs_events[i].freq_mhz, r.dvfs_events[i - 1].freq_mhz);
  }
}

TEST(Simulate, IdleAndLoadedPowerMatchTheTx2Figures) {
  // REFERENCE.md section 3: 1.6-3.2 W idle, about 9-10 W at VDD_IN under heavy GPU load.
  Graph graph = prepared_zoo("resnet50", 8);
  sim::SimResult r = simulate_on(graph, std::vector<OpChoice>(graph.nodes.size()));
  double idle_w = r.idle_energy_j / r.latency_s;
  EXPECT_GE(idle_w, 1.6);
  EXPECT_LE(idle_w, 3.2);
  EXPECT_GE(r.avg_power_w.at("VDD_IN"), 7.0);
  EXPECT_LE(r.avg_power_w.at("VDD_IN"), 11.0);
}

}  // namespace
}  // namespace coda

namespace coda {
namespace {

TEST(Simulate, RtlFidelityRunsSmallLightnnLayersOnTheVerilatedArrayWithTheModelsCycles) {
  Graph graph = test::prepared_zoo("lenet5", 1, true);
  auto choices = test::choices_for(graph, 82, Unit::LightNN);
  sim::SimResult model = test::simulate_on(graph, choices);
  sim::SimOptions options;
  options.rtl_fidelity = true;
  sim::SimResult rtl = test::simulate_on(graph, choices, {}, options);
  int measured = 0;
  for (const auto& op : rtl.ops) {
    if (op.unit != "lightnn") continue;
    EXPECT_EQ(op.fidelity, "rtl") << op.name;
    ++measured;
    EXPECT_EQ(op.cycles, test::record_of(model, op.name).cycles) << op.name;
  }
  EXPECT_GT(measured, 0);
  EXPECT_EQ(rtl.latency_s, model.latency_s);
}

}  // namespace
}  // namespace coda

namespace coda {
namespace {

TEST(Simulate, AutoPlacementMovesOpsOnlyBetweenCpuAndGpuAndOnlyWhereFaster) {
  Graph graph = test::prepared_zoo("resnet20");
  std::vector<OpChoice> gpu(graph.nodes.size());
  sim::Platform platform = sim::Platform::builtin();
  std::vector<OpChoice> placed = sim::auto_placement(graph, gpu, platform);
  ASSERT_EQ(placed.size(), gpu.size());
  for (const OpChoice& choice : placed) {
    EXPECT_TRUE(choice.unit == Unit::Cpu || choice.unit == Unit::Gpu);
    EXPECT_EQ(choice.knob, 11);
  }
  // With the GPU at its lowest step and the CPU at its highest, the CPU wins some ops.
  sim::Platform slow_gpu = sim::Platform::builtin({"gpu.freq_mhz=114.75"});
  std::vector<OpChoice> moved = sim::auto_placement(graph, gpu, slow_gpu);
  EXPECT_TRUE(std::any_of(moved.begin(), moved.end(), [](const OpChoice& c) { return c.unit == Unit::Cpu; }));
  sim::SimOptions options;
  options.placement = sim::Placement::Auto;
  sim::SimResult automatic = sim::simulate(graph, gpu, slow_gpu, options);
  sim::SimResult configured = sim::simulate(graph, gpu, slow_gpu, {});
  EXPECT_LT(automatic.latency_s, configured.latency_s);
}

}  // namespace
}  // namespace coda
