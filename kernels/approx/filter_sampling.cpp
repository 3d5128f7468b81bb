#include "kernels/approx/filter_sampling.h"

#include <omp.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/fp16_kernels.h"
#include "kernels/approx/half_math.h"
#include "kernels/error.h"
#include "kernels/ops/window.h"
#include "kernels/tensor.h"

namespace coda {

namespace {

void check_knob(const Knob& knob) {
  const std::string where = "knob " + std::to_string(knob.id) + " (" + knob.name + ")";
  if (knob.k < 2) throw BadInput(where + ": filter sampling needs k >= 2, not " + std::to_string(knob.k));
  if (knob.offset < 0 || knob.offset >= knob.k)
    throw BadInput(where + ": offset " + std::to_string(knob.offset) + " is outside 0.." + std::to_string(knob.k - 1));
}

// A 64-bit digest of n floats' bit patterns (two wrapping sums, one position-weighted): reading
// the weights costs far less than compacting them, and tells a kernel whether its prepared
// weights still match its weight input.
std::uint64_t fingerprint(const float* x, int64_t n) {
  std::uint32_t sum = 0, weighted = 0;
#pragma omp parallel for schedule(static) reduction(+ : sum, weighted) if (n >= (1 << 18) && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    sum += bits;
    weighted += bits * (2u * static_cast<std::uint32_t>(i) + 1u);
  }
  return (static_cast<std::uint64_t>(sum) << 32 | weighted) ^ static_cast<std::uint64_t>(n);
}

// Prepares the compacted weights on its first run and reuses them while the weight input keeps
// its shape and content (a constant initializer always does; anything else is re-prepared).
class SampledConvKernel : public ApproxKernel {
 public:
  SampledConvKernel(const OpKernel& exact, const Knob& knob) : ApproxKernel(exact), knob_(knob) {}
  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const Conv2dGeometry g = conv_geometry(ctx.node(), x.shape(), w.shape(), b ? &b->shape() : nullptr);
    sampled_conv2d(g, knob_, x.f32(), *prepared(g, w), b ? b->f32() : nullptr, ctx.output(0).f32());
  }

 private:
  std::shared_ptr<const SampledWeights> prepared(const Conv2dGeometry& g, const Tensor& w) const {
    const std::uint64_t digest = fingerprint(w.f32(), w.size());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (weights_ && shape_ == w.shape() && digest_ == digest) return weights_;
    }
    auto weights = std::make_shared<const SampledWeights>(sample_weights(g, knob_, w.f32()));
    std::lock_guard<std::mutex> lock(mutex_);
    shape_ = w.shape();
    digest_ = digest;
    weights_ = weights;
    return weights_;
  }

  Knob knob_;
  mutable std::mutex mutex_;
  mutable Shape shape_;
  mutable std::uint64_t digest_ = 0;
  mutable std::shared_ptr<const SampledWeights> weights_;
};

std::unique_ptr<OpKernel> make_sampled_kernel(const KnobRequest& request) {
  if (request.node.op_type != "Conv")
    throw BadInput("knob " + std::to_string(request.knob.id) + " (filter sampling) applies to Conv only, not " +
                   request.node.describe());
  check_knob(request.knob);
  return std::make_unique<SampledConvKernel>(request.exact, request.knob);
}

}  // namespace

std::vector<int64_t> sampled_filter_elements(int64_t patch_size, int k, int offset) {
  std::vector<int64_t> kept;
  kept.reserve(static_cast<std::size_t>(patch_size));
  for (int64_t e = 0; e < patch_size; ++e)
    if (e % k != offset) kept.push_back(e);
  return kept;
}

SampledWeights sample_weights(const Conv2dGeometry& g, const Knob& knob, const float* w) {
  check_knob(knob);
  const bool half = knob.precision == Arithmetic::Fp16;
  SampledWeights s;
  s.patch_size = g.patch_size();
  s.kept = sampled_filter_elements(s.patch_size, knob.k, knob.offset);
  float scale = static_cast<float>(knob.k) / static_cast<float>(knob.k - 1);
  if (half) scale = round_to_half(scale);
  const auto kept_count = static_cast<int64_t>(s.kept.size());
  s.weights.resize(static_cast<std::size_t>(g.out_channels * kept_count));
  const int64_t* __restrict index = s.kept.data();
  const int64_t K = s.patch_size;
  float* dst = s.weights.data();
#pragma omp parallel for schedule(static) if (g.out_channels * K >= (1 << 16) && !omp_in_parallel())
  for (int64_t o = 0; o < g.out_channels; ++o) {
    const float* __restrict src = w + o * K;
    float* __restrict d = dst + o * kept_count;
    if (half) {
      for (int64_t t = 0; t < kept_count; ++t) d[t] = round_to_half(round_to_half(src[index[t]]) * scale);
    } else {
      for (int64_t t = 0; t < kept_count; ++t) d[t] = src[index[t]] * scale;
    }
  }
  return s;
}

int64_t sampled_conv2d(const Conv2dGeometry& g, const Knob& knob, const float* x, const float* w, const float* b,
                       float* y) {
  return sampled_conv2d(g, knob, x, sample_weights(g, knob, w), b, y);
}

int64_t sampled_conv2d(const Conv2dGeometry& g, const Knob& knob, const float* x, const SampledWeights& w,
                       const float* b, float* y) {
  check_knob(knob);
  if (w.patch_size != g.patch_size() ||
      static_cast<int64_t>(w.weights.size()) != g.out_channels * static_cast<int64_t>(w.kept.size()))
    throw std::invalid_argument("sampled_conv2d: weights prepared for another geometry");
  const ConvArithmetic arithmetic{knob.precision, knob.accumulate};
  const auto kept_count = static_cast<int64_t>(w.kept.size());
  std::vector<float> xh, bh;
  if (arithmetic.half()) {
    xh.assign(x, x + g.batch * g.in_channels * g.in_plane());
    round_to_half(xh.data(), static_cast<int64_t>(xh.size()));
    x = xh.data();
    if (b) {
      bh.assign(b, b + g.out_channels);
      round_to_half(bh.data(), static_cast<int64_t>(bh.size()));
      b = bh.data();
    }
  }
  // A depthwise patch is the kernel's taps, so the kept elements are kept taps.
  if (g.is_depthwise()) {
    conv2d_depthwise_taps(g, x, w.weights.data(), w.kept.data(), kept_count, b, y, arithmetic);
  } else {
    conv2d_lowered(g, x, w.weights.data(), w.kept.data(), kept_count, b, y, arithmetic);
  }
  return g.batch * g.out_channels * g.out_plane() * kept_count;
}

CODA_REGISTER_KNOB_FAMILY(FilterSampling, make_sampled_kernel);

}  // namespace coda
