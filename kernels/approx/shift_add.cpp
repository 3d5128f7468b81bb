#include "kernels/approx/shift_add.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>

#include "kernels/error.h"
#include "kernels/ops/matrix_shapes.h"
#include "kernels/ops/window.h"

namespace coda {

// ---------------------------------------------------------------------------------------------
// Parameters and encoding

ShiftAddParams ShiftAddParams::from_knob(const Knob& knob) {
  ShiftAddParams p;
  p.terms = knob.terms;
  p.flexible = knob.flexible;
  p.residual_threshold = knob.residual_threshold;
  p.exponent_levels = knob.exponent_levels;
  p.activation_bits = knob.activation_bits;
  p.validate("knob " + std::to_string(knob.id) + " (" + knob.name + ")");
  return p;
}

void ShiftAddParams::validate(const std::string& what) const {
  auto fail = [&](const std::string& message) { throw BadInput(what + ": " + message); };
  if (terms != 1 && terms != 2) fail("terms must be 1 or 2, got " + std::to_string(terms));
  if (flexible && terms != 2) fail("a flexible (FLightNN) shift-add knob needs terms: 2");
  if (!(residual_threshold >= 0.0) || !std::isfinite(residual_threshold))
    fail("residual_threshold must be a finite number >= 0");
  // Shifts up to 31 keep x << s of a 16-bit activation inside 64-bit accumulators.
  if (exponent_levels < 1 || exponent_levels > 32)
    fail("exponent_levels must be in 1..32, got " + std::to_string(exponent_levels));
  if (activation_bits < 2 || activation_bits > 16)
    fail("activation_bits must be in 2..16, got " + std::to_string(activation_bits));
}

int64_t ShiftTerm::units() const {
  if (!present()) return 0;
  const int64_t magnitude = int64_t{1} << shift();
  return negative() ? -magnitude : magnitude;
}

FilterLayout FilterLayout::rows(int64_t filters, int64_t filter_size) {
  return FilterLayout{filters, filter_size, filter_size, 1};
}

FilterLayout FilterLayout::columns(int64_t filter_size, int64_t filters) {
  return FilterLayout{filters, filter_size, 1, filters};
}

FilterLayout shift_add_layout(const std::string& op_type, const Shape& w, bool transpose_b) {
  if (op_type == "Conv") {
    if (w.size() < 3) throw BadInput("shift-add Conv weights must have rank 3 or 4, got " + shape_string(w));
    return FilterLayout::rows(w[0], element_count(w) / std::max<int64_t>(1, w[0]));
  }
  if (op_type == "Gemm") {
    if (w.size() != 2) throw BadInput("shift-add Gemm weights must be a matrix, got " + shape_string(w));
    return transpose_b ? FilterLayout::rows(w[0], w[1]) : FilterLayout::columns(w[0], w[1]);
  }
  if (op_type == "MatMul") {
    if (w.size() == 1) return FilterLayout::columns(w[0], 1);
    for (std::size_t d = 0; d + 2 < w.size(); ++d)
      if (w[d] != 1)
        throw BadInput("shift-add MatMul needs one weight matrix (K x N), got weights " + shape_string(w));
    if (w.size() < 2) throw BadInput("shift-add MatMul weights must not be a scalar");
    return FilterLayout::columns(w[w.size() - 2], w[w.size() - 1]);
  }
  throw BadInput("shift-add applies to Conv, Gemm and MatMul, not " + op_type);
}

// ---------------------------------------------------------------------------------------------
// Quantizer

namespace {

// round(log2 a) for a finite a > 0, exactly: a = m * 2^e with m in [0.5, 1), and log2 a rounds up
// to e exactly when m >= 2^-1/2 (an irrational number no float hits).
int round_log2(float a) {
  int e = 0;
  const double m = std::frexp(static_cast<double>(a), &e);
  return m >= 0.70710678118654752440 ? e : e - 1;
}

// R(v; lo, hi) of the header: writes the term's exponent and returns true, or returns false for 0.
bool round_to_power(float v, int lo, int hi, int& exponent) {
  if (hi < lo) return false;
  const float a = std::fabs(v);
  if (!(static_cast<double>(a) >= std::ldexp(1.0, lo - 1))) return false;  // below half the smallest power
  exponent = std::clamp(round_log2(a), lo, hi);
  return true;
}

}  // namespace

int64_t ShiftAddWeights::units(int64_t f, int64_t i) const {
  const ShiftTerm* t = filter(f) + i * 2;
  return t[0].units() + t[1].units();
}

double ShiftAddWeights::unit() const { return std::ldexp(1.0, n_min); }

float ShiftAddWeights::value(int64_t f, int64_t i) const {
  return static_cast<float>(static_cast<double>(units(f, i)) * unit());
}

ShiftAddWeights quantize_shift_add(const float* weights, const FilterLayout& layout, const ShiftAddParams& params) {
  params.validate("shift-add quantizer");
  ShiftAddWeights q;
  q.filters = layout.filters;
  q.filter_size = layout.filter_size;
  q.terms = params.terms;
  q.codes.assign(static_cast<std::size_t>(layout.filters * layout.filter_size * 2), ShiftTerm{});
  q.filter_terms.assign(static_cast<std::size_t>(layout.filters), static_cast<std::uint8_t>(params.terms));

  float max_abs = 0.0f;
  for (int64_t f = 0; f < layout.filters; ++f)
    for (int64_t i = 0; i < layout.filter_size; ++i) {
      const float w = weights[layout.index(f, i)];
      if (!std::isfinite(w)) throw BadInput("shift-add quantizer: weight " + std::to_string(layout.index(f, i)) +
                                            " is not finite");
      max_abs = std::max(max_abs, std::fabs(w));
    }
  if (max_abs == 0.0f) return q;  // every weight is 0: no terms at all
  q.n_max = round_log2(max_abs);
  q.n_min = q.n_max - params.exponent_levels + 1;

  for (int64_t f = 0; f < layout.filters; ++f) {
    ShiftTerm* codes = q.codes.data() + f * layout.filter_size * 2;
    double second_norm = 0.0, filter_norm = 0.0;  // ||Q2 - Q1||^2 and ||Q2||^2 in units of 2^n_min
    for (int64_t i = 0; i < layout.filter_size; ++i) {
      const float w = weights[layout.index(f, i)];
      int e1 = 0, e2 = 0;
      if (!round_to_power(w, q.n_min, q.n_max, e1)) continue;
      const bool negative = w < 0.0f;
      codes[2 * i] = ShiftTerm::make(negative, e1 - q.n_min);
      double value = static_cast<double>(codes[2 * i].units());
      if (params.terms == 2) {
        // Exact: w and its first term are within a factor of 2 of each other (Sterbenz lemma).
        const float residual = w - std::ldexp(negative ? -1.0f : 1.0f, e1);
        if (round_to_power(residual, q.n_min, e1 - 2, e2)) {
          codes[2 * i + 1] = ShiftTerm::make(residual < 0.0f, e2 - q.n_min);
          const double second = static_cast<double>(codes[2 * i + 1].units());
          second_norm += second * second;
          value += second;
        }
      }
      filter_norm += value * value;
    }
    if (params.flexible) {
      const double t = params.residual_threshold;
      const bool keep = second_norm > 0.0 && std::sqrt(second_norm) > t * std::sqrt(filter_norm);
      q.filter_terms[static_cast<std::size_t>(f)] = keep ? 2 : 1;
      if (!keep)
        for (int64_t i = 0; i < layout.filter_size; ++i) codes[2 * i + 1] = ShiftTerm{};
    }
  }
  return q;
}

void dequantize_shift_add(const ShiftAddWeights& q, const FilterLayout& layout, float* weights) {
  if (layout.filters != q.filters || layout.filter_size != q.filter_size)
    throw std::invalid_argument("dequantize_shift_add: layout does not match the quantized weights");
  for (int64_t f = 0; f < q.filters; ++f)
    for (int64_t i = 0; i < q.filter_size; ++i) weights[layout.index(f, i)] = q.value(f, i);
}

Tensor shift_add_quantized(const Tensor& weights, const FilterLayout& layout, const ShiftAddParams& params) {
  if (layout.filters * layout.filter_size != weights.size())
    throw BadInput("shift-add quantizer: layout of " + std::to_string(layout.filters * layout.filter_size) +
                   " weights for a tensor of " + shape_string(weights.shape()));
  Tensor out(weights.shape());
  dequantize_shift_add(quantize_shift_add(weights.f32(), layout, params), layout, out.f32());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Integer datapath

int64_t shift_add_dot(const int32_t* x, const ShiftTerm* terms, int64_t n) {
  std::uint64_t acc = 0;
  for (int64_t i = 0; i < 2 * n; ++i) {
    const ShiftTerm t = terms[i];
    if (!t.present()) continue;
    // Two's complement arithmetic modulo 2^64: the result is exact whenever it fits in int64.
    const std::uint64_t shifted = static_cast<std::uint64_t>(static_cast<int64_t>(x[i / 2])) << t.shift();
    acc = t.negative() ? acc - shifted : acc + shifted;
  }
  return static_cast<int64_t>(acc);
}

float activation_scale(const ValueRange& range, int bits) {
  const float max_abs = std::max(std::fabs(range.low), std::fabs(range.high));
  if (!std::isfinite(max_abs) || !(max_abs > 0.0f))
    throw BadInput("shift-add: the activation range [" + std::to_string(range.low) + ", " +
                   std::to_string(range.high) + "] gives no quantization step");
  return max_abs / static_cast<float>((1 << (bits - 1)) - 1);
}

void quantize_activations(const float* x, int64_t n, float scale, int bits, int32_t* q) {
  const float limit = static_cast<float>((1 << (bits - 1)) - 1);
#pragma omp parallel for schedule(static) if (n > (1 << 16) && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) {
    const float v = std::nearbyint(x[i] / scale);
    q[i] = std::isnan(v) ? 0 : static_cast<int32_t>(std::clamp(v, -limit, limit));
  }
}

ShiftAddProgram::ShiftAddProgram(ShiftAddWeights weights, int activation_bits)
    : weights_(std::move(weights)), activation_bits_(activation_bits) {
  if (activation_bits < 2 || activation_bits > 16)
    throw BadInput("shift-add: activation_bits must be in 2..16, got " + std::to_string(activation_bits));
  const int64_t filters = weights_.filters, size = weights_.filter_size;
  if (size > std::numeric_limits<int32_t>::max()) throw BadInput("shift-add: filters of over 2^31 weights");
  offsets_.assign(static_cast<std::size_t>(filters) + 1, 0);
  added_.assign(static_cast<std::size_t>(filters), 0);
  double largest = 0.0;
  for (int64_t f = 0; f < filters; ++f) {
    const ShiftTerm* t = weights_.filter(f);
    double sum = 0.0;
    // Integer sums are exact in any order: the positive terms first, then the negative ones.
    for (int negative = 0; negative < 2; ++negative) {
      for (int64_t i = 0; i < size; ++i)
        for (int k = 0; k < 2; ++k) {
          const ShiftTerm term = t[2 * i + k];
          if (!term.present() || term.negative() != (negative == 1)) continue;
          entries_.push_back(Entry{static_cast<int32_t>(i), term.shift()});
          sum += std::ldexp(1.0, term.shift());
        }
      if (negative == 0) added_[static_cast<std::size_t>(f)] = static_cast<int64_t>(entries_.size()) - offsets_[static_cast<std::size_t>(f)];
    }
    offsets_[static_cast<std::size_t>(f) + 1] = static_cast<int64_t>(entries_.size());
    largest = std::max(largest, sum);
  }
  bound_ = largest * static_cast<double>((1 << (activation_bits - 1)) - 1);
  wide_ = bound_ > static_cast<double>(std::numeric_limits<int32_t>::max());
  if (bound_ > 9.0e18) throw BadInput("shift-add: the layer's sums could exceed 64-bit accumulators");
}

namespace {

// Output pixels (or matrix rows) per tile: four AVX-512 vectors of 32-bit accumulators, which the
// compiler keeps in registers while it sweeps a filter's terms.
constexpr int64_t kTile = 64;

// acc[t] = sum over filter f's terms of +-(cols[row][t] << shift), t < kTile, modulo 2^bits of
// Acc (exact when the sum fits: ShiftAddProgram::wide chose Acc for that).
template <typename Acc>
void accumulate_tile(const ShiftAddProgram& program, int64_t f, const int32_t* cols, Acc* __restrict acc) {
  const ShiftAddProgram::Entry* entries = program.entries(f);
  const int64_t added = program.added_count(f), count = program.entry_count(f);
  for (int64_t t = 0; t < kTile; ++t) acc[t] = 0;
  for (int64_t k = 0; k < added; ++k) {
    const int32_t* __restrict x = cols + static_cast<int64_t>(entries[k].row) * kTile;
    const auto s = static_cast<unsigned>(entries[k].shift);
    for (int64_t t = 0; t < kTile; ++t) acc[t] += static_cast<Acc>(x[t]) << s;
  }
  for (int64_t k = added; k < count; ++k) {
    const int32_t* __restrict x = cols + static_cast<int64_t>(entries[k].row) * kTile;
    const auto s = static_cast<unsigned>(entries[k].shift);
    for (int64_t t = 0; t < kTile; ++t) acc[t] -= static_cast<Acc>(x[t]) << s;
  }
}

// The 32-bit case, the one every 8-bit layer and most 16-bit ones take, written with explicit
// 16-lane vectors (GCC/Clang vector extensions): the four accumulator vectors of a tile stay in
// registers across all of a filter's terms, one load, shift and add per vector and term. Left to
// itself GCC vectorises the loop over terms as well, with gathers, and runs several times slower.
using U32x16 = std::uint32_t __attribute__((vector_size(64)));

template <>
void accumulate_tile<std::uint32_t>(const ShiftAddProgram& program, int64_t f, const int32_t* cols,
                                    std::uint32_t* __restrict acc) {
  static_assert(kTile == 64, "four vectors of 16 lanes per tile");
  const ShiftAddProgram::Entry* entries = program.entries(f);
  const int64_t added = program.added_count(f), count = program.entry_count(f);
  U32x16 a0 = {}, a1 = {}, a2 = {}, a3 = {}, x0, x1, x2, x3;
  // Unaligned loads by memcpy (no vector is passed by value: without AVX-512 that changes the ABI).
  auto load = [](const int32_t* p, U32x16& v0, U32x16& v1, U32x16& v2, U32x16& v3) {
    std::memcpy(&v0, p, sizeof(v0));
    std::memcpy(&v1, p + 16, sizeof(v1));
    std::memcpy(&v2, p + 32, sizeof(v2));
    std::memcpy(&v3, p + 48, sizeof(v3));
  };
  for (int64_t k = 0; k < added; ++k) {
    load(cols + static_cast<int64_t>(entries[k].row) * kTile, x0, x1, x2, x3);
    const auto s = static_cast<std::uint32_t>(entries[k].shift);
    a0 += x0 << s;
    a1 += x1 << s;
    a2 += x2 << s;
    a3 += x3 << s;
  }
  for (int64_t k = added; k < count; ++k) {
    load(cols + static_cast<int64_t>(entries[k].row) * kTile, x0, x1, x2, x3);
    const auto s = static_cast<std::uint32_t>(entries[k].shift);
    a0 -= x0 << s;
    a1 -= x1 << s;
    a2 -= x2 << s;
    a3 -= x3 << s;
  }
  std::memcpy(acc, &a0, sizeof(a0));
  std::memcpy(acc + 16, &a1, sizeof(a1));
  std::memcpy(acc + 32, &a2, sizeof(a2));
  std::memcpy(acc + 48, &a3, sizeof(a3));
}

template <typename Acc>
using Signed = std::conditional_t<sizeof(Acc) == 4, int32_t, int64_t>;

// Integer im2col of patch rows for output pixels [p0, p1) into rows kTile wide (columns past
// p1 - p0 are zero); the float im2col (kernels/conv_kernels.cpp) with int32 data.
void im2col_int(const Conv2dGeometry& g, const int32_t* image, int64_t p0, int64_t p1, int32_t* cols) {
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t width = p1 - p0;
  for (int64_t r = 0; r < g.patch_size(); ++r) {
    const int64_t c = r / taps, i = (r % taps) / g.kernel_w, j = r % g.kernel_w;
    const int32_t* plane = image + c * g.in_plane();
    int32_t* dst = cols + r * kTile;
    const int64_t col_offset = j * g.dilation_w - g.pad_left;
    // Output columns [lo, hi) read inside the input row; the rest is padding.
    const int64_t lo = std::clamp<int64_t>(ceil_div(-col_offset, g.stride_w), 0, g.out_w);
    const int64_t hi = std::clamp<int64_t>(floor_div(g.in_w - 1 - col_offset, g.stride_w) + 1, lo, g.out_w);
    int64_t p = p0;
    while (p < p1) {
      const int64_t oh = p / g.out_w, ow0 = p % g.out_w;
      const int64_t ow1 = std::min(g.out_w, ow0 + (p1 - p));
      const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
      if (ih < 0 || ih >= g.in_h) {
        std::fill(dst, dst + (ow1 - ow0), 0);
      } else {
        const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
        std::fill(dst, dst + (a - ow0), 0);
        const int32_t* src = plane + ih * g.in_w + a * g.stride_w + col_offset;
        for (int64_t x = 0; x < b - a; ++x) dst[a - ow0 + x] = src[x * g.stride_w];
        std::fill(dst + (b - ow0), dst + (ow1 - ow0), 0);
      }
      dst += ow1 - ow0;
      p += ow1 - ow0;
    }
    std::fill(cols + r * kTile + width, cols + (r + 1) * kTile, 0);
  }
}

// How many blocks to split the filters into so that units * blocks gives every thread work.
int64_t filter_blocks(int64_t units, int64_t filters, int threads) {
  if (units >= 4 * threads || filters <= 1) return 1;
  return std::min<int64_t>(filters, (4 * threads + units - 1) / units);
}

template <typename Acc>
void conv_typed(const Conv2dGeometry& g, const int32_t* input, const ShiftAddProgram& program, double output_scale,
                const float* bias, float* output) {
  const int64_t M = g.out_channels_per_group(), K = g.patch_size(), P = g.out_plane();
  const int64_t in_group = g.in_channels_per_group() * g.in_plane();
  const int64_t tiles = (P + kTile - 1) / kTile;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t units = g.batch * g.groups * tiles;
  const int64_t blocks = filter_blocks(units, M, threads);
  const int64_t per_block = (M + blocks - 1) / blocks;
  const int64_t tasks = units * blocks;
#pragma omp parallel if (threads > 1 && tasks > 1)
  {
    std::vector<int32_t> cols(static_cast<std::size_t>(std::max<int64_t>(1, K) * kTile));
    alignas(64) Acc acc[kTile];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t unit = task / blocks, block = task % blocks;
      const int64_t image = unit / (g.groups * tiles), group = (unit / tiles) % g.groups, tile = unit % tiles;
      const int64_t p0 = tile * kTile, p1 = std::min(P, p0 + kTile);
      im2col_int(g, input + (image * g.groups + group) * in_group, p0, p1, cols.data());
      const int64_t m1 = std::min(M, (block + 1) * per_block);
      for (int64_t m = block * per_block; m < m1; ++m) {
        const int64_t o = group * M + m;
        accumulate_tile<Acc>(program, o, cols.data(), acc);
        const double b = bias ? static_cast<double>(bias[o]) : 0.0;
        float* out = output + (image * g.out_channels + o) * P + p0;
        for (int64_t t = 0; t < p1 - p0; ++t)
          out[t] = static_cast<float>(static_cast<double>(static_cast<Signed<Acc>>(acc[t])) * output_scale + b);
      }
    }
  }
}

template <typename Acc>
void matmul_typed(int64_t rows, const int32_t* a, int64_t lda, bool transpose_a, const ShiftAddProgram& program,
                  double output_scale, float* y, int64_t ldy) {
  const int64_t K = program.weights().filter_size, N = program.weights().filters;
  const int64_t tiles = (rows + kTile - 1) / kTile;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t blocks = filter_blocks(tiles, N, threads);
  const int64_t per_block = (N + blocks - 1) / blocks;
  const int64_t tasks = tiles * blocks;
#pragma omp parallel if (threads > 1 && tasks > 1)
  {
    std::vector<int32_t> cols(static_cast<std::size_t>(std::max<int64_t>(1, K) * kTile));
    alignas(64) Acc acc[kTile];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t tile = task / blocks, block = task % blocks;
      const int64_t r0 = tile * kTile, r1 = std::min(rows, r0 + kTile), width = r1 - r0;
      for (int64_t k = 0; k < K; ++k) {
        int32_t* dst = cols.data() + k * kTile;
        if (transpose_a) {
          std::copy(a + k * lda + r0, a + k * lda + r1, dst);
        } else {
          for (int64_t t = 0; t < width; ++t) dst[t] = a[(r0 + t) * lda + k];
        }
        std::fill(dst + width, dst + kTile, 0);
      }
      const int64_t f1 = std::min(N, (block + 1) * per_block);
      for (int64_t f = block * per_block; f < f1; ++f) {
        accumulate_tile<Acc>(program, f, cols.data(), acc);
        for (int64_t t = 0; t < width; ++t)
          y[(r0 + t) * ldy + f] =
              static_cast<float>(static_cast<double>(static_cast<Signed<Acc>>(acc[t])) * output_scale);
      }
    }
  }
}

}  // namespace

