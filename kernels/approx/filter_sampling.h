// Filter sampling (knobs 231-239 in FP32, 261-269 in FP16; REFERENCE.md section 1, HPVM's
// ApproxTuner): within each group, the filter elements e (flattened over input channel of the
// group, kernel row, kernel column) with e % k == offset are dropped from every filter, and the
// kept ones are scaled by k / (k - 1) so the expected sum is unchanged.
//
// The work really is skipped: the weights are compacted to the kept elements once per run, and
// the convolution is lowered over the kept im2col rows only (a GEMM with the reduced inner
// dimension), or, for depthwise layers, runs direct loops over the kept taps.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/approx/knob_catalog.h"
#include "kernels/conv_kernels.h"

namespace coda {

// Indices e in [0, patch_size) of the kept filter elements, increasing.
std::vector<int64_t> sampled_filter_elements(int64_t patch_size, int k, int offset);

// The weights of a sampled convolution, compacted to the kept elements and rescaled: what a
// kernel prepares once and reuses while the weights do not change.
struct SampledWeights {
  int64_t patch_size = 0;       // elements per filter before sampling
  std::vector<int64_t> kept;    // sampled_filter_elements(patch_size, k, offset)
  std::vector<float> weights;   // (out_channels, kept.size()), row-major
};

// FP32: w * (float(k) / float(k - 1)); FP16: round_to_half(round_to_half(w) * s) with
// s = round_to_half(float(k) / float(k - 1)). Throws BadInput when k < 2 or offset is outside
// 0..k-1.
SampledWeights sample_weights(const Conv2dGeometry& g, const Knob& knob, const float* w);

// y = the sampled convolution of x with weights w and bias b (may be null) under `knob` (its k,
// offset, precision and accumulation); returns the multiply-accumulates done, batch x out_channels
// x out_plane x kept elements. In FP16 input and bias are rounded to half, and products and sums
// follow hgemm over the kept elements in increasing order (conv2d_lowered, conv2d_depthwise_taps
// in fp16_kernels.h). Throws BadInput when k < 2 or offset is outside 0..k-1.
int64_t sampled_conv2d(const Conv2dGeometry& g, const Knob& knob, const float* x, const float* w, const float* b,
                       float* y);
// The same with weights prepared by sample_weights(g, knob, w).
int64_t sampled_conv2d(const Conv2dGeometry& g, const Knob& knob, const float* x, const SampledWeights& w,
                       const float* b, float* y);

}  // namespace coda
