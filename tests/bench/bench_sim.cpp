// Simulation speed of the SystemC SoC model: wall time per simulated network and simulated unit
// clock cycles per wall second (all units' clocks over the simulated time), for the ApproxTuner
// baseline (every op on the GPU) and a mixed placement (convolutions on PROMISE).
#include <benchmark/benchmark.h>

#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"
#include "kernels/graph_builder.h"
#include "kernels/zoo.h"
#include "sim/simulate.h"

namespace coda {
namespace {

Graph prepared(const std::string& name) {
  ZooOptions options;
  options.shapes_only = true;
  Graph graph = build_zoo_model(name, options);
  prepare_graph(graph);
  return graph;
}

void simulate_network(benchmark::State& state, const std::string& name, int promise_knob) {
  Graph graph = prepared(name);
  std::vector<OpChoice> choices(graph.nodes.size());
  if (promise_knob > 0) {
    const Knob& knob = knob_catalog().require(promise_knob);
    for (std::size_t n = 0; n < graph.nodes.size(); ++n)
      if (knob.applies_to_op(graph.nodes[n].op_type)) choices[n] = OpChoice{promise_knob, Unit::Promise};
  }
  sim::Platform platform = sim::Platform::builtin();
  double cycles = 0, simulated = 0;
  for (auto _ : state) {
    sim::SimResult result = sim::simulate(graph, choices, platform, {});
    cycles += static_cast<double>(result.simulated_cycles);
    simulated = result.latency_s;
    benchmark::DoNotOptimize(result.energy_j);
  }
  state.counters["sim_cycles_per_s"] = benchmark::Counter(cycles, benchmark::Counter::kIsRate);
  state.counters["simulated_ms"] = simulated * 1e3;
  state.counters["ops"] = static_cast<double>(graph.nodes.size());
}

void BM_SimulateResNet50Gpu(benchmark::State& state) { simulate_network(state, "resnet50", 0); }
void BM_SimulateResNet50Promise(benchmark::State& state) { simulate_network(state, "resnet50", 1); }
void BM_SimulateResNet18Gpu(benchmark::State& state) { simulate_network(state, "resnet18", 0); }
void BM_SimulateMobileNetGpu(benchmark::State& state) { simulate_network(state, "mobilenet_v1", 0); }

// The layer of bench_rtl.cpp (ResNet-20 stage 1: 16 -> 16 channels, 3x3, 32x32) alone on the
// LightNN array through the whole SystemC SoC model, to compare with rtl/verilated_layer.
void BM_SimulateLightnnLayer(benchmark::State& state) {
  GraphBuilder builder("layer", 1, true);
  int x = builder.input("x", {1, 16, 32, 32});
  ConvSpec spec;
  spec.out_channels = 16;
  builder.output(builder.conv(x, spec, "conv"));
  Graph graph = builder.finish();
  prepare_graph(graph);
  std::vector<OpChoice> choices(graph.nodes.size(), OpChoice{81, Unit::LightNN});
  sim::Platform platform = sim::Platform::builtin();
  double array_cycles = 0;
  for (auto _ : state) {
    sim::SimResult result = sim::simulate(graph, choices, platform, {});
    array_cycles = result.ops.front().compute_s * platform.lightnn.freq_mhz * 1e6;
    benchmark::DoNotOptimize(result.energy_j);
  }
  state.counters["array_cycles"] = array_cycles;
}
BENCHMARK(BM_SimulateLightnnLayer)->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_SimulateResNet50Gpu)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimulateResNet50Promise)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimulateResNet18Gpu)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SimulateMobileNetGpu)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coda
