// Perforated convolution (knobs 121-138 FP32, 151-168 FP16) against a naive reference written
// here with plain loops: the exact convolution of every output, then the skipped rows or columns
// replaced by the average of their neighbours. Every perforation knob of the catalog (every axis,
// k and offset) on random shapes, grouped, depthwise, strided, dilated and 1-D; the work done is
// counted (only kept outputs may be computed), and the knobs are reached through the registry.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/approx/half_math.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/perforation.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph.h"
#include "tests/support/conv_case.h"
#include "tests/support/graph_runner.h"

namespace coda {
namespace {

float r16(float x) { return round_to_half(x); }

using test::ConvCase;
using test::random_vector;

// The exact convolution, one output at a time: in double (Half false), or in half arithmetic
// with half accumulation (products and running sums rounded, (c, i, j) in order, padding taps
// skipped) or float accumulation (rounded once), then the rounded bias add.
enum class Arith { Double, Half16, Half32 };

std::vector<float> naive_conv(const ConvCase& c, const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& b, Arith arith) {
  const int64_t cg = c.c / c.group, mg = c.cout / c.group, oh_n = c.out_h(), ow_n = c.out_w(), ih_n = c.in_h();
  const int64_t kh = c.ker_h(), sh = c.one_d() ? 1 : c.sh, dh = c.one_d() ? 1 : c.dh, pt = c.one_d() ? 0 : c.pt;
  auto h = [&](float v) { return arith == Arith::Double ? v : r16(v); };
  std::vector<float> y(static_cast<std::size_t>(c.outputs()));
  for (int64_t n = 0; n < c.n; ++n)
    for (int64_t o = 0; o < c.cout; ++o)
      for (int64_t oh = 0; oh < oh_n; ++oh)
        for (int64_t ow = 0; ow < ow_n; ++ow) {
          double sd = 0.0;
          float s = 0.0f;
          const int64_t grp = o / mg;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < c.kw; ++j) {
                const int64_t ih = oh * sh - pt + i * dh, iw = ow * c.sw - c.pl + j * c.dw;
                if (ih < 0 || ih >= ih_n || iw < 0 || iw >= c.w) continue;
                const float xv = h(x[static_cast<std::size_t>(((n * c.c + grp * cg + ci) * ih_n + ih) * c.w + iw)]);
                const float wv = h(w[static_cast<std::size_t>(((o * cg + ci) * kh + i) * c.kw + j)]);
                if (arith == Arith::Double) sd += static_cast<double>(xv) * wv;
                if (arith == Arith::Half16) s = r16(s + r16(xv * wv));
                if (arith == Arith::Half32) s += xv * wv;
              }
          float out;
          if (arith == Arith::Double) {
            out = static_cast<float>(sd + (c.bias ? b[static_cast<std::size_t>(o)] : 0.0f));
          } else {
            out = r16(s);
            if (c.bias) out = r16(out + r16(b[static_cast<std::size_t>(o)]));
          }
          y[static_cast<std::size_t>(((n * c.cout + o) * oh_n + oh) * ow_n + ow)] = out;
        }
  return y;
}

// Whether output line r (row or column) is computed under the knob: r % k != offset, or every
// line when there is only one (a skipped line would have no neighbour).
bool computed_line(int64_t r, int64_t extent, const Knob& knob) { return extent == 1 || r % knob.k != knob.offset; }

// The reference perforated output: `exact` with each skipped line replaced by the average of its
// neighbours (a copy of the only one at a border), in float or in half arithmetic.
std::vector<float> perforate(const ConvCase& c, std::vector<float> y, const Knob& knob) {
  const bool rows = knob.axis == 0, half = knob.precision == Arithmetic::Fp16;
  const int64_t oh_n = c.out_h(), ow_n = c.out_w(), extent = rows ? oh_n : ow_n;
  for (int64_t plane = 0; plane < c.n * c.cout; ++plane)
    for (int64_t oh = 0; oh < oh_n; ++oh)
      for (int64_t ow = 0; ow < ow_n; ++ow) {
        const int64_t r = rows ? oh : ow;
        if (computed_line(r, extent, knob)) continue;
        auto at = [&](int64_t line) {
          return y[static_cast<std::size_t>(plane * oh_n * ow_n + (rows ? line * ow_n + ow : oh * ow_n + line))];
        };
        const bool has_prev = r > 0, has_next = r + 1 < extent;
        float v;
        if (has_prev && has_next) {
          v = half ? r16(r16(at(r - 1) + at(r + 1)) * 0.5f) : (at(r - 1) + at(r + 1)) * 0.5f;
        } else {
          v = has_prev ? at(r - 1) : at(r + 1);
        }
        y[static_cast<std::size_t>(plane * oh_n * ow_n + oh * ow_n + ow)] = v;
      }
  return y;
}


std::vector<const Knob*> perforation_knobs() {
  std::vector<const Knob*> knobs;
  for (const Knob& k : knob_catalog().knobs())
    if (k.family == KnobFamily::Perforation) knobs.push_back(&k);
  return knobs;
}

const ConvCase kCases[] = {
    // n, c, h, w,  cout, group, kh, kw,  sh, sw, dh, dw,  pads t l b r,  bias
    {1, 3, 9, 10, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
    {2, 4, 11, 9, 6, 2, 3, 2, 2, 1, 1, 2, 2, 0, 1, 1, true},     // grouped, strided, dilated
    {1, 4, 10, 12, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},    // depthwise
    {2, 3, 12, 13, 6, 3, 3, 3, 2, 2, 2, 1, 2, 1, 0, 2, false},   // depthwise x2, strided
    {1, 5, 0, 19, 4, 1, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, true},     // 1-D: one row
    {1, 6, 7, 7, 8, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true},      // pointwise
    {1, 2, 3, 8, 3, 1, 3, 3, 1, 1, 1, 1, 0, 1, 0, 1, true},      // one output row, 8 columns
    {1, 2, 6, 4, 3, 1, 2, 4, 1, 1, 1, 1, 0, 0, 0, 0, false},     // one output column
    {1, 3, 5, 5, 2, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, true},      // 2x2 outputs
};

TEST(Perforation, EveryKnobMatchesNaiveReference) {
  const std::vector<const Knob*> knobs = perforation_knobs();
  ASSERT_EQ(knobs.size(), 36u);  // 18 settings x {FP32, FP16}, REFERENCE.md section 1
  std::uint64_t seed = 1;
  for (const ConvCase& c : kCases) {
    const Conv2dGeometry g = c.geometry();
    const std::vector<float> x = random_vector(g.batch * g.in_channels * g.in_plane(), seed++, 2.0f);
    const std::vector<float> w = random_vector(g.out_channels * g.patch_size(), seed++, 1.0f);
    const std::vector<float> b = random_vector(g.out_channels, seed++, 1.0f);
    const std::vector<float> exact = naive_conv(c, x, w, b, Arith::Double);
    const std::vector<float> exact16 = naive_conv(c, x, w, b, Arith::Half16);
    const std::vector<float> exact32 = naive_conv(c, x, w, b, Arith::Half32);
    for (const Knob* knob : knobs) {
      std::vector<float> y(static_cast<std::size_t>(c.outputs()), std::nanf(""));
      const PerforationStats stats = perforated_conv2d(g, *knob, x.data(), w.data(), c.bias ? b.data() : nullptr, y.data());
      const std::string what = knob->name + " on case cout=" + std::to_string(c.cout) + " group=" +
                               std::to_string(c.group) + " out " + std::to_string(c.out_h()) + "x" +
                               std::to_string(c.out_w());

      // The work: only kept lines are computed, each at the full patch cost.
      const bool rows = knob->axis == 0;
      const int64_t extent = rows ? c.out_h() : c.out_w(), length = rows ? c.out_w() : c.out_h();
      int64_t kept_lines = 0;
      for (int64_t r = 0; r < extent; ++r) kept_lines += computed_line(r, extent, *knob);
      const int64_t kept_pixels = kept_lines * length;
      EXPECT_EQ(stats.macs, kept_pixels * c.patch() * c.cout * c.n) << what;
      EXPECT_EQ(stats.computed_outputs, kept_pixels * c.cout * c.n) << what;
      EXPECT_EQ(stats.computed_outputs + stats.interpolated_outputs, c.outputs()) << what;

      if (knob->precision == Arithmetic::Fp16) {
        const std::vector<float> expected =
            perforate(c, knob->accumulate == Arithmetic::Fp16 ? exact16 : exact32, *knob);
        for (std::size_t i = 0; i < y.size(); ++i)
          ASSERT_EQ(y[i], expected[i]) << what << " element " << i;
      } else {
        const std::vector<float> expected = perforate(c, exact, *knob);
        for (std::size_t i = 0; i < y.size(); ++i)
          ASSERT_NEAR(y[i], expected[i], 1e-4 * (1.0 + std::fabs(expected[i]))) << what << " element " << i;
      }
    }
  }
}

TEST(Perforation, SkippedLinesAreInterpolatedNotComputed) {
  // A skipped line must hold exactly the average of the lines next to it in the output, and
  // (random data) differ from what the convolution would have computed there.
  const ConvCase c{1, 8, 14, 13, 6, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true};
  const Conv2dGeometry g = c.geometry();
  const std::vector<float> x = random_vector(g.in_channels * g.in_plane(), 11, 1.0f);
  const std::vector<float> w = random_vector(g.out_channels * g.patch_size(), 12, 1.0f);
  const std::vector<float> b = random_vector(g.out_channels, 13, 1.0f);
  const std::vector<float> exact = naive_conv(c, x, w, b, Arith::Double);
  for (const Knob* knob : perforation_knobs()) {
    if (knob->precision != Arithmetic::Fp32) continue;
    std::vector<float> y(static_cast<std::size_t>(c.outputs()));
    perforated_conv2d(g, *knob, x.data(), w.data(), b.data(), y.data());
    const bool rows = knob->axis == 0;
    int64_t far_from_exact = 0, skipped = 0;
    for (int64_t o = 0; o < c.cout; ++o)
      for (int64_t oh = 0; oh < c.out_h(); ++oh)
        for (int64_t ow = 0; ow < c.out_w(); ++ow) {
          const int64_t r = rows ? oh : ow, extent = rows ? c.out_h() : c.out_w();
          const auto idx = static_cast<std::size_t>((o * c.out_h() + oh) * c.out_w() + ow);
          if (computed_line(r, extent, *knob)) {
            ASSERT_NEAR(y[idx], exact[idx], 1e-4 * (1.0 + std::fabs(exact[idx]))) << knob->name;
            continue;
          }
          ++skipped;
          const int64_t step = rows ? c.out_w() : 1;
          const float prev = r > 0 ? y[idx - static_cast<std::size_t>(step)] : y[idx + static_cast<std::size_t>(step)];
          const float next = r + 1 < extent ? y[idx + static_cast<std::size_t>(step)] : prev;
          ASSERT_EQ(y[idx], r > 0 && r + 1 < extent ? (prev + next) * 0.5f : prev) << knob->name;
          far_from_exact += std::fabs(y[idx] - exact[idx]) > 1e-3;
        }
    EXPECT_GT(skipped, 0) << knob->name;
    EXPECT_GT(far_from_exact, skipped / 2) << knob->name;
  }
}

TEST(Perforation, RandomShapes) {
  std::mt19937_64 rng(77);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const std::vector<const Knob*> knobs = perforation_knobs();
  for (int trial = 0; trial < 30; ++trial) {
    ConvCase c{};
    c.group = pick(1, 3);
    c.n = pick(1, 2);
    c.c = c.group * pick(1, 3);
    c.cout = c.group * pick(1, 3);
    c.kh = pick(1, 3);
    c.kw = pick(1, 3);
    c.sh = pick(1, 2);
    c.sw = pick(1, 2);
    c.dh = pick(1, 2);
    c.dw = pick(1, 2);
    c.pt = pick(0, 2);
    c.pl = pick(0, 2);
    c.pb = pick(0, 2);
    c.pr = pick(0, 2);
    c.h = pick((c.kh - 1) * c.dh + 1, 12);
    c.w = pick((c.kw - 1) * c.dw + 1, 12);
    c.bias = pick(0, 1) == 1;
    const Conv2dGeometry g = c.geometry();
    const std::vector<float> x = random_vector(g.batch * g.in_channels * g.in_plane(), 1000 + trial, 1.0f);
    const std::vector<float> w = random_vector(g.out_channels * g.patch_size(), 2000 + trial, 1.0f);
    const std::vector<float> b = random_vector(g.out_channels, 3000 + trial, 1.0f);
    const Knob& knob = *knobs[static_cast<std::size_t>(pick(0, static_cast<int64_t>(knobs.size()) - 1))];
    const Arith arith = knob.precision == Arithmetic::Fp32 ? Arith::Double
                        : knob.accumulate == Arithmetic::Fp16 ? Arith::Half16
                                                              : Arith::Half32;
    const std::vector<float> expected = perforate(c, naive_conv(c, x, w, b, arith), knob);
    std::vector<float> y(static_cast<std::size_t>(c.outputs()));
    perforated_conv2d(g, knob, x.data(), w.data(), c.bias ? b.data() : nullptr, y.data());
    for (std::size_t i = 0; i < y.size(); ++i) {
      if (arith == Arith::Double) {
        ASSERT_NEAR(y[i], expected[i], 1e-4 * (1.0 + std::fabs(expected[i]))) << knob.name << " trial " << trial;
      } else {
        ASSERT_EQ(y[i], expected[i]) << knob.name << " trial " << trial;
      }
    }
  }
}

TEST(Perforation, ThroughTheRegistry) {
  // conv1 -> Relu -> conv2 with per-op knobs from a configuration, against the free function on
  // the same data (bit for bit) and the naive reference.
  const ConvCase c1{1, 3, 12, 12, 6, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true};
  const ConvCase c2{1, 6, 12, 12, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, true};  // depthwise, stride 2
  const std::vector<float> w1 = random_vector(6 * 3 * 9, 1, 0.5f), b1 = random_vector(6, 2, 0.1f);
  const std::vector<float> w2 = random_vector(6 * 9, 3, 0.5f), b2 = random_vector(6, 4, 0.1f);
  const Tensor x = test::seeded_input(c1.x_shape(), 5);

  Graph graph;
  const int in = test::add_input(graph, "x", x);
  const int wv1 = graph.add_constant("w1", Tensor::from_floats(c1.w_shape(), w1));
  const int bv1 = graph.add_constant("b1", Tensor::from_floats({6}, b1));
  const int wv2 = graph.add_constant("w2", Tensor::from_floats(c2.w_shape(), w2));
  const int bv2 = graph.add_constant("b2", Tensor::from_floats({6}, b2));
  const int h1 = graph.value_id("h1"), h2 = graph.value_id("h2"), out = graph.value_id("y");
  graph.add_node("Conv", "conv1", {in, wv1, bv1}, {h1}).attrs = c1.attrs();
  graph.add_node("Relu", "relu", {h1}, {h2});
  graph.add_node("Conv", "conv2", {h2, wv2, bv2}, {out}).attrs = c2.attrs();
  graph.outputs = {out};
  prepare_graph(graph);

  for (auto [k1, k2] : {std::pair<int, int>{121, 136}, {133, 152}, {161, 127}}) {
    const ApproxConfig config = ApproxConfig::parse(R"({"ops": {"conv1": {"knob": )" + std::to_string(k1) +
                                                        R"(}, "conv2": {"knob": )" + std::to_string(k2) + "}}}",
                                                    "perforation.json");
    ApproxPlan plan(graph, resolve_config(config, graph, knob_catalog()), knob_catalog(), 1);
    Executor executor(graph);
    plan.install(executor);
    const Tensor y = executor.run({x}).front();

    const Knob& knob1 = knob_catalog().require(k1);
    const Knob& knob2 = knob_catalog().require(k2);
    std::vector<float> y1(static_cast<std::size_t>(c1.outputs())), y2(static_cast<std::size_t>(c2.outputs()));
    perforated_conv2d(c1.geometry(), knob1, x.f32(), w1.data(), b1.data(), y1.data());
    for (float& v : y1) v = std::max(v, 0.0f);
    perforated_conv2d(c2.geometry(), knob2, y1.data(), w2.data(), b2.data(), y2.data());
    ASSERT_EQ(y.size(), static_cast<int64_t>(y2.size()));
    for (std::size_t i = 0; i < y2.size(); ++i) ASSERT_EQ(y.f32()[i], y2[i]) << k1 << "/" << k2 << " element " << i;

    if (knob1.precision == Arithmetic::Fp32 && knob2.precision == Arithmetic::Fp32) {
      std::vector<float> r1 = perforate(c1, naive_conv(c1, std::vector<float>(x.f32(), x.f32() + x.size()), w1, b1,
                                                       Arith::Double), knob1);
      for (float& v : r1) v = std::max(v, 0.0f);
      const std::vector<float> r2 = perforate(c2, naive_conv(c2, r1, w2, b2, Arith::Double), knob2);
      for (std::size_t i = 0; i < r2.size(); ++i) ASSERT_NEAR(y.f32()[i], r2[i], 1e-4 * (1.0 + std::fabs(r2[i])));
    }
  }
}

TEST(Perforation, RejectsMalformedKnobs) {
  const ConvCase c = kCases[0];
  const Conv2dGeometry g = c.geometry();
  std::vector<float> x(static_cast<std::size_t>(g.in_channels * g.in_plane())), w(static_cast<std::size_t>(g.out_channels * g.patch_size())),
      y(static_cast<std::size_t>(c.outputs()));
  Knob knob = knob_catalog().require(121);
  knob.k = 1;
  EXPECT_THROW(perforated_conv2d(g, knob, x.data(), w.data(), nullptr, y.data()), BadInput);
  knob.k = 3;
  knob.offset = 3;
  EXPECT_THROW(perforated_conv2d(g, knob, x.data(), w.data(), nullptr, y.data()), BadInput);
  knob.offset = 0;
  knob.axis = 2;
  EXPECT_THROW(perforated_conv2d(g, knob, x.data(), w.data(), nullptr, y.data()), BadInput);
}

}  // namespace
}  // namespace coda
