// Quantization-aware training of shift-add networks (LightNN / FLightNN, REFERENCE.md section 5):
// the Trainer keeps full-precision shadow weights, the forward pass uses their shift-add
// quantization and gradients pass straight through the quantizer (Ding et al., GLSVLSI'17). The
// trained graph holds the quantized weights, which the shift_add knob quantizes to themselves
// (the quantizer is idempotent, kernels/approx/shift_add.h), so evaluating the saved model with
// the knob reproduces the numerics it trained with, up to the knob's activation quantization.
#pragma once

#include <map>
#include <string>

#include "kernels/approx/shift_add.h"
#include "kernels/graph.h"
#include "kernels/trainer.h"

namespace coda {

// A weight the shift_add knob quantizes: input 1 of a Conv, Gemm or MatMul node.
struct ShiftAddTarget {
  std::string op_type;
  bool transpose_b = false;  // Gemm's transB
};

// The weights of `graph` the knob quantizes, by value name (the first consumer decides when a
// weight feeds several nodes).
std::map<std::string, ShiftAddTarget> shift_add_targets(const Graph& graph);

// The quantized copy of one target weight (shift_add_quantized with the target's filter layout),
// or an empty Tensor when the knob does not take a weight of its shape (a MatMul weight with
// batch dimensions).
Tensor shift_add_target_weights(const ShiftAddTarget& target, const Tensor& weights, const ShiftAddParams& params);

// Weight transform for Trainer::set_weight_transform: targets of `graph` become their shift-add
// quantization, every other parameter (biases, batch-norm scales) is used as it is.
WeightTransform make_shift_add_transform(const Graph& graph, const ShiftAddParams& params);

// Quantizes every constant target weight of `graph` in place; returns how many tensors changed.
int quantize_graph_weights(Graph& graph, const ShiftAddParams& params);

}  // namespace coda