void shift_add_conv2d(const Conv2dGeometry& g, const int32_t* input, const ShiftAddProgram& program,
                      double output_scale, const float* bias, float* output) {
  if (program.weights().filters != g.out_channels || program.weights().filter_size != g.patch_size())
    throw std::invalid_argument("shift_add_conv2d: the program does not match the convolution's weights");
  if (program.wide()) {
    conv_typed<std::uint64_t>(g, input, program, output_scale, bias, output);
  } else {
    conv_typed<std::uint32_t>(g, input, program, output_scale, bias, output);
  }
}

void shift_add_matmul(int64_t rows, const int32_t* a, int64_t lda, bool transpose_a, const ShiftAddProgram& program,
                      double output_scale, float* y, int64_t ldy) {
  if (rows <= 0 || program.weights().filters == 0) return;
  if (program.wide()) {
    matmul_typed<std::uint64_t>(rows, a, lda, transpose_a, program, output_scale, y, ldy);
  } else {
    matmul_typed<std::uint32_t>(rows, a, lda, transpose_a, program, output_scale, y, ldy);
  }
}

// ---------------------------------------------------------------------------------------------
// The knob family

namespace {

// The quantized weights of one node, built from the weight tensor on first use and kept while the
// tensor's contents stay the same (a node's weights are constants, but the executor hands the
// kernel a tensor, not a promise, so a changed tensor is re-quantized rather than trusted).
class WeightCache {
 public:
  std::shared_ptr<const ShiftAddProgram> get(const Tensor& w, const FilterLayout& layout, const ShiftAddParams& params) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto bytes = static_cast<std::size_t>(w.size()) * sizeof(float);
    if (!program_ || shape_ != w.shape() || std::memcmp(source_.data(), w.f32(), bytes) != 0) {
      source_.assign(w.f32(), w.f32() + w.size());
      shape_ = w.shape();
      program_ = std::make_shared<const ShiftAddProgram>(quantize_shift_add(w.f32(), layout, params),
                                                         params.activation_bits);
    }
    return program_;
  }

