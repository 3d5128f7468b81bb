// Builds graphs in code (the model zoo, tests): layers as calls that create the nodes, weights
// and value names. Weights come from a seeded generator (He initialisation) so a built network is
// reproducible bit for bit.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "kernels/graph.h"

namespace coda {

struct ConvSpec {
  int64_t out_channels = 0;
  int64_t kernel = 3;
  int64_t stride = 1;
  int64_t pad = -1;   // -1: "same" padding, kernel / 2
  int64_t groups = 1;
  bool bias = true;
};

class GraphBuilder {
 public:
  GraphBuilder(std::string graph_name, std::uint64_t seed);

  // Graph input; returns the value id.
  int input(const std::string& name, const Shape& shape);
  void output(int value);

  int conv(int x, const ConvSpec& spec, const std::string& name);
  // Inference batch norm with identity statistics (scale 1, shift 0, mean 0, var 1).
  int batch_norm(int x, const std::string& name);
  int relu(int x, const std::string& name);
  int max_pool(int x, int64_t kernel, int64_t stride, int64_t pad, const std::string& name);
  int average_pool(int x, int64_t kernel, int64_t stride, int64_t pad, const std::string& name);
  int global_average_pool(int x, const std::string& name);
  int flatten(int x, const std::string& name);
  int gemm(int x, int64_t out_features, const std::string& name);
  int add(int a, int b, const std::string& name);
  int softmax(int x, const std::string& name);

  // Shape of a value (the builder infers shapes as it goes).
  const Shape& shape(int value) const;
  Graph finish();

 private:
  int new_value(const std::string& name, Shape shape);
  int he_weights(const std::string& name, const Shape& shape, int64_t fan_in);
  int constant(const std::string& name, const Shape& shape, float value);

  Graph graph_;
  std::mt19937_64 rng_;
};

}  // namespace coda
