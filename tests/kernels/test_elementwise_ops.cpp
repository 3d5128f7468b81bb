// Activations, broadcasting arithmetic, Softmax/LogSoftmax and reductions, run through
// Graph + prepare_graph + Executor and compared with naive references written here from the ONNX
// operator specification (double precision, explicit index arithmetic, no code shared with the
// kernels). Shapes large enough for the multi-threaded paths are included alongside tiny ones.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph.h"
#include "kernels/op.h"
#include "kernels/tensor.h"
#include "tests/support/bad_input.h"
#include "tests/support/graph_runner.h"

namespace coda {
namespace {

// The harness of tests/support/graph_runner.h (one node whose non-constant inputs are graph
// inputs, prepared and executed) and expect_bad_input.
using namespace test;

Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t.f32()[i] = dist(rng);
  return t;
}

Tensor random_ints(const Shape& shape, uint32_t seed, int64_t lo, int64_t hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  Tensor t(shape, DType::Int64);
  for (int64_t i = 0; i < t.size(); ++i) t.i64()[i] = dist(rng);
  return t;
}

// Offset in a tensor of shape `in` of the output index `idx` under numpy broadcasting.
int64_t broadcast_offset(const std::vector<int64_t>& idx, const Shape& in) {
  int64_t offset = 0;
  const std::size_t lead = idx.size() - in.size();
  for (std::size_t d = 0; d < in.size(); ++d) offset = offset * in[d] + (in[d] == 1 ? 0 : idx[lead + d]);
  return offset;
}

Shape ref_broadcast(const std::vector<Shape>& shapes) {
  std::size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  Shape out(rank, 1);
  for (const Shape& s : shapes)
    for (std::size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out[rank - s.size() + d];
      if (s[d] != 1) o = s[d];
    }
  return out;
}

// |got - want| <= tol * (1 + |want|); NaN matches NaN, equal infinities match.
::testing::AssertionResult close(const Tensor& got, const Shape& shape, const std::vector<double>& want,
                                 double tol = 1e-5) {
  if (got.shape() != shape)
    return ::testing::AssertionFailure() << "shape " << shape_string(got.shape()) << ", want " << shape_string(shape);
  if (static_cast<std::size_t>(got.size()) != want.size())
    return ::testing::AssertionFailure() << got.size() << " elements, want " << want.size();
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double g = value(got, static_cast<int64_t>(i));
    const double w = want[i];
    if (g == w || (std::isnan(g) && std::isnan(w))) continue;
    if (!(std::fabs(g - w) <= tol * (1.0 + std::fabs(w))))
      return ::testing::AssertionFailure() << "element " << i << ": got " << g << ", want " << w;
  }
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------
// Activations and unary math.

struct UnaryCase {
  std::string op;
  Attributes attrs;
  std::function<double(double)> ref;
  float lo, hi;  // input range
};

std::vector<UnaryCase> unary_cases() {
  const double selu_alpha = 1.6732632423543772848170429916717;
  const double selu_gamma = 1.0507009873554804934193349852946;
  const double pi = 3.14159265358979323846;
  return {
      {"Relu", {}, [](double x) { return x > 0 ? x : 0.0; }, -3, 3},
      {"LeakyRelu", {}, [](double x) { return x >= 0 ? x : 0.01 * x; }, -3, 3},
      {"LeakyRelu", attrs_of({{"alpha", 0.2f}}), [](double x) { return x >= 0 ? x : double(0.2f) * x; }, -3, 3},
      {"Elu", attrs_of({{"alpha", 0.7f}}), [](double x) { return x > 0 ? x : double(0.7f) * (std::exp(x) - 1); }, -4, 4},
      {"Selu", {}, [=](double x) { return selu_gamma * (x > 0 ? x : selu_alpha * (std::exp(x) - 1)); }, -4, 4},
      {"Celu", attrs_of({{"alpha", 0.5f}}),
       [](double x) { return std::max(0.0, x) + std::min(0.0, 0.5 * (std::exp(x / 0.5) - 1)); }, -4, 4},
      {"ThresholdedRelu", attrs_of({{"alpha", 0.5f}}), [](double x) { return x > 0.5 ? x : 0.0; }, -2, 2},
      {"Sigmoid", {}, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, -12, 12},
      {"Tanh", {}, [](double x) { return std::tanh(x); }, -6, 6},
      {"Softplus", {}, [](double x) { return std::log(1.0 + std::exp(x)); }, -20, 20},
      {"Softsign", {}, [](double x) { return x / (1.0 + std::fabs(x)); }, -5, 5},
      {"HardSigmoid", attrs_of({{"alpha", 0.3f}, {"beta", 0.4f}}),
       [](double x) { return std::clamp(double(0.3f) * x + double(0.4f), 0.0, 1.0); }, -5, 5},
      {"HardSwish", {}, [](double x) { return x * std::clamp(x / 6.0 + 0.5, 0.0, 1.0); }, -5, 5},
      {"Exp", {}, [](double x) { return std::exp(x); }, -5, 5},
      {"Log", {}, [](double x) { return std::log(x); }, 0.01f, 10},
      {"Sqrt", {}, [](double x) { return std::sqrt(x); }, 0, 10},
      {"Neg", {}, [](double x) { return -x; }, -3, 3},
      {"Abs", {}, [](double x) { return std::fabs(x); }, -3, 3},
      {"Reciprocal", {}, [](double x) { return 1.0 / x; }, 0.1f, 4},
      {"Erf", {}, [](double x) { return std::erf(x); }, -3, 3},
      {"Floor", {}, [](double x) { return std::floor(x); }, -5, 5},
      {"Ceil", {}, [](double x) { return std::ceil(x); }, -5, 5},
      {"Sign", {}, [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }, -3, 3},
      {"Gelu", {}, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -4, 4},
      {"Gelu", attrs_of({{"approximate", std::string("tanh")}}),
       [=](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x))); }, -4, 4},
      {"Mish", {}, [](double x) { return x * std::tanh(std::log1p(std::exp(x))); }, -6, 6},
  };
}

