// Quantizers shared by the PROMISE and fixed-point knobs: affine 8-bit quantization over a
// calibrated range (PROMISE, REFERENCE.md section 2) and symmetric fixed point with a max-abs
// scale (per-layer precision, REFERENCE.md section 8). Both are "fake" quantizers: they return
// the real value a code stands for, so the exact float kernels can compute on quantized operands.
//
// Rounding is to nearest, ties to even, everywhere (as std::nearbyint in the default rounding
// mode), so a naive reference written with std::nearbyint reproduces every bit.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "kernels/approx/approx_kernel.h"
#include "kernels/tensor.h"

namespace coda {

// Levels of an 8-bit affine quantizer: codes 0..255.
constexpr int kAffineLevels = 256;

// Affine quantizer of one range: scale = (high - low) / 255, code q = round((clamp(x, low, high)
// - low) / scale), value = low + q * scale. A range with high <= low (a constant tensor, e.g. an
// all-zero bias) has a single level: every value maps to `low`.
struct AffineQuantizer {
  explicit AffineQuantizer(const ValueRange& range);
  float low = 0.0f;
  float high = 0.0f;
  float scale = 0.0f;  // 0 for a single-level range

  int code(float x) const;
  float value(int code) const { return low + static_cast<float>(code) * scale; }
  float operator()(float x) const { return value(code(x)); }
};

// out[i] = AffineQuantizer(range)(in[i]); in and out may alias. Vectorised and multi-threaded.
void fake_quantize_affine(const float* in, float* out, int64_t n, const ValueRange& range);

// Symmetric fixed point with `bits` bits: codes -(2^(bits-1) - 1) .. 2^(bits-1) - 1 (the most
// negative code is left unused so the grid is symmetric), scale = max_abs / (2^(bits-1) - 1),
// code = round(clamp(x / scale, -qmax, qmax)) (saturation), value = code * scale. A zero scale
// maps everything to 0.
int64_t symmetric_max_code(int bits);
float symmetric_scale(float max_abs, int bits);
// out[i] = value of in[i] on the grid of `scale`; in and out may alias.
void fake_quantize_symmetric(const float* in, float* out, int64_t n, float scale, int bits);

// Range helpers. min_max_range: [min, max] of n values (the bias range of PROMISE).
// percentile_range: the low_p and high_p percentiles (numpy's linear interpolation, as
// calibrate_ranges uses), computed on a copy. max_abs: the largest |x|.
ValueRange min_max_range(const float* x, int64_t n);
ValueRange percentile_range(const float* x, int64_t n, double low_p, double high_p);
float max_abs(const float* x, int64_t n);

// A 64-bit digest of n floats' bit patterns (two wrapping 32-bit sums, one position-weighted),
// cheap enough to compute on every run: it tells whether a weight tensor changed.
std::uint64_t content_fingerprint(const float* x, int64_t n);

// The quantized copy of an op's weight tensor that an approximate kernel keeps, so the stored
// weights are never modified and quantized only once. The copy is keyed by the tensor's shape and
// content fingerprint: should input 1 not be a constant (a MatMul of two activations), a changed
// tensor is quantized afresh rather than served stale. Safe to use from concurrent runs.
class QuantizedWeightCache {
 public:
  // Writes the quantized form of `source` into `quantized` (allocated with source's shape).
  using Quantizer = std::function<void(const Tensor& source, Tensor& quantized)>;
  std::shared_ptr<const Tensor> get(const Tensor& weights, const Quantizer& quantize) const;

 private:
  mutable std::mutex mutex_;
  mutable Shape shape_;
  mutable std::uint64_t fingerprint_ = 0;
  mutable std::shared_ptr<const Tensor> quantized_;
};

}  // namespace coda
