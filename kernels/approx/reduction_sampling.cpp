#include "kernels/approx/reduction_sampling.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/half_math.h"
#include "kernels/error.h"

namespace coda {

int64_t sampled_count(int64_t n, double fraction) {
  if (n <= 0) return 0;
  return std::clamp<int64_t>(std::llround(static_cast<double>(n) * fraction), 1, n);
}

SamplingArithmetic SamplingArithmetic::of(const Knob& knob) {
  SamplingArithmetic a;
  a.fraction = knob.fraction;
  a.half = knob.precision == Arithmetic::Fp16;
  a.half_accumulate = a.half && knob.accumulate == Arithmetic::Fp16;
  return a;
}

namespace {

// Sampled reads below this many are not worth a fork/join.
constexpr int64_t kParallelMin = 1 << 15;
// Outputs accumulated together when the innermost axis is kept: long enough for whole vectors,
// short enough to stay in L1 across the sampled rows.
constexpr int64_t kChunk = 2048;

// One arithmetic variant: how an input is read, how the running value absorbs it, how it ends.
template <bool Half, bool HalfAccumulate, bool Max>
struct Accumulator {
  static float start() { return Max ? -std::numeric_limits<float>::infinity() : 0.0f; }
  static float read(float v) { return Half ? round_to_half(v) : v; }
  static float add(float acc, float v) {
    if constexpr (Max) {
      return v > acc ? v : acc;  // as the exact MaxPool: a NaN input is passed over
    } else {
      const float sum = acc + v;
      return HalfAccumulate ? round_to_half(sum) : sum;
    }
  }
  static float result(float v) { return Half ? round_to_half(v) : v; }
};

float finish_reduction(SampledReduction kind, float acc, int64_t n, int64_t m) {
  switch (kind) {
    case SampledReduction::Mean:
      return acc / static_cast<float>(m);
    case SampledReduction::Sum:
      return static_cast<float>(static_cast<double>(acc) * static_cast<double>(n) / static_cast<double>(m));
    case SampledReduction::Max:
      break;
  }
  return acc;
}

// ---------------------------------------------------------------------------------------------
// ReduceMean / ReduceSum / global pools

struct Axis {
  int64_t size;
  int64_t stride;
};

template <typename Acc>
void reduce_typed(const float* x, const Shape& shape, const std::vector<bool>& reduced, SampledReduction kind,
                  double fraction, float* y) {
  const auto rank = shape.size();
  std::vector<int64_t> stride(rank, 1);
  for (std::size_t d = rank; d-- > 1;) stride[d - 1] = stride[d] * shape[d];
  int64_t n = 1, outputs = 1;
  for (std::size_t d = 0; d < rank; ++d) (reduced[d] ? n : outputs) *= shape[d];
  if (outputs == 0) return;
  if (n == 0) {
    const float empty = kind == SampledReduction::Mean  ? std::numeric_limits<float>::quiet_NaN()
                        : kind == SampledReduction::Max ? -std::numeric_limits<float>::infinity()
                                                        : 0.0f;
    std::fill(y, y + outputs, empty);
    return;
  }

  // Input offsets of the sampled elements, the same for every output.
  std::vector<Axis> red;
  for (std::size_t d = 0; d < rank; ++d)
    if (reduced[d] && shape[d] > 1) red.push_back(Axis{shape[d], stride[d]});
  const int64_t m = sampled_count(n, fraction);
  std::vector<int64_t> offsets(static_cast<std::size_t>(m));
  for (int64_t k = 0; k < m; ++k) {
    int64_t t = sample_index(k, n, m), offset = 0;
    for (std::size_t a = red.size(); a-- > 0;) {
      offset += (t % red[a].size) * red[a].stride;
      t /= red[a].size;
    }
    offsets[static_cast<std::size_t>(k)] = offset;
  }

  // The trailing axes up to the last reduced one (size-1 axes are transparent) are contiguous in
  // both input and output: `inner` outputs side by side read `inner` consecutive inputs per
  // sample. The kept axes before form the outer index.
  std::size_t split = rank;
  while (split > 0 && (!reduced[split - 1] || shape[split - 1] == 1)) --split;
  int64_t inner = 1;
  for (std::size_t d = split; d < rank; ++d) inner *= shape[d];
  std::vector<Axis> outer;
  for (std::size_t d = 0; d < split; ++d)
    if (!reduced[d] && shape[d] > 1) outer.push_back(Axis{shape[d], stride[d]});
  const bool parallel = outputs * m >= kParallelMin;
  const int64_t* off = offsets.data();
  auto outer_offset = [&outer](int64_t r) {
    int64_t base = 0;
    for (auto a = static_cast<std::ptrdiff_t>(outer.size()) - 1; a >= 0; --a) {
      const Axis& ax = outer[static_cast<std::size_t>(a)];
      base += (r % ax.size) * ax.stride;
      r /= ax.size;
    }
    return base;
  };

  if (inner == 1) {
    // The innermost axis is reduced: each output gathers its samples. A block of outputs is
    // accumulated side by side, so their sums form independent dependency chains instead of
    // one chain waiting on every add.
    constexpr int64_t kBlock = 8;
    const int64_t blocks = (outputs + kBlock - 1) / kBlock;
    // Outputs whose samples lie close together (a contiguous reduced block, as in a mean over the
    // spatial axes) but span several cache lines: fetch the next block's lines ahead, since
    // eight interleaved strided streams defeat the hardware prefetcher (2.1x faster on a
    // 64x512x14x14 ReduceMean).
    const int64_t span = off[m - 1] - off[0];
    const bool dense = span <= 2 * n && span >= 64;
#pragma omp parallel for schedule(static) if (parallel && blocks > 1 && !omp_in_parallel())
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t first = b * kBlock, count = std::min(kBlock, outputs - first);
      int64_t base[kBlock];
      float acc[kBlock];
      for (int64_t i = 0; i < kBlock; ++i) {
        base[i] = outer_offset(first + std::min(i, count - 1));  // a short block repeats its last output
        acc[i] = Acc::start();
      }
      if (dense && first + kBlock < outputs)
        for (int64_t i = 0; i < kBlock; ++i) {
          const float* next = x + outer_offset(std::min(outputs - 1, first + kBlock + i)) + off[0];
          for (int64_t e = 0; e <= span; e += 16) __builtin_prefetch(next + e, 0, 3);
        }
      for (int64_t k = 0; k < m; ++k) {
        const int64_t o = off[k];
#pragma GCC unroll 8
        for (int64_t i = 0; i < kBlock; ++i) acc[i] = Acc::add(acc[i], Acc::read(x[base[i] + o]));
      }
      for (int64_t i = 0; i < count; ++i) y[first + i] = Acc::result(finish_reduction(kind, acc[i], n, m));
    }
    return;
  }