TEST(ActivationOps, MatchReferenceOnSmallAndThreadedShapes) {
  uint32_t seed = 1;
  for (const UnaryCase& c : unary_cases()) {
    // 2x3x50x120 = 36000 elements: above the threading threshold, and not a multiple of it.
    for (const Shape& shape : {Shape{7}, Shape{2, 3, 50, 120}, Shape{}}) {
      Tensor x = random_tensor(shape, seed++, c.lo, c.hi);
      std::vector<double> want;
      for (int64_t i = 0; i < x.size(); ++i) want.push_back(c.ref(x.f32()[i]));
      EXPECT_TRUE(close(run1(c.op, {var(x)}, c.attrs), shape, want, 2e-6)) << c.op << " on " << shape_string(shape);
    }
  }
}

TEST(ActivationOps, ExtremeInputsStayFinite) {
  Tensor x = Tensor::from_floats({6}, {-100.0f, -30.0f, 0.0f, 30.0f, 100.0f, 88.0f});
  // Softplus must not overflow (log(1 + exp(100)) = 100) nor lose the tiny tail.
  Tensor sp = run1("Softplus", {var(x)});
  EXPECT_FLOAT_EQ(sp.f32()[4], 100.0f);
  EXPECT_FLOAT_EQ(sp.f32()[3], 30.0f);
  EXPECT_NEAR(sp.f32()[1], std::exp(-30.0), 1e-18);
  EXPECT_FLOAT_EQ(sp.f32()[2], static_cast<float>(std::log(2.0)));
  Tensor sg = run1("Sigmoid", {var(x)});
  // sigmoid(-100) = 3.7e-44, a float subnormal; Eigen's vectorised logistic is accurate there
  // only in absolute terms (its SSE path gives ~3e-39), so require just "below the normal range".
  EXPECT_GE(sg.f32()[0], 0.0f);
  EXPECT_LT(sg.f32()[0], std::numeric_limits<float>::min());
  EXPECT_EQ(sg.f32()[4], 1.0f);
  Tensor th = run1("Tanh", {var(x)});
  EXPECT_EQ(th.f32()[0], -1.0f);
  EXPECT_EQ(th.f32()[4], 1.0f);
}

TEST(ActivationOps, RoundHalvesToEven) {
  Tensor x = Tensor::from_floats({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 2.4f, -2.6f});
  EXPECT_TRUE(close(run1("Round", {var(x)}), {8}, {0, 2, 2, -0.0, -2, -2, 2, -3}, 0));
}

TEST(ActivationOps, Int64Variants) {
  Tensor x = Tensor::from_int64({5}, {-7, -1, 0, 3, 9});
  EXPECT_TRUE(close(run1("Relu", {var(x)}), {5}, {0, 0, 0, 3, 9}, 0));
  EXPECT_TRUE(close(run1("Neg", {var(x)}), {5}, {7, 1, 0, -3, -9}, 0));
  EXPECT_TRUE(close(run1("Abs", {var(x)}), {5}, {7, 1, 0, 3, 9}, 0));
  EXPECT_TRUE(close(run1("Sign", {var(x)}), {5}, {-1, -1, 0, 1, 1}, 0));
  EXPECT_EQ(run1("Neg", {var(x)}).dtype(), DType::Int64);
  expect_bad_input([&] { run1("Sigmoid", {var(x)}); }, {"the_Sigmoid", "float"});
}

TEST(ActivationOps, ClipAttributesBeforeOpset11InputsAfter) {
  Tensor x = Tensor::from_floats({6}, {-3, -1, -0.25f, 0.25f, 1, 3});
  // Opset 6: attributes.
  EXPECT_TRUE(close(run1("Clip", {var(x)}, attrs_of({{"min", -0.5f}, {"max", 0.5f}}), 6), {6},
                    {-0.5, -0.5, -0.25, 0.25, 0.5, 0.5}));
  EXPECT_TRUE(close(run1("Clip", {var(x)}, attrs_of({{"max", 0.0f}}), 6), {6}, {-3, -1, -0.25, 0, 0, 0}));
  // Opset 13: optional inputs; an omitted min leaves the lower side open; bounds may be graph inputs.
  EXPECT_TRUE(close(run1("Clip", {var(x), cst(Tensor::scalar(-1.0f)), cst(Tensor::scalar(1.0f))}, {}, 13), {6},
                    {-1, -1, -0.25, 0.25, 1, 1}));
  EXPECT_TRUE(close(run1("Clip", {var(x), none(), var(Tensor::scalar(0.0f))}, {}, 13), {6}, {-3, -1, -0.25, 0, 0, 0}));
  EXPECT_TRUE(close(run1("Clip", {var(x)}, {}, 13), {6}, {-3, -1, -0.25, 0.25, 1, 3}));
  // Attributes are ignored from opset 11 (they no longer exist).
  EXPECT_TRUE(close(run1("Clip", {var(x)}, attrs_of({{"min", 0.0f}}), 11), {6}, {-3, -1, -0.25, 0.25, 1, 3}));
  // min > max: every element becomes max (numpy.clip).
  EXPECT_TRUE(close(run1("Clip", {var(x), cst(Tensor::scalar(2.0f)), cst(Tensor::scalar(1.0f))}, {}, 13), {6},
                    {1, 1, 1, 1, 1, 1}));
  // Relu6 on a threaded shape.
  Tensor big = random_tensor({1, 32, 40, 40}, 7, -10, 10);
  std::vector<double> want;
  for (int64_t i = 0; i < big.size(); ++i) want.push_back(std::clamp(double(big.f32()[i]), 0.0, 6.0));
  EXPECT_TRUE(close(run1("Clip", {var(big), cst(Tensor::scalar(0.0f)), cst(Tensor::scalar(6.0f))}, {}, 13),
                    {1, 32, 40, 40}, want, 0));
  // Int64 (opset 12+).
  Tensor xi = Tensor::from_int64({4}, {-5, 0, 5, 10});
  EXPECT_TRUE(close(run1("Clip", {var(xi), cst(Tensor::from_int64({}, {0})), cst(Tensor::from_int64({}, {6}))}, {}, 13),
                    {4}, {0, 0, 5, 6}, 0));
  expect_bad_input([&] { run1("Clip", {var(x), cst(Tensor::from_floats({2}, {0, 1}))}, {}, 13); },
                   {"the_Clip", "min must be a scalar"});
}

