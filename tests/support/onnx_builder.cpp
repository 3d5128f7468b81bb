#include "tests/support/onnx_builder.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace coda::test {

onnx::AttributeProto attr_int(const std::string& name, int64_t value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INT);
  a.set_i(value);
  return a;
}

onnx::AttributeProto attr_float(const std::string& name, float value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::FLOAT);
  a.set_f(value);
  return a;
}

onnx::AttributeProto attr_ints(const std::string& name, const std::vector<int64_t>& values) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a.add_ints(v);
  return a;
}

onnx::AttributeProto attr_floats(const std::string& name, const std::vector<float>& values) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::FLOATS);
  for (float v : values) a.add_floats(v);
  return a;
}

onnx::AttributeProto attr_string(const std::string& name, const std::string& value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::STRING);
  a.set_s(value);
  return a;
}

onnx::AttributeProto attr_tensor(const std::string& name, const onnx::TensorProto& value) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::TENSOR);
  *a.mutable_t() = value;
  return a;
}

namespace {

int64_t count_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void check_count(const std::string& name, const std::vector<int64_t>& shape, std::size_t values) {
  if (static_cast<std::size_t>(count_of(shape)) != values)
    throw std::logic_error("tensor '" + name + "': " + std::to_string(values) + " values for " +
                           std::to_string(count_of(shape)) + " elements");
}

// ONNX raw_data is little-endian; so is every machine coda targets, so a plain copy is correct.
template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  std::string bytes(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(&bytes[0], values.data(), bytes.size());
  return bytes;
}

void set_type(onnx::TypeProto* type, const std::vector<int64_t>& shape, int32_t elem_type, bool with_shape) {
  auto* tensor_type = type->mutable_tensor_type();
  tensor_type->set_elem_type(elem_type);
  if (!with_shape) return;
  auto* s = tensor_type->mutable_shape();
  for (int64_t d : shape) {
    auto* dim = s->add_dim();
    if (d < 0) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d);
    }
  }
}

}  // namespace

onnx::TensorProto tensor_proto_f32(const std::string& name, const std::vector<int64_t>& shape,
                                   const std::vector<float>& values, bool raw) {
  check_count(name, shape, values.size());
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) t.add_dims(d);
  if (raw) {
    t.set_raw_data(raw_bytes(values));
  } else {
    for (float v : values) t.add_float_data(v);
  }
  return t;
}

onnx::TensorProto tensor_proto_i64(const std::string& name, const std::vector<int64_t>& shape,
                                   const std::vector<int64_t>& values, bool raw) {
  check_count(name, shape, values.size());
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : shape) t.add_dims(d);
  if (raw) {
    t.set_raw_data(raw_bytes(values));
  } else {
    for (int64_t v : values) t.add_int64_data(v);
  }
  return t;
}

ModelBuilder::ModelBuilder(int opset, uint64_t seed, std::string graph_name) : opset_(opset), rng_(seed) {
  // IR version per opset from the ONNX versioning table (docs/Versioning.md): opset 7 -> IR 3,
  // 9 -> 4, 10 -> 5, 11 -> 6, 12-14 -> 7, 15-18 -> 8.
  int64_t ir = opset <= 8 ? 3 : opset == 9 ? 4 : opset == 10 ? 5 : opset == 11 ? 6 : opset <= 14 ? 7 : 8;
  model_.set_ir_version(ir);
  model_.set_producer_name("coda-tests");
  auto* imp = model_.add_opset_import();
  imp->set_domain("");
  imp->set_version(opset);
  model_.mutable_graph()->set_name(std::move(graph_name));
}

ModelBuilder& ModelBuilder::input(const std::string& name, const std::vector<int64_t>& shape, int32_t elem_type) {
  auto* vi = model_.mutable_graph()->add_input();
  vi->set_name(name);
  set_type(vi->mutable_type(), shape, elem_type, true);
  return *this;
}

ModelBuilder& ModelBuilder::output(const std::string& name, const std::vector<int64_t>& shape, int32_t elem_type,
                                   bool with_shape) {
  auto* vi = model_.mutable_graph()->add_output();
  vi->set_name(name);
  set_type(vi->mutable_type(), shape, elem_type, with_shape || !shape.empty());
  return *this;
}

ModelBuilder& ModelBuilder::initializer(const std::string& name, const std::vector<int64_t>& shape,
                                        const std::vector<float>& values) {
  *model_.mutable_graph()->add_initializer() = tensor_proto_f32(name, shape, values, raw_data_);
  if (initializers_as_inputs_) {
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(name);
    set_type(vi->mutable_type(), shape, onnx::TensorProto::FLOAT, true);
  }
  return *this;
}

