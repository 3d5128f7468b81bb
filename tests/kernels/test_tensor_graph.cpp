// Tensor storage, graph ordering, preparation and the buffer-reusing executor.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph.h"
#include "kernels/tensor.h"

namespace coda {
namespace {

TEST(Tensor, HalfStorageRoundsToNearestEven) {
  // 1 + 2^-11 lies exactly between the halves 1 and 1 + 2^-10: ties go to the even mantissa (1).
  // 1 + 3*2^-11 lies between 1 + 2^-10 (odd) and 1 + 2^-9 (even): it rounds up to 1 + 2^-9.
  Tensor t = Tensor::from_floats({4}, {1.0f + std::ldexp(1.0f, -11), 1.0f + 3 * std::ldexp(1.0f, -11), 65504.0f,
                                       1e-8f});
  Tensor back = t.to(DType::Float16).to(DType::Float32);
  EXPECT_EQ(back.f32()[0], 1.0f);
  EXPECT_EQ(back.f32()[1], 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(back.f32()[2], 65504.0f);  // largest finite half
  EXPECT_EQ(back.f32()[3], 0.0f);      // below the smallest subnormal half (2^-24) / 2
  EXPECT_EQ(t.to(DType::Float16).bytes(), 8u);
}

TEST(Tensor, ReshapeSharesStorageAndChecksCount) {
  Tensor t = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor r = t.reshaped({3, 2});
  r.f32()[0] = 42;
  EXPECT_EQ(t.f32()[0], 42);
  EXPECT_THROW(t.reshaped({4, 2}), BadInput);
}

TEST(Tensor, ElementCountRejectsOverflowAndNegative) {
  EXPECT_EQ(element_count({2, 3, 4}), 24);
  EXPECT_EQ(element_count({}), 1);
  EXPECT_EQ(element_count({5, 0, 7}), 0);
  EXPECT_THROW(element_count({-1, 3}), BadInput);
  EXPECT_THROW(element_count({std::numeric_limits<int64_t>::max() / 2, 3}), BadInput);
}

TEST(Tensor, AllocationBeyondTheMemoryLimitIsBadInput) {
  std::size_t saved = memory_limit_bytes();
  set_memory_limit_bytes(1 << 20);
  try {
    Tensor t({1, 1024, 1024}, DType::Float32);  // 4 MiB
    set_memory_limit_bytes(saved);
    FAIL() << "allocation above the limit succeeded";
  } catch (const BadInput& e) {
    set_memory_limit_bytes(saved);
    EXPECT_NE(std::string(e.what()).find("memory"), std::string::npos) << e.what();
  }
}

Graph relu_chain(int length, const Shape& shape) {
  Graph g;
  int x = g.value_id("x");
  g.values[static_cast<std::size_t>(x)].shape = shape;
  g.values[static_cast<std::size_t>(x)].shape_known = true;
  g.inputs.push_back(x);
  int prev = x;
  for (int i = 0; i < length; ++i) {
    int y = g.value_id("y" + std::to_string(i));
    g.add_node("Relu", "relu" + std::to_string(i), {prev}, {y});
    prev = y;
  }
  g.outputs.push_back(prev);
  return g;
}

TEST(Graph, TopologicalSortRestoresProducerOrder) {
  Graph g = relu_chain(5, {1, 4});
  std::reverse(g.nodes.begin(), g.nodes.end());
  g.sort_topologically();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(g.nodes[static_cast<std::size_t>(i)].name, "relu" + std::to_string(i));
}

TEST(Graph, CycleAndDanglingInputAreBadInput) {
  Graph cyclic = relu_chain(2, {1, 4});
  // relu0 now reads relu1's output, which reads relu0's: a cycle.
  cyclic.nodes[0].inputs[0] = cyclic.nodes[1].outputs[0];
  EXPECT_THROW(cyclic.sort_topologically(), BadInput);

  Graph dangling = relu_chain(2, {1, 4});
  dangling.nodes[1].inputs[0] = dangling.value_id("never_produced");
  EXPECT_THROW(dangling.sort_topologically(), BadInput);
}

TEST(Executor, ReusesBuffersAlongAChain) {
  const Shape shape{1, 16, 32, 32};
  const std::size_t tensor_bytes = static_cast<std::size_t>(element_count(shape)) * 4;
  Graph g = relu_chain(20, shape);
  prepare_graph(g);
  Tensor x(shape);
  for (int64_t i = 0; i < x.size(); ++i) x.f32()[i] = static_cast<float>(i % 7) - 3.0f;
  Executor exec(g);
  auto out = exec.run({x});
  out = exec.run({x});
  ASSERT_EQ(out.size(), 1u);
  for (int64_t i = 0; i < x.size(); ++i) ASSERT_EQ(out[0].f32()[i], std::max(0.0f, x.f32()[i]));
  // A chain never needs more than two intermediates alive (a node's input and its output), and the
  // pool serves 2 x 20 nodes from the same two buffers.
  EXPECT_LE(exec.peak_bytes(), 2 * tensor_bytes);
  EXPECT_LE(exec.allocated_bytes(), 2 * tensor_bytes);
  EXPECT_EQ(estimate_peak_activation_bytes(g), 2 * tensor_bytes);
}

TEST(Executor, InputShapeAndDtypeAreChecked) {
  Graph g = relu_chain(1, {1, 4});
  prepare_graph(g);
  Executor exec(g);
  EXPECT_THROW(exec.run({Tensor::zeros({1, 5})}), BadInput);
  EXPECT_THROW(exec.run({Tensor::zeros({1, 4}, DType::Int64)}), BadInput);
  EXPECT_THROW(exec.run({}), BadInput);
  // Half inputs are widened to the model's float type.
  auto out = exec.run({Tensor::from_floats({1, 4}, {-1, 2, -3, 4}).to(DType::Float16)});
  EXPECT_EQ(out[0].to_float_vector(), (std::vector<float>{0, 2, 0, 4}));
}

TEST(Executor, BindInputShapesChecksFixedDimsAndAcceptsSymbolicOnes) {
  Graph g = relu_chain(1, {-1, 3, 8, 8});
  EXPECT_THROW(bind_input_shapes(g, {{2, 4, 8, 8}}), BadInput);
  EXPECT_THROW(bind_input_shapes(g, {{2, 3, 8}}), BadInput);
  EXPECT_THROW(bind_input_shapes(g, {}), BadInput);
  bind_input_shapes(g, {{5, 3, 8, 8}});
  prepare_graph(g);
  EXPECT_EQ(g.values[static_cast<std::size_t>(g.outputs[0])].shape, (Shape{5, 3, 8, 8}));
}

TEST(Executor, UnsupportedOpNamesTypeAndNode) {
  Graph g = relu_chain(1, {1, 4});
  g.nodes[0].op_type = "FancyOp";
  try {
    prepare_graph(g);
    FAIL() << "unknown op accepted";
  } catch (const BadInput& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("FancyOp"), std::string::npos) << msg;
    EXPECT_NE(msg.find("relu0"), std::string::npos) << msg;
  }
}

TEST(Executor, ConstantSubgraphsAreFoldedAway) {
  // relu(constant) is evaluated by prepare_graph; the node disappears and the output is constant.
  Graph g;
  int c = g.add_constant("c", Tensor::from_floats({3}, {-1, 0.5f, 2}));
  int y = g.value_id("y");
  g.add_node("Relu", "relu_const", {c}, {y});
  g.outputs.push_back(y);
  prepare_graph(g);
  EXPECT_TRUE(g.nodes.empty());
  Executor exec(g);
  auto out = exec.run({});
  EXPECT_EQ(out[0].to_float_vector(), (std::vector<float>{0, 0.5f, 2}));
}

}  // namespace
}  // namespace coda