TEST(ActivationOps, PReluBroadcastsSlope) {
  const Shape shape{2, 3, 4, 5};
  Tensor x = random_tensor(shape, 11);
  for (const Shape& slope_shape : {Shape{3, 1, 1}, Shape{1}, Shape{5}, Shape{2, 3, 4, 5}, Shape{1, 3, 1, 1}}) {
    Tensor slope = random_tensor(slope_shape, 12, 0.0f, 0.5f);
    std::vector<double> want;
    for (int64_t i = 0; i < x.size(); ++i) {
      const double v = x.f32()[i];
      const double s = slope.f32()[broadcast_offset(unravel(i, shape), slope_shape)];
      want.push_back(v < 0 ? s * v : v);
    }
    EXPECT_TRUE(close(run1("PRelu", {var(x), cst(slope)}), shape, want, 1e-6)) << shape_string(slope_shape);
  }
  // Threaded: per-channel slope on 1x64x32x32.
  Tensor big = random_tensor({1, 64, 32, 32}, 13);
  Tensor slope = random_tensor({64, 1, 1}, 14);
  std::vector<double> want;
  for (int64_t i = 0; i < big.size(); ++i) {
    const double v = big.f32()[i];
    want.push_back(v < 0 ? slope.f32()[i / 1024] * v : v);
  }
  EXPECT_TRUE(close(run1("PRelu", {var(big), var(slope)}), {1, 64, 32, 32}, want, 1e-6));
  expect_bad_input([&] { run1("PRelu", {var(x), cst(random_tensor({4}, 1))}); },
                   {"the_PRelu", "slope of shape 4 does not broadcast", "2x3x4x5"});
  // Opset 6: a 1-D slope of C values applies per channel (axis 1), as PyTorch exports it.
  Tensor per_channel = random_tensor({3}, 15, 0.0f, 0.5f);
  std::vector<double> want6;
  for (int64_t i = 0; i < x.size(); ++i) {
    const double v = x.f32()[i];
    want6.push_back(v < 0 ? per_channel.f32()[(i / 20) % 3] * v : v);
  }
  EXPECT_TRUE(close(run1("PRelu", {var(x), cst(per_channel)}, {}, 6), shape, want6, 1e-6));
  expect_bad_input([&] { run1("PRelu", {var(x), cst(per_channel)}, {}, 9); }, {"the_PRelu", "slope of shape 3"});
}

TEST(ActivationOps, CostIsOneFlopPerElement) {
  Graph g = one_node("Sigmoid", {var(random_tensor({2, 3, 4}, 1))}, {}, 17, 1, nullptr);
  prepare_graph(g);
  const auto reports = analyse_graph(g);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].cost.flops, 24);
  EXPECT_EQ(reports[0].cost.macs, 0);
  EXPECT_EQ(reports[0].cost.bytes_read, 96);
  EXPECT_EQ(reports[0].cost.bytes_written, 96);
}

// ---------------------------------------------------------------------------------------------
// Binary arithmetic with broadcasting.

std::vector<double> ref_binary(const Tensor& a, const Tensor& b, const Shape& out,
                               const std::function<double(double, double)>& f) {
  std::vector<double> want;
  for (int64_t i = 0; i < element_count(out); ++i) {
    const auto idx = unravel(i, out);
    want.push_back(f(value(a, broadcast_offset(idx, a.shape())), value(b, broadcast_offset(idx, b.shape()))));
  }
  return want;
}

const std::vector<std::pair<Shape, Shape>>& broadcast_pairs() {
  static const std::vector<std::pair<Shape, Shape>> pairs = {
      {{2, 3, 4, 5}, {2, 3, 4, 5}},      // same shape
      {{2, 3, 4, 5}, {}},                // scalar
      {{}, {2, 3, 4, 5}},                // scalar first
      {{2, 3, 4, 5}, {1, 3, 1, 1}},      // per-channel NCHW bias
      {{3, 1, 1}, {2, 3, 4, 5}},         // bias first, lower rank
      {{4, 1}, {1, 6}},                  // outer product
      {{3, 1, 5}, {4, 1}},               // both sides broadcast, different ranks
      {{2, 1, 4, 1}, {1, 3, 1, 5}},      // alternating
      {{5}, {2, 3, 4, 5}},               // trailing vector
      {{2, 3, 4, 5}, {2, 1, 4, 1}},      // strided broadcast
      {{2, 0, 3}, {1, 3}},               // empty output
      {{1, 64, 56, 56}, {1, 64, 1, 1}},  // threaded, rows of 3136
      {{1, 64, 56, 56}, {1, 64, 56, 56}},  // threaded, one long row
      {{4096, 12}, {12}},                // threaded, short rows grouped
  };
  return pairs;
}

