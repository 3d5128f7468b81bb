// Filter sampling (knobs 231-239 FP32, 261-269 FP16) against a naive reference written here with
// plain loops: each output sums only the filter elements e (flattened over input channel of the
// group, kernel row, kernel column) with e % k != offset, with the weights scaled by k / (k - 1).
// Every sampling knob of the catalog on random shapes (grouped, depthwise, strided, dilated, 1-D,
// pointwise), FP32 within float tolerance and FP16 bit for bit; the multiply-accumulates returned
// are counted against the kept elements; and the knobs are reached through the registry.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/approx/filter_sampling.h"
#include "kernels/approx/half_math.h"
#include "kernels/approx/knob_catalog.h"
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

// The sampled convolution by its definition. FP32: in double, kept weights times k/(k-1). FP16:
// operands rounded, kept weights round(round(w) * round(k/(k-1))), products and running sums
// rounded (half accumulation) or summed in float and rounded once, kept elements in increasing e,
// padding taps skipped, then the rounded bias add.
std::vector<float> naive_sampled(const ConvCase& c, const std::vector<float>& x, const std::vector<float>& w,
                                 const std::vector<float>& b, const Knob& knob) {
  const bool half = knob.precision == Arithmetic::Fp16, acc16 = half && knob.accumulate == Arithmetic::Fp16;
  const int64_t cg = c.c / c.group, mg = c.cout / c.group, oh_n = c.out_h(), ow_n = c.out_w(), ih_n = c.in_h();
  const int64_t kh = c.ker_h(), sh = c.one_d() ? 1 : c.sh, dh = c.one_d() ? 1 : c.dh, pt = c.one_d() ? 0 : c.pt;
  const float scale = static_cast<float>(knob.k) / static_cast<float>(knob.k - 1);
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
                const int64_t e = (ci * kh + i) * c.kw + j;
                if (e % knob.k == knob.offset) continue;
                const int64_t ih = oh * sh - pt + i * dh, iw = ow * c.sw - c.pl + j * c.dw;
                if (ih < 0 || ih >= ih_n || iw < 0 || iw >= c.w) continue;
                const float xv = x[static_cast<std::size_t>(((n * c.c + grp * cg + ci) * ih_n + ih) * c.w + iw)];
                const float wv = w[static_cast<std::size_t>(o * cg * kh * c.kw + e)];
                if (!half) {
                  sd += static_cast<double>(xv) * static_cast<double>(wv * scale);
                } else {
                  const float p = r16(xv) * r16(r16(wv) * r16(scale));
                  s = acc16 ? r16(s + r16(p)) : s + p;
                }
              }
          float out;
          if (!half) {
            out = static_cast<float>(sd + (c.bias ? b[static_cast<std::size_t>(o)] : 0.0f));
          } else {
            out = r16(s);
            if (c.bias) out = r16(out + r16(b[static_cast<std::size_t>(o)]));
          }
          y[static_cast<std::size_t>(((n * c.cout + o) * oh_n + oh) * ow_n + ow)] = out;
        }
  return y;
}


std::vector<const Knob*> sampling_knobs() {
  std::vector<const Knob*> knobs;
  for (const Knob& k : knob_catalog().knobs())
    if (k.family == KnobFamily::FilterSampling) knobs.push_back(&k);
  return knobs;
}

int64_t kept_elements(int64_t patch, const Knob& knob) {
  int64_t kept = 0;
  for (int64_t e = 0; e < patch; ++e) kept += e % knob.k != knob.offset;
  return kept;
}

void check_case(const ConvCase& c, const Knob& knob, std::uint64_t seed, const std::string& label) {
  const Conv2dGeometry g = c.geometry();
  const std::vector<float> x = random_vector(g.batch * g.in_channels * g.in_plane(), seed, 2.0f);
  const std::vector<float> w = random_vector(g.out_channels * g.patch_size(), seed + 1, 1.0f);
  const std::vector<float> b = random_vector(g.out_channels, seed + 2, 1.0f);
  std::vector<float> y(static_cast<std::size_t>(c.outputs()), std::nanf(""));
  const int64_t macs = sampled_conv2d(g, knob, x.data(), w.data(), c.bias ? b.data() : nullptr, y.data());
  const std::string what = knob.name + " on " + label;
  EXPECT_EQ(macs, c.n * c.cout * c.out_h() * c.out_w() * kept_elements(c.patch(), knob)) << what;
  const std::vector<float> expected = naive_sampled(c, x, w, b, knob);
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (knob.precision == Arithmetic::Fp16) {
      ASSERT_EQ(y[i], expected[i]) << what << " element " << i;
    } else {
      ASSERT_NEAR(y[i], expected[i], 1e-4 * (1.0 + std::fabs(expected[i]))) << what << " element " << i;
    }
  }
}

