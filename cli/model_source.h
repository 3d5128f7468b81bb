// Where the command's model and inputs come from: an ONNX file (later also zoo:NAME), tensor files
// or seeded random data, and NAME=DIMS shape overrides for symbolic dimensions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/graph.h"

namespace coda::cli {

// An ONNX file, or zoo:NAME[?KEY=VALUE,...] for a network of the model zoo (weights initialised
// from `seed` unless the spec gives one; see parse_zoo_spec in kernels/zoo.h). `shapes_only` builds
// zoo networks without weight data: enough to simulate or predict, not to run or prune.
Graph load_model(const std::string& spec, std::uint64_t seed, bool shapes_only = false);

// Parses "data=1x3x224x224" (or just "1x3x224x224" for the first input).
std::map<std::string, Shape> parse_shape_overrides(const std::vector<std::string>& specs);

// Shapes of the graph inputs: overrides first, then the model's declared shape with symbolic
// dimensions replaced by `symbolic_fill`.
std::vector<Shape> resolve_input_shapes(const Graph& graph, const std::map<std::string, Shape>& overrides,
                                        int64_t symbolic_fill);

// Standard-normal inputs of the given shapes, reproducible for a seed.
std::vector<Tensor> random_inputs(const Graph& graph, const std::vector<Shape>& shapes, std::uint64_t seed);

// "fashion-mnist@pad=2" with split "train" -> "fashion-mnist:train@pad=2"; specs that name files
// (idx:, npy:) or already carry a split are left alone.
std::string with_split(const std::string& spec, const std::string& split);

std::string human_count(double value);   // 4.09G, 25.6M, 1.2k

}  // namespace coda::cli