TEST(BinaryOps, FloatArithmeticMatchesReferenceForEveryBroadcastPattern) {
  const std::vector<std::pair<std::string, std::function<double(double, double)>>> ops = {
      {"Add", [](double x, double y) { return double(float(x) + float(y)); }},
      {"Sub", [](double x, double y) { return double(float(x) - float(y)); }},
      {"Mul", [](double x, double y) { return double(float(x) * float(y)); }},
      {"Div", [](double x, double y) { return double(float(x) / float(y)); }},
      {"Max", [](double x, double y) { return std::max(x, y); }},
      {"Min", [](double x, double y) { return std::min(x, y); }},
  };
  uint32_t seed = 100;
  for (const auto& [shape_a, shape_b] : broadcast_pairs()) {
    Tensor a = random_tensor(shape_a, seed++, 0.5f, 2.0f);
    Tensor b = random_tensor(shape_b, seed++, -2.0f, -0.5f);
    const Shape out = ref_broadcast({shape_a, shape_b});
    for (const auto& [op, f] : ops) {
      // Float results must be bit-exact: one correctly rounded operation per element.
      EXPECT_TRUE(close(run1(op, {var(a), var(b)}), out, ref_binary(a, b, out, f), 0))
          << op << " " << shape_string(shape_a) << " with " << shape_string(shape_b);
    }
    // With the second operand an initializer (bias-like) too.
    EXPECT_TRUE(close(run1("Add", {var(a), cst(b)}), out, ref_binary(a, b, out, ops[0].second), 0));
  }
}

TEST(BinaryOps, Int64ArithmeticForShapeComputations) {
  Tensor a = Tensor::from_int64({2, 3}, {7, -7, 7, -7, 100, 0});
  Tensor b = Tensor::from_int64({3}, {2, 2, -2});
  EXPECT_TRUE(close(run1("Add", {var(a), var(b)}), {2, 3}, {9, -5, 5, -5, 102, -2}, 0));
  EXPECT_TRUE(close(run1("Sub", {var(a), var(b)}), {2, 3}, {5, -9, 9, -9, 98, 2}, 0));
  EXPECT_TRUE(close(run1("Mul", {var(a), var(b)}), {2, 3}, {14, -14, -14, -14, 200, 0}, 0));
  // Integer division truncates toward zero.
  EXPECT_TRUE(close(run1("Div", {var(a), var(b)}), {2, 3}, {3, -3, -3, -3, 50, 0}, 0));
  EXPECT_TRUE(close(run1("Max", {var(a), var(b)}), {2, 3}, {7, 2, 7, 2, 100, 0}, 0));
  EXPECT_TRUE(close(run1("Min", {var(a), var(b)}), {2, 3}, {2, -7, -2, -7, 2, -2}, 0));
  EXPECT_EQ(run1("Add", {var(a), var(b)}).dtype(), DType::Int64);
  // Large int64 values survive (no float round trip).
  Tensor big = Tensor::from_int64({1}, {(int64_t{1} << 60) + 1});
  EXPECT_EQ(run1("Add", {var(big), cst(Tensor::from_int64({}, {1}))}).i64()[0], (int64_t{1} << 60) + 2);
  // Division by zero fails clearly, whether the divisor is constant or computed.
  Tensor zero = Tensor::from_int64({3}, {1, 0, 1});
  expect_bad_input([&] { run1("Div", {var(a), cst(zero)}); }, {"the_Div", "division by zero"});
  expect_bad_input([&] { run1("Div", {var(a), var(zero)}); }, {"the_Div", "division by zero"});
  // Threaded int64 path.
  Tensor x = random_ints({300, 200}, 5, -1000, 1000);
  Tensor y = random_ints({200}, 6, 1, 50);
  EXPECT_TRUE(close(run1("Div", {var(x), var(y)}), {300, 200},
                    ref_binary(x, y, {300, 200}, [](double p, double q) { return std::trunc(p / q); }), 0));
}

TEST(BinaryOps, Pow) {
  Tensor base = random_tensor({3, 4}, 21, 0.1f, 3.0f);
  Tensor exponent = random_tensor({4}, 22, -2.0f, 2.0f);
  EXPECT_TRUE(close(run1("Pow", {var(base), var(exponent)}), {3, 4},
                    ref_binary(base, exponent, {3, 4}, [](double x, double y) { return std::pow(x, y); }), 1e-6));
  // x^2 (LayerNorm's variance) and an integer exponent tensor; negative bases with integer powers.
  Tensor neg = Tensor::from_floats({4}, {-2, -1.5f, 0, 3});
  EXPECT_TRUE(close(run1("Pow", {var(neg), cst(Tensor::scalar(2.0f))}), {4}, {4, 2.25, 0, 9}, 0));
  EXPECT_TRUE(close(run1("Pow", {var(neg), cst(Tensor::scalar(3.0f))}), {4}, {-8, -3.375, 0, 27}, 0));
  EXPECT_TRUE(close(run1("Pow", {var(neg), cst(Tensor::from_int64({}, {3}))}), {4}, {-8, -3.375, 0, 27}, 0));
  EXPECT_TRUE(close(run1("Pow", {var(neg), cst(Tensor::scalar(0.5f))}), {4},
                    {std::nan(""), std::nan(""), 0, std::sqrt(3.0)}, 1e-7));
  // Int64 base.
  Tensor ib = Tensor::from_int64({4}, {2, -3, 1, -1});
  EXPECT_TRUE(close(run1("Pow", {var(ib), cst(Tensor::from_int64({}, {3}))}), {4}, {8, -27, 1, -1}, 0));
  EXPECT_TRUE(close(run1("Pow", {var(ib), cst(Tensor::from_int64({}, {-1}))}), {4}, {0, 0, 1, -1}, 0));
  EXPECT_TRUE(close(run1("Pow", {var(ib), cst(Tensor::scalar(2.0f))}), {4}, {4, 9, 1, 1}, 0));
}