const ConvCase kCases[] = {
    // n, c, h, w,  cout, group, kh, kw,  sh, sw, dh, dw,  pads t l b r,  bias
    {1, 3, 9, 10, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},
    {2, 4, 11, 9, 6, 2, 3, 2, 2, 1, 1, 2, 2, 0, 1, 1, true},     // grouped, strided, dilated
    {1, 4, 10, 12, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},    // depthwise
    {2, 3, 12, 13, 6, 3, 3, 3, 2, 2, 2, 1, 2, 1, 0, 2, false},   // depthwise x2, strided
    {1, 5, 0, 19, 4, 1, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, true},     // 1-D
    {1, 6, 7, 7, 8, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true},      // pointwise: e indexes channels
    {1, 1, 6, 6, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, true},      // patch of 1: may drop everything
    {1, 24, 9, 9, 70, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true},    // longer sums, several hgemm blocks
    {1, 16, 28, 28, 8, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false},  // several pixel tiles
};

TEST(FilterSampling, EveryKnobMatchesNaiveReference) {
  const std::vector<const Knob*> knobs = sampling_knobs();
  ASSERT_EQ(knobs.size(), 18u);  // 9 settings x {FP32, FP16}, REFERENCE.md section 1
  std::uint64_t seed = 1;
  for (const ConvCase& c : kCases)
    for (const Knob* knob : knobs) {
      check_case(c, *knob, seed, "case cout=" + std::to_string(c.cout) + " group=" + std::to_string(c.group));
      seed += 3;
    }
}

TEST(FilterSampling, RandomShapes) {
  std::mt19937_64 rng(99);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const std::vector<const Knob*> knobs = sampling_knobs();
  for (int trial = 0; trial < 40; ++trial) {
    ConvCase c{};
    c.group = pick(1, 3);
    c.n = pick(1, 2);
    c.c = c.group * pick(1, 4);
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
    const Knob& knob = *knobs[static_cast<std::size_t>(pick(0, static_cast<int64_t>(knobs.size()) - 1))];
    check_case(c, knob, 5000 + static_cast<std::uint64_t>(trial) * 3, "trial " + std::to_string(trial));
  }
}

TEST(FilterSampling, KeptElementsAndScale) {
  EXPECT_EQ(sampled_filter_elements(9, 2, 0), (std::vector<int64_t>{1, 3, 5, 7}));
  EXPECT_EQ(sampled_filter_elements(9, 3, 2), (std::vector<int64_t>{0, 1, 3, 4, 6, 7}));
  EXPECT_EQ(sampled_filter_elements(1, 2, 0), (std::vector<int64_t>{}));
  // A constant input and constant weights away from the padding: the rescaling keeps the sum of
  // a filter whose dropped share is exactly 1/k (patch 12, k in {2, 3, 4}) unchanged.
  ConvCase c{1, 3, 6, 6, 2, 1, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, false};
  const Conv2dGeometry g = c.geometry();
  std::vector<float> x(static_cast<std::size_t>(g.in_channels * g.in_plane()), 1.0f);
  std::vector<float> w(static_cast<std::size_t>(g.out_channels * g.patch_size()), 0.5f);
  for (const Knob* knob : sampling_knobs()) {
    std::vector<float> y(static_cast<std::size_t>(c.outputs()));
    sampled_conv2d(g, *knob, x.data(), w.data(), nullptr, y.data());
    for (float v : y) ASSERT_NEAR(v, 6.0f, knob->precision == Arithmetic::Fp16 ? 6.0f / 1024 : 1e-5f) << knob->name;
  }
}

