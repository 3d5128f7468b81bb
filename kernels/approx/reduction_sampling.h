// Reduction sampling, the knobs of family `reduction_sampling` (ids 41-46; HPVM/ApproxTuner,
// REFERENCE.md section 1): every reduction reads only a `fraction` of its inputs, evenly spaced,
// and rescales. It applies to AveragePool, MaxPool, GlobalAveragePool, GlobalMaxPool, ReduceMean
// and ReduceSum, with each op's exact semantics otherwise (window geometry, padding, ceil_mode,
// count_include_pad, axes, keepdims, noop_with_empty_axes).
//
// The subset. A reduction over n inputs, listed in a fixed order, reads m = max(1, round(n *
// fraction)) of them (round half away from zero; m = 0 when n = 0): for k = 0..m-1 the input at
// position floor((2k + 1) * n / (2m)), the middle of the k-th of m equal strata. Positions are
// distinct and cover the list evenly; the others are never read. The order:
//   - pools: the window's taps that lie inside the input (padding is not an input), row-major
//     over (kernel row, kernel column); a window hanging over the border has fewer of them;
//   - global pools: the spatial positions of a plane, row-major;
//   - ReduceMean/ReduceSum: the reduced elements of one output, row-major over the reduced axes.
// The result (s = sum of the sampled values, each output accumulated in the order k = 0..m-1):
//   mean = s / m;  sum = s * n / m;  max = the largest sampled value;
//   AveragePool with count_include_pad = 1 scales the estimated window sum s * n / m by the
//   exact op's divisor D (taps inside the padded input): s * n / (m * D), computed in double.
// An empty reduction gives the exact op's result (0 for a sum or an empty pool window, -infinity
// for a max, NaN for a mean).
//
// Arithmetic. FP32 knobs accumulate in float. FP16 knobs (precision fp16) round every input read
// to half (round_to_half), round the running sum after each add when Knob::accumulate is fp16,
// and round the result.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/approx/knob_catalog.h"
#include "kernels/ops/window.h"
#include "kernels/tensor.h"

namespace coda {

// m for n inputs (see above).
int64_t sampled_count(int64_t n, double fraction);
// Position of the k-th sampled input among n when m are sampled: floor((2k + 1) n / (2m)).
inline int64_t sample_index(int64_t k, int64_t n, int64_t m) { return (2 * k + 1) * n / (2 * m); }

struct SamplingArithmetic {
  double fraction = 1.0;
  bool half = false;             // inputs and results rounded to binary16
  bool half_accumulate = false;  // running sums rounded to binary16 after each add
  static SamplingArithmetic of(const Knob& knob);
};

enum class SampledReduction { Sum, Mean, Max };

// Reduces x (shape `shape`) over the axes marked in `reduced` into y (the kept axes in order; any
// keepdims 1s do not change the layout). Multi-threaded; each output's accumulation order is the
// sample order, whatever the thread count.
void sampled_reduce(const float* x, const Shape& shape, const std::vector<bool>& reduced, SampledReduction kind,
                    const SamplingArithmetic& arithmetic, float* y);

enum class SampledPool { Average, Max };

// A MaxPool or AveragePool over geometry g (pool_geometry in window.h) reading sampled taps.
void sampled_pool(const PoolGeometry& g, const float* x, SampledPool kind, bool count_include_pad,
                  const SamplingArithmetic& arithmetic, float* y);

}  // namespace coda