TEST(BinaryOps, VariadicSumMeanMaxMin) {
  Tensor a = random_tensor({2, 3, 4}, 31);
  Tensor b = random_tensor({3, 1}, 32);
  Tensor c = random_tensor({4}, 33);
  const Shape out{2, 3, 4};
  auto ref = [&](const std::function<double(double, double, double)>& f) {
    std::vector<double> want;
    for (int64_t i = 0; i < element_count(out); ++i) {
      const auto idx = unravel(i, out);
      want.push_back(f(a.f32()[broadcast_offset(idx, a.shape())], b.f32()[broadcast_offset(idx, b.shape())],
                       c.f32()[broadcast_offset(idx, c.shape())]));
    }
    return want;
  };
  EXPECT_TRUE(close(run1("Sum", {var(a), var(b), var(c)}), out, ref([](double x, double y, double z) { return x + y + z; })));
  EXPECT_TRUE(close(run1("Mean", {var(a), var(b), var(c)}), out,
                    ref([](double x, double y, double z) { return (x + y + z) / 3; })));
  EXPECT_TRUE(close(run1("Max", {var(a), var(b), var(c)}), out,
                    ref([](double x, double y, double z) { return std::max({x, y, z}); }), 0));
  EXPECT_TRUE(close(run1("Min", {var(a), var(b), var(c)}), out,
                    ref([](double x, double y, double z) { return std::min({x, y, z}); }), 0));
  // A single input is copied; broadcasting order does not matter (small shape first).
  EXPECT_TRUE(close(run1("Sum", {var(b)}), {3, 1}, {b.f32()[0], b.f32()[1], b.f32()[2]}, 0));
  EXPECT_TRUE(close(run1("Max", {var(c), var(b), var(a)}), out,
                    ref([](double x, double y, double z) { return std::max({x, y, z}); }), 0));
  // Max propagates NaN (numpy.maximum, the ONNX reference implementation).
  Tensor n = Tensor::from_floats({3}, {std::nanf(""), 1, 2});
  Tensor m = Tensor::from_floats({3}, {0, std::nanf(""), 1});
  Tensor got = run1("Max", {var(n), var(m)});
  EXPECT_TRUE(std::isnan(got.f32()[0]));
  EXPECT_TRUE(std::isnan(got.f32()[1]));
  EXPECT_EQ(got.f32()[2], 2.0f);
  // Int64 Sum, used in shape arithmetic.
  EXPECT_TRUE(close(run1("Sum", {var(Tensor::from_int64({2}, {1, 2})), var(Tensor::from_int64({1}, {10}))}), {2},
                    {11, 12}, 0));
}

TEST(BinaryOps, ErrorsNameTheNodeAndShapes) {
  expect_bad_input([] { run1("Add", {var(Tensor::zeros({1, 3, 4})), var(Tensor::zeros({1, 5, 4}))}); },
                   {"node 'the_Add' (Add)", "cannot broadcast 1x3x4 with 1x5x4"});
  expect_bad_input([] { run1("Mul", {var(Tensor::zeros({2})), var(Tensor::zeros({2}, DType::Int64))}); },
                   {"the_Mul", "different types"});
  expect_bad_input([] {
    run1("Add", {var(Tensor::zeros({2, 3, 4})), var(Tensor::zeros({3}))}, attrs_of({{"broadcast", int64_t{1}}}), 6);
  }, {"the_Add", "with broadcast=1 (opset < 7), B of shape 3 must match the dimensions of A (2x3x4) from axis 2"});
  expect_bad_input([] { run1("Sum", {var(Tensor::zeros({2})), var(Tensor::zeros({3})), var(Tensor::zeros({2}))}); },
                   {"cannot broadcast 2 with 3 with 2"});
}

TEST(BinaryOps, LegacyBroadcastAttributeBeforeOpset7) {
  // Opset 6 with broadcast=1: B matches a run of A's dimensions starting at `axis` (default: the
  // trailing ones), which numpy broadcasting would reject or align differently.
  const Shape shape{2, 3, 4, 5};
  Tensor a = random_tensor(shape, 61);
  auto legacy = [&](const Shape& b_shape, const Shape& b_as, Attributes attrs, const std::string& op) {
    Tensor b = random_tensor(b_shape, 62, 0.5f, 1.5f);
    attrs.set("broadcast", int64_t{1});
    std::vector<double> want;
    for (int64_t i = 0; i < a.size(); ++i) {
      const double x = a.f32()[i];
      const double y = b.f32()[broadcast_offset(unravel(i, shape), b_as)];
      want.push_back(op == "Add" ? double(float(x) + float(y)) : double(float(x) / float(y)));
    }
    EXPECT_TRUE(close(run1(op, {var(a), cst(b)}, attrs, 6), shape, want, 0)) << shape_string(b_shape);
  };
  legacy({3, 4}, {1, 3, 4, 1}, attrs_of({{"axis", int64_t{1}}}), "Add");
  legacy({2}, {2, 1, 1, 1}, attrs_of({{"axis", int64_t{0}}}), "Div");
  legacy({4, 5}, {1, 1, 4, 5}, {}, "Add");
  legacy({1}, {1, 1, 1, 1}, {}, "Div");
  legacy({}, {1, 1, 1, 1}, {}, "Add");
  // Without broadcast=1, or from opset 7, the numpy rule applies.
  Tensor b = random_tensor({4, 5}, 63);
  EXPECT_EQ(run1("Add", {var(a), var(b)}, {}, 6).shape(), shape);
  expect_bad_input([&] { run1("Add", {var(a), var(random_tensor({3, 4}, 64))}, attrs_of({{"broadcast", int64_t{1}}}), 7); },
                   {"cannot broadcast 2x3x4x5 with 3x4"});
  // Comparisons had the same rule.
  Tensor c = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor d = Tensor::from_floats({2}, {1, 5});
  Tensor eq = run1("Equal", {var(c), var(d)}, attrs_of({{"broadcast", int64_t{1}}, {"axis", int64_t{0}}}), 1);
  EXPECT_EQ(eq.shape(), (Shape{2, 3}));
  EXPECT_EQ(eq.to_int64_vector(), (std::vector<int64_t>{1, 0, 0, 0, 1, 0}));
}