 private:
  std::mutex mutex_;
  std::vector<float> source_;
  Shape shape_;
  std::shared_ptr<const ShiftAddProgram> program_;
};

class ShiftAddKernel : public ApproxKernel {
 public:
  ShiftAddKernel(const KnobRequest& request, ShiftAddParams params, float input_scale)
      : ApproxKernel(request.exact), params_(params), input_scale_(input_scale) {}

  void run(const RunContext& ctx) const override {
    const std::string& op = ctx.node().op_type;
    if (op == "Conv") {
      run_conv(ctx);
    } else if (op == "Gemm") {
      run_gemm(ctx);
    } else {
      run_matmul(ctx);
    }
  }

 private:
  std::vector<int32_t> quantized_input(const Tensor& x) const {
    std::vector<int32_t> q(static_cast<std::size_t>(x.size()));
    quantize_activations(x.f32(), x.size(), input_scale_, params_.activation_bits, q.data());
    return q;
  }

  double output_scale(const ShiftAddProgram& program) const {
    return static_cast<double>(input_scale_) * program.weights().unit();
  }

  void run_conv(const RunContext& ctx) const {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const Conv2dGeometry g = conv_geometry(ctx.node(), x.shape(), w.shape(), b ? &b->shape() : nullptr);
    auto program = cache_.get(w, FilterLayout::rows(g.out_channels, g.patch_size()), params_);
    const std::vector<int32_t> xq = quantized_input(x);
    shift_add_conv2d(g, xq.data(), *program, output_scale(*program), b ? b->f32() : nullptr, ctx.output(0).f32());
  }