  // The innermost axis is kept: rows of up to kChunk outputs accumulate consecutive inputs per
  // sample, vectorised across the row.
  const int64_t rows = outputs / inner;
  const int64_t chunk = std::min(inner, kChunk);
  const int64_t chunks = (inner + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (parallel && rows * chunks > 1 && !omp_in_parallel())
  for (int64_t task = 0; task < rows * chunks; ++task) {
    const int64_t r = task / chunks, begin = (task % chunks) * chunk;
    const int64_t len = std::min(inner, begin + chunk) - begin;
    const int64_t base = outer_offset(r) + begin;
    float* __restrict acc = y + r * inner + begin;
    for (int64_t j = 0; j < len; ++j) acc[j] = Acc::start();
    for (int64_t k = 0; k < m; ++k) {
      const float* __restrict src = x + base + off[k];
      for (int64_t j = 0; j < len; ++j) acc[j] = Acc::add(acc[j], Acc::read(src[j]));
    }
    for (int64_t j = 0; j < len; ++j) acc[j] = Acc::result(finish_reduction(kind, acc[j], n, m));
  }
}

// ---------------------------------------------------------------------------------------------
// MaxPool / AveragePool

// Per output position of one axis: the first tap inside the input and how many there are.
struct AxisTaps {
  std::vector<int64_t> first, count;
  int64_t full_begin = 0, full_end = 0;  // outputs whose window lies wholly inside the input
};

AxisTaps axis_taps(const WindowAxis& a) {
  AxisTaps t;
  t.first.resize(static_cast<std::size_t>(a.out));
  t.count.resize(static_cast<std::size_t>(a.out));
  t.full_begin = a.out;
  for (int64_t o = 0; o < a.out; ++o) {
    int64_t first, last;
    valid_taps(a.start(o), a.kernel, a.dilation, 0, a.in, first, last);
    t.first[static_cast<std::size_t>(o)] = first;
    t.count[static_cast<std::size_t>(o)] = std::max<int64_t>(0, last - first);
    if (last - first == a.kernel) {  // full windows form one run of outputs
      t.full_begin = std::min(t.full_begin, o);
      t.full_end = o + 1;
    }
  }
  if (t.full_begin > t.full_end) t.full_begin = t.full_end = 0;
  return t;
}

float finish_average(float acc, int64_t n, int64_t m, int64_t divisor) {
  if (divisor == n) return acc / static_cast<float>(m);
  return static_cast<float>(static_cast<double>(acc) * static_cast<double>(n) /
                            (static_cast<double>(m) * static_cast<double>(divisor)));
}

template <typename Acc, bool Average>
void pool_typed(const PoolGeometry& g, const float* x, bool count_include_pad, double fraction, float* y) {
  const WindowAxis& H = g.h;
  const WindowAxis& W = g.w;
  const AxisTaps th = axis_taps(H), tw = axis_taps(W);
  const std::vector<int64_t> dh = average_divisors(H, count_include_pad), dw = average_divisors(W, count_include_pad);
  const int64_t in_plane = H.in * W.in, out_plane = H.out * W.out;
  const int64_t sw = W.stride;

  // Sampled taps of a full window, as offsets from its top-left input position.
  const int64_t full_n = H.kernel * W.kernel, full_m = sampled_count(full_n, fraction);
  std::vector<int64_t> full_offsets(static_cast<std::size_t>(full_m));
  for (int64_t k = 0; k < full_m; ++k) {
    const int64_t t = sample_index(k, full_n, full_m);
    full_offsets[static_cast<std::size_t>(k)] = (t / W.kernel) * H.dilation * W.in + (t % W.kernel) * W.dilation;
  }
  const int64_t* full_off = full_offsets.data();
  // Kernel rows the full windows sample: the rows a row of outputs reads from memory.
  std::vector<int64_t> sampled_rows;
  for (int64_t k = 0; k < full_m; ++k) {
    const int64_t r = (sample_index(k, full_n, full_m) / W.kernel) * H.dilation;
    if (sampled_rows.empty() || sampled_rows.back() != r) sampled_rows.push_back(r);
  }
  const int64_t row_extent = (tw.full_end - tw.full_begin - 1) * sw + W.span();

  // One output from its taps inside the input: the general case, used near the borders.
  auto window = [&](const float* plane, int64_t oh, int64_t ow) {
    const int64_t nh = th.count[static_cast<std::size_t>(oh)], nw = tw.count[static_cast<std::size_t>(ow)];
    const int64_t n = nh * nw;
    if (n == 0) return Average ? 0.0f : -std::numeric_limits<float>::infinity();
    const int64_t m = sampled_count(n, fraction);
    const int64_t y0 = H.start(oh) + th.first[static_cast<std::size_t>(oh)] * H.dilation;
    const int64_t x0 = W.start(ow) + tw.first[static_cast<std::size_t>(ow)] * W.dilation;
    float acc = Acc::start();
    for (int64_t k = 0; k < m; ++k) {
      const int64_t t = sample_index(k, n, m);
      acc = Acc::add(acc, Acc::read(plane[(y0 + (t / nw) * H.dilation) * W.in + x0 + (t % nw) * W.dilation]));
    }
    if constexpr (Average) {
      const int64_t divisor = dh[static_cast<std::size_t>(oh)] * dw[static_cast<std::size_t>(ow)];
      return Acc::result(finish_average(acc, n, m, divisor));
    }
    return Acc::result(acc);
  };

  const int64_t rows = g.planes * H.out;
#pragma omp parallel for schedule(static) if (rows > 1 && rows * W.out * full_m >= kParallelMin && !omp_in_parallel())
  for (int64_t task = 0; task < rows; ++task) {
    const int64_t p = task / H.out, oh = task % H.out;
    const float* plane = x + p * in_plane;
    float* __restrict out = y + p * out_plane + oh * W.out;
    const bool full_row = th.count[static_cast<std::size_t>(oh)] == H.kernel;
    const int64_t lo = full_row ? tw.full_begin : W.out, hi = full_row ? tw.full_end : W.out;
    for (int64_t ow = 0; ow < lo; ++ow) out[ow] = window(plane, oh, ow);
    for (int64_t ow = hi; ow < W.out; ++ow) out[ow] = window(plane, oh, ow);
    if (lo >= hi) continue;
    // Full windows of the row: one sweep per sampled tap over all of them, so each output still
    // accumulates its taps in sample order while the loop over outputs vectorises.
    const int64_t len = hi - lo;
    // Sampling skips rows, which hides the access stream from the hardware prefetcher: fetch
    // the rows a later output row samples while this one computes.
    constexpr int64_t kAhead = 4;  // best of 1, 2 and 4 on a 16x64x112x112 MaxPool 3x3/2
    if (oh + kAhead < H.out && th.count[static_cast<std::size_t>(oh + kAhead)] == H.kernel)
      for (int64_t r : sampled_rows) {
        const float* row = plane + (H.start(oh + kAhead) + r) * W.in + W.start(lo);
        for (int64_t e = 0; e < row_extent; e += 16) __builtin_prefetch(row + e, 0, 3);
      }
    float* __restrict acc = out + lo;
    const float* origin = plane + H.start(oh) * W.in + W.start(lo);
    for (int64_t j = 0; j < len; ++j) acc[j] = Acc::start();
    for (int64_t k = 0; k < full_m; ++k) {
      const float* __restrict src = origin + full_off[k];
      if (sw == 1) {
        for (int64_t j = 0; j < len; ++j) acc[j] = Acc::add(acc[j], Acc::read(src[j]));
      } else if (sw == 2) {
        for (int64_t j = 0; j < len; ++j) acc[j] = Acc::add(acc[j], Acc::read(src[2 * j]));
      } else {
        for (int64_t j = 0; j < len; ++j) acc[j] = Acc::add(acc[j], Acc::read(src[j * sw]));
      }
    }
    // A full window has no padding inside it, so its divisor is the kernel size either way.
    for (int64_t j = 0; j < len; ++j) {
      if constexpr (Average) {
        acc[j] = Acc::result(acc[j] / static_cast<float>(full_m));
      } else {
        acc[j] = Acc::result(acc[j]);
      }
    }
  }
}

template <bool Max, typename Run>
void with_accumulator(const SamplingArithmetic& a, Run run) {
  if (!a.half) {
    run(Accumulator<false, false, Max>{});
  } else if (a.half_accumulate) {
    run(Accumulator<true, true, Max>{});
  } else {
    run(Accumulator<true, false, Max>{});
  }
}

}  // namespace

void sampled_reduce(const float* x, const Shape& shape, const std::vector<bool>& reduced, SampledReduction kind,
                    const SamplingArithmetic& arithmetic, float* y) {
  auto run = [&](auto acc) { reduce_typed<decltype(acc)>(x, shape, reduced, kind, arithmetic.fraction, y); };
  if (kind == SampledReduction::Max) {
    with_accumulator<true>(arithmetic, run);
  } else {
    with_accumulator<false>(arithmetic, run);
  }
}

void sampled_pool(const PoolGeometry& g, const float* x, SampledPool kind, bool count_include_pad,
                  const SamplingArithmetic& arithmetic, float* y) {
  if (kind == SampledPool::Max) {
    with_accumulator<true>(arithmetic, [&](auto acc) {
      pool_typed<decltype(acc), false>(g, x, count_include_pad, arithmetic.fraction, y);
    });
  } else {
    with_accumulator<false>(arithmetic, [&](auto acc) {
      pool_typed<decltype(acc), true>(g, x, count_include_pad, arithmetic.fraction, y);
    });
  }
}

namespace {

enum class SampledOp { AveragePool, MaxPool, GlobalAveragePool, GlobalMaxPool, ReduceMean, ReduceSum };

class ReductionSamplingKernel final : public ApproxKernel {
 public:
  ReductionSamplingKernel(const KnobRequest& request, SampledOp op)
      : ApproxKernel(request.exact), op_(op), arithmetic_(SamplingArithmetic::of(request.knob)) {}

  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.output(0);
    switch (op_) {
      case SampledOp::AveragePool:
      case SampledOp::MaxPool: {
        const PoolGeometry g = pool_geometry(ctx.node(), x.shape());
        const bool include_pad = ctx.attrs().get_int("count_include_pad", 0) != 0;
        sampled_pool(g, x.f32(), op_ == SampledOp::MaxPool ? SampledPool::Max : SampledPool::Average, include_pad,
                     arithmetic_, y.f32());
        return;
      }
      case SampledOp::GlobalAveragePool:
      case SampledOp::GlobalMaxPool: {
        std::vector<bool> reduced(x.shape().size(), true);
        reduced[0] = reduced[1] = false;
        sampled_reduce(x.f32(), x.shape(), reduced,
                       op_ == SampledOp::GlobalMaxPool ? SampledReduction::Max : SampledReduction::Mean, arithmetic_,
                       y.f32());
        return;
      }
      case SampledOp::ReduceMean:
      case SampledOp::ReduceSum:
        break;
    }
    // Integer reductions (shape arithmetic) are exact: there is nothing to approximate.
    if (x.dtype() != DType::Float32) {
      exact_.run(ctx);
      return;
    }
    std::vector<int64_t> axes;
    ctx.ints_from_attr_or_input("axes", 1, axes);
    const auto rank = static_cast<int64_t>(x.shape().size());
    if (axes.empty() && ctx.attrs().get_int("noop_with_empty_axes", 0) != 0) {
      std::copy(x.f32(), x.f32() + x.size(), y.f32());  // the identity: no reduction to sample
      return;
    }
    // Axes were validated by the exact kernel's shape inference.
    std::vector<bool> reduced(x.shape().size(), axes.empty());
    for (int64_t a : axes) reduced[static_cast<std::size_t>(a < 0 ? a + rank : a)] = true;
    sampled_reduce(x.f32(), x.shape(), reduced,
                   op_ == SampledOp::ReduceSum ? SampledReduction::Sum : SampledReduction::Mean, arithmetic_, y.f32());
  }