TEST(BinaryOps, FoldsConstantOperandsAndCountsFlops) {
  // All-constant arithmetic is evaluated by prepare_graph and leaves no node.
  Graph g = one_node("Mul", {cst(Tensor::from_int64({2}, {3, 4})), cst(Tensor::from_int64({}, {5}))}, {}, 17, 1, nullptr);
  prepare_graph(g);
  EXPECT_TRUE(g.nodes.empty());
  const Value& v = g.values[static_cast<std::size_t>(g.outputs[0])];
  ASSERT_TRUE(v.constant.has_value());
  EXPECT_EQ(v.constant->to_int64_vector(), (std::vector<int64_t>{15, 20}));

  Graph h = one_node("Sum", {var(Tensor::zeros({2, 8})), var(Tensor::zeros({8})), var(Tensor::zeros({2, 1}))}, {}, 17,
                     1, nullptr);
  prepare_graph(h);
  EXPECT_EQ(analyse_graph(h)[0].cost.flops, 2 * 16);
}

// ---------------------------------------------------------------------------------------------
// Softmax / LogSoftmax.

// Normalises each element over the elements that share its index in every dimension not in `over`.
std::vector<double> ref_softmax(const Tensor& x, const std::vector<bool>& over, bool log) {
  const Shape& shape = x.shape();
  std::vector<std::size_t> dims;  // the normalised dimensions
  int64_t group = 1;
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (over[d]) {
      dims.push_back(d);
      group *= shape[d];
    }
  std::vector<double> want(static_cast<std::size_t>(x.size()));
  for (int64_t i = 0; i < x.size(); ++i) {
    const auto idx = unravel(i, shape);
    std::vector<double> members;
    for (int64_t g = 0; g < group; ++g) {
      auto jdx = idx;
      int64_t rest = g;
      for (std::size_t k = dims.size(); k-- > 0;) {
        jdx[dims[k]] = rest % shape[dims[k]];
        rest /= shape[dims[k]];
      }
      int64_t offset = 0;
      for (std::size_t d = 0; d < shape.size(); ++d) offset = offset * shape[d] + jdx[d];
      members.push_back(x.f32()[offset]);
    }
    double m = -std::numeric_limits<double>::infinity();
    for (double v : members) m = std::max(m, v);
    double sum = 0;
    for (double v : members) sum += std::exp(v - m);
    const double xi = x.f32()[i];
    want[static_cast<std::size_t>(i)] = log ? xi - m - std::log(sum) : std::exp(xi - m) / sum;
  }
  return want;
}

TEST(SoftmaxOps, OpsetChangesTheNormalisedAxes) {
  const Shape shape{2, 3, 4, 5};
  Tensor x = random_tensor(shape, 41, -3, 3);
  for (bool log : {false, true}) {
    const std::string op = log ? "LogSoftmax" : "Softmax";
    // Opset 11, default axis 1: normalised over C*H*W together.
    const auto legacy = ref_softmax(x, {false, true, true, true}, log);
    Tensor got11 = run1(op, {var(x)}, {}, 11);
    EXPECT_TRUE(close(got11, shape, legacy)) << op;
    // Opset 13, default axis -1: over W only.
    const auto last = ref_softmax(x, {false, false, false, true}, log);
    EXPECT_TRUE(close(run1(op, {var(x)}, {}, 13), shape, last)) << op;
    // Opset 13 axis 1: over C alone (strided), unlike opset 11 axis 1.
    const auto channel = ref_softmax(x, {false, true, false, false}, log);
    Tensor got13 = run1(op, {var(x)}, attrs_of({{"axis", int64_t{1}}}), 13);
    EXPECT_TRUE(close(got13, shape, channel)) << op;
    EXPECT_FALSE(close(got11, shape, channel)) << op << ": opset 11 and 13 must differ on 4-D input";
    // Negative axis at opset 11 coerces at rank - 2.
    EXPECT_TRUE(close(run1(op, {var(x)}, attrs_of({{"axis", int64_t{-2}}}), 11), shape,
                      ref_softmax(x, {false, false, true, true}, log)))
        << op;
    EXPECT_TRUE(close(run1(op, {var(x)}, attrs_of({{"axis", int64_t{0}}}), 11), shape,
                      ref_softmax(x, {true, true, true, true}, log)))
        << op;
    EXPECT_TRUE(close(run1(op, {var(x)}, attrs_of({{"axis", int64_t{2}}}), 13), shape,
                      ref_softmax(x, {false, false, true, false}, log)))
        << op;
  }
}

