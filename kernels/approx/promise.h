// Functional model of the PROMISE analog accelerator (Srivastava et al., ISCA 2018; HPVM's
// simulator; REFERENCE.md section 2), the knobs of family `promise` (ids 1-7, Conv/Gemm/MatMul):
//   1. input, weights and bias are quantized to 8 bits with affine per-layer ranges: the input
//      with its calibrated range (KnobRequest::ranges, 0.1/99.9 percentiles, the network input its
//      full range), the weights with their own 0.1/99.9 percentiles, the bias with its min..max;
//   2. each quantized input element x becomes x * (1 + e), e ~ N(0, sigma^2), sigma = Knob::sigma
//      (the analog error of the swing level);
//   3. the exact op runs on the noisy input and the quantized weights and bias;
//   4. the output is quantized to its calibrated range.
// The stored weights are never modified: the kernel keeps its own quantized copy (PROMISE programs
// the weights into its SRAM banks once).
//
// Noise is counter-based: element i of the k-th run (invocation) of a kernel draws from a hash of
// (seed, invocation, i), so it does not depend on the thread count or the order in which threads
// run; successive batches get fresh noise, and a kernel rebuilt from the same seed repeats the
// same sequence exactly.
#pragma once

#include <cstdint>

#include "kernels/approx/approx_kernel.h"
#include "kernels/conv_kernels.h"

namespace coda {

// A standard normal deviate for element `index` of invocation `invocation` under `seed`: one
// splitmix64 output (Steele et al., OOPSLA 2014) keyed by (seed, invocation) at counter
// index / 2 gives two 24-bit uniforms, and the Box-Muller transform turns them into two
// independent normals, the cosine one for even and the sine one for odd indices. The tail is cut
// at sqrt(48 ln 2) = 5.77 standard deviations (the smallest uniform is 2^-24).
float promise_gaussian(std::uint64_t seed, std::uint64_t invocation, std::uint64_t index);

// x[i] *= 1 + sigma * promise_gaussian(seed, invocation, i) for i < n. Multi-threaded; the result
// does not depend on the thread count. sigma == 0 leaves x as it is.
void promise_noise(float* x, int64_t n, double sigma, std::uint64_t seed, std::uint64_t invocation);

// The ranges and noise of one PROMISE layer.
struct PromiseLayer {
  ValueRange input;
  ValueRange weights;
  ValueRange bias;
  ValueRange output;
  double sigma = 0.0;
  std::uint64_t seed = 0;
};

// Quantizes n input values to layer.input and applies the noise of `invocation` (steps 1-2 for
// the input): out may alias in.
void promise_input(const float* in, float* out, int64_t n, const PromiseLayer& layer, std::uint64_t invocation);

// The PROMISE model of a convolution and of a matrix product on raw arrays, with the weights and
// bias quantized here from the given ranges (the op kernel quantizes its weights once instead).
// promise_gemm computes C (m x n) = A (m x k) * B (k x n) + bias (n, broadcast over rows; may be
// null), row-major. Neither modifies its inputs.
void promise_conv2d(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias, float* output,
                    const PromiseLayer& layer, std::uint64_t invocation);
void promise_gemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, const float* bias, float* c,
                  const PromiseLayer& layer, std::uint64_t invocation);

// Percentiles of the weight range (REFERENCE.md section 2: 0.1 and 99.9, as for activations).
constexpr double kPromiseLowPercentile = 0.1;
constexpr double kPromiseHighPercentile = 99.9;

}  // namespace coda
