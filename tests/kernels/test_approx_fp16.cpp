// The fp16 knobs (12: half accumulation, 71: float accumulation) against naive loops written here:
// round_to_half against Eigen::half's conversion, hgemm against a plain triple loop (bit for bit,
// since the order of the sums is part of its definition), and Conv, Gemm, MatMul and the generic
// wrapper run through the knob registry (configuration -> ApproxPlan -> Executor) against
// half-arithmetic loops that round after every operation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/approx/fp16_kernels.h"
#include "kernels/approx/half_math.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"
#include "kernels/parallel.h"
#include "tests/support/conv_case.h"
#include "tests/support/graph_runner.h"

namespace coda {
namespace {

using test::attrs_of;
using test::cst;
using test::var;

float r16(float x) { return round_to_half(x); }

std::uint32_t bits_of(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}

float from_bits(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// Half values: N(0, scale^2) draws rounded to half.
std::vector<float> half_values(int64_t n, std::uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = r16(normal(rng));
  return v;
}

Tensor tensor_of(const Shape& shape, std::uint64_t seed, float scale = 1.0f) {
  Tensor t = test::seeded_input(shape, seed);
  for (int64_t i = 0; i < t.size(); ++i) t.f32()[i] *= scale;
  return t;
}

// Runs the one-node graph of `op` with every approximable node on knob `knob`, chosen by a JSON
// configuration as a user would write it.
Tensor run_with_knob(const std::string& op, const std::vector<test::In>& inputs, const Attributes& attrs, int knob) {
  std::vector<Tensor> feeds;
  Graph graph = test::one_node(op, inputs, attrs, 17, 1, &feeds);
  prepare_graph(graph);
  const ApproxConfig config =
      ApproxConfig::parse(R"({"default": {"knob": )" + std::to_string(knob) + R"(, "unit": "cpu"}})", "test.json");
  ApproxPlan plan(graph, resolve_config(config, graph, knob_catalog()), knob_catalog(), 1);
  EXPECT_EQ(plan.approximated_count(), 1u);
  Executor executor(graph);
  plan.install(executor);
  return executor.run(feeds).front();
}

void expect_bitwise_equal(const float* actual, const std::vector<float>& expected, const std::string& what) {
  int64_t mismatches = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (bits_of(actual[i]) == bits_of(expected[i]) || (actual[i] == 0.0f && expected[i] == 0.0f)) continue;
    if (mismatches++ < 5)
      ADD_FAILURE() << what << ": element " << i << " is " << actual[i] << ", expected " << expected[i];
  }
  EXPECT_EQ(mismatches, 0) << what;
}

// ---------------------------------------------------------------------------------------------
// round_to_half

// Eigen::half's float conversion (F16C where available, else Eigen's bit manipulation) is the
// independent oracle: round to nearest even, overflow to infinity, subnormals.
float eigen_round(float x) { return static_cast<float>(Eigen::half(x)); }

void expect_same_rounding(float x) {
  const float ours = round_to_half(x), theirs = eigen_round(x);
  if (std::isnan(theirs)) {
    EXPECT_TRUE(std::isnan(ours)) << "x bits " << std::hex << bits_of(x);
  } else {
    EXPECT_EQ(bits_of(ours), bits_of(theirs)) << "x = " << x << " (bits " << std::hex << bits_of(x) << ")";
  }
}

TEST(Fp16Rounding, MatchesEigenHalfOnRandomFloats) {
  std::mt19937_64 rng(7);
  int64_t mismatches = 0;
  auto check = [&](float x) {
    const float ours = round_to_half(x), theirs = eigen_round(x);
    const bool same = std::isnan(theirs) ? std::isnan(ours) : bits_of(ours) == bits_of(theirs);
    if (!same && mismatches++ < 5) ADD_FAILURE() << "x = " << x << " (bits " << std::hex << bits_of(x) << ")";
  };
  // Every bit pattern is equally likely: all exponents, NaNs, infinities and float subnormals.
  for (int i = 0; i < (1 << 20); ++i) check(from_bits(static_cast<std::uint32_t>(rng())));
  // Magnitudes spread over the half range and just beyond: normals, subnormals, overflow.
  std::uniform_real_distribution<float> exponent(-27.0f, 17.0f);
  std::uniform_real_distribution<float> mantissa(1.0f, 2.0f);
  for (int i = 0; i < (1 << 20); ++i) {
    const float x = std::ldexp(mantissa(rng), static_cast<int>(std::floor(exponent(rng))));
    check(i % 2 ? x : -x);
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(Fp16Rounding, EdgeCases) {
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    float x, expected;
  };
  const Case cases[] = {
      {0.0f, 0.0f},
      {1.0f, 1.0f},
      {1.0f + 0x1p-11f, 1.0f},                        // tie: to the even neighbour 1
      {1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-9f},         // tie: to the even neighbour 1 + 2^-9
      {1.0f + 0x1p-11f + 0x1p-20f, 1.0f + 0x1p-10f},  // just above the tie
      {2049.0f, 2048.0f},                              // spacing 2 above 2048: tie to even
      {2051.0f, 2052.0f},
      {65504.0f, 65504.0f},                            // largest half
      {65519.996f, 65504.0f},                          // just below the overflow threshold
      {65520.0f, inf},                                 // the threshold rounds to infinity
      {-65520.0f, -inf},
      {1e9f, inf},
      {inf, inf},
      {-inf, -inf},
      {0x1p-14f, 0x1p-14f},                            // smallest normal
      {0x1p-24f, 0x1p-24f},                            // smallest subnormal
      {0x1p-25f, 0.0f},                                // half of it: tie to even (zero)
      {0x1p-25f + 0x1p-40f, 0x1p-24f},
      {3 * 0x1p-25f, 0x1p-23f},                        // tie between 1 and 2 ulps: 2
      {1023 * 0x1p-24f, 1023 * 0x1p-24f},              // largest subnormal
      {0x1p-14f - 0x1p-25f, 0x1p-14f},                 // tie between it and the smallest normal
      {1e-45f, 0.0f},                                  // a float subnormal
      {-0x1p-26f, -0.0f},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(bits_of(round_to_half(c.x)), bits_of(c.expected)) << "x = " << c.x;
    EXPECT_EQ(bits_of(round_to_half(-c.x)), bits_of(-c.expected)) << "x = " << -c.x;
    expect_same_rounding(c.x);
    expect_same_rounding(-c.x);
  }
  EXPECT_TRUE(std::signbit(round_to_half(-0.0f)));
  EXPECT_TRUE(std::isnan(round_to_half(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(round_to_half(-std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(round_to_half(std::numeric_limits<float>::signaling_NaN())));
}

TEST(Fp16Rounding, ArrayFormMatchesScalar) {
  std::vector<float> v(200000);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal(0.0f, 1000.0f);
  for (float& x : v) x = normal(rng);
  std::vector<float> expected(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) expected[i] = round_to_half(v[i]);
  round_to_half(v.data(), static_cast<int64_t>(v.size()));
  expect_bitwise_equal(v.data(), expected, "round_to_half(ptr, n)");
}

// ---------------------------------------------------------------------------------------------
// hgemm

// The definition, literally.
std::vector<float> naive_hgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const std::vector<float>& a,
                               int64_t lda, const std::vector<float>& b, int64_t ldb, Arithmetic accumulate) {
  std::vector<float> c(static_cast<std::size_t>(m * n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float s = 0.0f;
      for (int64_t p = 0; p < k; ++p) {
        const float x = a[static_cast<std::size_t>(ta ? p * lda + i : i * lda + p)];
        const float y = b[static_cast<std::size_t>(tb ? j * ldb + p : p * ldb + j)];
        if (accumulate == Arithmetic::Fp16) {
          s = r16(s + r16(x * y));
        } else {
          s = s + x * y;
        }
      }
      c[static_cast<std::size_t>(i * n + j)] = accumulate == Arithmetic::Fp16 ? s : r16(s);
    }
  return c;
}

struct GemmCase {
  int64_t m, n, k;
};

void check_hgemm(const GemmCase& s, bool ta, bool tb, Arithmetic accumulate, std::uint64_t seed, float scale) {
  // Leading dimensions wider than the matrices, so strides are exercised.
  const int64_t lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 5, ldc = s.n + 2;
  const std::vector<float> a = half_values((ta ? s.k : s.m) * lda, seed, scale);
  const std::vector<float> b = half_values((tb ? s.n : s.k) * ldb, seed + 1, scale);
  const float sentinel = 1234.5f;
  std::vector<float> c(static_cast<std::size_t>(s.m * ldc), sentinel);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) c[static_cast<std::size_t>(i * ldc + j)] = std::nanf("");  // must be overwritten
  hgemm(ta, tb, s.m, s.n, s.k, a.data(), lda, b.data(), ldb, c.data(), ldc, accumulate);
  const std::vector<float> expected = naive_hgemm(ta, tb, s.m, s.n, s.k, a, lda, b, ldb, accumulate);
  const std::string what = "hgemm m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" +
                           std::to_string(s.k) + " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) +
                           (accumulate == Arithmetic::Fp16 ? " acc16" : " acc32");
  std::vector<float> got(expected.size());
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = 0; j < s.n; ++j) {
      got[static_cast<std::size_t>(i * s.n + j)] = c[static_cast<std::size_t>(i * ldc + j)];
      EXPECT_EQ(r16(got[static_cast<std::size_t>(i * s.n + j)]), got[static_cast<std::size_t>(i * s.n + j)]) << what;
    }
  expect_bitwise_equal(got.data(), expected, what);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = s.n; j < ldc; ++j)
      ASSERT_EQ(c[static_cast<std::size_t>(i * ldc + j)], sentinel) << what << ": wrote outside C";
}

TEST(Fp16Hgemm, MatchesNaiveLoopBitForBit) {
  const GemmCase shapes[] = {{1, 1, 1},   {1, 1, 0},   {3, 5, 0},  {7, 31, 5},  {8, 32, 16}, {9, 33, 17},
                             {17, 70, 64}, {33, 1, 40}, {1, 65, 9}, {24, 96, 130}, {5, 3, 257}};
  std::uint64_t seed = 100;
  for (const GemmCase& s : shapes)
    for (int t = 0; t < 4; ++t)
      for (Arithmetic acc : {Arithmetic::Fp16, Arithmetic::Fp32}) {
        check_hgemm(s, t & 1, t & 2, acc, seed, 1.0f);
        // Large positive sums: spacing of halves grows to 2 and more, so every add rounds.
        check_hgemm(s, t & 1, t & 2, acc, seed + 7, 6.0f);
        seed += 11;
      }
}

TEST(Fp16Hgemm, RandomShapes) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int64_t> dim(1, 80);
  for (int trial = 0; trial < 24; ++trial) {
    const GemmCase s{dim(rng), dim(rng), dim(rng) * 3};
    check_hgemm(s, trial & 1, trial & 2, trial & 4 ? Arithmetic::Fp16 : Arithmetic::Fp32, 500 + trial, 2.0f);
  }
}

TEST(Fp16Hgemm, AccumulationModeMatters) {
  // 4096 products of 1 x 1: a half accumulator stops at 2048 (2048 + 1 is a tie, rounded to the
  // even 2048), a float one reaches 4096 exactly.
  const int64_t k = 4096;
  std::vector<float> a(static_cast<std::size_t>(k), 1.0f), b(static_cast<std::size_t>(k), 1.0f);
  float c = 0.0f;
  hgemm(false, false, 1, 1, k, a.data(), k, b.data(), 1, &c, 1, Arithmetic::Fp16);
  EXPECT_EQ(c, 2048.0f);
  hgemm(false, false, 1, 1, k, a.data(), k, b.data(), 1, &c, 1, Arithmetic::Fp32);
  EXPECT_EQ(c, 4096.0f);
  // Products are rounded to half before they are added: 0.1h * 0.1h.
  const float tenth = r16(0.1f);
  hgemm(false, false, 1, 1, 1, &tenth, 1, &tenth, 1, &c, 1, Arithmetic::Fp16);
  EXPECT_EQ(c, r16(tenth * tenth));
  // Overflow of the half result is infinity in both modes.
  const float big = 256.0f;
  hgemm(false, false, 1, 1, 1, &big, 1, &big, 1, &c, 1, Arithmetic::Fp32);
  EXPECT_EQ(c, std::numeric_limits<float>::infinity());
}

TEST(Fp16Hgemm, IndependentOfThreadCount) {
  const int64_t m = 70, n = 300, k = 200;
  const std::vector<float> a = half_values(m * k, 21), b = half_values(k * n, 22);
  const int saved = thread_count();
  for (Arithmetic acc : {Arithmetic::Fp16, Arithmetic::Fp32}) {
    std::vector<float> one(static_cast<std::size_t>(m * n)), two(one.size());
    set_thread_count(1);
    hgemm(false, true, m, n, k, a.data(), k, b.data(), k, one.data(), n, acc);
    set_thread_count(2);
    hgemm(false, true, m, n, k, a.data(), k, b.data(), k, two.data(), n, acc);
    expect_bitwise_equal(two.data(), one, "threads 1 vs 2");
  }
  set_thread_count(saved);
}

// ---------------------------------------------------------------------------------------------
// Conv

using test::ConvCase;

// Half convolution by the definition: operands rounded, products and sums over (c, i, j) in order
// (taps in the padding contribute exact zeros and are skipped), bias added and rounded.
std::vector<float> naive_conv_half(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor* b,
                                   Arithmetic accumulate) {
  const int64_t cg = c.c / c.group, mg = c.cout / c.group, oh_n = c.out_h(), ow_n = c.out_w(), ih_n = c.in_h();
  const int64_t kh = c.one_d() ? 1 : c.kh;
  std::vector<float> y(static_cast<std::size_t>(c.n * c.cout * oh_n * ow_n));
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t o = 0; o < c.cout; ++o)
      for (int64_t oh = 0; oh < oh_n; ++oh)
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          float s = 0.0f;
          const int64_t grp = o / mg;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < c.kw; ++j) {
                const int64_t ih = c.one_d() ? 0 : oh * c.sh - c.pt + i * c.dh;
                const int64_t iw = ow * c.sw - c.pl + j * c.dw;
                if (ih < 0 || ih >= ih_n || iw < 0 || iw >= c.w) continue;
                const float xv = r16(x.f32()[((n * c.c + grp * cg + ci) * ih_n + ih) * c.w + iw]);
                const float wv = r16(w.f32()[((o * cg + ci) * kh + i) * c.kw + j]);
                s = accumulate == Arithmetic::Fp16 ? r16(s + r16(xv * wv)) : s + xv * wv;
              }
          if (accumulate == Arithmetic::Fp32) s = r16(s);
          if (b) s = r16(s + r16(b->f32()[o]));
          y[static_cast<std::size_t>(((n * c.cout + o) * oh_n + oh) * ow_n + ow)] = s;
        }
  return y;
}