TEST(FilterSampling, ThroughTheRegistry) {
  // conv1 (sampled) -> Relu -> conv2 (sampled, depthwise), chosen per op by a configuration,
  // against the free function (bit for bit) on the same data.
  const ConvCase c1{1, 4, 10, 10, 6, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true};
  const ConvCase c2{1, 6, 10, 10, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, true};
  const std::vector<float> w1 = random_vector(6 * 4 * 9, 1, 0.5f), b1 = random_vector(6, 2, 0.1f);
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

  for (auto [k1, k2] : {std::pair<int, int>{231, 239}, {235, 261}, {266, 233}}) {
    const ApproxConfig config = ApproxConfig::parse(R"({"ops": {"conv1": {"knob": )" + std::to_string(k1) +
                                                        R"(}, "conv2": {"knob": )" + std::to_string(k2) + "}}}",
                                                    "sampling.json");
    ApproxPlan plan(graph, resolve_config(config, graph, knob_catalog()), knob_catalog(), 1);
    EXPECT_EQ(plan.approximated_count(), 2u);
    Executor executor(graph);
    plan.install(executor);
    const Tensor y = executor.run({x}).front();

    std::vector<float> y1(static_cast<std::size_t>(c1.outputs())), y2(static_cast<std::size_t>(c2.outputs()));
    sampled_conv2d(c1.geometry(), knob_catalog().require(k1), x.f32(), w1.data(), b1.data(), y1.data());
    for (float& v : y1) v = std::max(v, 0.0f);
    sampled_conv2d(c2.geometry(), knob_catalog().require(k2), y1.data(), w2.data(), b2.data(), y2.data());
    ASSERT_EQ(y.size(), static_cast<int64_t>(y2.size()));
    for (std::size_t i = 0; i < y2.size(); ++i) ASSERT_EQ(y.f32()[i], y2[i]) << k1 << "/" << k2 << " element " << i;
    // And the graph result differs from the exact network (the knobs took effect).
    Executor exact(graph);
    const Tensor ye = exact.run({x}).front();
    int64_t differ = 0;
    for (int64_t i = 0; i < y.size(); ++i) differ += std::fabs(y.f32()[i] - ye.f32()[i]) > 1e-3f;
    EXPECT_GT(differ, y.size() / 2);
  }
}

TEST(FilterSampling, PreparedWeightsFollowTheirInput) {
  // The kernel prepares its compacted weights once; with weights that are a graph input (not a
  // constant) each run must still use the weights it is given.
  const ConvCase c{1, 4, 8, 8, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false};
  const Tensor x = test::seeded_input(c.x_shape(), 1);
  std::vector<Tensor> feeds;
  Graph graph = test::one_node("Conv", {test::var(x), test::var(test::seeded_input(c.w_shape(), 2))}, c.attrs(), 17,
                               1, &feeds);
  prepare_graph(graph);
  const ApproxConfig config = ApproxConfig::parse(R"({"default": {"knob": 232}})", "sampling.json");
  ApproxPlan plan(graph, resolve_config(config, graph, knob_catalog()), knob_catalog(), 1);
  Executor executor(graph);
  plan.install(executor);
  const Knob& knob = knob_catalog().require(232);
  for (std::uint64_t seed : {2, 3, 3, 4, 2}) {
    const Tensor w = test::seeded_input(c.w_shape(), seed);
    const Tensor y = executor.run({x, w}).front();
    std::vector<float> expected(static_cast<std::size_t>(c.outputs()));
    sampled_conv2d(c.geometry(), knob, x.f32(), w.f32(), nullptr, expected.data());
    for (std::size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(y.f32()[i], expected[i]) << "weights " << seed;
    // Prepared and unprepared weights give the same result.
    std::vector<float> again(expected.size());
    sampled_conv2d(c.geometry(), knob, x.f32(), sample_weights(c.geometry(), knob, w.f32()), nullptr, again.data());
    for (std::size_t i = 0; i < expected.size(); ++i) ASSERT_EQ(again[i], expected[i]);
  }
}

TEST(FilterSampling, RejectsMalformedKnobs) {
  const Conv2dGeometry g = kCases[0].geometry();
  std::vector<float> x(static_cast<std::size_t>(g.in_channels * g.in_plane())),
      w(static_cast<std::size_t>(g.out_channels * g.patch_size())), y(static_cast<std::size_t>(kCases[0].outputs()));
  Knob knob = knob_catalog().require(231);
  knob.k = 1;
  EXPECT_THROW(sampled_conv2d(g, knob, x.data(), w.data(), nullptr, y.data()), BadInput);
  knob.k = 2;
  knob.offset = -1;
  EXPECT_THROW(sampled_conv2d(g, knob, x.data(), w.data(), nullptr, y.data()), BadInput);
}

}  // namespace
}  // namespace coda