 private:
  SampledOp op_;
  SamplingArithmetic arithmetic_;
};

std::unique_ptr<OpKernel> make_reduction_sampling_kernel(const KnobRequest& request) {
  const std::string& type = request.node.op_type;
  SampledOp op;
  if (type == "AveragePool") {
    op = SampledOp::AveragePool;
  } else if (type == "MaxPool") {
    op = SampledOp::MaxPool;
  } else if (type == "GlobalAveragePool") {
    op = SampledOp::GlobalAveragePool;
  } else if (type == "GlobalMaxPool") {
    op = SampledOp::GlobalMaxPool;
  } else if (type == "ReduceMean") {
    op = SampledOp::ReduceMean;
  } else if (type == "ReduceSum") {
    op = SampledOp::ReduceSum;
  } else {
    throw BadInput(request.node.describe() + ": reduction sampling (knob " + std::to_string(request.knob.id) +
                   ") applies to AveragePool, MaxPool, GlobalAveragePool, GlobalMaxPool, ReduceMean and ReduceSum");
  }
  if (!(request.knob.fraction > 0.0 && request.knob.fraction <= 1.0))
    throw BadInput("knob " + std::to_string(request.knob.id) + ": fraction must be in (0, 1]");
  return std::make_unique<ReductionSamplingKernel>(request, op);
}

}  // namespace

CODA_REGISTER_KNOB_FAMILY(ReductionSampling, make_reduction_sampling_kernel);

}  // namespace coda