TEST(Fp16Conv, MatchesHalfArithmeticLoops) {
  const ConvCase cases[] = {
      // n, c, h, w,  cout, group, kh, kw,  sh, sw, dh, dw,  pads t l b r,  bias
      {1, 3, 9, 9, 8, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
      {2, 4, 10, 7, 6, 2, 3, 2, 2, 1, 1, 2, 0, 1, 2, 0, true},       // grouped, asymmetric
      {1, 6, 8, 8, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},         // depthwise
      {2, 4, 9, 11, 8, 4, 3, 3, 2, 2, 2, 1, 2, 1, 0, 1, false},       // depthwise x2, strided
      {1, 5, 0, 17, 7, 1, 1, 4, 1, 2, 1, 2, 0, 2, 0, 1, true},        // 1-D
      {1, 40, 6, 6, 50, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true},       // pointwise
      {1, 16, 12, 12, 20, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false},    // long sums
      {1, 1, 5, 5, 3, 1, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, true},         // one output pixel
  };
  std::uint64_t seed = 40;
  for (const ConvCase& c : cases) {
    const Shape xs = c.one_d() ? Shape{c.n, c.c, c.w} : Shape{c.n, c.c, c.h, c.w};
    const Shape ws = c.one_d() ? Shape{c.cout, c.c / c.group, c.kw} : Shape{c.cout, c.c / c.group, c.kh, c.kw};
    // Inputs of magnitude ~4 make the half accumulator round often.
    const Tensor x = tensor_of(xs, seed++, 4.0f), w = tensor_of(ws, seed++, 2.0f), b = tensor_of({c.cout}, seed++);
    for (int knob : {12, 71}) {
      const Arithmetic acc = knob == 12 ? Arithmetic::Fp16 : Arithmetic::Fp32;
      std::vector<test::In> inputs{var(x), cst(w)};
      if (c.bias) inputs.push_back(cst(b));
      const Tensor y = run_with_knob("Conv", inputs, c.attrs(), knob);
      const std::vector<float> expected = naive_conv_half(c, x, w, c.bias ? &b : nullptr, acc);
      ASSERT_EQ(y.size(), static_cast<int64_t>(expected.size()));
      expect_bitwise_equal(y.f32(), expected, "conv knob " + std::to_string(knob) + " cout " + std::to_string(c.cout));
    }
  }
}

TEST(Fp16Conv, HalfDiffersFromFloatAccumulation) {
  // Positive operands and long sums: the half accumulator must lose what a float one keeps.
  const ConvCase c{1, 64, 6, 6, 4, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false};
  Tensor x = tensor_of({1, 64, 6, 6}, 1), w = tensor_of({4, 64, 3, 3}, 2);
  for (int64_t i = 0; i < x.size(); ++i) x.f32()[i] = std::fabs(x.f32()[i]) * 3.0f;
  for (int64_t i = 0; i < w.size(); ++i) w.f32()[i] = std::fabs(w.f32()[i]);
  const Tensor y16 = run_with_knob("Conv", {var(x), cst(w)}, c.attrs(), 12);
  const Tensor y32 = run_with_knob("Conv", {var(x), cst(w)}, c.attrs(), 71);
  int64_t differ = 0;
  for (int64_t i = 0; i < y16.size(); ++i) differ += y16.f32()[i] != y32.f32()[i];
  EXPECT_GT(differ, y16.size() / 2);
}

// ---------------------------------------------------------------------------------------------
// Gemm and MatMul

TEST(Fp16Gemm, MatchesHalfArithmeticLoops) {
  struct Case {
    int64_t m, n, k;
    bool ta, tb;
    float alpha, beta;
    Shape c_shape;  // empty: no C
  };
  const Case cases[] = {
      {5, 7, 9, false, false, 1.0f, 1.0f, {5, 7}},  {6, 10, 33, true, false, 0.5f, 2.0f, {10}},
      {9, 4, 20, false, true, 1.3f, 0.7f, {9, 1}},  {3, 40, 64, true, true, 1.0f, 1.0f, {1, 40}},
      {8, 8, 8, false, true, 2.0f, 0.0f, {8, 8}},   {4, 5, 6, false, false, 1.0f, 1.0f, {}},
      {2, 3, 4, false, false, 0.25f, -1.5f, {}},    {7, 33, 50, false, true, 1.0f, 1.0f, {1}},
  };
  std::uint64_t seed = 300;
  for (const Case& s : cases) {
    const Tensor a = tensor_of(s.ta ? Shape{s.k, s.m} : Shape{s.m, s.k}, seed++, 3.0f);
    const Tensor b = tensor_of(s.tb ? Shape{s.n, s.k} : Shape{s.k, s.n}, seed++, 3.0f);
    const Tensor c = s.c_shape.empty() ? Tensor() : tensor_of(s.c_shape, seed++, 10.0f);
    Attributes attrs = attrs_of({{"alpha", s.alpha}, {"beta", s.beta}, {"transA", int64_t{s.ta}}, {"transB", int64_t{s.tb}}});
    for (int knob : {12, 71}) {
      const Arithmetic acc = knob == 12 ? Arithmetic::Fp16 : Arithmetic::Fp32;
      std::vector<test::In> inputs{var(a), cst(b)};
      if (!c.empty()) inputs.push_back(cst(c));
      const Tensor y = run_with_knob("Gemm", inputs, attrs, knob);
      std::vector<float> expected(static_cast<std::size_t>(s.m * s.n));
      for (int64_t i = 0; i < s.m; ++i)
        for (int64_t j = 0; j < s.n; ++j) {
          float sum = 0.0f;
          for (int64_t p = 0; p < s.k; ++p) {
            const float av = r16(a.f32()[s.ta ? p * s.m + i : i * s.k + p]);
            const float bv = r16(b.f32()[s.tb ? j * s.k + p : p * s.n + j]);
            sum = acc == Arithmetic::Fp16 ? r16(sum + r16(av * bv)) : sum + av * bv;
          }
          float out = r16(r16(s.alpha) * r16(sum));
          if (!c.empty() && s.beta != 0.0f) {
            const int64_t rows = s.c_shape.size() == 2 ? s.c_shape[0] : 1;
            const int64_t cols = s.c_shape.back();
            const float cv = r16(c.f32()[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)]);
            out = r16(out + r16(r16(s.beta) * cv));
          }
          expected[static_cast<std::size_t>(i * s.n + j)] = out;
        }
      expect_bitwise_equal(y.f32(), expected, "gemm knob " + std::to_string(knob) + " m " + std::to_string(s.m));
    }
  }
}

