// Perforated convolution (knobs 121-138 in FP32, 151-168 in FP16; REFERENCE.md section 1, after
// Figurnov et al., NIPS 2016 and HPVM's ApproxTuner): output rows (axis 0) or columns (axis 1) r
// with r % k == offset are not computed; each is filled with the average of its computed
// neighbours r - 1 and r + 1, or a copy of the one that exists at a border. A skipped line with no
// computed neighbour (an output only one line tall or wide) is computed after all. The bias is
// part of the computed outputs, so interpolation averages biased values.
//
// The work really is skipped: the kept lines of one residue q (mod k) are themselves a
// convolution, with the stride along the perforated axis multiplied by k and the padding shifted
// by q strides, so each residue runs as one ordinary lowered convolution (im2col of the kept
// output pixels only, one GEMM over them) whose lines are then scattered into place, or, for a
// depthwise layer, as direct loops over the kept lines writing straight into place. One pass per
// output plane then scatters and interpolates.
#pragma once

#include <cstdint>

#include "kernels/approx/knob_catalog.h"
#include "kernels/conv_kernels.h"

namespace coda {

struct PerforationStats {
  int64_t computed_outputs = 0;      // output elements computed by the convolution
  int64_t interpolated_outputs = 0;  // output elements filled from their neighbours
  int64_t macs = 0;                  // multiply-accumulates done (kept pixels x patch x channels)
};

// y = the perforated convolution of x with weights w and bias b (may be null) under `knob`
// (its axis, k, offset, precision and accumulation). In FP16 the input, weights and bias are
// rounded to half, computed outputs are those of conv2d_half (fp16_kernels.h) and interpolated
// ones round_to_half(round_to_half(a + b) * 0.5); in FP32 they are (a + b) * 0.5f. Throws
// BadInput when the knob's k < 2, offset is outside 0..k-1 or axis is not 0 or 1.
PerforationStats perforated_conv2d(const Conv2dGeometry& g, const Knob& knob, const float* x, const float* w,
                                   const float* b, float* y);

}  // namespace coda
