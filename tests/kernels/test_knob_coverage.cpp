// Every knob of the shipped catalog runs as real computation on every op type it names: no knob
// without a kernel, no kernel that changes shapes, and each run reproducible. The per-family
// suites (test_approx_*.cpp, test_pruning.cpp) check the arithmetic against naive references.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "kernels/approx/approx_plan.h"
#include "kernels/approx/approx_session.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"
#include "tests/support/graph_runner.h"

namespace coda::test {
namespace {

// A one-node graph of `op_type` with a constant weight where the op has one, fed by `feeds`.
Graph graph_for(const std::string& op_type, std::vector<Tensor>& feeds) {
  Tensor x = seeded_input({2, 3, 7, 9}, 11);
  if (op_type == "Conv")
    return one_node(op_type, {var(x), cst(seeded_input({4, 3, 3, 3}, 12)), cst(seeded_input({4}, 13))},
                    attrs_of({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}), 17, 1, &feeds);
  if (op_type == "Gemm")
    return one_node(op_type, {var(seeded_input({5, 6}, 14)), cst(seeded_input({4, 6}, 15)), cst(seeded_input({4}, 16))},
                    attrs_of({{"transB", int64_t{1}}}), 17, 1, &feeds);
  if (op_type == "MatMul")
    return one_node(op_type, {var(seeded_input({5, 6}, 17)), cst(seeded_input({6, 4}, 18))}, {}, 17, 1, &feeds);
  if (op_type == "AveragePool" || op_type == "MaxPool")
    return one_node(op_type, {var(x)},
                    attrs_of({{"kernel_shape", std::vector<int64_t>{3, 3}}, {"strides", std::vector<int64_t>{2, 2}}}),
                    17, 1, &feeds);
  if (op_type == "ReduceMean" || op_type == "ReduceSum")
    return one_node(op_type, {var(x), cst(Tensor::from_int64({2}, {2, 3}))}, {}, 18, 1, &feeds);
  if (op_type == "Add") return one_node(op_type, {var(x), var(seeded_input({2, 3, 7, 9}, 19))}, {}, 17, 1, &feeds);
  return one_node(op_type, {var(x)}, {}, 17, 1, &feeds);  // Relu, Global pools, ...
}

std::vector<std::string> op_types_of(const Knob& knob) {
  if (!knob.applies_to.empty()) return knob.applies_to;
  return {"Conv", "Gemm", "MatMul", "Relu", "Add", "MaxPool", "GlobalAveragePool", "ReduceMean"};
}

Tensor run_with(const std::string& op_type, const Knob& knob, std::uint64_t seed) {
  std::vector<Tensor> feeds;
  Graph g = graph_for(op_type, feeds);
  prepare_graph(g);
  ApproxConfig config;
  config.source = "test";
  config.has_all = true;
  config.all.knob = knob.id;
  ApproxSession session(config, knob_catalog(), seed);
  session.set_calibration_source([&](const Graph&) { return std::vector<std::vector<Tensor>>{feeds}; });
  session.apply_pruning(g);
  Executor executor(g);
  session.install(g, executor);
  return executor.run(feeds).front();
}

TEST(KnobCoverage, EveryKnobRunsOnEveryOpTypeItNames) {
  for (const Knob& knob : knob_catalog().knobs()) {
    for (const std::string& op_type : op_types_of(knob)) {
      SCOPED_TRACE("knob " + std::to_string(knob.id) + " (" + knob.name + ") on " + op_type);
      std::vector<Tensor> feeds;
      Graph exact_graph = graph_for(op_type, feeds);
      prepare_graph(exact_graph);
      Tensor exact = Executor(exact_graph).run(feeds).front();
      Tensor a = run_with(op_type, knob, 5);
      if (!knob.transforms_graph()) {
        EXPECT_EQ(a.shape(), exact.shape());
      }
      for (int64_t i = 0; i < a.size(); ++i) ASSERT_TRUE(std::isfinite(a.f32()[i])) << i;
      Tensor b = run_with(op_type, knob, 5);
      ASSERT_EQ(a.shape(), b.shape());
      EXPECT_TRUE(std::equal(a.f32(), a.f32() + a.size(), b.f32())) << "same seed, different output";
    }
  }
}

}  // namespace
}  // namespace coda::test