TEST(SoftmaxOps, StableForLargeLogitsAndThreaded) {
  Tensor x = Tensor::from_floats({1, 3}, {1000, 1001, 1002});
  Tensor y = run1("Softmax", {var(x)});
  const double e0 = std::exp(-2.0), e1 = std::exp(-1.0), s = e0 + e1 + 1;
  EXPECT_TRUE(close(y, {1, 3}, {e0 / s, e1 / s, 1 / s}));
  EXPECT_TRUE(close(run1("LogSoftmax", {var(x)}), {1, 3}, {-2 - std::log(s), -1 - std::log(s), -std::log(s)}));
  // Segmentation-style channel softmax on 1x21x40x40 (one outer row, strided columns), and a
  // classifier-style 64x1000.
  Tensor seg = random_tensor({1, 21, 40, 40}, 42, -5, 5);
  EXPECT_TRUE(close(run1("Softmax", {var(seg)}, attrs_of({{"axis", int64_t{1}}}), 13), seg.shape(),
                    ref_softmax(seg, {false, true, false, false}, false)));
  Tensor cls = random_tensor({64, 1000}, 43, -5, 5);
  std::vector<double> want;
  for (int64_t r = 0; r < 64; ++r) {
    double m = -1e300, sum = 0;
    for (int64_t c = 0; c < 1000; ++c) m = std::max(m, double(cls.f32()[r * 1000 + c]));
    for (int64_t c = 0; c < 1000; ++c) sum += std::exp(cls.f32()[r * 1000 + c] - m);
    for (int64_t c = 0; c < 1000; ++c) want.push_back(std::exp(cls.f32()[r * 1000 + c] - m) / sum);
  }
  EXPECT_TRUE(close(run1("Softmax", {var(cls)}), {64, 1000}, want));
  expect_bad_input([&] { run1("Softmax", {var(cls)}, attrs_of({{"axis", int64_t{2}}}), 13); },
                   {"the_Softmax", "axis 2 is out of range"});
}

// ---------------------------------------------------------------------------------------------
// Reductions.

struct RefReduce {
  std::function<double(double)> pre;
  std::function<double(double, double)> combine;
  double init;
  std::function<double(double, int64_t)> post;
};

RefReduce ref_reduction(const std::string& op) {
  auto id = [](double x) { return x; };
  auto plus = [](double a, double b) { return a + b; };
  auto keep = [](double a, int64_t) { return a; };
  const double inf = std::numeric_limits<double>::infinity();
  if (op == "ReduceSum") return {id, plus, 0, keep};
  if (op == "ReduceMean") return {id, plus, 0, [](double a, int64_t n) { return a / double(n); }};
  if (op == "ReduceMax") return {id, [](double a, double b) { return std::max(a, b); }, -inf, keep};
  if (op == "ReduceMin") return {id, [](double a, double b) { return std::min(a, b); }, inf, keep};
  if (op == "ReduceProd") return {id, [](double a, double b) { return a * b; }, 1, keep};
  if (op == "ReduceSumSquare") return {[](double x) { return x * x; }, plus, 0, keep};
  if (op == "ReduceL1") return {[](double x) { return std::fabs(x); }, plus, 0, keep};
  return {[](double x) { return x * x; }, plus, 0, [](double a, int64_t) { return std::sqrt(a); }};
}

// Reference reduction; returns the output shape through `out_shape`.
std::vector<double> ref_reduce(const Tensor& x, const std::string& op, const std::vector<bool>& reduced, bool keepdims,
                               Shape& out_shape) {
  const RefReduce r = ref_reduction(op);
  const Shape& shape = x.shape();
  Shape kept_shape;
  out_shape.clear();
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (!reduced[d]) kept_shape.push_back(shape[d]);
    if (!reduced[d] || keepdims) out_shape.push_back(reduced[d] ? 1 : shape[d]);
  }
  const int64_t outputs = element_count(kept_shape);
  std::vector<double> acc(static_cast<std::size_t>(outputs), r.init);
  int64_t count = 1;
  for (std::size_t d = 0; d < shape.size(); ++d)
    if (reduced[d]) count *= shape[d];
  for (int64_t i = 0; i < x.size(); ++i) {
    const auto idx = unravel(i, shape);
    int64_t o = 0;
    for (std::size_t d = 0; d < shape.size(); ++d)
      if (!reduced[d]) o = o * shape[d] + idx[d];
    acc[static_cast<std::size_t>(o)] = r.combine(acc[static_cast<std::size_t>(o)], r.pre(value(x, i)));
  }
  for (double& a : acc) a = r.post(a, count);
  return acc;
}

TEST(ReduceOps, EveryReductionOverManyAxisSets) {
  const Shape shape{3, 4, 5, 6};
  Tensor x = random_tensor(shape, 51, 0.5f, 1.5f);
  const std::vector<std::vector<int64_t>> axis_sets = {{}, {0}, {1}, {3}, {-1}, {1, 2}, {2, 3}, {0, 2}, {1, 3}, {0, 1, 2, 3}, {0, 3}};
  for (const std::string op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
                               "ReduceL1", "ReduceL2"}) {
    for (const auto& axes : axis_sets) {
      std::vector<bool> reduced(4, axes.empty());
      for (int64_t a : axes) reduced[static_cast<std::size_t>(a < 0 ? a + 4 : a)] = true;
      for (int64_t keepdims : {0, 1}) {
        Shape out_shape;
        const auto want = ref_reduce(x, op, reduced, keepdims != 0, out_shape);
        // Opset 13: axes attribute (ReduceSum: input). Opset 18: axes input.
        Attributes a13 = attrs_of({{"keepdims", keepdims}});
        std::vector<In> in13{var(x)};
        if (op == "ReduceSum") {
          if (!axes.empty()) in13.push_back(cst(Tensor::from_int64({static_cast<int64_t>(axes.size())}, axes)));
        } else if (!axes.empty()) {
          a13.set("axes", axes);
        }
        EXPECT_TRUE(close(run1(op, in13, a13, 13), out_shape, want, 1e-5))
            << op << " opset 13 axes " << ::testing::PrintToString(axes) << " keepdims " << keepdims;
        std::vector<In> in18{var(x)};
        if (!axes.empty()) in18.push_back(cst(Tensor::from_int64({static_cast<int64_t>(axes.size())}, axes)));
        EXPECT_TRUE(close(run1(op, in18, attrs_of({{"keepdims", keepdims}}), 18), out_shape, want, 1e-5))
            << op << " opset 18 axes " << ::testing::PrintToString(axes) << " keepdims " << keepdims;
      }
    }
  }
}

