#include "tests/support/graph_runner.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "kernels/executor.h"

namespace coda::test {

In var(Tensor t) { return In{std::move(t), false}; }
In cst(Tensor t) { return In{std::move(t), true}; }
In none() { return In{}; }

int add_input(Graph& g, const std::string& name, const Tensor& t) {
  const int id = g.value_id(name);
  Value& v = g.values[static_cast<std::size_t>(id)];
  v.shape = t.shape();
  v.dtype = t.dtype();
  v.shape_known = true;
  g.inputs.push_back(id);
  return id;
}

Graph one_node(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs, int opset, int outputs,
               std::vector<Tensor>* feeds) {
  Graph g;
  std::vector<int> ins;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    if (inputs[i].tensor.empty()) {
      ins.push_back(-1);
    } else if (inputs[i].constant) {
      ins.push_back(g.add_constant(name, inputs[i].tensor));
    } else {
      ins.push_back(add_input(g, name, inputs[i].tensor));
      if (feeds) feeds->push_back(inputs[i].tensor);
    }
  }
  std::vector<int> outs;
  for (int o = 0; o < outputs; ++o) outs.push_back(g.value_id("out" + std::to_string(o)));
  Node& node = g.add_node(op, "the_" + op, ins, outs);
  node.attrs = attrs;
  node.opset = opset;
  g.outputs = outs;
  return g;
}

std::vector<Tensor> run_op(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs, int opset,
                           int outputs) {
  std::vector<Tensor> feeds;
  Graph g = one_node(op, inputs, attrs, opset, outputs, &feeds);
  prepare_graph(g);
  Executor executor(g);
  return executor.run(feeds);
}

Tensor run1(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs, int opset) {
  return run_op(op, inputs, attrs, opset).front();
}

Attributes attrs_of(std::initializer_list<std::pair<const char*, AttrValue>> list) {
  Attributes a;
  for (const auto& [name, value] : list) a.set(name, value);
  return a;
}

double value(const Tensor& t, int64_t i) {
  return t.dtype() == DType::Int64 ? static_cast<double>(t.i64()[i]) : static_cast<double>(t.f32()[i]);
}

std::vector<int64_t> unravel(int64_t i, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

std::vector<TensorInfo> CopyInputOp::infer(const InferContext& ctx) const {
  return std::vector<TensorInfo>(std::max<std::size_t>(1, ctx.node().outputs.size()), ctx.input(0));
}

void CopyInputOp::run(const RunContext& ctx) const {
  for (int o = 0; o < ctx.output_count(); ++o)
    if (ctx.has_output(o)) std::memcpy(ctx.output(o).raw(), ctx.input(0).raw(), ctx.input(0).bytes());
}

Tensor seeded_input(const Shape& shape, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor t(shape, DType::Float32);
  for (int64_t i = 0; i < t.size(); ++i) t.f32()[i] = normal(rng);
  return t;
}

Tensor run_graph(Graph graph, const Tensor& x) {
  bind_input_shapes(graph, {x.shape()});
  prepare_graph(graph);
  Executor executor(graph);
  return executor.run({x}).front();
}

}  // namespace coda::test
