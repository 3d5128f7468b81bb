// Per-layer symmetric fixed point, the knobs of family `precision` (ids 72 and 73: 16 and 8
// bits, Conv/Gemm/MatMul): the operating points of online precision scaling (Peluso; REFERENCE.md
// section 8). With b = Knob::bits and qmax = 2^(b-1) - 1:
//   weights: scale max|w| / qmax, over the whole weight tensor of the layer;
//   input:   scale max(|low|, |high|) / qmax, from the calibrated input range of the layer
//            (KnobRequest::ranges), so values beyond the calibration saturate;
// each rounded to the nearest code (ties to even) and saturated to [-qmax, qmax]
// (fake_quantize_symmetric in quantize.h). The op then computes on those values in float, and
// its output stays float: the wide accumulator of a fixed-point datapath, whose result the next
// layer requantizes with its own scale. The bias joins that accumulator unquantized.
#pragma once

#include <cstdint>

#include "kernels/approx/approx_kernel.h"

namespace coda {

// The two per-layer scales of a fixed-point layer.
struct FixedPointScales {
  float input = 0.0f;
  float weights = 0.0f;
};
FixedPointScales fixed_point_scales(const ValueRange& input_range, const float* weights, int64_t weight_count,
                                    int bits);

}  // namespace coda