TEST(Fp16MatMul, MatchesHalfArithmeticLoops) {
  struct Case {
    Shape a, b;
  };
  // Batched, broadcast A or B, one shared B (one product over all rows of A), 1-D operands.
  const Case cases[] = {{{5, 7}, {7, 9}},         {{3, 4, 6}, {3, 6, 5}}, {{2, 1, 3, 8}, {4, 8, 2}},
                        {{4, 10, 12}, {12, 33}}, {{6}, {6, 4}},           {{3, 5}, {5}},
                        {{2, 3, 40}, {40, 3}}};
  std::uint64_t seed = 600;
  for (const Case& cs : cases) {
    const Tensor a = tensor_of(cs.a, seed++, 3.0f), b = tensor_of(cs.b, seed++, 3.0f);
    for (int knob : {12, 71}) {
      const Arithmetic acc = knob == 12 ? Arithmetic::Fp16 : Arithmetic::Fp32;
      const Tensor y = run_with_knob("MatMul", {var(a), cst(b)}, {}, knob);
      // Promote to batched 3-D views of rank-aligned shapes and broadcast by hand.
      Shape as = cs.a, bs = cs.b;
      const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
      if (a_vec) as.insert(as.begin(), 1);
      if (b_vec) bs.push_back(1);
      const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
      const std::size_t rank = std::max(as.size(), bs.size());
      Shape ab(rank - 2, 1), bb(rank - 2, 1);
      std::copy(as.begin(), as.end() - 2, ab.end() - static_cast<std::ptrdiff_t>(as.size() - 2));
      std::copy(bs.begin(), bs.end() - 2, bb.end() - static_cast<std::ptrdiff_t>(bs.size() - 2));
      Shape batch(rank - 2);
      int64_t batches = 1;
      for (std::size_t d = 0; d < rank - 2; ++d) batches *= batch[d] = std::max(ab[d], bb[d]);
      std::vector<float> expected;
      for (int64_t q = 0; q < batches; ++q) {
        int64_t ai = 0, bi = 0, rem = q;
        int64_t a_stride = 1, b_stride = 1;
        for (std::size_t d = rank - 2; d-- > 0;) {
          const int64_t idx = rem % batch[d];
          rem /= batch[d];
          ai += (ab[d] == 1 ? 0 : idx) * a_stride;
          bi += (bb[d] == 1 ? 0 : idx) * b_stride;
          a_stride *= ab[d];
          b_stride *= bb[d];
        }
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            float sum = 0.0f;
            for (int64_t p = 0; p < k; ++p) {
              const float av = r16(a.f32()[ai * m * k + i * k + p]);
              const float bv = r16(b.f32()[bi * k * n + p * n + j]);
              sum = acc == Arithmetic::Fp16 ? r16(sum + r16(av * bv)) : sum + av * bv;
            }
            expected.push_back(acc == Arithmetic::Fp16 ? sum : r16(sum));
          }
      }
      ASSERT_EQ(y.size(), static_cast<int64_t>(expected.size()));
      expect_bitwise_equal(y.f32(), expected, "matmul " + shape_string(cs.a) + " x " + shape_string(cs.b));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Every other op: exact kernel on rounded inputs, rounded outputs.

// The correctly rounded half result of a binary operation on half values: the exact result in
// double (exact for +, - and *, correctly rounded for /) rounded to float then to half; both
// steps keep at least 2p + 2 bits, so neither double rounding can err.
template <typename F>
float correctly_rounded(float a, float b, F op) {
  return r16(static_cast<float>(op(static_cast<double>(a), static_cast<double>(b))));
}

TEST(Fp16Generic, BinaryOpsAreCorrectlyRounded) {
  const Tensor a = tensor_of({3, 4, 5}, 1, 300.0f), b = tensor_of({4, 5}, 2, 0.7f);  // b broadcasts
  struct Op {
    const char* name;
    double (*f)(double, double);
  };
  const Op ops[] = {{"Add", [](double x, double y) { return x + y; }},
                    {"Sub", [](double x, double y) { return x - y; }},
                    {"Mul", [](double x, double y) { return x * y; }},
                    {"Div", [](double x, double y) { return x / y; }}};
  for (const Op& op : ops)
    for (int knob : {12, 71}) {
      const Tensor y = run_with_knob(op.name, {var(a), var(b)}, {}, knob);
      std::vector<float> expected(static_cast<std::size_t>(a.size()));
      for (int64_t i = 0; i < a.size(); ++i)
        expected[static_cast<std::size_t>(i)] = correctly_rounded(r16(a.f32()[i]), r16(b.f32()[i % b.size()]), op.f);
      expect_bitwise_equal(y.f32(), expected, op.name);
    }
}

TEST(Fp16Generic, UnaryOpsRoundInputsAndOutputs) {
  const Tensor x = tensor_of({2, 3, 50}, 9, 3.0f);
  const Tensor relu = run_with_knob("Relu", {var(x)}, {}, 12);
  const Tensor sigmoid = run_with_knob("Sigmoid", {var(x)}, {}, 12);
  for (int64_t i = 0; i < x.size(); ++i) {
    const float xh = r16(x.f32()[i]);
    EXPECT_EQ(relu.f32()[i], std::max(xh, 0.0f));
    const double exact = 1.0 / (1.0 + std::exp(-static_cast<double>(xh)));
    const float s = sigmoid.f32()[i];
    EXPECT_EQ(r16(s), s) << "not a half value";
    // Within one half ulp (2^-11 relative, for results in [2^-14, 1]) of the true sigmoid of the
    // rounded input, plus the float kernel's own error.
    EXPECT_NEAR(s, exact, std::ldexp(1.0, std::ilogb(exact) - 11) * 1.01 + 1e-7) << "x = " << xh;
  }
}

TEST(Fp16Generic, ViewOpsAndIntegerInputs) {
  // Reshape reads an int64 shape input, which must pass through untouched, and copies its data.
  const Tensor x = tensor_of({2, 3, 4}, 4, 100.0f);
  const Tensor shape = Tensor::from_int64({2}, {6, 4});
  const Tensor y = run_with_knob("Reshape", {var(x), cst(shape)}, {}, 12);
  ASSERT_EQ(y.shape(), (Shape{6, 4}));
  for (int64_t i = 0; i < x.size(); ++i) EXPECT_EQ(y.f32()[i], r16(x.f32()[i]));
}

}  // namespace
}  // namespace coda
