// Parameters of the activations that have a backward pass as well as a forward kernel, read in
// one place so both passes see the same defaults (ONNX operator specification,
// onnx/docs/Operators.md).
#pragma once

#include <limits>

#include "kernels/graph.h"
#include "kernels/tensor.h"

namespace coda {

inline float leaky_relu_alpha(const Attributes& attrs) { return attrs.get_float("alpha", 0.01f); }

inline float elu_alpha(const Attributes& attrs) { return attrs.get_float("alpha", 1.0f); }

struct HardSigmoidParams {
  float alpha, beta;  // y = clamp(alpha x + beta, 0, 1)
};
inline HardSigmoidParams hard_sigmoid_params(const Attributes& attrs) {
  return {attrs.get_float("alpha", 0.2f), attrs.get_float("beta", 0.5f)};
}

// Float bounds of Clip: attributes before opset 11 (defaults: the float range), then optional
// scalar inputs 1 and 2 (`min` and `max`, null when absent or omitted: unbounded).
struct ClipBounds {
  float lo = std::numeric_limits<float>::lowest();
  float hi = std::numeric_limits<float>::max();
};
inline ClipBounds clip_bounds(const Node& node, const Tensor* min, const Tensor* max) {
  ClipBounds b;
  if (node.opset < 11) {
    b.lo = node.attrs.get_float("min", b.lo);
    b.hi = node.attrs.get_float("max", b.hi);
  } else {
    if (min) b.lo = min->f32()[0];
    if (max) b.hi = max->f32()[0];
  }
  return b;
}

}  // namespace coda
