// Runs one op the way a model runs it: a single node whose non-constant inputs are graph inputs,
// put through prepare_graph (shape inference, constant folding) and the Executor. Plus the small
// helpers the op tests share: index arithmetic, an element reader and a test-only op that copies
// its input.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "kernels/graph.h"
#include "kernels/op.h"
#include "kernels/tensor.h"

namespace coda::test {

// One input of the node under test.
struct In {
  Tensor tensor;  // empty: omitted optional input
  bool constant = false;
};
In var(Tensor t);   // a graph input, fed at run time
In cst(Tensor t);   // an initializer, so shape inference sees its value
In none();          // an omitted optional input (-1)

// Declares graph input `name` with t's shape and dtype; returns its value id.
int add_input(Graph& g, const std::string& name, const Tensor& t);

// The graph of one node `the_<op>` reading `inputs` (named in0, in1, ...) and writing `outputs`
// values (out0, out1, ...), all graph outputs. Non-constant inputs are appended to `feeds` when given.
Graph one_node(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs, int opset, int outputs,
               std::vector<Tensor>* feeds);

// Builds, prepares and runs one_node; returns every output.
std::vector<Tensor> run_op(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs = {},
                           int opset = 17, int outputs = 1);
// The first output of run_op.
Tensor run1(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs = {}, int opset = 17);

Attributes attrs_of(std::initializer_list<std::pair<const char*, AttrValue>> list);

// Element i of a float32 or int64 tensor, as a double.
double value(const Tensor& t, int64_t i);

// Row-major multi-index of flat index i in `shape`.
std::vector<int64_t> unravel(int64_t i, const Shape& shape);

// Standard-normal tensor from a seeded generator.
Tensor seeded_input(const Shape& shape, std::uint64_t seed);

// Binds `x`'s shape to a one-input graph, prepares it and returns its first output.
Tensor run_graph(Graph graph, const Tensor& x);

// A test-only op, so tests of the importer and exporter need not depend on real kernels: every
// output has input 0's shape and a copy of its data. Each suite registers it under its own name.
class CopyInputOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override;
  void run(const RunContext& ctx) const override;
};

}  // namespace coda::test
