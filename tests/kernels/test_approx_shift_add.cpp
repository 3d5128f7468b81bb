// The shift-add (LightNN / FLightNN) knob family: the weight quantizer against naive loops and
// hand-worked values, its idempotence, the shifts-only primitive against multiplication, the
// integer datapath against the float shift-add model (exactly, on integer data), the 64-bit
// accumulator path against naive integer loops, and the knob run through the registry
// (ApproxPlan + calibrate_ranges + Executor) against a naive integer reference of a small net.
// Quantization-aware training: the weight transform and a short Trainer run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/approx/shift_add.h"
#include "kernels/approx/shift_add_training.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph_builder.h"
#include "kernels/ops/window.h"
#include "kernels/trainer.h"
#include "tests/support/graph_runner.h"

namespace coda {
namespace {

using test::attrs_of;
using test::cst;
using test::In;
using test::var;

// ---------------------------------------------------------------------------------------------
// Naive reference quantizer: the rules of kernels/approx/shift_add.h written with log2/round.

struct NaiveLayer {
  std::vector<double> values;      // quantized weights, in the tensor's own layout
  std::vector<int> filter_terms;   // 1 or 2 per filter
  int n_max = 0, n_min = 0;
};

// R(v; lo, hi): 0 below half of 2^lo, else sign(v) 2^clamp(round(log2|v|), lo, hi).
double naive_round(double v, int lo, int hi, int* exponent = nullptr) {
  if (hi < lo || v == 0.0 || std::fabs(v) < std::pow(2.0, lo - 1)) return 0.0;
  int e = static_cast<int>(std::lround(std::log2(std::fabs(v))));
  e = std::min(hi, std::max(lo, e));
  if (exponent) *exponent = e;
  return (v < 0 ? -1.0 : 1.0) * std::pow(2.0, e);
}

// Filter f, element i at f * size + i (rows) or i * filters + f (columns).
NaiveLayer naive_quantize(const std::vector<float>& w, int64_t filters, int64_t size, bool columns,
                          const ShiftAddParams& p) {
  auto index = [&](int64_t f, int64_t i) { return static_cast<std::size_t>(columns ? i * filters + f : f * size + i); };
  NaiveLayer out;
  out.values.assign(w.size(), 0.0);
  out.filter_terms.assign(static_cast<std::size_t>(filters), p.terms);
  double max_abs = 0;
  for (float v : w) max_abs = std::max(max_abs, std::fabs(static_cast<double>(v)));
  if (max_abs == 0) return out;
  out.n_max = static_cast<int>(std::lround(std::log2(max_abs)));
  out.n_min = out.n_max - p.exponent_levels + 1;
  for (int64_t f = 0; f < filters; ++f) {
    std::vector<double> one(static_cast<std::size_t>(size)), two(static_cast<std::size_t>(size));
    for (int64_t i = 0; i < size; ++i) {
      const double v = w[index(f, i)];
      int e1 = 0;
      const double t1 = naive_round(v, out.n_min, out.n_max, &e1);
      one[static_cast<std::size_t>(i)] = t1;
      two[static_cast<std::size_t>(i)] = t1 == 0.0 ? 0.0 : t1 + naive_round(v - t1, out.n_min, e1 - 2);
    }
    bool use_two = p.terms == 2;
    if (p.flexible) {
      double diff = 0, norm = 0;
      for (int64_t i = 0; i < size; ++i) {
        const double d = two[static_cast<std::size_t>(i)] - one[static_cast<std::size_t>(i)];
        diff += d * d;
        norm += two[static_cast<std::size_t>(i)] * two[static_cast<std::size_t>(i)];
      }
      use_two = diff > 0 && std::sqrt(diff) > p.residual_threshold * std::sqrt(norm);
      out.filter_terms[static_cast<std::size_t>(f)] = use_two ? 2 : 1;
    }
    for (int64_t i = 0; i < size; ++i)
      out.values[index(f, i)] = use_two ? two[static_cast<std::size_t>(i)] : one[static_cast<std::size_t>(i)];
  }
  return out;
}

// Weights that exercise every branch: normal values, exact zeros, exact powers of two, values
// just below the cap (1.4 * 2^k), tiny values below the exponent window.
std::vector<float> awkward_weights(int64_t n, std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 0.3f);
  std::uniform_int_distribution<int> kind(0, 9), exponent(-6, 1);
  std::vector<float> w(static_cast<std::size_t>(n));
  for (float& v : w) {
    switch (kind(rng)) {
      case 0: v = 0.0f; break;
      case 1: v = std::ldexp(normal(rng) < 0 ? -1.0f : 1.0f, exponent(rng)); break;
      case 2: v = std::ldexp(1.4f, exponent(rng)) * (normal(rng) < 0 ? -1.0f : 1.0f); break;
      case 3: v = normal(rng) * 1e-4f; break;
      default: v = normal(rng);
    }
  }
  return w;
}

ShiftAddParams params_of(int terms, bool flexible, double threshold, int levels, int bits = 8) {
  ShiftAddParams p;
  p.terms = terms;
  p.flexible = flexible;
  p.residual_threshold = threshold;
  p.exponent_levels = levels;
  p.activation_bits = bits;
  return p;
}

// Every quantizer setting the tests sweep: K = 1, K = 2, FLightNN at several thresholds, and
// exponent windows from 1 to 10 levels.
std::vector<ShiftAddParams> all_settings() {
  std::vector<ShiftAddParams> settings;
  for (int levels : {1, 2, 3, 4, 6, 8, 10}) {
    settings.push_back(params_of(1, false, 0, levels));
    settings.push_back(params_of(2, false, 0, levels));
    for (double t : {0.0, 0.05, 0.1, 0.2, 0.5}) settings.push_back(params_of(2, true, t, levels));
  }
  return settings;
}

TEST(ShiftAddQuantizer, MatchesNaiveReference) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> filters_of(1, 7), size_of(1, 40);
  int two_term_filters = 0, one_term_filters = 0;
  for (const ShiftAddParams& p : all_settings()) {
    for (int trial = 0; trial < 6; ++trial) {
      const int64_t filters = filters_of(rng), size = size_of(rng);
      const bool columns = trial % 2 == 1;
      std::vector<float> w = awkward_weights(filters * size, rng);
      const FilterLayout layout = columns ? FilterLayout::columns(size, filters) : FilterLayout::rows(filters, size);
      const ShiftAddWeights q = quantize_shift_add(w.data(), layout, p);
      const NaiveLayer ref = naive_quantize(w, filters, size, columns, p);
      ASSERT_EQ(q.n_max, ref.n_max);
      ASSERT_EQ(q.n_min, ref.n_min);
      std::vector<float> back(w.size());
      dequantize_shift_add(q, layout, back.data());
      for (std::size_t i = 0; i < w.size(); ++i)
        ASSERT_EQ(static_cast<double>(back[i]), ref.values[i])
            << "weight " << i << " = " << w[i] << ", K " << p.terms << " flexible " << p.flexible << " t "
            << p.residual_threshold << " L " << p.exponent_levels;
      for (int64_t f = 0; f < filters; ++f) {
        ASSERT_EQ(q.filter_terms[static_cast<std::size_t>(f)], ref.filter_terms[static_cast<std::size_t>(f)]);
        (q.filter_terms[static_cast<std::size_t>(f)] == 2 ? two_term_filters : one_term_filters) += p.flexible;
        // The encoding: shifts inside the window, second term at least 2 below the first, and no
        // second term in a filter FLightNN gave one term.
        for (int64_t i = 0; i < size; ++i) {
          const ShiftTerm* t = q.filter(f) + 2 * i;
          if (t[0].present()) {
            ASSERT_LT(t[0].shift(), p.exponent_levels);
          }
          if (t[1].present()) {
            ASSERT_TRUE(t[0].present());
            ASSERT_LE(t[1].shift(), t[0].shift() - 2);
            ASSERT_EQ(q.filter_terms[static_cast<std::size_t>(f)], 2);
          }
          ASSERT_EQ(q.units(f, i), t[0].units() + t[1].units());
        }
      }
    }
  }
  // The sweep reached both FLightNN outcomes.
  EXPECT_GT(two_term_filters, 20);
  EXPECT_GT(one_term_filters, 20);
}

