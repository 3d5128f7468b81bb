// Sliding-window geometry shared by Conv and the pooling ops: kernel_shape, strides, dilations,
// pads, auto_pad and ceil_mode resolved per spatial axis into the output size and the padding
// actually applied, following the ONNX operator specification (opsets 7-18).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/graph.h"
#include "kernels/tensor.h"

namespace coda {

// One spatial axis of a window op.
struct WindowAxis {
  int64_t in = 1;         // input extent
  int64_t kernel = 1;     // taps
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t pad_begin = 0;  // padding applied before the first input element
  int64_t pad_end = 0;    // after the last
  int64_t out = 1;        // output extent

  // Extent the kernel covers, taps and holes included.
  int64_t span() const { return (kernel - 1) * dilation + 1; }
  // First input coordinate (may be negative: padding) read by output position o.
  int64_t start(int64_t o) const { return o * stride - pad_begin; }
};

struct WindowOptions {
  bool allow_ceil_mode = false;  // pooling ops have ceil_mode, Conv does not
  bool allow_dilations = true;   // AveragePool had no dilations before opset 19
};

// Resolves the window attributes of `node` for an input whose spatial dimensions are `spatial_in`
// and whose kernel is `kernel` (from kernel_shape or the weights). Throws BadInput naming the
// node on malformed attributes or an empty output.
std::vector<WindowAxis> resolve_window(const Node& node, const Shape& spatial_in, const std::vector<int64_t>& kernel,
                                       const WindowOptions& options);

// First and one-past-last tap index i in [0, kernel) whose input coordinate start + i*dilation
// lies in [lo, hi). Empty ranges come back as first >= last.
void valid_taps(int64_t start, int64_t kernel, int64_t dilation, int64_t lo, int64_t hi, int64_t& first,
                int64_t& last);

}  // namespace coda