ModelBuilder& ModelBuilder::initializer_i64(const std::string& name, const std::vector<int64_t>& shape,
                                            const std::vector<int64_t>& values) {
  *model_.mutable_graph()->add_initializer() = tensor_proto_i64(name, shape, values, raw_data_);
  if (initializers_as_inputs_) {
    auto* vi = model_.mutable_graph()->add_input();
    vi->set_name(name);
    set_type(vi->mutable_type(), shape, onnx::TensorProto::INT64, true);
  }
  return *this;
}

ModelBuilder& ModelBuilder::initializer_normal(const std::string& name, const std::vector<int64_t>& shape,
                                               double stddev, double mean) {
  std::normal_distribution<float> dist(static_cast<float>(mean), static_cast<float>(stddev));
  std::vector<float> values(static_cast<std::size_t>(count_of(shape)));
  for (float& v : values) v = dist(rng_);
  return initializer(name, shape, values);
}

ModelBuilder& ModelBuilder::initializer_uniform(const std::string& name, const std::vector<int64_t>& shape,
                                                double low, double high) {
  std::uniform_real_distribution<float> dist(static_cast<float>(low), static_cast<float>(high));
  std::vector<float> values(static_cast<std::size_t>(count_of(shape)));
  for (float& v : values) v = dist(rng_);
  return initializer(name, shape, values);
}

ModelBuilder& ModelBuilder::node(const std::string& op_type, const std::vector<std::string>& inputs,
                                 const std::vector<std::string>& outputs,
                                 const std::vector<onnx::AttributeProto>& attrs, const std::string& name) {
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type(op_type);
  n->set_name(name.empty() ? op_type + "_" + std::to_string(counter_++) : name);
  for (const auto& in : inputs) n->add_input(in);
  for (const auto& out : outputs) n->add_output(out);
  for (const auto& a : attrs) *n->add_attribute() = a;
  return *this;
}

std::string ModelBuilder::fresh(const std::string& prefix) { return prefix + "_" + std::to_string(counter_++); }

std::string ModelBuilder::conv(const std::string& x, int64_t cin, int64_t cout, int64_t kernel, int64_t stride,
                               int64_t pad, int64_t group, bool bias, int64_t dilation) {
  return conv2d(x, cin, cout, {kernel, kernel}, {stride, stride}, {pad, pad, pad, pad}, group, bias,
                {dilation, dilation});
}

std::string ModelBuilder::conv2d(const std::string& x, int64_t cin, int64_t cout, const std::vector<int64_t>& kernel,
                                 const std::vector<int64_t>& strides, const std::vector<int64_t>& pads, int64_t group,
                                 bool bias, const std::vector<int64_t>& dilations) {
  if (cin % group != 0 || cout % group != 0) throw std::logic_error("conv: channels not divisible by group");
  std::string w = fresh("conv_w");
  const int64_t fan_in = cin / group * kernel[0] * kernel[1];
  initializer_normal(w, {cout, cin / group, kernel[0], kernel[1]}, std::sqrt(2.0 / static_cast<double>(fan_in)));
  std::vector<std::string> inputs{x, w};
  if (bias) {
    std::string b = fresh("conv_b");
    initializer_normal(b, {cout}, 0.05);
    inputs.push_back(b);
  }
  std::string y = fresh("conv");
  std::vector<onnx::AttributeProto> attrs{attr_ints("kernel_shape", kernel), attr_ints("strides", strides),
                                          attr_ints("pads", pads), attr_ints("dilations", dilations)};
  if (group != 1) attrs.push_back(attr_int("group", group));
  node("Conv", inputs, {y}, attrs);
  return y;
}

std::string ModelBuilder::batch_norm(const std::string& x, int64_t channels, float epsilon) {
  std::string scale = fresh("bn_scale"), b = fresh("bn_bias"), mean = fresh("bn_mean"), var = fresh("bn_var");
  initializer_uniform(scale, {channels}, 0.5, 1.5);
  initializer_normal(b, {channels}, 0.1);
  initializer_normal(mean, {channels}, 0.1);
  initializer_uniform(var, {channels}, 0.5, 1.5);
  std::string y = fresh("bn");
  node("BatchNormalization", {x, scale, b, mean, var}, {y}, {attr_float("epsilon", epsilon)});
  return y;
}

std::string ModelBuilder::relu(const std::string& x) { return unary("Relu", x); }

std::string ModelBuilder::unary(const std::string& op_type, const std::string& x,
                                const std::vector<onnx::AttributeProto>& attrs) {
  std::string y = fresh(op_type);
  node(op_type, {x}, {y}, attrs);
  return y;
}

std::string ModelBuilder::conv_bn(const std::string& x, int64_t cin, int64_t cout, int64_t kernel, int64_t stride,
                                  int64_t pad, int64_t group) {
  // Frameworks export convolutions followed by BN without a bias (torchvision: bias=False).
  return batch_norm(conv(x, cin, cout, kernel, stride, pad, group, false), cout);
}

std::string ModelBuilder::conv_bn_relu(const std::string& x, int64_t cin, int64_t cout, int64_t kernel,
                                       int64_t stride, int64_t pad, int64_t group) {
  return relu(conv_bn(x, cin, cout, kernel, stride, pad, group));
}

