// Builds graphs in code (the model zoo, tests): layers as calls that create the nodes, weights
// and value names. Weights come from a seeded generator (He initialisation) so a built network is
// reproducible bit for bit.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/graph.h"

namespace coda {

struct ConvSpec {
  int64_t out_channels = 0;
  int64_t kernel = 3;
  int64_t stride = 1;
  int64_t pad = -1;   // -1: "same" padding, kernel / 2
  int64_t groups = 1; // groups == input channels == out_channels: depthwise convolution
  bool bias = true;
};

class GraphBuilder {
 public:
  // shapes_only: weights are shape-only constants (Tensor::metadata_only) instead of He-initialised
  // data. Such a graph can be prepared, analysed and counted (MACs, parameters) at no cost even for
  // VGG-16's 138 M weights, but not run or exported.
  GraphBuilder(std::string graph_name, std::uint64_t seed, bool shapes_only = false);

  // Graph input; returns the value id. A negative dimension is symbolic (e.g. the batch).
  int input(const std::string& name, const Shape& shape);
  void output(int value);

  int conv(int x, const ConvSpec& spec, const std::string& name);
  // Inference batch norm with identity statistics (scale 1, shift 0, mean 0, var 1).
  // The default epsilon is PyTorch's (torch.nn.BatchNorm2d); Keras and TF-slim use 1e-3.
  int batch_norm(int x, const std::string& name, float epsilon = 1e-5f);
  int relu(int x, const std::string& name);
  int tanh(int x, const std::string& name);
  // min(max(x, 0), 6) as Clip with constant bounds (Howard et al. 2017 TF implementation's ReLU6).
  int relu6(int x, const std::string& name);
  // Inference: the identity. `ratio` (the drop probability) is kept as the node's constant ratio
  // input so a trainer can apply it.
  int dropout(int x, float ratio, const std::string& name);
  int max_pool(int x, int64_t kernel, int64_t stride, int64_t pad, const std::string& name);
  int average_pool(int x, int64_t kernel, int64_t stride, int64_t pad, const std::string& name);
  int global_average_pool(int x, const std::string& name);
  int flatten(int x, const std::string& name);
  int gemm(int x, int64_t out_features, const std::string& name);
  int add(int a, int b, const std::string& name);
  // Joins values along `axis` (1: channels); all other dimensions must agree.
  int concat(const std::vector<int>& xs, int64_t axis, const std::string& name);
  int softmax(int x, const std::string& name);

  // Shape of a value (the builder infers shapes as it goes).
  const Shape& shape(int value) const;
  Graph finish();

 private:
  int new_value(const std::string& name, Shape shape);
  int he_weights(const std::string& name, const Shape& shape, int64_t fan_in);
  int constant(const std::string& name, const Shape& shape, float value);
  int pool(const char* op_type, int x, int64_t kernel, int64_t stride, int64_t pad, const std::string& name);
  int unary(const char* op_type, int x, const std::string& name);

  Graph graph_;
  std::mt19937_64 rng_;
  bool shapes_only_ = false;
};

}  // namespace coda
