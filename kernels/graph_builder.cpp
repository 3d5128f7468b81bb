#include "kernels/graph_builder.h"

#include <cmath>
#include <stdexcept>

#include "kernels/error.h"

namespace coda {

GraphBuilder::GraphBuilder(std::string graph_name, std::uint64_t seed, bool shapes_only)
    : rng_(seed), shapes_only_(shapes_only) {
  graph_.name = std::move(graph_name);
}

int GraphBuilder::new_value(const std::string& name, Shape shape) {
  if (graph_.find_value(name) >= 0) throw std::logic_error("GraphBuilder: value '" + name + "' already exists");
  int id = graph_.value_id(name);
  Value& v = graph_.values[static_cast<std::size_t>(id)];
  v.shape = std::move(shape);
  v.shape_known = true;
  return id;
}

int GraphBuilder::he_weights(const std::string& name, const Shape& shape, int64_t fan_in) {
  if (shapes_only_) return graph_.add_constant(name, Tensor::metadata_only(shape, DType::Float32));
  // He et al., "Delving Deep into Rectifiers", ICCV 2015: std = sqrt(2 / fan_in) keeps the
  // activation variance steady through ReLU layers.
  std::normal_distribution<float> normal(0.0f, std::sqrt(2.0f / static_cast<float>(fan_in)));
  Tensor w(shape, DType::Float32);
  for (int64_t i = 0; i < w.size(); ++i) w.f32()[i] = normal(rng_);
  return graph_.add_constant(name, std::move(w));
}

int GraphBuilder::constant(const std::string& name, const Shape& shape, float value) {
  return graph_.add_constant(name, Tensor::filled(shape, value));
}

int GraphBuilder::input(const std::string& name, const Shape& shape) {
  int id = new_value(name, shape);
  graph_.inputs.push_back(id);
  return id;
}

void GraphBuilder::output(int value) { graph_.outputs.push_back(value); }

const Shape& GraphBuilder::shape(int value) const { return graph_.values[static_cast<std::size_t>(value)].shape; }

int GraphBuilder::conv(int x, const ConvSpec& spec, const std::string& name) {
  const Shape in = shape(x);
  if (in.size() != 4) throw std::logic_error("GraphBuilder::conv expects NCHW");
  if (spec.groups < 1 || in[1] % spec.groups != 0 || spec.out_channels % spec.groups != 0)
    throw std::logic_error("GraphBuilder::conv '" + name + "': " + std::to_string(spec.groups) +
                           " groups do not divide " + std::to_string(in[1]) + " -> " +
                           std::to_string(spec.out_channels) + " channels");
  const int64_t pad = spec.pad < 0 ? spec.kernel / 2 : spec.pad;
  if (in[2] + 2 * pad < spec.kernel || in[3] + 2 * pad < spec.kernel)
    throw BadInput("conv '" + name + "': a " + std::to_string(spec.kernel) + "x" + std::to_string(spec.kernel) +
                   " kernel does not fit the " + std::to_string(in[2]) + "x" + std::to_string(in[3]) + " input");
  const int64_t cin_per_group = in[1] / spec.groups;
  const int64_t oh = (in[2] + 2 * pad - spec.kernel) / spec.stride + 1;
  const int64_t ow = (in[3] + 2 * pad - spec.kernel) / spec.stride + 1;
  int w = he_weights(name + ".weight", {spec.out_channels, cin_per_group, spec.kernel, spec.kernel},
                     cin_per_group * spec.kernel * spec.kernel);
  std::vector<int> inputs{x, w};
  if (spec.bias) inputs.push_back(constant(name + ".bias", {spec.out_channels}, 0.0f));
  int y = new_value(name, {in[0], spec.out_channels, oh, ow});
  Node& node = graph_.add_node("Conv", name, inputs, {y});
  node.attrs.set("kernel_shape", std::vector<int64_t>{spec.kernel, spec.kernel});
  node.attrs.set("strides", std::vector<int64_t>{spec.stride, spec.stride});
  node.attrs.set("pads", std::vector<int64_t>{pad, pad, pad, pad});
  node.attrs.set("group", spec.groups);
  return y;
}

int GraphBuilder::batch_norm(int x, const std::string& name, float epsilon) {
  const int64_t c = shape(x)[1];
  std::vector<int> inputs{x, constant(name + ".weight", {c}, 1.0f), constant(name + ".bias", {c}, 0.0f),
                          constant(name + ".running_mean", {c}, 0.0f), constant(name + ".running_var", {c}, 1.0f)};
  int y = new_value(name, shape(x));
  Node& node = graph_.add_node("BatchNormalization", name, inputs, {y});
  node.attrs.set("epsilon", epsilon);
  return y;
}

int GraphBuilder::unary(const char* op_type, int x, const std::string& name) {
  int y = new_value(name, shape(x));
  graph_.add_node(op_type, name, {x}, {y});
  return y;
}

int GraphBuilder::relu(int x, const std::string& name) { return unary("Relu", x, name); }

int GraphBuilder::tanh(int x, const std::string& name) { return unary("Tanh", x, name); }

int GraphBuilder::relu6(int x, const std::string& name) {
  // Bounds as inputs: Clip takes them as inputs from opset 11 (finish() writes opset 17).
  int lo = constant(name + ".min", {}, 0.0f);
  int hi = constant(name + ".max", {}, 6.0f);
  int y = new_value(name, shape(x));
  graph_.add_node("Clip", name, {x, lo, hi}, {y});
  return y;
}

int GraphBuilder::dropout(int x, float ratio, const std::string& name) {
  if (!(ratio >= 0.0f && ratio < 1.0f)) throw std::logic_error("GraphBuilder::dropout: ratio must be in [0, 1)");
  // The ratio is an input from opset 12 on (it was an attribute before).
  int r = constant(name + ".ratio", {}, ratio);
  int y = new_value(name, shape(x));
  graph_.add_node("Dropout", name, {x, r}, {y});
  return y;
}

int GraphBuilder::pool(const char* op_type, int x, int64_t kernel, int64_t stride, int64_t pad,
                       const std::string& name) {
  const Shape in = shape(x);
  if (in.size() != 4) throw std::logic_error(std::string("GraphBuilder: ") + op_type + " expects NCHW");
  if (in[2] + 2 * pad < kernel || in[3] + 2 * pad < kernel)
    throw BadInput(std::string(op_type) + " '" + name + "': a " + std::to_string(kernel) + "x" +
                   std::to_string(kernel) + " window does not fit the " + std::to_string(in[2]) + "x" +
                   std::to_string(in[3]) + " input");
  int y = new_value(name, {in[0], in[1], (in[2] + 2 * pad - kernel) / stride + 1, (in[3] + 2 * pad - kernel) / stride + 1});
  Node& node = graph_.add_node(op_type, name, {x}, {y});
  node.attrs.set("kernel_shape", std::vector<int64_t>{kernel, kernel});
  node.attrs.set("strides", std::vector<int64_t>{stride, stride});
  node.attrs.set("pads", std::vector<int64_t>{pad, pad, pad, pad});
  return y;
}

int GraphBuilder::max_pool(int x, int64_t kernel, int64_t stride, int64_t pad, const std::string& name) {
  return pool("MaxPool", x, kernel, stride, pad, name);
}

int GraphBuilder::average_pool(int x, int64_t kernel, int64_t stride, int64_t pad, const std::string& name) {
  return pool("AveragePool", x, kernel, stride, pad, name);
}

int GraphBuilder::global_average_pool(int x, const std::string& name) {
  const Shape in = shape(x);
  int y = new_value(name, {in[0], in[1], 1, 1});
  graph_.add_node("GlobalAveragePool", name, {x}, {y});
  return y;
}

int GraphBuilder::flatten(int x, const std::string& name) {
  const Shape in = shape(x);
  int64_t rest = 1;
  for (std::size_t i = 1; i < in.size(); ++i) rest *= in[i];
  int y = new_value(name, {in[0], rest});
  Node& node = graph_.add_node("Flatten", name, {x}, {y});
  node.attrs.set("axis", int64_t{1});
  return y;
}

int GraphBuilder::gemm(int x, int64_t out_features, const std::string& name) {
  const Shape in = shape(x);
  if (in.size() != 2) throw std::logic_error("GraphBuilder::gemm expects a 2-D input");
  int w = he_weights(name + ".weight", {out_features, in[1]}, in[1]);
  int b = constant(name + ".bias", {out_features}, 0.0f);
  int y = new_value(name, {in[0], out_features});
  Node& node = graph_.add_node("Gemm", name, {x, w, b}, {y});
  node.attrs.set("transB", int64_t{1});
  return y;
}

int GraphBuilder::add(int a, int b, const std::string& name) {
  if (shape(a) != shape(b)) throw std::logic_error("GraphBuilder::add '" + name + "': operand shapes differ");
  int y = new_value(name, shape(a));
  graph_.add_node("Add", name, {a, b}, {y});
  return y;
}

int GraphBuilder::concat(const std::vector<int>& xs, int64_t axis, const std::string& name) {
  if (xs.empty()) throw std::logic_error("GraphBuilder::concat '" + name + "': nothing to join");
  Shape out = shape(xs.front());
  const auto rank = static_cast<int64_t>(out.size());
  if (axis < 0 || axis >= rank) throw std::logic_error("GraphBuilder::concat '" + name + "': bad axis");
  for (std::size_t i = 1; i < xs.size(); ++i) {
    const Shape& s = shape(xs[i]);
    bool fits = static_cast<int64_t>(s.size()) == rank;
    for (int64_t d = 0; fits && d < rank; ++d)
      fits = d == axis || s[static_cast<std::size_t>(d)] == out[static_cast<std::size_t>(d)];
    if (!fits) throw std::logic_error("GraphBuilder::concat '" + name + "': shapes differ off the axis");
    out[static_cast<std::size_t>(axis)] += s[static_cast<std::size_t>(axis)];
  }
  int y = new_value(name, out);
  Node& node = graph_.add_node("Concat", name, xs, {y});
  node.attrs.set("axis", axis);
  return y;
}

int GraphBuilder::softmax(int x, const std::string& name) {
  int y = new_value(name, shape(x));
  Node& node = graph_.add_node("Softmax", name, {x}, {y});
  node.attrs.set("axis", int64_t{1});
  return y;
}

Graph GraphBuilder::finish() {
  for (Node& node : graph_.nodes) node.opset = 17;
  graph_.sort_topologically();
  return std::move(graph_);
}

}  // namespace coda
