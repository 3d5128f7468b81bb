// A small fluent builder of ONNX models for tests: inputs, initializers (given or seeded random),
// nodes with attributes, outputs, and network helpers (conv + BN + ReLU, pools, FC) that keep the
// value names unique. Models are built with the onnx protobuf API directly, so what a test feeds
// coda is exactly what a framework exporter would write.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace coda::test {

// Attribute constructors for ModelBuilder::node.
onnx::AttributeProto attr_int(const std::string& name, int64_t value);
onnx::AttributeProto attr_float(const std::string& name, float value);
onnx::AttributeProto attr_ints(const std::string& name, const std::vector<int64_t>& values);
onnx::AttributeProto attr_floats(const std::string& name, const std::vector<float>& values);
onnx::AttributeProto attr_string(const std::string& name, const std::string& value);
onnx::AttributeProto attr_tensor(const std::string& name, const onnx::TensorProto& value);

// TensorProto constructors (values stored in float_data / int64_data, or raw_data if asked).
onnx::TensorProto tensor_proto_f32(const std::string& name, const std::vector<int64_t>& shape,
                                   const std::vector<float>& values, bool raw = false);
onnx::TensorProto tensor_proto_i64(const std::string& name, const std::vector<int64_t>& shape,
                                   const std::vector<int64_t>& values, bool raw = false);

class ModelBuilder {
 public:
  // `opset` is the default-domain opset the model imports; `seed` drives every random initializer.
  explicit ModelBuilder(int opset, uint64_t seed = 1, std::string graph_name = "test_graph");

  int opset() const { return opset_; }

  // Graph input; a negative dimension is written symbolically as "N" (a framework's dynamic batch).
  ModelBuilder& input(const std::string& name, const std::vector<int64_t>& shape,
                      int32_t elem_type = onnx::TensorProto::FLOAT);
  // Graph output; an empty `shape` leaves the output's type without a shape, as some exporters do.
  ModelBuilder& output(const std::string& name, const std::vector<int64_t>& shape = {},
                       int32_t elem_type = onnx::TensorProto::FLOAT, bool with_shape = false);

  ModelBuilder& initializer(const std::string& name, const std::vector<int64_t>& shape,
                            const std::vector<float>& values);
  ModelBuilder& initializer_i64(const std::string& name, const std::vector<int64_t>& shape,
                                const std::vector<int64_t>& values);
  // Normal(mean, stddev) values from the builder's seeded generator. Weights use He initialisation
  // (std = sqrt(2 / fan_in), He et al., ICCV 2015) so activations neither vanish nor explode
  // through a deep random network.
  ModelBuilder& initializer_normal(const std::string& name, const std::vector<int64_t>& shape, double stddev,
                                   double mean = 0.0);
  ModelBuilder& initializer_uniform(const std::string& name, const std::vector<int64_t>& shape, double low,
                                    double high);
  // Also list initializers as graph inputs, as IR version 3 exporters (PyTorch <= 1.3) did.
  void set_initializers_as_inputs(bool on) { initializers_as_inputs_ = on; }
  // Store initializer data in raw_data (what exporters do) instead of float_data.
  void set_raw_data(bool on) { raw_data_ = on; }

  // Adds a node; an empty `name` gets a generated one ("Conv_3").
  ModelBuilder& node(const std::string& op_type, const std::vector<std::string>& inputs,
                     const std::vector<std::string>& outputs, const std::vector<onnx::AttributeProto>& attrs = {},
                     const std::string& name = "");

  // A fresh value name "prefix_N".
  std::string fresh(const std::string& prefix);

  // --- network helpers: each adds its weights and nodes and returns the output value's name ---
  // Conv with He-initialised weights [cout, cin/group, k, k] and (optionally) a small random bias.
  std::string conv(const std::string& x, int64_t cin, int64_t cout, int64_t kernel, int64_t stride = 1,
                   int64_t pad = 0, int64_t group = 1, bool bias = true, int64_t dilation = 1);
  // General form: kernel {kh, kw}, strides, pads {top, left, bottom, right}, dilations.
  std::string conv2d(const std::string& x, int64_t cin, int64_t cout, const std::vector<int64_t>& kernel,
                     const std::vector<int64_t>& strides, const std::vector<int64_t>& pads, int64_t group,
                     bool bias, const std::vector<int64_t>& dilations = {1, 1});
  // Inference BatchNormalization with random scale/bias/mean and positive variance.
  std::string batch_norm(const std::string& x, int64_t channels, float epsilon = 1e-5f);
  std::string relu(const std::string& x);
  std::string unary(const std::string& op_type, const std::string& x,
                    const std::vector<onnx::AttributeProto>& attrs = {});
  std::string conv_bn(const std::string& x, int64_t cin, int64_t cout, int64_t kernel, int64_t stride, int64_t pad,
                      int64_t group = 1);
  std::string conv_bn_relu(const std::string& x, int64_t cin, int64_t cout, int64_t kernel, int64_t stride,
                           int64_t pad, int64_t group = 1);
  std::string conv_relu(const std::string& x, int64_t cin, int64_t cout, int64_t kernel, int64_t stride,
                        int64_t pad, int64_t group = 1);
  std::string max_pool(const std::string& x, int64_t kernel, int64_t stride, int64_t pad = 0, bool ceil_mode = false);
  std::string avg_pool(const std::string& x, int64_t kernel, int64_t stride, int64_t pad = 0, bool ceil_mode = false,
                       bool count_include_pad = false);
  std::string global_avg_pool(const std::string& x);
  std::string lrn(const std::string& x, int64_t size, float alpha, float beta, float bias);
  std::string add(const std::string& a, const std::string& b);
  std::string concat(const std::vector<std::string>& xs, int64_t axis);
  std::string flatten(const std::string& x, int64_t axis = 1);
  std::string dropout(const std::string& x, float ratio = 0.5f);
  // Gemm with transB = 1 (PyTorch's nn.Linear): weights [out, in], bias [out].
  std::string linear(const std::string& x, int64_t in_features, int64_t out_features);
  // Reshape to a constant shape (an int64 initializer).
  std::string reshape(const std::string& x, const std::vector<int64_t>& shape);
  // Softmax over `axis`; with `explicit_axis` false the attribute is left out, so the opset's
  // default applies (1 with 2-D coercion before opset 13, -1 from opset 13).
  std::string softmax(const std::string& x, int64_t axis, bool explicit_axis = true);

  onnx::ModelProto& proto() { return model_; }
  const onnx::ModelProto& proto() const { return model_; }
  std::string serialize() const;
  void write(const std::string& path) const;

 private:
  int opset_;
  std::mt19937_64 rng_;
  onnx::ModelProto model_;
  bool initializers_as_inputs_ = false;
  bool raw_data_ = true;
  int counter_ = 0;
};

// Serializes any model (e.g. one modified after building) to bytes / a file.
std::string serialize_model(const onnx::ModelProto& model);
void write_model(const onnx::ModelProto& model, const std::string& path);

}  // namespace coda::test
