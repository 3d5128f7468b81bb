// Plain compute kernels behind Conv, Gemm and MatMul: a row-major SGEMM on Eigen, im2col, and the
// 2-D convolution drivers. They take raw float pointers and an explicit geometry so the
// approximate kernels (perforated convolution, filter sampling, FP16) can reuse the same pieces.
// All of them use coda::thread_count() threads, and run single-threaded when called from inside
// an OpenMP parallel region.
#pragma once

#include <cstddef>
#include <cstdint>

namespace coda {

// C = alpha * op(A) * op(B) + beta * C with row-major storage and leading dimensions, as in
// cblas_sgemm(CblasRowMajor, ...). op(A) is m x k, op(B) is k x n, C is m x n. With beta == 0,
// C is not read (it may hold garbage).
void sgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// Geometry of a 2-D NCHW convolution with weights (out_channels, in_channels/groups, kernel_h,
// kernel_w). A 1-D convolution is the case in_h = kernel_h = out_h = 1.
struct Conv2dGeometry {
  int64_t batch = 1;
  int64_t in_channels = 1, in_h = 1, in_w = 1;
  int64_t out_channels = 1, out_h = 1, out_w = 1;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0;  // bottom/right padding only shows in out_h/out_w
  int64_t groups = 1;

  int64_t in_channels_per_group() const { return in_channels / groups; }
  int64_t out_channels_per_group() const { return out_channels / groups; }
  int64_t in_plane() const { return in_h * in_w; }
  int64_t out_plane() const { return out_h * out_w; }
  // Rows of the im2col matrix: one per (input channel of a group, kernel row, kernel column).
  int64_t patch_size() const { return in_channels_per_group() * kernel_h * kernel_w; }
  // 1x1 kernel, unit stride, no padding: the input plane already is the im2col matrix.
  bool is_pointwise() const;
  // One input channel per group (depthwise, with or without channel multiplier).
  bool is_depthwise() const { return in_channels_per_group() == 1 && groups > 1; }
  int64_t macs() const { return batch * out_channels * out_plane() * patch_size(); }
};

// Writes the im2col matrix of one group of one image for output pixels [pixel_begin, pixel_end)
// (row-major order over out_h x out_w): `columns` is patch_size() rows by (pixel_end -
// pixel_begin) columns, row-major, row (c, i, j) holding input channel c shifted by kernel tap
// (i, j); padding reads as zero. `image` points at the group's first input channel.
void im2col(const Conv2dGeometry& g, const float* image, int64_t pixel_begin, int64_t pixel_end, float* columns);

// Full convolution: output (batch, out_channels, out_h, out_w) = conv(input, weights) + bias.
// bias may be null. Dispatches to the depthwise kernel when each group has one input channel,
// else to im2col + SGEMM (no copy for pointwise convolutions).
void conv2d(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias, float* output);

// The two paths of conv2d, callable directly (benchmarks, approximate kernels).
void conv2d_gemm(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias, float* output);
// Requires in_channels_per_group() == 1; output channel o reads input channel o / (out_channels / groups).
void conv2d_depthwise(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias,
                      float* output);

// ---------------------------------------------------------------------------------------------
// Backward passes (training). Both use coda::thread_count() threads (one when called inside an
// OpenMP parallel region) and are bit-reproducible for a given thread count: every output
// element is summed by one thread in an order fixed by the geometry and the thread count, never
// through atomics or a reduction whose order depends on scheduling.

// Adjoint of im2col: adds every element of `columns` (laid out as im2col writes it for output
// pixels [pixel_begin, pixel_end)) into the input position it was read from; elements that im2col
// read from padding are dropped. `image` points at the group's first input channel and is
// accumulated into, not overwritten.
void col2im(const Conv2dGeometry& g, const float* columns, int64_t pixel_begin, int64_t pixel_end, float* image);

// dL/dinput (batch, in_channels, in_h, in_w) of conv2d from dL/doutput (batch, out_channels,
// out_h, out_w); overwrites grad_input. With unit strides and at least 16 input channels per
// group (or depthwise without multiplier) it is the convolution of the output gradient with the
// spatially flipped, transposed weights, run by conv2d; otherwise each image and group
// multiplies W^T by its output gradient and scatters the columns back with col2im, or, for
// depthwise layers, direct loops scatter each tap.
void conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output, const float* weights,
                           float* grad_input);

// dL/dweights (out_channels, in_channels/groups, kernel_h, kernel_w) and dL/dbias (out_channels)
// of conv2d; either pointer may be null to skip it. Both are overwritten. The weight gradient of
// group g is sum over images of dY_g x im2col(X_g)^T; the threads split its columns (the patch
// rows), each summing over all images in order.
void conv2d_backward_weights(const Conv2dGeometry& g, const float* input, const float* grad_output,
                             float* grad_weights, float* grad_bias);

}  // namespace coda