  void run_gemm(const RunContext& ctx) const {
    const Tensor& a = ctx.input(0);
    const Tensor& bw = ctx.input(1);
    const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const GemmShape s = gemm_shape(ctx.node(), a.shape(), bw.shape(), c ? &c->shape() : nullptr);
    auto program = cache_.get(bw, shift_add_layout("Gemm", bw.shape(), s.transpose_b), params_);
    const std::vector<int32_t> aq = quantized_input(a);
    float* y = ctx.output(0).f32();
    shift_add_matmul(s.m, aq.data(), a.shape()[1], s.transpose_a, *program,
                     static_cast<double>(s.alpha) * output_scale(*program), y, s.n);
    if (c && s.beta != 0.0f) {
      const float* cd = c->f32();
      for (int64_t i = 0; i < s.m; ++i) {
        const float* row = cd + (s.c_rows == 1 ? 0 : i) * s.c_cols;
        for (int64_t j = 0; j < s.n; ++j) y[i * s.n + j] += s.beta * row[s.c_cols == 1 ? 0 : j];
      }
    }
  }

  void run_matmul(const RunContext& ctx) const {
    const Tensor& a = ctx.input(0);
    const Tensor& bw = ctx.input(1);
    const MatMulShape s = matmul_shape(ctx.node(), a.shape(), bw.shape(), false);
    if (s.b_matrices != 1) ctx.fail("shift-add needs one weight matrix, got weights " + shape_string(bw.shape()));
    auto program = cache_.get(bw, shift_add_layout("MatMul", bw.shape(), false), params_);
    const std::vector<int32_t> aq = quantized_input(a);
    // One weight matrix: A's matrices are consecutive rows of one taller matrix (as in gemm.cpp).
    const int64_t rows = element_count(s.batch) * s.m;
    shift_add_matmul(rows, aq.data(), s.k, false, *program, output_scale(*program), ctx.output(0).f32(), s.n);
  }

  ShiftAddParams params_;
  float input_scale_;
  mutable WeightCache cache_;
};

std::unique_ptr<OpKernel> make_shift_add_kernel(const KnobRequest& request) {
  const ShiftAddParams params = ShiftAddParams::from_knob(request.knob);
  if (!request.ranges || !request.ranges->input.valid())
    throw BadInput(request.node.describe() + ": shift-add knob " + std::to_string(request.knob.id) +
                   " needs the calibrated range of its input activations");
  const float scale = activation_scale(request.ranges->input, params.activation_bits);
  return std::make_unique<ShiftAddKernel>(request, params, scale);
}

}  // namespace

CODA_REGISTER_KNOB_FAMILY(ShiftAdd, make_shift_add_kernel);

}  // namespace coda