std::string ModelBuilder::conv_relu(const std::string& x, int64_t cin, int64_t cout, int64_t kernel, int64_t stride,
                                    int64_t pad, int64_t group) {
  return relu(conv(x, cin, cout, kernel, stride, pad, group, true));
}

std::string ModelBuilder::max_pool(const std::string& x, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode) {
  std::string y = fresh("maxpool");
  std::vector<onnx::AttributeProto> attrs{attr_ints("kernel_shape", {kernel, kernel}),
                                          attr_ints("strides", {stride, stride}),
                                          attr_ints("pads", {pad, pad, pad, pad})};
  // ceil_mode exists from opset 10 (MaxPool-10); older exporters had no way to express it.
  if (ceil_mode) {
    if (opset_ < 10) throw std::logic_error("MaxPool ceil_mode needs opset >= 10");
    attrs.push_back(attr_int("ceil_mode", 1));
  }
  node("MaxPool", {x}, {y}, attrs);
  return y;
}

std::string ModelBuilder::avg_pool(const std::string& x, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode,
                                   bool count_include_pad) {
  std::string y = fresh("avgpool");
  std::vector<onnx::AttributeProto> attrs{attr_ints("kernel_shape", {kernel, kernel}),
                                          attr_ints("strides", {stride, stride}),
                                          attr_ints("pads", {pad, pad, pad, pad})};
  if (ceil_mode) {
    if (opset_ < 10) throw std::logic_error("AveragePool ceil_mode needs opset >= 10");
    attrs.push_back(attr_int("ceil_mode", 1));
  }
  if (count_include_pad) attrs.push_back(attr_int("count_include_pad", 1));
  node("AveragePool", {x}, {y}, attrs);
  return y;
}

std::string ModelBuilder::global_avg_pool(const std::string& x) { return unary("GlobalAveragePool", x); }

std::string ModelBuilder::lrn(const std::string& x, int64_t size, float alpha, float beta, float bias) {
  return unary("LRN", x,
               {attr_int("size", size), attr_float("alpha", alpha), attr_float("beta", beta), attr_float("bias", bias)});
}

std::string ModelBuilder::add(const std::string& a, const std::string& b) {
  std::string y = fresh("add");
  node("Add", {a, b}, {y});
  return y;
}

std::string ModelBuilder::concat(const std::vector<std::string>& xs, int64_t axis) {
  std::string y = fresh("concat");
  node("Concat", xs, {y}, {attr_int("axis", axis)});
  return y;
}

std::string ModelBuilder::flatten(const std::string& x, int64_t axis) {
  return unary("Flatten", x, {attr_int("axis", axis)});
}

std::string ModelBuilder::dropout(const std::string& x, float ratio) {
  std::string y = fresh("dropout");
  // Dropout-12 turned `ratio` into an optional input; earlier versions take an attribute.
  if (opset_ >= 12) {
    std::string r = fresh("dropout_ratio");
    initializer(r, {}, {ratio});
    node("Dropout", {x, r}, {y});
  } else {
    node("Dropout", {x}, {y}, {attr_float("ratio", ratio)});
  }
  return y;
}

std::string ModelBuilder::linear(const std::string& x, int64_t in_features, int64_t out_features) {
  std::string w = fresh("fc_w"), b = fresh("fc_b"), y = fresh("fc");
  // PyTorch's nn.Linear default init is U(-1/sqrt(in), 1/sqrt(in)); He-normal keeps the scale of
  // the logits comparable to the features, which is all the tests need.
  initializer_normal(w, {out_features, in_features}, std::sqrt(2.0 / static_cast<double>(in_features)));
  initializer_normal(b, {out_features}, 0.05);
  node("Gemm", {x, w, b}, {y}, {attr_float("alpha", 1.0f), attr_float("beta", 1.0f), attr_int("transB", 1)});
  return y;
}

std::string ModelBuilder::reshape(const std::string& x, const std::vector<int64_t>& shape) {
  std::string s = fresh("shape"), y = fresh("reshape");
  initializer_i64(s, {static_cast<int64_t>(shape.size())}, shape);
  node("Reshape", {x, s}, {y});
  return y;
}

std::string ModelBuilder::softmax(const std::string& x, int64_t axis, bool explicit_axis) {
  if (!explicit_axis) return unary("Softmax", x);
  return unary("Softmax", x, {attr_int("axis", axis)});
}

std::string ModelBuilder::serialize() const { return serialize_model(model_); }

void ModelBuilder::write(const std::string& path) const { write_model(model_, path); }

std::string serialize_model(const onnx::ModelProto& model) {
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw std::runtime_error("cannot serialize the ONNX model");
  return bytes;
}

void write_model(const onnx::ModelProto& model, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  std::string bytes = serialize_model(model);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace coda::test
