// The fixed-point knobs (72, 73): the symmetric quantizer, and Conv/Gemm/MatMul kernels against
// naive loops written here (max-abs scales, std::nearbyint, saturation, the op in double),
// through the knob registry and through a configuration, calibration, a plan and the executor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/approx/fixed_point.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/quantize.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph_builder.h"
#include "tests/support/graph_runner.h"

namespace coda::test {
namespace {

int64_t pick(std::mt19937& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

std::vector<float> uniform(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Symmetric fixed point written out: qmax = 2^(bits-1) - 1 codes each side of zero.
float naive_fixed(float x, float scale, int bits) {
  if (!(scale > 0.0f)) return 0.0f;
  const double qmax = std::pow(2.0, bits - 1) - 1.0;
  double v = double(x / scale);
  v = std::min(std::max(v, -qmax), qmax);
  return float(std::nearbyint(float(v))) * scale;
}

float naive_max_abs(const std::vector<float>& v) {
  float m = 0.0f;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

std::vector<float> fixed(const std::vector<float>& v, float scale, int bits) {
  std::vector<float> q(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) q[i] = naive_fixed(v[i], scale, bits);
  return q;
}

TEST(FixedPointQuantizer, RoundsToTheSymmetricGridAndSaturates) {
  std::mt19937 rng(1);
  for (int bits : {2, 3, 4, 8, 12, 16, 24}) {
    const double qmax = std::pow(2.0, bits - 1) - 1.0;
    EXPECT_EQ(symmetric_max_code(bits), int64_t(qmax));
    for (int trial = 0; trial < 10; ++trial) {
      const float range = std::uniform_real_distribution<float>(0.01f, 10.0f)(rng);
      const float scale = symmetric_scale(range, bits);
      EXPECT_EQ(scale, range / float(qmax));
      std::vector<float> x = uniform(rng, 1000, -2.0f * range, 2.0f * range);
      x.push_back(range);
      x.push_back(-range);
      x.push_back(0.0f);
      std::vector<float> y(x.size());
      fake_quantize_symmetric(x.data(), y.data(), int64_t(x.size()), scale, bits);
      for (std::size_t i = 0; i < x.size(); ++i) {
        ASSERT_EQ(y[i], naive_fixed(x[i], scale, bits)) << bits << " bits, x = " << x[i];
        const double code = double(y[i]) / double(scale);
        ASSERT_NEAR(code, std::nearbyint(code), 1e-3 * std::max(1.0, std::fabs(code)));
        ASSERT_LE(std::fabs(code), qmax * (1 + 1e-6));
        if (std::fabs(x[i]) <= range) {
          // Half a step, plus the rounding of x / scale and of code * scale at 24 bits.
          ASSERT_LE(std::fabs(y[i] - x[i]), 0.5 * scale * (1 + 1e-5) + 2.4e-7 * std::fabs(x[i]));
        } else {  // saturated at the end of the grid, on the side of x
          ASSERT_NEAR(std::fabs(y[i]), qmax * scale, 1e-6 * range);
          ASSERT_EQ(y[i] > 0, x[i] > 0);
        }
      }
      // The grid is symmetric: -x quantizes to -q(x).
      std::vector<float> neg(x.size()), yneg(x.size());
      for (std::size_t i = 0; i < x.size(); ++i) neg[i] = -x[i];
      fake_quantize_symmetric(neg.data(), yneg.data(), int64_t(x.size()), scale, bits);
      for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(yneg[i], -y[i]);
    }
  }
  std::vector<float> x{1.0f, -2.0f}, y(2);
  fake_quantize_symmetric(x.data(), y.data(), 2, 0.0f, 8);
  EXPECT_EQ(y, (std::vector<float>{0.0f, 0.0f}));
  EXPECT_THROW(symmetric_max_code(1), BadInput);
  EXPECT_THROW(symmetric_max_code(25), BadInput);
}

TEST(FixedPointQuantizer, LayerScalesComeFromTheInputRangeAndTheWeights) {
  const std::vector<float> w{0.5f, -3.0f, 2.0f};
  FixedPointScales s = fixed_point_scales(ValueRange{-1.0f, 4.0f}, w.data(), 3, 8);
  EXPECT_EQ(s.input, 4.0f / 127.0f);
  EXPECT_EQ(s.weights, 3.0f / 127.0f);
  s = fixed_point_scales(ValueRange{-6.0f, 4.0f}, w.data(), 3, 16);
  EXPECT_EQ(s.input, 6.0f / 32767.0f);
  EXPECT_EQ(s.weights, 3.0f / 32767.0f);
}

// ---------------------------------------------------------------------------------------------
// Kernels

struct KnobRun {
  Graph graph;
  std::vector<Tensor> feeds;
  std::unique_ptr<OpKernel> kernel;

  KnobRun(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs, const Knob& knob,
          const OpRanges& ranges) {
    graph = one_node(op, inputs, attrs, 17, 1, &feeds);
    prepare_graph(graph);
    const Node& node = graph.nodes.at(0);
    kernel = make_knob_kernel(KnobRequest{node, require_op(node), knob, 0, &ranges});
  }
  Tensor run() {
    Executor executor(graph);
    executor.set_kernel(0, kernel.get());
    return executor.run(feeds).at(0);
  }
};

// got == want up to float summation: 2e-6 of the sum of the magnitudes of the terms.
::testing::AssertionResult close(float got, double want, double magnitude) {
  if (std::fabs(double(got) - want) <= 2e-6 * magnitude + 1e-6) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want << " (magnitude " << magnitude << ")";
}

TEST(FixedPointKernel, ConvMatchesTheNaiveFixedPointConvolution) {
  std::mt19937 rng(2);
  for (int id : {72, 73}) {
    const Knob& knob = knob_catalog().require(id);
    ASSERT_EQ(knob.family, KnobFamily::Precision);
    const int bits = knob.bits;
    for (int trial = 0; trial < 25; ++trial) {
      const int64_t n = pick(rng, 1, 2), group = pick(rng, 1, 2), c = group * pick(rng, 1, 3);
      const int64_t oc = group * pick(rng, 1, 3), kh = pick(rng, 1, 3), kw = pick(rng, 1, 3);
      const int64_t sh = pick(rng, 1, 2), sw = pick(rng, 1, 2), pad = pick(rng, 0, 1);
      const int64_t h = pick(rng, kh, 8), w = pick(rng, kw, 8);
      const int64_t oh = (h + 2 * pad - kh) / sh + 1, ow = (w + 2 * pad - kw) / sw + 1, cg = c / group;
      std::vector<float> x = uniform(rng, n * c * h * w, -3.0f, 3.0f);
      std::vector<float> wt = uniform(rng, oc * cg * kh * kw, -0.7f, 0.7f);
      std::vector<float> b = uniform(rng, oc, -1.0f, 1.0f);
      // A calibrated range narrower than the data on one side: those inputs saturate.
      const OpRanges ranges{ValueRange{-2.0f, 1.5f}, ValueRange{-10.0f, 10.0f}};
      const Attributes attrs = attrs_of({{"kernel_shape", std::vector<int64_t>{kh, kw}},
                                         {"strides", std::vector<int64_t>{sh, sw}},
                                         {"pads", std::vector<int64_t>{pad, pad, pad, pad}},
                                         {"group", group}});
      KnobRun run("Conv",
                  {var(Tensor::from_floats({n, c, h, w}, x)), cst(Tensor::from_floats({oc, cg, kh, kw}, wt)),
                   cst(Tensor::from_floats({oc}, b))},
                  attrs, knob, ranges);
      const Tensor y = run.run();
      const float qmax = float(std::pow(2.0, bits - 1) - 1.0);
      const std::vector<float> qx = fixed(x, 2.0f / qmax, bits), qw = fixed(wt, naive_max_abs(wt) / qmax, bits);
      ASSERT_EQ(y.size(), n * oc * oh * ow);
      for (int64_t img = 0; img < n; ++img)
        for (int64_t o = 0; o < oc; ++o)
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) {
              double s = b[std::size_t(o)], mag = std::fabs(b[std::size_t(o)]);
              for (int64_t ci = 0; ci < cg; ++ci)
                for (int64_t a = 0; a < kh; ++a)
                  for (int64_t e = 0; e < kw; ++e) {
                    const int64_t yy = i * sh - pad + a, xx = j * sw - pad + e;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    const double p =
                        double(qx[std::size_t(((img * c + (o / (oc / group)) * cg + ci) * h + yy) * w + xx)]) *
                        qw[std::size_t(((o * cg + ci) * kh + a) * kw + e)];
                    s += p;
                    mag += std::fabs(p);
                  }
              ASSERT_TRUE(close(y.f32()[((img * oc + o) * oh + i) * ow + j], s, mag)) << "knob " << id;
            }
    }
  }
}

TEST(FixedPointKernel, GemmAndMatMulMatchTheNaiveFixedPointProduct) {
  std::mt19937 rng(3);
  for (int id : {72, 73}) {
    const Knob& knob = knob_catalog().require(id);
    const int bits = knob.bits;
    const float qmax = float(std::pow(2.0, bits - 1) - 1.0);
    for (int trial = 0; trial < 20; ++trial) {
      const int64_t m = pick(rng, 1, 6), k = pick(rng, 1, 50), n = pick(rng, 1, 9);
      std::vector<float> a = uniform(rng, m * k, -4.0f, 4.0f), wt = uniform(rng, n * k, -2.0f, 2.0f);
      std::vector<float> c = uniform(rng, n, -1.0f, 1.0f);
      const OpRanges ranges{ValueRange{-3.0f, 2.5f}, ValueRange{-1.0f, 1.0f}};
      // Gemm with B transposed, as exported for a linear layer.
      KnobRun gemm(
          "Gemm",
          {var(Tensor::from_floats({m, k}, a)), cst(Tensor::from_floats({n, k}, wt)), cst(Tensor::from_floats({n}, c))},
          attrs_of({{"transB", int64_t(1)}}), knob, ranges);
      const Tensor y = gemm.run();
      const std::vector<float> qa = fixed(a, 3.0f / qmax, bits), qw = fixed(wt, naive_max_abs(wt) / qmax, bits);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double s = c[std::size_t(j)], mag = std::fabs(c[std::size_t(j)]);
          for (int64_t t = 0; t < k; ++t) {
            const double p = double(qa[std::size_t(i * k + t)]) * qw[std::size_t(j * k + t)];
            s += p;
            mag += std::fabs(p);
          }
          ASSERT_TRUE(close(y.f32()[i * n + j], s, mag)) << "knob " << id;
        }
      // MatMul, B not transposed, no bias.
      KnobRun matmul("MatMul", {var(Tensor::from_floats({m, k}, a)), cst(Tensor::from_floats({k, n}, wt))}, {}, knob,
                     ranges);
      const Tensor z = matmul.run();
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double s = 0, mag = 0;
          for (int64_t t = 0; t < k; ++t) {
            const double p = double(qa[std::size_t(i * k + t)]) * qw[std::size_t(t * n + j)];
            s += p;
            mag += std::fabs(p);
          }
          ASSERT_TRUE(close(z.f32()[i * n + j], s, mag)) << "knob " << id;
        }
      // The stored weights are untouched.
      const Tensor& stored = *gemm.graph.values[std::size_t(gemm.graph.nodes[0].inputs[1])].constant;
      ASSERT_EQ(0, std::memcmp(stored.f32(), wt.data(), wt.size() * sizeof(float)));
    }
  }
}

TEST(FixedPointKernel, RefusesOtherOpsAndMissingRanges) {
  const Knob& knob = knob_catalog().require(73);
  Graph g = one_node("MatMul", {var(Tensor::zeros({2, 2})), cst(Tensor::zeros({2, 2}))}, {}, 17, 1, nullptr);
  EXPECT_THROW(make_knob_kernel(KnobRequest{g.nodes[0], require_op(g.nodes[0]), knob, 1, nullptr}), BadInput);
  Graph relu = one_node("Relu", {var(Tensor::zeros({2, 2}))}, {}, 17, 1, nullptr);
  const OpRanges ranges{ValueRange{-1, 1}, ValueRange{-1, 1}};
  EXPECT_THROW(make_knob_kernel(KnobRequest{relu.nodes[0], require_op(relu.nodes[0]), knob, 1, &ranges}), BadInput);
}

// conv1 -> relu1 -> flatten -> fc1, both compute ops on one fixed-point knob by default.
TEST(FixedPointKernel, RunsFromAConfigurationWithCalibratedRanges) {
  GraphBuilder builder("tiny", 5);
  int v = builder.input("x", {3, 2, 7, 7});
  ConvSpec spec;
  spec.out_channels = 5;
  v = builder.conv(v, spec, "conv1");
  v = builder.relu(v, "relu1");
  v = builder.flatten(v, "flatten");
  builder.output(builder.gemm(v, 4, "fc1"));
  Graph g = builder.finish();
  prepare_graph(g);
  std::size_t conv = 0;
  while (g.nodes[conv].name != "conv1") ++conv;
  const Node& conv_node = g.nodes[conv];
  const std::vector<float> stored_w(g.values[std::size_t(conv_node.inputs[1])].constant->f32(),
                                    g.values[std::size_t(conv_node.inputs[1])].constant->f32() +
                                        g.values[std::size_t(conv_node.inputs[1])].constant->size());

  const Tensor x = seeded_input({3, 2, 7, 7}, 2);
  const std::vector<std::vector<Tensor>> calibration{{x}};
  Executor exact(g);
  const Tensor y_exact = exact.run({x}).at(0);
  std::map<int, double> error;
  for (int id : {72, 73}) {
    const std::vector<OpChoice> choices = resolve_config(
        ApproxConfig::parse(R"({"default": {"knob": )" + std::to_string(id) + "}}", "f.json"), g, knob_catalog());
    ApproxPlan plan(g, choices, knob_catalog(), 0);
    ASSERT_EQ(plan.approximated_count(), 2u);
    std::vector<std::size_t> need = plan.missing_ranges();
    ASSERT_EQ(need.size(), 2u);
    // Full ranges (0th/100th percentiles): no clipping, so the error is the rounding alone.
    plan.set_ranges(calibrate_ranges(g, calibration, need, 0.0, 100.0));
    Executor executor(g);
    plan.install(executor);
    Tensor conv_in, conv_out;
    executor.set_tensor_observer(
        [&](std::size_t n, const std::vector<const Tensor*>& inputs, const std::vector<const Tensor*>& outputs) {
          if (n != conv) return;
          conv_in = inputs[0]->clone();
          conv_out = outputs[0]->clone();
        });
    const Tensor y = executor.run({x}).at(0);

    // conv1 (3x3, pad 1) from its observed input, against the naive fixed-point convolution.
    const int bits = knob_catalog().require(id).bits;
    const float qmax = float(std::pow(2.0, bits - 1) - 1.0);
    const ValueRange r = plan.ranges().at("conv1").input;
    const float in_scale = std::max(std::fabs(r.low), std::fabs(r.high)) / qmax;
    const Tensor& wt = *g.values[std::size_t(conv_node.inputs[1])].constant;
    const Tensor& bias = *g.values[std::size_t(conv_node.inputs[2])].constant;
    const std::vector<float> qx =
        fixed(std::vector<float>(conv_in.f32(), conv_in.f32() + conv_in.size()), in_scale, bits);
    const std::vector<float> wv(wt.f32(), wt.f32() + wt.size());
    const std::vector<float> qw = fixed(wv, naive_max_abs(wv) / qmax, bits);
    for (int64_t img = 0; img < 3; ++img)
      for (int64_t o = 0; o < 5; ++o)
        for (int64_t i = 0; i < 7; ++i)
          for (int64_t j = 0; j < 7; ++j) {
            double s = bias.f32()[o], mag = std::fabs(bias.f32()[o]);
            for (int64_t ci = 0; ci < 2; ++ci)
              for (int64_t a = 0; a < 3; ++a)
                for (int64_t e = 0; e < 3; ++e) {
                  const int64_t yy = i - 1 + a, xx = j - 1 + e;
                  if (yy < 0 || yy >= 7 || xx < 0 || xx >= 7) continue;
                  const double p = double(qx[std::size_t(((img * 2 + ci) * 7 + yy) * 7 + xx)]) *
                                   qw[std::size_t(((o * 2 + ci) * 3 + a) * 3 + e)];
                  s += p;
                  mag += std::fabs(p);
                }
            ASSERT_TRUE(close(conv_out.f32()[((img * 5 + o) * 7 + i) * 7 + j], s, mag)) << "knob " << id;
          }
    double err = 0, norm = 0;
    for (int64_t i = 0; i < y.size(); ++i) {
      err += (y.f32()[i] - y_exact.f32()[i]) * (y.f32()[i] - y_exact.f32()[i]);
      norm += y_exact.f32()[i] * y_exact.f32()[i];
    }
    error[id] = std::sqrt(err / norm);
  }
  // 16 bits are 256 times finer than 8: the error shrinks accordingly (measured 2.4% and 5.5e-5).
  EXPECT_GT(error[73], 0.0);
  EXPECT_LT(error[73], 0.05);
  EXPECT_LT(error[72], error[73] / 50);
  const Tensor& after = *g.values[std::size_t(conv_node.inputs[1])].constant;
  EXPECT_EQ(0, std::memcmp(after.f32(), stored_w.data(), stored_w.size() * sizeof(float)));
}

}  // namespace
}  // namespace coda::test
