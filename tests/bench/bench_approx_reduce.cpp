// Speed of reduction sampling (knobs 41-46) against the exact reductions, each op run as a
// one-node graph through the Executor, exactly as a network runs it: the sampled kernel is
// installed by ApproxSession, the exact one is the registered op. Shapes are those of a ResNet
// stem pool, an ImageNet classifier's global pool and a channel reduction, batch 16 or 64.
// As in bench_approx_conv.cpp, exact and approximate calls alternate and `speedup` is the ratio
// of their fastest calls, which stays steady on a shared machine.
//
//   OMP_WAIT_POLICY=passive coda_bench --threads=1 --benchmark_filter='^approx_reduce/' --benchmark_min_time=0.3
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "kernels/approx/approx_session.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"
#include "tests/support/graph_runner.h"

namespace {

using coda::Tensor;
using coda::test::attrs_of;
using coda::test::cst;
using coda::test::var;

struct ReductionCase {
  const char* name;
  std::string op_type;
  coda::Shape shape;
};

const ReductionCase kCases[] = {
    {"AveragePool_2x2s2_16x64x112x112", "AveragePool", {16, 64, 112, 112}},
    {"MaxPool_3x3s2_16x64x112x112", "MaxPool", {16, 64, 112, 112}},
    {"GlobalAveragePool_64x512x7x7", "GlobalAveragePool", {64, 512, 7, 7}},
    {"ReduceMean_hw_64x512x14x14", "ReduceMean", {64, 512, 14, 14}},
    {"ReduceSum_c_64x512x14x14", "ReduceSum", {64, 512, 14, 14}},
};

coda::Graph graph_for(const ReductionCase& c, std::vector<Tensor>& feeds) {
  Tensor x = coda::test::seeded_input(c.shape, 3);
  if (c.op_type == "AveragePool")
    return coda::test::one_node(c.op_type, {var(x)},
                                attrs_of({{"kernel_shape", std::vector<int64_t>{2, 2}},
                                          {"strides", std::vector<int64_t>{2, 2}}}),
                                17, 1, &feeds);
  if (c.op_type == "MaxPool")
    return coda::test::one_node(c.op_type, {var(x)},
                                attrs_of({{"kernel_shape", std::vector<int64_t>{3, 3}},
                                          {"strides", std::vector<int64_t>{2, 2}},
                                          {"pads", std::vector<int64_t>{1, 1, 1, 1}}}),
                                17, 1, &feeds);
  if (c.op_type == "ReduceMean")
    return coda::test::one_node(c.op_type, {var(x), cst(Tensor::from_int64({2}, {2, 3}))}, {}, 18, 1, &feeds);
  if (c.op_type == "ReduceSum")
    return coda::test::one_node(c.op_type, {var(x), cst(Tensor::from_int64({1}, {1}))}, {}, 18, 1, &feeds);
  return coda::test::one_node(c.op_type, {var(x)}, {}, 17, 1, &feeds);
}

double seconds_of(coda::Executor& executor, const std::vector<Tensor>& feeds) {
  auto start = std::chrono::steady_clock::now();
  executor.run(feeds);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void BM_ReductionSampling(benchmark::State& state, const ReductionCase& c, int knob_id) {
  std::vector<Tensor> feeds;
  coda::Graph graph = graph_for(c, feeds);
  coda::prepare_graph(graph);
  coda::Executor exact(graph);
  coda::Executor approximate(graph);
  coda::ApproxConfig config;
  config.source = "bench";
  config.has_all = true;
  config.all.knob = knob_id;
  coda::ApproxSession session(config, coda::knob_catalog(), 1);
  session.install(graph, approximate);
  double best_exact = 1e30, best_approximate = 1e30;
  for (auto _ : state) {
    best_exact = std::min(best_exact, seconds_of(exact, feeds));
    best_approximate = std::min(best_approximate, seconds_of(approximate, feeds));
  }
  state.counters["exact_ms"] = best_exact * 1e3;
  state.counters["knob_ms"] = best_approximate * 1e3;
  state.counters["speedup"] = best_exact / best_approximate;
}

const int registered = [] {
  for (const ReductionCase& c : kCases)
    for (int knob : {41, 43, 45, 42, 46})
      benchmark::RegisterBenchmark(("approx_reduce/" + std::string(c.name) + "/knob" + std::to_string(knob)).c_str(),
                                   [&c, knob](benchmark::State& s) { BM_ReductionSampling(s, c, knob); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
  return 0;
}();

}  // namespace
