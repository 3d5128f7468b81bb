#include "kernels/approx/quantize.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/approx/approx_plan.h"
#include "kernels/error.h"

namespace coda {

namespace {

// Below this many elements a fork/join costs more than the loop.
constexpr int64_t kParallelMin = 1 << 16;

}  // namespace

AffineQuantizer::AffineQuantizer(const ValueRange& range) : low(range.low), high(range.high) {
  // 255 steps between the ends: codes 0..255 of an 8-bit operand (REFERENCE.md section 2).
  scale = range.valid() ? (high - low) / static_cast<float>(kAffineLevels - 1) : 0.0f;
  if (!range.valid()) high = low;
}

int AffineQuantizer::code(float x) const {
  if (scale == 0.0f) return 0;
  return static_cast<int>(std::nearbyint((std::min(std::max(x, low), high) - low) / scale));
}

void fake_quantize_affine(const float* in, float* out, int64_t n, const ValueRange& range) {
  const AffineQuantizer q(range);
  const float low = q.low, high = q.high, scale = q.scale;
  if (scale == 0.0f) {
    std::fill(out, out + n, low);
    return;
  }
  // The same expression as AffineQuantizer::operator(), written out so it vectorises
  // (std::nearbyint becomes one rounding instruction).
#pragma omp parallel for schedule(static) if (n >= kParallelMin && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) {
    const float level = std::nearbyint((std::min(std::max(in[i], low), high) - low) / scale);
    out[i] = low + level * scale;
  }
}

int64_t symmetric_max_code(int bits) {
  // The catalog allows 2..24 bits; 24 keeps every code exact in a float.
  if (bits < 2 || bits > 24) throw BadInput("fixed point needs 2..24 bits, got " + std::to_string(bits));
  return (int64_t{1} << (bits - 1)) - 1;
}

float symmetric_scale(float max_abs_value, int bits) {
  return max_abs_value / static_cast<float>(symmetric_max_code(bits));
}

void fake_quantize_symmetric(const float* in, float* out, int64_t n, float scale, int bits) {
  const auto qmax = static_cast<float>(symmetric_max_code(bits));
  if (!(scale > 0.0f) || !std::isfinite(scale)) {
    std::fill(out, out + n, 0.0f);
    return;
  }
#pragma omp parallel for schedule(static) if (n >= kParallelMin && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) {
    // Saturate first: qmax is an integer, so clamping before or after rounding agrees, and the
    // clamped quotient stays small enough to round exactly.
    const float level = std::nearbyint(std::min(std::max(in[i] / scale, -qmax), qmax));
    out[i] = level * scale;
  }
}

ValueRange min_max_range(const float* x, int64_t n) {
  if (n <= 0) return ValueRange{};
  float lo = std::numeric_limits<float>::infinity(), hi = -std::numeric_limits<float>::infinity();
  const bool parallel = n >= kParallelMin && !omp_in_parallel();
#pragma omp parallel for schedule(static) reduction(min : lo) reduction(max : hi) if (parallel)
  for (int64_t i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  return ValueRange{lo, hi};
}

ValueRange percentile_range(const float* x, int64_t n, double low_p, double high_p) {
  if (n <= 0) return ValueRange{};
  std::vector<float> values(x, x + n);
  const float lo = percentile(values, low_p);
  const float hi = percentile(values, high_p);
  return ValueRange{lo, hi};
}

float max_abs(const float* x, int64_t n) {
  float m = 0.0f;
#pragma omp parallel for schedule(static) reduction(max : m) if (n >= kParallelMin && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

std::uint64_t content_fingerprint(const float* x, int64_t n) {
  // Wrapping sums are associative, so the digest does not depend on how threads split the loop.
  std::uint32_t sum = 0, weighted = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum, weighted) if (n >= kParallelMin && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    sum += bits;
    weighted += bits * (2u * static_cast<std::uint32_t>(i) + 1u);
  }
  return (static_cast<std::uint64_t>(sum) << 32 | weighted) ^ static_cast<std::uint64_t>(n);
}

std::shared_ptr<const Tensor> QuantizedWeightCache::get(const Tensor& weights, const Quantizer& quantize) const {
  const std::uint64_t fingerprint = content_fingerprint(weights.f32(), weights.size());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (quantized_ && shape_ == weights.shape() && fingerprint_ == fingerprint) return quantized_;
  }
  // Quantized outside the lock; concurrent first runs may both quantize, with the same result.
  auto quantized = std::make_shared<Tensor>(weights.shape());
  quantize(weights, *quantized);
  std::lock_guard<std::mutex> lock(mutex_);
  shape_ = weights.shape();
  fingerprint_ = fingerprint;
  quantized_ = quantized;
  return quantized_;
}

}  // namespace coda