TEST(ReduceOps, ThreadedShapesAndGlobalAveragePoolPattern) {
  // ReduceMean over H, W of 1x512x14x14 (the global pool exporters emit: reduced innermost,
  // parallel over outputs), over the batch of 64x1x1024 (kept innermost: rows accumulate), and
  // a row sum of 40x3000.
  Tensor x = random_tensor({1, 512, 14, 14}, 52);
  Shape out_shape;
  auto want = ref_reduce(x, "ReduceMean", {false, false, true, true}, true, out_shape);
  EXPECT_TRUE(close(run1("ReduceMean", {var(x)}, attrs_of({{"axes", std::vector<int64_t>{2, 3}}}), 13), out_shape, want));
  Tensor y = random_tensor({64, 1, 1024}, 53);
  want = ref_reduce(y, "ReduceMax", {true, false, false}, false, out_shape);
  EXPECT_TRUE(close(run1("ReduceMax", {var(y)}, attrs_of({{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}}), 13),
                    out_shape, want, 0));
  Tensor z = random_tensor({40, 3000}, 54);
  want = ref_reduce(z, "ReduceSum", {false, true}, true, out_shape);
  EXPECT_TRUE(close(run1("ReduceSum", {var(z), cst(Tensor::from_int64({1}, {1}))}), out_shape, want, 1e-5));
}

TEST(ReduceOps, EmptyAxesNoopAndEmptyReductions) {
  Tensor x = random_tensor({2, 3}, 55);
  // noop_with_empty_axes=1 with no axes: identity.
  Tensor same = run1("ReduceSum", {var(x)}, attrs_of({{"noop_with_empty_axes", int64_t{1}}}), 13);
  EXPECT_TRUE(close(same, {2, 3}, std::vector<double>(x.f32(), x.f32() + 6), 0));
  Tensor same18 = run1("ReduceMax", {var(x), cst(Tensor::from_int64({0}, {}))},
                       attrs_of({{"noop_with_empty_axes", int64_t{1}}}), 18);
  EXPECT_TRUE(close(same18, {2, 3}, std::vector<double>(x.f32(), x.f32() + 6), 0));
  // Without it, an empty axes input reduces everything.
  Shape out_shape;
  auto want = ref_reduce(x, "ReduceSum", {true, true}, true, out_shape);
  EXPECT_TRUE(close(run1("ReduceSum", {var(x), cst(Tensor::from_int64({0}, {}))}, {}, 13), out_shape, want));
  // Reducing an empty axis gives the identity of the operation.
  Tensor e = Tensor::zeros({2, 0, 3});
  const Attributes over1 = attrs_of({{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}});
  EXPECT_TRUE(close(run1("ReduceSum", {var(e), cst(Tensor::from_int64({1}, {1}))}, attrs_of({{"keepdims", int64_t{0}}}), 13),
                    {2, 3}, std::vector<double>(6, 0.0), 0));
  EXPECT_TRUE(close(run1("ReduceProd", {var(e)}, over1, 13), {2, 3}, std::vector<double>(6, 1.0), 0));
  EXPECT_TRUE(close(run1("ReduceMax", {var(e)}, over1, 13), {2, 3},
                    std::vector<double>(6, -std::numeric_limits<double>::infinity()), 0));
  EXPECT_TRUE(close(run1("ReduceMean", {var(e)}, over1, 13), {2, 3}, std::vector<double>(6, std::nan("")), 0));
  // Int64 sums and maxima (shape arithmetic).
  Tensor xi = Tensor::from_int64({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_TRUE(close(run1("ReduceSum", {var(xi), cst(Tensor::from_int64({1}, {0}))}), {1, 3}, {5, 7, 9}, 0));
  EXPECT_TRUE(close(run1("ReduceMax", {var(xi)}, attrs_of({{"keepdims", int64_t{0}}}), 13), {}, {6}, 0));
  EXPECT_TRUE(close(run1("ReduceMean", {var(xi)}, attrs_of({{"axes", std::vector<int64_t>{1}}}), 13), {2, 1}, {2, 5}, 0));
  // Errors.
  expect_bad_input([&] { run1("ReduceMean", {var(x)}, attrs_of({{"axes", std::vector<int64_t>{2}}}), 13); },
                   {"the_ReduceMean", "axis 2 is out of range for rank 2"});
  expect_bad_input([&] { run1("ReduceSum", {var(x), var(Tensor::from_int64({1}, {0}))}, {}, 13); },
                   {"the_ReduceSum", "must be a constant"});
  expect_bad_input([&] { run1("ReduceL2", {var(xi)}, {}, 13); }, {"the_ReduceL2", "float"});
}

}  // namespace
}  // namespace coda
