// Sliding-window geometry shared by Conv and the pooling ops, forward and backward: kernel_shape,
// strides, dilations, pads, auto_pad and ceil_mode resolved per spatial axis into the output size
// and the padding actually applied, following the ONNX operator specification (opsets 7-18); and
// the phase-plane layout the depthwise convolution and pooling kernels sweep.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv_kernels.h"
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

// Floor and ceiling of a / b for a positive divisor b and a numerator of either sign.
inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// First and one-past-last tap index i in [0, kernel) whose input coordinate start + i*dilation
// lies in [lo, hi). Empty ranges come back as first >= last.
void valid_taps(int64_t start, int64_t kernel, int64_t dilation, int64_t lo, int64_t hi, int64_t& first,
                int64_t& last);

// Validates X (N, C, [H,] W), W (C_out, C/group, [kh,] kw) and, when given, B (C_out) against the
// attributes of a Conv node and returns the geometry, 1-D cases as height 1. Throws BadInput
// naming the node.
Conv2dGeometry conv_geometry(const Node& node, const Shape& x, const Shape& w, const Shape* b = nullptr);

// Windows of a 1-D or 2-D MaxPool or AveragePool node over X (N, C, [H,] W).
struct PoolGeometry {
  int64_t planes = 1;  // N * C
  WindowAxis h, w;     // a 1-D pool has h = {in 1, kernel 1, out 1}
  int64_t kernel_elements() const { return h.kernel * w.kernel; }
};

// Validates the input shape and the node's window attributes (kernel_shape is required). Throws
// BadInput naming the node.
PoolGeometry pool_geometry(const Node& node, const Shape& x);

// Per output position along one axis, the taps of its window that count towards an average:
// those inside the input, or with count_include_pad those inside the padded input (a ceil_mode
// window hanging past the end padding is clipped there, as in PyTorch and ONNX Runtime).
std::vector<int64_t> average_divisors(const WindowAxis& a, bool include_pad);

// A padded input plane split into stride_h x stride_w phase planes, each wq floats wide: phase
// (r, c) holds padded[r + stride_h*y][c + stride_w*x]. Output (oh, ow) of tap (i, j) then reads
// one flat offset per tap from oh*wq + ow, so a kernel sweeps each tap as one long contiguous run
// over out_h*wq positions, whatever the stride, dilation or padding; columns ow >= out_w of the
// wq-wide rows are computed and dropped. Only pad_begin of each axis matters here.
struct PhasePlanes {
  // Each phase plane holds hq*wq floats plus extra_rows*wq + extra_floats of slack, which the
  // sweeps may read past the last full row (they must stay within it).
  PhasePlanes(const WindowAxis& h, const WindowAxis& w, int64_t extra_rows, int64_t extra_floats);

  int64_t stride_h = 1, stride_w = 1;
  int64_t hq = 1, wq = 1;           // rows and row width of a phase plane
  int64_t phase_size = 1;           // floats per phase plane, slack included
  std::vector<int64_t> tap_offset;  // per tap (i, j) in row-major order: where its sweep starts

  // Floats of all phase planes together.
  int64_t size() const { return stride_h * stride_w * phase_size; }
  // Copies the input plane (in_h x in_w, row-major) that the windows read into its positions of
  // `phases`. Padding positions are not written: callers fill them once (0 or -infinity) and every
  // later plane leaves them as they are.
  void stage(const float* plane, float* phases) const;

 private:
  int64_t in_w_ = 1, pad_top_ = 0, pad_left_ = 0;
  int64_t rows_ = 0;                    // input rows the windows read
  std::vector<int64_t> first_, count_;  // per phase column: first input column landing there, how many
};

}  // namespace coda