TEST(ShiftAddQuantizer, HandWorkedValues) {
  // max |w| = 1.4: n_max = round(log2 1.4) = round(0.485) = 0. With L = 4, n_min = -3 and the
  // zeroing threshold is 2^-4 = 0.0625.
  const std::vector<float> w{1.0f, 0.3f, -0.05f, 0.004f, -0.7f, 1.4f, 0.0625f, 0.062f};
  const FilterLayout layout = FilterLayout::rows(1, static_cast<int64_t>(w.size()));
  auto values = [&](const ShiftAddParams& p) {
    std::vector<float> out(w.size());
    dequantize_shift_add(quantize_shift_add(w.data(), layout, p), layout, out.data());
    return out;
  };
  // K = 1: 0.3 -> 2^round(-1.74) = 0.25; -0.7 -> -2^round(-0.51) = -0.5; 1.4 -> 1; 0.0625 is
  // exactly half the smallest power and rounds up into the window (0.125); 0.062 is below it.
  EXPECT_EQ(values(params_of(1, false, 0, 4)),
            (std::vector<float>{1.0f, 0.25f, 0.0f, 0.0f, -0.5f, 1.0f, 0.125f, 0.0f}));
  // K = 2: 0.3 keeps 0.25 (its second term could be at most 2^-4, outside the window); -0.7
  // adds R(-0.2) = -2^-2 clamped to the window's floor 2^-3; 1.4 adds R(0.4) = 2^-1, capped at
  // 2^(0-2): 1.25 (1.5 would round to the next exponent).
  EXPECT_EQ(values(params_of(2, false, 0, 4)),
            (std::vector<float>{1.0f, 0.25f, 0.0f, 0.0f, -0.625f, 1.25f, 0.125f, 0.0f}));
  // One level: only 2^0; 0.3 < 0.5 vanishes, -0.7 and 1.4 become -1 and 1.
  EXPECT_EQ(values(params_of(1, false, 0, 1)),
            (std::vector<float>{1.0f, 0.0f, 0.0f, 0.0f, -1.0f, 1.0f, 0.0f, 0.0f}));
  // FLightNN: second terms -0.125 and 0.25 against the two-term filter's norm.
  const double second = std::sqrt(0.125 * 0.125 + 0.25 * 0.25);
  const double norm = std::sqrt(1.0 + 0.0625 + 0.625 * 0.625 + 1.25 * 1.25 + 0.125 * 0.125);
  const double ratio = second / norm;  // about 0.16
  EXPECT_EQ(values(params_of(2, true, ratio * 0.99, 4)), values(params_of(2, false, 0, 4)));
  EXPECT_EQ(values(params_of(2, true, ratio * 1.01, 4)), values(params_of(1, false, 0, 4)));
}

