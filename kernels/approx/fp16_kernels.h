// IEEE half-precision arithmetic for the fp16 knobs (12: half accumulation, 71: half storage with
// float accumulation; REFERENCE.md section 1) and the FP16 variants of perforation and filter
// sampling. Half values are held in floats and every operation is followed by round_to_half
// (half_math.h), which gives correctly rounded half results for +, -, * and / (double rounding is
// innocuous from binary32 to binary16). The matrix product is the one place where the order of
// the sums is part of the definition: see hgemm.
//
// The family kernel (registered for KnobFamily::Fp16) runs Conv, Gemm and MatMul with these
// kernels and every other op as the exact kernel on half-rounded inputs, its outputs rounded.
#pragma once

#include <cstdint>

#include "kernels/approx/knob_catalog.h"
#include "kernels/conv_kernels.h"

namespace coda {

// C = op(A) * op(B) in half arithmetic, row-major like sgemm (C m x n, overwritten; op(A) m x k,
// op(B) k x n). A and B must hold half values (round_to_half(x) == x); C receives half values.
// Element (i, j) is summed over p = 0, 1, ..., k-1 in that order, starting from zero:
//   accumulate == Fp16: s = round_to_half(s + round_to_half(a_ip * b_pj)) at every step;
//   accumulate == Fp32: s = s + a_ip * b_pj in float (the product of two halves is exact in float,
//                       as on tensor cores), and C = round_to_half(s) at the end.
// The order is fixed, so the result does not depend on blocking or on the thread count.
// Multi-threaded (one thread inside an OpenMP parallel region).
void hgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc, Arithmetic accumulate);

// The arithmetic of a convolution kernel: plain float, or half with the given accumulation.
struct ConvArithmetic {
  Arithmetic precision = Arithmetic::Fp32;
  Arithmetic accumulate = Arithmetic::Fp32;
  bool half() const { return precision == Arithmetic::Fp16; }
};

// Convolution lowered to a matrix product over a chosen subset of the im2col patch rows (all of
// them when `rows` is null): y = W x im2col(x)[rows] + bias, with `weights` already holding only
// the chosen rows, (out_channels, row_count) row-major, each group's block consecutive. The rows
// are indices into the group's patch (c, i, j flattened), increasing. Filter sampling computes
// with a subset; FP16 convolution with all rows.
// In half arithmetic input, weights and bias must hold half values; output (o, pixel) is then
// round_to_half(hgemm sum + bias[o]) with the hgemm sum taken over the chosen rows in increasing
// order (padding taps contribute exact zeros). In float it is an SGEMM (order unspecified).
// Not for depthwise geometries (use conv2d_depthwise_taps).
void conv2d_lowered(const Conv2dGeometry& g, const float* input, const float* weights, const int64_t* rows,
                    int64_t row_count, const float* bias, float* output, ConvArithmetic arithmetic);

// Where a kernel writes output element (image, channel, oh, ow):
// output[(image * out_channels + channel) * plane + oh * row + ow * column]. plane == 0 means the
// dense layout (out_plane(), out_w, 1). Perforation writes each residue straight into place.
struct OutputStrides {
  int64_t plane = 0, row = 0, column = 1;
};

// Depthwise convolution (one input channel per group) over the kernel taps listed in `taps`
// (indices i * kernel_w + j, increasing; all taps when null); `weights` is (out_channels,
// tap_count). Output (o, pixel) sums the taps in the listed order (taps falling into padding add
// exact zeros), then adds the bias; in half arithmetic with the rounding of hgemm (per step with
// Fp16 accumulation, once at the end with Fp32) and a rounded bias add. Any stride, dilation and
// padding, negative padding included. Swept over phase planes as conv2d_depthwise does.
void conv2d_depthwise_taps(const Conv2dGeometry& g, const float* input, const float* weights, const int64_t* taps,
                           int64_t tap_count, const float* bias, float* output, ConvArithmetic arithmetic,
                           const OutputStrides& strides = {});

// Convolution in half arithmetic: input, weights and bias are rounded to half here, products
// and sums as in hgemm (depthwise layers as in conv2d_depthwise_taps), the bias added and the
// output rounded. Grouped, depthwise and 1-D geometries alike.
void conv2d_half(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias,
                 float* output, Arithmetic accumulate);

}  // namespace coda