TEST(ShiftAddQuantizer, ZeroLayerAndNonFiniteWeights) {
  std::vector<float> zeros(12, 0.0f);
  ShiftAddWeights q = quantize_shift_add(zeros.data(), FilterLayout::rows(3, 4), params_of(2, true, 0.1, 8));
  for (const ShiftTerm& t : q.codes) EXPECT_FALSE(t.present());
  std::vector<float> bad{1.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_THROW(quantize_shift_add(bad.data(), FilterLayout::rows(1, 2), params_of(1, false, 0, 8)), BadInput);
  bad[1] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(quantize_shift_add(bad.data(), FilterLayout::rows(1, 2), params_of(1, false, 0, 8)), BadInput);
  EXPECT_THROW(params_of(3, false, 0, 8).validate("x"), BadInput);
  EXPECT_THROW(params_of(1, true, 0, 8).validate("x"), BadInput);
  EXPECT_THROW(params_of(2, false, 0, 33).validate("x"), BadInput);
  EXPECT_THROW(params_of(2, false, -0.1, 8).validate("x"), BadInput);
}

TEST(ShiftAddQuantizer, QuantizingQuantizedWeightsChangesNothing) {
  std::mt19937_64 rng(12);
  std::uniform_int_distribution<int64_t> filters_of(1, 9), size_of(1, 50);
  for (const ShiftAddParams& p : all_settings()) {
    for (int trial = 0; trial < 8; ++trial) {
      const int64_t filters = filters_of(rng), size = size_of(rng);
      const FilterLayout layout = FilterLayout::rows(filters, size);
      std::vector<float> w = awkward_weights(filters * size, rng);
      // Scale whole layers so the window moves: 1.4 * 2^k at the top is the case the cap is for.
      const float scale = std::ldexp(1.0f, static_cast<int>(trial) - 4);
      for (float& v : w) v *= scale;
      const ShiftAddWeights once = quantize_shift_add(w.data(), layout, p);
      std::vector<float> q(w.size());
      dequantize_shift_add(once, layout, q.data());
      const ShiftAddWeights twice = quantize_shift_add(q.data(), layout, p);
      std::vector<float> qq(w.size());
      dequantize_shift_add(twice, layout, qq.data());
      ASSERT_EQ(q, qq) << "K " << p.terms << " flexible " << p.flexible << " L " << p.exponent_levels;
      ASSERT_EQ(once.n_min, twice.n_min);
      ASSERT_EQ(once.filter_terms, twice.filter_terms);
      ASSERT_EQ(0, std::memcmp(once.codes.data(), twice.codes.data(), once.codes.size()));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The primitive

TEST(ShiftAddDot, ShiftsAndAddsEqualMultiplication) {
  std::mt19937_64 rng(13);
  std::uniform_int_distribution<int32_t> x_of(-32767, 32767);
  std::uniform_int_distribution<int> shift_of(0, 31), coin(0, 3);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t n = 1 + trial % 97;
    std::vector<int32_t> x(static_cast<std::size_t>(n));
    std::vector<ShiftTerm> terms(static_cast<std::size_t>(2 * n));
    int64_t expected = 0;
    for (int64_t i = 0; i < n; ++i) {
      x[static_cast<std::size_t>(i)] = x_of(rng);
      int64_t weight = 0;  // the weight as an integer, multiplied the ordinary way
      for (int k = 0; k < 2; ++k) {
        if (coin(rng) == 0) continue;  // absent term
        const bool negative = coin(rng) < 2;
        const int s = shift_of(rng);
        terms[static_cast<std::size_t>(2 * i + k)] = ShiftTerm::make(negative, s);
        weight += (negative ? -1 : 1) * (int64_t{1} << s);
      }
      expected += static_cast<int64_t>(x[static_cast<std::size_t>(i)]) * weight;
    }
    ASSERT_EQ(shift_add_dot(x.data(), terms.data(), n), expected);
  }
  // The encoding itself: one byte, bit 7 present, bit 6 sign, bits 0-5 shift.
  EXPECT_EQ(ShiftTerm::make(true, 5).code, 0x80 | 0x40 | 5);
  EXPECT_EQ(ShiftTerm::make(false, 31).code, 0x80 | 31);
  EXPECT_EQ(ShiftTerm::make(true, 3).units(), -8);
  EXPECT_EQ(ShiftTerm{}.units(), 0);
}

TEST(ShiftAddActivations, SymmetricQuantization) {
  EXPECT_EQ(activation_scale(ValueRange{-0.5f, 2.54f}, 8), 2.54f / 127.0f);
  EXPECT_EQ(activation_scale(ValueRange{-6.0f, 1.0f}, 16), 6.0f / 32767.0f);
  EXPECT_THROW(activation_scale(ValueRange{0.0f, 0.0f}, 8), BadInput);
  const float s = 0.5f;
  const std::vector<float> x{0.0f, 0.2f, 0.25f, 0.75f, -0.25f, 1.26f, 63.4f, 64.0f, -100.0f, 63.75f};
  std::vector<int32_t> q(x.size());
  quantize_activations(x.data(), static_cast<int64_t>(x.size()), s, 8, q.data());
  // Round half to even (0.5 -> 0, 1.5 -> 2, -0.5 -> 0), saturate at +-127.
  EXPECT_EQ(q, (std::vector<int32_t>{0, 0, 0, 2, 0, 3, 127, 127, -127, 127}));
}

// ---------------------------------------------------------------------------------------------
// Integer datapath against the float shift-add model

Knob shift_add_knob(const ShiftAddParams& p) {
  Knob k;
  k.id = 81;
  k.name = "test_shift_add";
  k.family = KnobFamily::ShiftAdd;
  k.applies_to = {"Conv", "Gemm", "MatMul"};
  k.unit = KnobUnit::LightNN;
  k.terms = p.terms;
  k.flexible = p.flexible;
  k.residual_threshold = p.residual_threshold;
  k.exponent_levels = p.exponent_levels;
  k.activation_bits = p.activation_bits;
  return k;
}

// Runs one node through the shift-add knob kernel (make_knob_kernel, installed in an Executor).
Tensor run_knob(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs, const Knob& knob,
                ValueRange input_range) {
  std::vector<Tensor> feeds;
  Graph g = test::one_node(op, inputs, attrs, 17, 1, &feeds);
  prepare_graph(g);
  OpRanges ranges{input_range, {}};
  auto kernel = make_knob_kernel(KnobRequest{g.nodes[0], require_op(g.nodes[0]), knob, 0, &ranges});
  Executor executor(g);
  executor.set_kernel(0, kernel.get());
  return executor.run(feeds).front();
}

// x = k * scale with integers |k| <= limit: activations the quantizer maps to k exactly.
Tensor integer_activations(const Shape& shape, float scale, int32_t limit, std::mt19937_64& rng) {
  std::uniform_int_distribution<int32_t> k(-limit, limit);
  Tensor x(shape);
  for (int64_t i = 0; i < x.size(); ++i) x.f32()[i] = static_cast<float>(k(rng)) * scale;
  return x;
}

Tensor random_weights(const Shape& shape, std::mt19937_64& rng) {
  std::vector<float> w = awkward_weights(element_count(shape), rng);
  return Tensor::from_floats(shape, w);
}

// Multiples of `unit` up to +-1000 units: biases the float model adds exactly.
Tensor unit_multiples(const Shape& shape, double unit, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> k(-1000, 1000);
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t.f32()[i] = static_cast<float>(k(rng) * unit);
  return t;
}

void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  for (int64_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.f32()[i], b.f32()[i]) << what << ", element " << i;
}

TEST(ShiftAddConv, IntegerPathEqualsFloatModelOnIntegerData) {
  std::mt19937_64 rng(14);
  std::uniform_int_distribution<int64_t> small(1, 3), spatial(1, 12), pad(0, 2), coin(0, 1);
  const float s = 0.125f;  // a power of two: k * s is exact and quantizes back to k
  int cases = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const bool one_d = trial % 7 == 3;
    const int64_t kind = trial % 3;  // 0 dense, 1 grouped, 2 depthwise (with a channel multiplier)
    const int64_t groups = kind == 0 ? 1 : 1 + small(rng);
    const int64_t cin_per_group = kind == 2 ? 1 : small(rng);
    const int64_t cout_per_group = small(rng);
    const int64_t C = groups * cin_per_group, O = groups * cout_per_group;
    const int64_t kh = one_d ? 1 : small(rng), kw = small(rng);
    const int64_t sh = one_d ? 1 : small(rng), sw = small(rng), dh = one_d ? 1 : small(rng), dw = small(rng);
    const int64_t pt = one_d ? 0 : pad(rng), pb = one_d ? 0 : pad(rng), pl = pad(rng), pr = pad(rng);
    const int64_t H = one_d ? 1 : std::max<int64_t>(spatial(rng), (kh - 1) * dh + 1 - pt - pb);
    const int64_t W = std::max<int64_t>(spatial(rng) + 6 * coin(rng), (kw - 1) * dw + 1 - pl - pr);
    const int64_t N = small(rng);
    const ShiftAddParams p = trial % 4 == 0   ? params_of(1, false, 0, 8)
                             : trial % 4 == 1 ? params_of(2, false, 0, 8)
                             : trial % 4 == 2 ? params_of(2, true, 0.1, 6)
                                              : params_of(2, false, 0, 4, 16);
    // 16-bit activations with 4 levels: sums stay below 2^24 units, float's exact range.
    const int32_t limit = p.activation_bits == 8 ? 127 : 32767;
    Attributes attrs;
    if (one_d) {
      attrs = attrs_of({{"kernel_shape", std::vector<int64_t>{kw}}, {"strides", std::vector<int64_t>{sw}},
                        {"dilations", std::vector<int64_t>{dw}}, {"pads", std::vector<int64_t>{pl, pr}},
                        {"group", groups}});
    } else {
      attrs = attrs_of({{"kernel_shape", std::vector<int64_t>{kh, kw}}, {"strides", std::vector<int64_t>{sh, sw}},
                        {"dilations", std::vector<int64_t>{dh, dw}}, {"pads", std::vector<int64_t>{pt, pl, pb, pr}},
                        {"group", groups}});
    }
    const Shape x_shape = one_d ? Shape{N, C, W} : Shape{N, C, H, W};
    const Shape w_shape = one_d ? Shape{O, cin_per_group, kw} : Shape{O, cin_per_group, kh, kw};
    Tensor x = integer_activations(x_shape, s, limit, rng);
    Tensor w = random_weights(w_shape, rng);
    const FilterLayout layout = shift_add_layout("Conv", w_shape, false);
    const ShiftAddWeights q = quantize_shift_add(w.f32(), layout, p);
    Tensor wq = shift_add_quantized(w, layout, p);
    Tensor bias = unit_multiples({O}, s * q.unit(), rng);

    // The float shift-add model: the exact Conv on the quantized weights.
    const Tensor expected = test::run1("Conv", {var(x), cst(wq), cst(bias)}, attrs);
    // The integer datapath, called directly...
    Node node;
    node.name = "conv";
    node.op_type = "Conv";
    node.attrs = attrs;
    const Conv2dGeometry g = conv_geometry(node, x_shape, w_shape, &bias.shape());
    std::vector<int32_t> xq(static_cast<std::size_t>(x.size()));
    quantize_activations(x.f32(), x.size(), s, p.activation_bits, xq.data());
    const ShiftAddProgram program(q, p.activation_bits);
    ASSERT_FALSE(program.wide());
    Tensor direct(expected.shape());
    shift_add_conv2d(g, xq.data(), program, s * q.unit(), bias.f32(), direct.f32());
    expect_identical(direct, expected, "direct, trial " + std::to_string(trial));
    // ...and through the knob, whose activation scale max(|low|, |high|) / 127 is s again.
    const float top = s * static_cast<float>(limit);
    const Tensor knob = run_knob("Conv", {var(x), cst(w), cst(bias)}, attrs, shift_add_knob(p), {-top, top / 3});
    expect_identical(knob, expected, "knob, trial " + std::to_string(trial));
    ++cases;
  }
  EXPECT_EQ(cases, 60);
}

// Naive integer convolution (NCHW, square stride/pad, groups) with the datapath's output formula.
Tensor naive_shift_add_conv(const Tensor& x, const std::vector<int64_t>& units, const Shape& w_shape,
                            const Tensor* bias, int64_t stride, int64_t pad, int64_t groups, float s_x, int n_min,
                            int bits) {
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t O = w_shape[0], cpg = w_shape[1], k = w_shape[2];
  const int64_t OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
  const int64_t opg = O / groups;
  const double limit = std::pow(2.0, bits - 1) - 1;
  const double scale = static_cast<double>(s_x) * std::pow(2.0, n_min);
  Tensor y({N, O, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          int64_t acc = 0;
          for (int64_t c = 0; c < cpg; ++c)
            for (int64_t i = 0; i < k; ++i)
              for (int64_t j = 0; j < k; ++j) {
                const int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t ch = (o / opg) * cpg + c;
                const float v = x.f32()[((n * C + ch) * H + ih) * W + iw];
                const double xq = std::min(limit, std::max(-limit, static_cast<double>(std::nearbyint(v / s_x))));
                acc += static_cast<int64_t>(xq) * units[static_cast<std::size_t>(((o * cpg + c) * k + i) * k + j)];
              }
          const double b = bias ? bias->f32()[o] : 0.0;
          y.f32()[((n * O + o) * OH + oh) * OW + ow] = static_cast<float>(static_cast<double>(acc) * scale + b);
        }
  return y;
}

std::vector<int64_t> naive_units(const NaiveLayer& layer) {
  std::vector<int64_t> units;
  for (double v : layer.values) units.push_back(static_cast<int64_t>(std::ldexp(v, -layer.n_min)));
  return units;
}

TEST(ShiftAddConv, WideAccumulatorsMatchNaiveIntegerLoops) {
  // 16-bit activations and 16 exponent levels: a filter's sums can pass 2^31, so the kernel
  // accumulates in 64 bits; the naive loops multiply in int64.
  std::mt19937_64 rng(15);
  const ShiftAddParams p = params_of(2, false, 0, 16, 16);
  const Shape w_shape{5, 6, 3, 3};
  Tensor w = random_weights(w_shape, rng);
  // Filter 0 all large (3 * 2^13 units against the 2^-13 floor) and image 0 large and positive:
  // its sums reach about 54 * 24576 * 20000, far past 2^31.
  for (int64_t i = 0; i < 54; ++i) w.f32()[i] = 2.9f;
  Tensor x = test::seeded_input({2, 6, 11, 9}, 3);
  for (int64_t i = 0; i < x.size(); ++i) x.f32()[i] = i < x.size() / 2 ? std::fabs(x.f32()[i]) + 1.0f : 2.0f * x.f32()[i];
  Tensor bias = test::seeded_input({5}, 4);
  const ValueRange range{-3.0f, 3.5f};
  const float s = activation_scale(range, 16);
  const std::vector<float> wv(w.f32(), w.f32() + w.size());
  const NaiveLayer ref = naive_quantize(wv, 5, 54, false, p);
  const ShiftAddProgram program(quantize_shift_add(w.f32(), FilterLayout::rows(5, 54), p), 16);
  ASSERT_TRUE(program.wide());
  const Tensor expected = naive_shift_add_conv(x, naive_units(ref), w_shape, &bias, 2, 1, 1, s, ref.n_min, 16);
  const Attributes attrs = attrs_of({{"kernel_shape", std::vector<int64_t>{3, 3}},
                                     {"strides", std::vector<int64_t>{2, 2}},
                                     {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  const Tensor got = run_knob("Conv", {var(x), cst(w), cst(bias)}, attrs, shift_add_knob(p), range);
  expect_identical(got, expected, "wide accumulators");
  // Some activations saturated at +-32767 and some sums really needed more than 32 bits.
  const double unit_scale = static_cast<double>(s) * std::ldexp(1.0, ref.n_min);
  double largest = 0;
  for (int64_t i = 0; i < expected.size(); ++i) {
    const double acc = (static_cast<double>(expected.f32()[i]) - bias.f32()[(i / 30) % 5]) / unit_scale;
    largest = std::max(largest, std::fabs(acc));
  }
  EXPECT_GT(largest, 2147483647.0);
}

TEST(ShiftAddGemm, IntegerPathEqualsFloatModelOnIntegerData) {
  std::mt19937_64 rng(16);
  std::uniform_int_distribution<int64_t> dim(1, 70);
  const float s = 0.25f;
  for (int trial = 0; trial < 24; ++trial) {
    const bool ta = trial % 2 == 1, tb = (trial / 2) % 2 == 1;
    const int64_t M = dim(rng), K = 1 + dim(rng) % 30, N = dim(rng);
    const ShiftAddParams p = trial % 3 == 0 ? params_of(1, false, 0, 8)
                             : trial % 3 == 1 ? params_of(2, false, 0, 7)
                                              : params_of(2, true, 0.15, 8);
    Tensor a = integer_activations(ta ? Shape{K, M} : Shape{M, K}, s, 127, rng);
    const Shape b_shape = tb ? Shape{N, K} : Shape{K, N};
    Tensor b = random_weights(b_shape, rng);
    const FilterLayout layout = shift_add_layout("Gemm", b_shape, tb);
    const ShiftAddWeights q = quantize_shift_add(b.f32(), layout, p);
    Tensor bq = shift_add_quantized(b, layout, p);
    // C in each broadcast form, alpha and beta powers of two: every step is exact.
    const int form = trial % 4;
    const Shape c_shape = form == 0 ? Shape{N} : form == 1 ? Shape{M, N} : form == 2 ? Shape{M, 1} : Shape{};
    Tensor c = unit_multiples(c_shape, s * q.unit(), rng);
    const Attributes attrs = attrs_of({{"transA", int64_t{ta}}, {"transB", int64_t{tb}}, {"alpha", 0.5f},
                                       {"beta", trial % 5 == 0 ? 0.0f : 2.0f}});
    const Tensor expected = test::run1("Gemm", {var(a), cst(bq), cst(c)}, attrs);
    const Tensor got = run_knob("Gemm", {var(a), cst(b), cst(c)}, attrs, shift_add_knob(p), {-127 * s, 3.0f});
    expect_identical(got, expected, "gemm trial " + std::to_string(trial));
  }
}

TEST(ShiftAddMatMul, IntegerPathEqualsFloatModelOnIntegerData) {
  std::mt19937_64 rng(17);
  const float s = 0.5f;
  const ShiftAddParams p = params_of(2, true, 0.1, 8);
  const std::vector<std::pair<Shape, Shape>> cases{
      {{2, 3, 7}, {7, 5}}, {{7}, {7, 4}}, {{6, 7}, {7}}, {{3, 70, 9}, {1, 9, 66}}, {{1, 1}, {1, 1}}};
  for (const auto& [a_shape, b_shape] : cases) {
    Tensor a = integer_activations(a_shape, s, 127, rng);
    Tensor b = random_weights(b_shape, rng);
    Tensor bq = shift_add_quantized(b, shift_add_layout("MatMul", b_shape, false), p);
    const Tensor expected = test::run1("MatMul", {var(a), cst(bq)});
    const Tensor got = run_knob("MatMul", {var(a), cst(b)}, {}, shift_add_knob(p), {-1.0f, 127 * s});
    expect_identical(got, expected, "matmul " + shape_string(a_shape) + " x " + shape_string(b_shape));
  }
  // Weights with a real batch dimension are no single weight matrix.
  Tensor a = integer_activations({2, 3, 4}, s, 127, rng);
  Tensor b = random_weights({2, 4, 5}, rng);
  EXPECT_THROW(run_knob("MatMul", {var(a), cst(b)}, {}, shift_add_knob(p), {-1.0f, 1.0f}), BadInput);
}

TEST(ShiftAddKnob, FollowsChangedWeightsAndNeedsRanges) {
  std::mt19937_64 rng(18);
  const ShiftAddParams p = params_of(2, false, 0, 8);
  const Knob knob = shift_add_knob(p);
  Tensor a = integer_activations({4, 6}, 0.5f, 127, rng);
  Tensor w1 = random_weights({6, 3}, rng), w2 = random_weights({6, 3}, rng);
  // One kernel, two weight tensors fed as graph inputs: the cache must notice the change.
  std::vector<Tensor> feeds;
  Graph g = test::one_node("MatMul", {var(a), var(w1)}, {}, 17, 1, &feeds);
  prepare_graph(g);
  OpRanges ranges{{-63.5f, 1.0f}, {}};
  auto kernel = make_knob_kernel(KnobRequest{g.nodes[0], require_op(g.nodes[0]), knob, 0, &ranges});
  Executor executor(g);
  executor.set_kernel(0, kernel.get());
  for (const Tensor* w : {&w1, &w2, &w1}) {
    Tensor wq = shift_add_quantized(*w, FilterLayout::columns(6, 3), p);
    expect_identical(executor.run({a, *w}).front(), test::run1("MatMul", {var(a), cst(wq)}), "cached weights");
  }
  EXPECT_THROW(make_knob_kernel(KnobRequest{g.nodes[0], require_op(g.nodes[0]), knob, 0, nullptr}), BadInput);
  OpRanges empty{{0.0f, 0.0f}, {}};
  EXPECT_THROW(make_knob_kernel(KnobRequest{g.nodes[0], require_op(g.nodes[0]), knob, 0, &empty}), BadInput);
}

// ---------------------------------------------------------------------------------------------
// Through the registry: configuration -> calibrate_ranges -> ApproxPlan -> Executor

Graph tiny_net() {
  GraphBuilder b("tiny", 5);
  int x = b.input("input", {2, 3, 9, 9});
  ConvSpec c1;
  c1.out_channels = 4;
  x = b.relu(b.conv(x, c1, "conv1"), "relu1");
  ConvSpec c2;
  c2.out_channels = 6;
  c2.stride = 2;
  c2.groups = 2;
  x = b.relu(b.conv(x, c2, "conv2"), "relu2");
  x = b.gemm(b.flatten(x, "flatten"), 5, "fc");
  b.output(x);
  Graph g = b.finish();
  // Non-zero biases, so the datapath's bias path counts.
  std::mt19937_64 rng(6);
  std::normal_distribution<float> normal(0.0f, 0.2f);
  for (const char* name : {"conv1.bias", "conv2.bias", "fc.bias"}) {
    Tensor& t = *g.values[static_cast<std::size_t>(g.find_value(name))].constant;
    for (int64_t i = 0; i < t.size(); ++i) t.f32()[i] = normal(rng);
  }
  return g;
}

TEST(ShiftAddKnob, ThroughTheRegistryMatchesNaiveIntegerNetwork) {
  Graph graph = tiny_net();
  prepare_graph(graph);
  const Tensor x = test::seeded_input({2, 3, 9, 9}, 7);
  const Tensor calibration = test::seeded_input({2, 3, 9, 9}, 8);
  std::vector<std::size_t> targets;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n)
    if (graph.nodes[n].op_type == "Conv" || graph.nodes[n].op_type == "Gemm") targets.push_back(n);
  ASSERT_EQ(targets.size(), 3u);
  const std::map<std::string, OpRanges> ranges = calibrate_ranges(graph, {{calibration}}, targets);
  const Tensor exact = Executor(graph).run({x}).front();

  auto weight = [&](const std::string& name) {
    const Tensor& t = *graph.values[static_cast<std::size_t>(graph.find_value(name))].constant;
    return std::vector<float>(t.f32(), t.f32() + t.size());
  };
  auto constant = [&](const std::string& name) -> const Tensor& {
    return *graph.values[static_cast<std::size_t>(graph.find_value(name))].constant;
  };
  std::map<int, double> relative_error;
  for (int id : {81, 82, 83, 84, 85, 86}) {
    const Knob& knob = knob_catalog().require(id);
    ASSERT_EQ(knob.family, KnobFamily::ShiftAdd);
    const ShiftAddParams p = ShiftAddParams::from_knob(knob);
    std::vector<OpChoice> choices(graph.nodes.size());
    for (std::size_t n : targets) choices[n] = OpChoice{id, Unit::LightNN};
    ApproxPlan plan(graph, choices, knob_catalog(), 1);
    EXPECT_EQ(plan.missing_ranges(), targets);
    plan.set_ranges(ranges);
    Executor executor(graph);
    plan.install(executor);
    const Tensor got = executor.run({x}).front();

    // The naive network: integer conv, ReLU, integer grouped conv, ReLU, flatten, integer FC.
    auto scale_of = [&](const char* node) { return activation_scale(ranges.at(node).input, p.activation_bits); };
    const NaiveLayer q1 = naive_quantize(weight("conv1.weight"), 4, 27, false, p);
    Tensor h = naive_shift_add_conv(x, naive_units(q1), {4, 3, 3, 3}, &constant("conv1.bias"), 1, 1, 1,
                                    scale_of("conv1"), q1.n_min, p.activation_bits);
    for (int64_t i = 0; i < h.size(); ++i) h.f32()[i] = std::max(0.0f, h.f32()[i]);
    const NaiveLayer q2 = naive_quantize(weight("conv2.weight"), 6, 18, false, p);
    h = naive_shift_add_conv(h, naive_units(q2), {6, 2, 3, 3}, &constant("conv2.bias"), 2, 1, 2, scale_of("conv2"),
                             q2.n_min, p.activation_bits);
    for (int64_t i = 0; i < h.size(); ++i) h.f32()[i] = std::max(0.0f, h.f32()[i]);
    const int64_t features = h.size() / 2;
    const NaiveLayer q3 = naive_quantize(weight("fc.weight"), 5, features, false, p);
    const std::vector<int64_t> u3 = naive_units(q3);
    const float s3 = scale_of("fc");
    const double limit = std::pow(2.0, p.activation_bits - 1) - 1;
    Tensor expected({2, 5});
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t o = 0; o < 5; ++o) {
        int64_t acc = 0;
        for (int64_t f = 0; f < features; ++f) {
          const double xq =
              std::min(limit, std::max(-limit, static_cast<double>(std::nearbyint(h.f32()[n * features + f] / s3))));
          acc += static_cast<int64_t>(xq) * u3[static_cast<std::size_t>(o * features + f)];
        }
        float y = static_cast<float>(static_cast<double>(acc) * (static_cast<double>(s3) * std::ldexp(1.0, q3.n_min)));
        expected.f32()[n * 5 + o] = y + constant("fc.bias").f32()[o];
      }
    expect_identical(got, expected, "knob " + std::to_string(id));

    // An approximation, not the exact network, but a close one.
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < exact.size(); ++i) {
      diff += std::pow(got.f32()[i] - exact.f32()[i], 2);
      norm += std::pow(exact.f32()[i], 2);
    }
    EXPECT_GT(diff, 0.0) << "knob " << id;
    // Measured 0.41 (K = 1) and 0.12 (K = 2) on this random network; FLightNN lies between, as
    // some filters keep one term.
    relative_error[id] = std::sqrt(diff / norm);
    EXPECT_LT(relative_error[id], p.terms == 1 || p.flexible ? 0.6 : 0.2) << "knob " << id;
  }
  // FLightNN's error lies between LightNN-2's and LightNN-1's.
  EXPECT_LE(relative_error[82], relative_error[83]);
  EXPECT_LE(relative_error[83], relative_error[81]);
  EXPECT_LE(relative_error[85], relative_error[86]);
  EXPECT_LE(relative_error[86], relative_error[84]);
  // A second power of two per weight cuts the error by far more than half.
  EXPECT_LT(relative_error[82], 0.5 * relative_error[81]);
  EXPECT_LT(relative_error[85], 0.5 * relative_error[84]);
}

// ---------------------------------------------------------------------------------------------
// Quantization-aware training

// True when v is 0, +-2^a or +-2^a +- 2^b.
bool sum_of_two_powers(float v) {
  if (v == 0.0f) return true;
  const double a = std::fabs(static_cast<double>(v));
  const double top = std::pow(2.0, std::floor(std::log2(a)));
  for (double first : {top, 2 * top}) {
    const double rest = std::fabs(a - first);
    if (rest == 0.0 || rest == std::pow(2.0, std::round(std::log2(rest)))) return true;
  }
  return false;
}

// True when v is 0 or +-2^a.
bool single_power(float v) {
  int e = 0;
  return v == 0.0f || std::frexp(std::fabs(v), &e) == 0.5f;
}

TEST(ShiftAddTraining, TransformQuantizesConvAndFcWeightsOnly) {
  Graph graph = tiny_net();
  const ShiftAddParams p = ShiftAddParams::from_knob(knob_catalog().require(83));
  const auto targets = shift_add_targets(graph);
  EXPECT_EQ(targets.size(), 3u);
  EXPECT_TRUE(targets.at("fc.weight").transpose_b);
  WeightTransform transform = make_shift_add_transform(graph, p);
  const Tensor& w = *graph.values[static_cast<std::size_t>(graph.find_value("conv2.weight"))].constant;
  Tensor effective(w.shape());
  transform("conv2.weight", w, effective);
  expect_identical(effective, shift_add_quantized(w, FilterLayout::rows(6, 18), p), "conv2 weights");
  const Tensor& fc = *graph.values[static_cast<std::size_t>(graph.find_value("fc.weight"))].constant;
  Tensor fc_effective(fc.shape());
  transform("fc.weight", fc, fc_effective);
  expect_identical(fc_effective, shift_add_quantized(fc, FilterLayout::rows(fc.dim(0), fc.dim(1)), p), "fc weights");
  const Tensor& b = *graph.values[static_cast<std::size_t>(graph.find_value("conv1.bias"))].constant;
  Tensor b_effective(b.shape());
  transform("conv1.bias", b, b_effective);
  expect_identical(b_effective, b, "bias");

  // Quantizing a graph copy in place leaves the original's constants (shared storage) alone.
  const Tensor before = w.clone();
  Graph copy = graph;
  EXPECT_EQ(quantize_graph_weights(copy, p), 3);
  expect_identical(w, before, "original weights");
  expect_identical(*copy.values[static_cast<std::size_t>(copy.find_value("conv2.weight"))].constant,
                   shift_add_quantized(w, FilterLayout::rows(6, 18), p), "quantized copy");
}

TEST(ShiftAddTraining, TrainedWeightsAreShiftAddAndRequantizeToThemselves) {
  // Two classes of 1x8x8 images told apart by which half is brighter.
  Dataset data;
  data.name = "halves";
  data.classes = 2;
  data.images = Tensor({64, 1, 8, 8});
  std::mt19937_64 rng(19);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  for (int64_t i = 0; i < 64; ++i) {
    data.labels.push_back(static_cast<int>(i % 2));
    for (int64_t j = 0; j < 64; ++j)
      data.images.f32()[i * 64 + j] = ((j < 32) == (i % 2 == 0) ? 1.0f : 0.0f) + noise(rng);
  }
  GraphBuilder b("qat", 3);
  int x = b.input("input", {1, 1, 8, 8});
  ConvSpec conv;
  conv.out_channels = 4;
  x = b.relu(b.conv(x, conv, "conv"), "relu");
  x = b.gemm(b.flatten(b.max_pool(x, 2, 2, 0, "pool"), "flatten"), 2, "fc");
  b.output(x);
  Graph graph = b.finish();
  for (int id : {81, 82, 83}) {
    Graph g = graph;
    for (Value& v : g.values)
      if (v.constant) v.constant = v.constant->clone();  // each run trains its own weights
    const ShiftAddParams p = ShiftAddParams::from_knob(knob_catalog().require(id));
    TrainOptions options;
    options.epochs = 1;
    options.batch = 16;
    options.learning_rate = 0.05f;
    Trainer trainer(g, options);
    trainer.set_weight_transform(make_shift_add_transform(g, p));
    trainer.train_epoch(data, 0);
    for (const char* name : {"conv.weight", "fc.weight"}) {
      const Tensor& w = *g.values[static_cast<std::size_t>(g.find_value(name))].constant;
      for (int64_t i = 0; i < w.size(); ++i) {
        ASSERT_TRUE(sum_of_two_powers(w.f32()[i])) << name << "[" << i << "] = " << w.f32()[i];
        if (p.terms == 1) {
          ASSERT_TRUE(single_power(w.f32()[i])) << name << "[" << i << "] = " << w.f32()[i];
        }
      }
      Graph again = g;
      quantize_graph_weights(again, p);
      expect_identical(*again.values[static_cast<std::size_t>(again.find_value(name))].constant, w,
                       std::string("requantized ") + name);
    }
  }
}

}  // namespace
}  // namespace coda
