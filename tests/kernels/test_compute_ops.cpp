// Conv, Gemm, MatMul, pooling, BatchNormalization and LRN against naive loops written here from
// the ONNX operator specification (double precision, one output element at a time, no shared
// code with the kernels), over many random parameter combinations; plus shape errors and costs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/conv_kernels.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph.h"
#include "kernels/parallel.h"
#include "kernels/tensor.h"

namespace coda {
namespace {

// ---------------------------------------------------------------------------------------------
// Harness: one node in a graph, run through prepare_graph and the Executor.

struct Input {
  Tensor tensor;          // empty: the optional input is omitted
  bool constant = false;  // initializer (weights) or graph input
};

Input var(Tensor t) { return Input{std::move(t), false}; }
Input constant(Tensor t) { return Input{std::move(t), true}; }
Input omitted() { return Input{}; }

// `outputs` lists which output slots exist: true = produced, false = omitted (-1).
std::vector<Tensor> run_op(const std::string& op, const std::vector<Input>& inputs, const Attributes& attrs,
                           std::vector<bool> outputs = {true}, int opset = 17, const std::string& name = "op") {
  Graph g;
  std::vector<int> ins;
  std::vector<Shape> shapes;
  std::vector<Tensor> feeds;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string value = "in" + std::to_string(i);
    if (inputs[i].tensor.empty()) {
      ins.push_back(-1);
    } else if (inputs[i].constant) {
      ins.push_back(g.add_constant(value, inputs[i].tensor));
    } else {
      int id = g.value_id(value);
      g.inputs.push_back(id);
      ins.push_back(id);
      shapes.push_back(inputs[i].tensor.shape());
      feeds.push_back(inputs[i].tensor);
    }
  }
  std::vector<int> outs;
  for (std::size_t o = 0; o < outputs.size(); ++o) outs.push_back(outputs[o] ? g.value_id("out" + std::to_string(o)) : -1);
  Node& node = g.add_node(op, name, ins, outs);
  node.attrs = attrs;
  node.opset = opset;
  for (int o : outs)
    if (o >= 0) g.outputs.push_back(o);
  bind_input_shapes(g, shapes);
  prepare_graph(g);
  Executor executor(g);
  return executor.run(feeds);
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t.f32()[i] = dist(rng);
  return t;
}

int64_t pick(std::mt19937& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

// |got - want| <= 1e-4 * (1 + |want|), equal infinities accepted. Reports the first mismatch.
::testing::AssertionResult close(const Tensor& got, const Shape& shape, const std::vector<double>& want) {
  if (got.shape() != shape)
    return ::testing::AssertionFailure() << "shape " << shape_string(got.shape()) << ", want " << shape_string(shape);
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double g = got.f32()[i], w = want[i];
    if (g == w) continue;
    if (!(std::fabs(g - w) <= 1e-4 * (1.0 + std::fabs(w))))
      return ::testing::AssertionFailure() << "element " << i << ": got " << g << ", want " << w;
  }
  return ::testing::AssertionSuccess();
}

// Restores the default thread count when a test changes it.
struct ThreadGuard {
  ~ThreadGuard() { set_thread_count(0); }
};

// ---------------------------------------------------------------------------------------------
// Window arithmetic of the ONNX specification, written out per axis.

struct Axis {
  int64_t in, kernel, stride, dilation, pad_begin, pad_end, out;
};

Axis make_axis(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, const std::string& auto_pad,
               bool ceil_mode) {
  Axis a{in, k, s, d, pb, pe, 0};
  const int64_t span = (k - 1) * d + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    a.out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (a.out - 1) * s + span - in);
    a.pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
    a.pad_end = total - a.pad_begin;
    return a;
  }
  if (auto_pad == "VALID") a.pad_begin = a.pad_end = 0;
  const double room = static_cast<double>(in + a.pad_begin + a.pad_end - span);
  if (ceil_mode && auto_pad != "VALID") {
    a.out = static_cast<int64_t>(std::ceil(room / static_cast<double>(s))) + 1;
    if ((a.out - 1) * s >= in + a.pad_begin) a.out -= 1;
  } else {
    a.out = static_cast<int64_t>(std::floor(room / static_cast<double>(s))) + 1;
  }
  return a;
}

// Window parameters shared by the Conv and pooling cases; a 1-D case uses only the width.
struct WindowCase {
  bool one_d = false;
  int64_t in_h = 1, in_w = 1, k_h = 1, k_w = 1, s_h = 1, s_w = 1, d_h = 1, d_w = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  std::string auto_pad = "NOTSET";

  std::vector<int64_t> per_axis(int64_t h, int64_t w) const {
    return one_d ? std::vector<int64_t>{w} : std::vector<int64_t>{h, w};
  }

  // strides, dilations and pads or auto_pad as an exporter writes them (defaults left out).
  void set_window_attrs(Attributes& attrs) const {
    if (s_h != 1 || s_w != 1) attrs.set("strides", per_axis(s_h, s_w));
    if (d_h != 1 || d_w != 1) attrs.set("dilations", per_axis(d_h, d_w));
    if (auto_pad == "NOTSET") {
      if (pt || pl || pb || pr)
        attrs.set("pads", one_d ? std::vector<int64_t>{pl, pr} : std::vector<int64_t>{pt, pl, pb, pr});
    } else {
      attrs.set("auto_pad", auto_pad);
    }
  }

  // The reference geometry of both axes.
  void axes(bool ceil_mode, Axis& ah, Axis& aw) const {
    ah = one_d ? Axis{1, 1, 1, 1, 0, 0, 1} : make_axis(in_h, k_h, s_h, d_h, pt, pb, auto_pad, ceil_mode);
    aw = make_axis(in_w, k_w, s_w, d_w, pl, pr, auto_pad, ceil_mode);
  }
};

// ---------------------------------------------------------------------------------------------
// Conv

struct ConvCase : WindowCase {
  int64_t batch = 1, groups = 1, cin_g = 1, cout_g = 1;
  bool bias = true, kernel_shape_attr = false, weights_constant = true;

  std::string describe() const {
    std::ostringstream s;
    s << (one_d ? "1-D" : "2-D") << " N" << batch << " G" << groups << " cin/g" << cin_g << " cout/g" << cout_g
      << " in " << in_h << "x" << in_w << " k " << k_h << "x" << k_w << " s " << s_h << "," << s_w << " d " << d_h
      << "," << d_w << " pads " << pt << "," << pl << "," << pb << "," << pr << " " << auto_pad
      << (bias ? " bias" : "");
    return s.str();
  }
};

// Output shape and values of a convolution, straight from the definition.
std::vector<double> naive_conv(const ConvCase& c, const Tensor& x, const Tensor& w, const Tensor* b, Shape& shape) {
  Axis ah, aw;
  c.axes(false, ah, aw);
  const int64_t cin = c.groups * c.cin_g, cout = c.groups * c.cout_g;
  shape = c.one_d ? Shape{c.batch, cout, aw.out} : Shape{c.batch, cout, ah.out, aw.out};
  std::vector<double> y;
  for (int64_t n = 0; n < c.batch; ++n)
    for (int64_t oc = 0; oc < cout; ++oc)
      for (int64_t oh = 0; oh < ah.out; ++oh)
        for (int64_t ow = 0; ow < aw.out; ++ow) {
          const int64_t group = oc / c.cout_g;
          double sum = b ? b->f32()[oc] : 0.0;
          for (int64_t ic = 0; ic < c.cin_g; ++ic)
            for (int64_t i = 0; i < c.k_h; ++i)
              for (int64_t j = 0; j < c.k_w; ++j) {
                const int64_t ih = oh * ah.stride - ah.pad_begin + i * ah.dilation;
                const int64_t iw = ow * aw.stride - aw.pad_begin + j * aw.dilation;
                if (ih < 0 || ih >= ah.in || iw < 0 || iw >= aw.in) continue;
                const int64_t channel = group * c.cin_g + ic;
                sum += static_cast<double>(x.f32()[((n * cin + channel) * c.in_h + ih) * c.in_w + iw]) *
                       w.f32()[((oc * c.cin_g + ic) * c.k_h + i) * c.k_w + j];
              }
          y.push_back(sum);
        }
  return y;
}

void check_conv(const ConvCase& c, std::mt19937& rng) {
  const int64_t cin = c.groups * c.cin_g, cout = c.groups * c.cout_g;
  Shape xs = c.one_d ? Shape{c.batch, cin, c.in_w} : Shape{c.batch, cin, c.in_h, c.in_w};
  Shape ws = c.one_d ? Shape{cout, c.cin_g, c.k_w} : Shape{cout, c.cin_g, c.k_h, c.k_w};
  Tensor x = random_tensor(xs, rng), w = random_tensor(ws, rng), b = random_tensor({cout}, rng);
  Attributes attrs;
  if (c.groups != 1 || pick(rng, 0, 1)) attrs.set("group", c.groups);
  c.set_window_attrs(attrs);
  if (c.kernel_shape_attr) attrs.set("kernel_shape", c.per_axis(c.k_h, c.k_w));
  std::vector<Input> ins = {var(x), c.weights_constant ? constant(w) : var(w)};
  if (c.bias) ins.push_back(constant(b));
  Tensor got = run_op("Conv", ins, attrs).at(0);
  Shape shape;
  std::vector<double> want = naive_conv(c, x, w, c.bias ? &b : nullptr, shape);
  EXPECT_TRUE(close(got, shape, want)) << c.describe();
}

ConvCase random_conv(std::mt19937& rng, bool one_d) {
  ConvCase c;
  c.one_d = one_d;
  c.batch = pick(rng, 1, 3);
  switch (pick(rng, 0, 3)) {
    case 0:  // dense
      c.groups = 1;
      c.cin_g = pick(rng, 1, 6);
      c.cout_g = pick(rng, 1, 6);
      break;
    case 1:  // grouped
      c.groups = pick(rng, 2, 4);
      c.cin_g = pick(rng, 1, 3);
      c.cout_g = pick(rng, 1, 3);
      break;
    case 2:  // depthwise
      c.groups = pick(rng, 2, 6);
      c.cin_g = 1;
      c.cout_g = 1;
      break;
    default:  // depthwise with channel multiplier
      c.groups = pick(rng, 2, 5);
      c.cin_g = 1;
      c.cout_g = pick(rng, 2, 3);
      break;
  }
  c.k_w = pick(rng, 1, 4);
  c.s_w = pick(rng, 1, 3);
  c.d_w = pick(rng, 1, 3);
  c.pl = pick(rng, 0, 2);
  c.pr = pick(rng, 0, 2);
  if (!one_d) {
    c.k_h = pick(rng, 1, 4);
    c.s_h = pick(rng, 1, 3);
    c.d_h = pick(rng, 1, 3);
    c.pt = pick(rng, 0, 2);
    c.pb = pick(rng, 0, 2);
  }
  // Inputs at least as large as the dilated kernel so that every auto_pad mode has an output.
  c.in_w = (c.k_w - 1) * c.d_w + 1 + pick(rng, 0, 9);
  c.in_h = one_d ? 1 : (c.k_h - 1) * c.d_h + 1 + pick(rng, 0, 9);
  const int64_t mode = pick(rng, 0, 9);
  c.auto_pad = mode < 6 ? "NOTSET" : mode == 6 ? "VALID" : mode == 7 ? "SAME_UPPER" : "SAME_LOWER";
  c.bias = pick(rng, 0, 1) == 1;
  c.kernel_shape_attr = pick(rng, 0, 1) == 1;
  c.weights_constant = pick(rng, 0, 4) != 0;
  return c;
}

TEST(ComputeOps, Conv2dMatchesNaiveOverRandomParameters) {
  std::mt19937 rng(20240601);
  for (int t = 0; t < 300; ++t) check_conv(random_conv(rng, false), rng);
}

TEST(ComputeOps, Conv1dMatchesNaiveOverRandomParameters) {
  std::mt19937 rng(7);
  for (int t = 0; t < 150; ++t) check_conv(random_conv(rng, true), rng);
}

// Shapes large enough to exercise both GEMM strategies (a task per pixel tile; a shared im2col
// and a task per block of output channels for small planes), the pointwise path without im2col,
// groups and batches, on 1 and on all threads.
TEST(ComputeOps, ConvLargeShapesOnOneAndAllThreads) {
  ThreadGuard guard;
  std::mt19937 rng(99);
  std::vector<ConvCase> cases;
  ConvCase a;  // many tiles: 3x3, K = 288, 40x40 output
  a.batch = 2, a.cin_g = 32, a.cout_g = 24, a.in_h = 40, a.in_w = 40, a.k_h = a.k_w = 3, a.pt = a.pl = a.pb = a.pr = 1;
  cases.push_back(a);
  ConvCase b;  // few output pixels, deep patch: one GEMM per image
  b.cin_g = 96, b.cout_g = 64, b.in_h = 7, b.in_w = 7, b.k_h = b.k_w = 3, b.pt = b.pl = b.pb = b.pr = 1;
  cases.push_back(b);
  ConvCase c;  // pointwise with groups and batch
  c.batch = 3, c.groups = 2, c.cin_g = 40, c.cout_g = 36, c.in_h = 17, c.in_w = 23;
  cases.push_back(c);
  ConvCase d;  // pointwise, stride 2 (needs im2col), asymmetric padding
  d.cin_g = 48, d.cout_g = 16, d.in_h = 30, d.in_w = 28, d.s_h = d.s_w = 2, d.pb = 1, d.pr = 2;
  cases.push_back(d);
  ConvCase e;  // large depthwise, strided and dilated, with multiplier
  e.batch = 2, e.groups = 16, e.cin_g = 1, e.cout_g = 2, e.in_h = 33, e.in_w = 45, e.k_h = e.k_w = 3;
  e.s_w = 2, e.d_h = 2, e.pt = e.pl = e.pb = e.pr = 2;
  cases.push_back(e);
  ConvCase f;  // 7x7 stride 2 stem
  f.cin_g = 3, f.cout_g = 16, f.in_h = 64, f.in_w = 64, f.k_h = f.k_w = 7, f.s_h = f.s_w = 2, f.auto_pad = "SAME_UPPER";
  cases.push_back(f);
  ConvCase h;  // small plane, pointwise: output-channel blocks reading the input directly
  h.cin_g = 64, h.cout_g = 100, h.in_h = 5, h.in_w = 5;
  cases.push_back(h);
  ConvCase i;  // small plane, groups
  i.groups = 3, i.cin_g = 20, i.cout_g = 60, i.in_h = 6, i.in_w = 5, i.k_h = i.k_w = 3, i.pt = i.pl = i.pb = i.pr = 1;
  cases.push_back(i);
  for (int threads : {1, 0}) {
    set_thread_count(threads);
    for (const ConvCase& cc : cases) check_conv(cc, rng);
  }
}

TEST(ComputeOps, ConvWithoutInputChannelsGivesTheBias) {
  Tensor x({1, 0, 5, 5}), w({3, 0, 3, 3});
  Tensor b = Tensor::from_floats({3}, {1.5f, -2.0f, 0.25f});
  std::vector<double> want;
  for (double v : {1.5, -2.0, 0.25})
    for (int i = 0; i < 9; ++i) want.push_back(v);
  EXPECT_TRUE(close(run_op("Conv", {var(x), constant(w), constant(b)}, Attributes()).at(0), {1, 3, 3, 3}, want));
}

TEST(ComputeOps, ConvRejectsMismatchedShapesNamingTheNode) {
  std::mt19937 rng(1);
  auto expect_bad = [&](const Tensor& x, const Tensor& w, const Attributes& attrs, const std::string& fragment) {
    try {
      run_op("Conv", {var(x), constant(w)}, attrs, {true}, 17, "conv_bad");
      ADD_FAILURE() << "no error for " << fragment;
    } catch (const BadInput& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("conv_bad"), std::string::npos) << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    }
  };
  Attributes none;
  expect_bad(random_tensor({1, 3, 8, 8}, rng), random_tensor({4, 5, 3, 3}, rng), none, "input channels");
  Attributes g2;
  g2.set("group", int64_t{2});
  expect_bad(random_tensor({1, 3, 8, 8}, rng), random_tensor({4, 1, 3, 3}, rng), g2, "divisible");
  expect_bad(random_tensor({1, 4, 8, 8}, rng), random_tensor({3, 2, 3, 3}, rng), g2, "output channels");
  expect_bad(random_tensor({1, 2, 8, 8, 8}, rng), random_tensor({4, 2, 3, 3, 3}, rng), none,
             "3-D convolution not supported");
  expect_bad(random_tensor({1, 2, 2, 2}, rng), random_tensor({4, 2, 3, 3}, rng), none, "larger than the padded input");
  Attributes ks;
  ks.set("kernel_shape", std::vector<int64_t>{5, 5});
  expect_bad(random_tensor({1, 2, 8, 8}, rng), random_tensor({4, 2, 3, 3}, rng), ks, "kernel_shape");
  Attributes st;
  st.set("strides", std::vector<int64_t>{1});
  expect_bad(random_tensor({1, 2, 8, 8}, rng), random_tensor({4, 2, 3, 3}, rng), st, "strides");
  Attributes ap;
  ap.set("auto_pad", std::string("SAME"));
  expect_bad(random_tensor({1, 2, 8, 8}, rng), random_tensor({4, 2, 3, 3}, rng), ap, "auto_pad");
  // Wrong bias length.
  try {
    run_op("Conv", {var(random_tensor({1, 2, 8, 8}, rng)), constant(random_tensor({4, 2, 3, 3}, rng)),
                    constant(random_tensor({3}, rng))},
           none, {true}, 17, "conv_bias");
    ADD_FAILURE() << "no error for a bias of the wrong length";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("conv_bias"), std::string::npos) << e.what();
  }
}

OpCost single_node_cost(const std::string& op, const std::vector<Input>& inputs, const Attributes& attrs) {
  Graph g;
  std::vector<int> ins;
  std::vector<Shape> shapes;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].constant) {
      ins.push_back(g.add_constant("in" + std::to_string(i), inputs[i].tensor));
    } else {
      int id = g.value_id("in" + std::to_string(i));
      g.inputs.push_back(id);
      ins.push_back(id);
      shapes.push_back(inputs[i].tensor.shape());
    }
  }
  int y = g.value_id("y");
  g.add_node(op, "n", ins, {y}).attrs = attrs;
  g.outputs = {y};
  bind_input_shapes(g, shapes);
  prepare_graph(g);
  return analyse_graph(g).at(0).cost;
}

TEST(ComputeOps, CostsCountMultiplyAccumulates) {
  // ResNet-18 layer1 convolution: 64 -> 64 channels, 3x3, 56x56, pad 1.
  Attributes pads;
  pads.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  OpCost conv = single_node_cost("Conv", {var(Tensor({1, 64, 56, 56})), constant(Tensor::zeros({64, 64, 3, 3})),
                                          constant(Tensor::zeros({64}))},
                                 pads);
  EXPECT_EQ(conv.macs, int64_t{64} * 56 * 56 * 64 * 9);
  EXPECT_EQ(conv.flops, int64_t{64} * 56 * 56);
  EXPECT_EQ(conv.params, 64 * 64 * 9 + 64);
  // Depthwise with multiplier 2, batch 2: each output reads one input channel.
  Attributes dw;
  dw.set("group", int64_t{8});
  OpCost depthwise =
      single_node_cost("Conv", {var(Tensor({2, 8, 10, 10})), constant(Tensor::zeros({16, 1, 3, 3}))}, dw);
  EXPECT_EQ(depthwise.macs, int64_t{2} * 16 * 8 * 8 * 9);
  EXPECT_EQ(depthwise.flops, 0);

  Attributes trans;
  trans.set("transB", int64_t{1});
  OpCost gemm = single_node_cost(
      "Gemm", {var(Tensor({4, 512})), constant(Tensor::zeros({1000, 512})), constant(Tensor::zeros({1000}))}, trans);
  EXPECT_EQ(gemm.macs, int64_t{4} * 1000 * 512);
  OpCost matmul = single_node_cost("MatMul", {var(Tensor({3, 1, 5, 7})), var(Tensor({4, 7, 6}))}, Attributes());
  EXPECT_EQ(matmul.macs, int64_t{3} * 4 * 5 * 6 * 7);

  Attributes pool;
  pool.set("kernel_shape", std::vector<int64_t>{3, 3});
  pool.set("strides", std::vector<int64_t>{2, 2});
  OpCost maxpool = single_node_cost("MaxPool", {var(Tensor({1, 4, 9, 9}))}, pool);
  EXPECT_EQ(maxpool.flops, int64_t{4} * 4 * 4 * 9);
  OpCost gap = single_node_cost("GlobalAveragePool", {var(Tensor({2, 4, 5, 5}))}, Attributes());
  EXPECT_EQ(gap.flops, 2 * 4 * 25);
}

// ---------------------------------------------------------------------------------------------
// The reusable kernels themselves.

TEST(ComputeKernels, SgemmMatchesNaiveForAllTransposesAndStrides) {
  std::mt19937 rng(3);
  for (int t = 0; t < 40; ++t) {
    const bool ta = t & 1, tb = (t >> 1) & 1;
    const int64_t m = pick(rng, 1, 70), n = pick(rng, 1, 70), k = pick(rng, 1, 70);
    const int64_t pad = pick(rng, 0, 3);  // leading dimensions wider than the matrices
    const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
    Tensor a = random_tensor({a_rows, lda}, rng), b = random_tensor({b_rows, ldb}, rng), c = random_tensor({m, ldc}, rng);
    const float alpha = t % 3 == 0 ? 1.0f : 0.5f;
    const float beta = t % 4 == 0 ? 0.0f : t % 4 == 1 ? 1.0f : -0.75f;
    std::vector<double> want(static_cast<std::size_t>(m * ldc));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < ldc; ++j) {
        double v = c.f32()[i * ldc + j];
        if (j < n) {
          double sum = 0;
          for (int64_t p = 0; p < k; ++p) {
            const double av = ta ? a.f32()[p * lda + i] : a.f32()[i * lda + p];
            const double bv = tb ? b.f32()[j * ldb + p] : b.f32()[p * ldb + j];
            sum += av * bv;
          }
          v = alpha * sum + (beta == 0.0f ? 0.0 : beta * v);
        }
        want[static_cast<std::size_t>(i * ldc + j)] = v;
      }
    if (beta == 0.0f)  // C must not be read: NaN there must not leak into the result
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c.f32()[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
    sgemm(ta, tb, m, n, k, alpha, a.f32(), lda, b.f32(), ldb, beta, c.f32(), ldc);
    EXPECT_TRUE(close(c, {m, ldc}, want)) << "transA " << ta << " transB " << tb << " m" << m << " n" << n << " k" << k;
  }
}

TEST(ComputeKernels, Im2colOfAPixelRangeMatchesDefinition) {
  std::mt19937 rng(5);
  for (int t = 0; t < 60; ++t) {
    Conv2dGeometry g;
    g.in_channels = pick(rng, 1, 3);
    g.in_h = pick(rng, 3, 9);
    g.in_w = pick(rng, 3, 9);
    g.kernel_h = pick(rng, 1, 3);
    g.kernel_w = pick(rng, 1, 3);
    g.stride_h = pick(rng, 1, 2);
    g.stride_w = pick(rng, 1, 3);
    g.dilation_h = pick(rng, 1, 2);
    g.dilation_w = pick(rng, 1, 2);
    g.pad_top = pick(rng, 0, 2);
    g.pad_left = pick(rng, 0, 2);
    g.out_h = (g.in_h + 2 * g.pad_top - (g.kernel_h - 1) * g.dilation_h - 1) / g.stride_h + 1;
    g.out_w = (g.in_w + 2 * g.pad_left - (g.kernel_w - 1) * g.dilation_w - 1) / g.stride_w + 1;
    if (g.out_h < 1 || g.out_w < 1) continue;
    Tensor image = random_tensor({g.in_channels, g.in_h, g.in_w}, rng);
    const int64_t p0 = pick(rng, 0, g.out_plane() - 1), p1 = pick(rng, p0 + 1, g.out_plane());
    Tensor columns({g.patch_size(), p1 - p0});
    im2col(g, image.f32(), p0, p1, columns.f32());
    std::vector<double> want;
    for (int64_t c = 0; c < g.in_channels; ++c)
      for (int64_t i = 0; i < g.kernel_h; ++i)
        for (int64_t j = 0; j < g.kernel_w; ++j)
          for (int64_t p = p0; p < p1; ++p) {
            const int64_t ih = (p / g.out_w) * g.stride_h - g.pad_top + i * g.dilation_h;
            const int64_t iw = (p % g.out_w) * g.stride_w - g.pad_left + j * g.dilation_w;
            const bool inside = ih >= 0 && ih < g.in_h && iw >= 0 && iw < g.in_w;
            want.push_back(inside ? image.f32()[(c * g.in_h + ih) * g.in_w + iw] : 0.0);
          }
    EXPECT_TRUE(close(columns, {g.patch_size(), p1 - p0}, want)) << "case " << t;
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling

struct PoolCase : WindowCase {
  bool max = true, ceil_mode = false, include_pad = false;
  int64_t batch = 1, channels = 1;

  std::string describe() const {
    std::ostringstream s;
    s << (max ? "MaxPool" : "AveragePool") << (one_d ? " 1-D" : " 2-D") << " in " << in_h << "x" << in_w << " k "
      << k_h << "x" << k_w << " s " << s_h << "," << s_w << " d " << d_h << "," << d_w << " pads " << pt << "," << pl
      << "," << pb << "," << pr << " " << auto_pad << (ceil_mode ? " ceil" : "") << (include_pad ? " incl-pad" : "");
    return s.str();
  }
};

std::vector<double> naive_pool(const PoolCase& c, const Tensor& x, Shape& shape) {
  Axis ah, aw;
  c.axes(c.ceil_mode, ah, aw);
  shape = c.one_d ? Shape{c.batch, c.channels, aw.out} : Shape{c.batch, c.channels, ah.out, aw.out};
  std::vector<double> y;
  for (int64_t p = 0; p < c.batch * c.channels; ++p)
    for (int64_t oh = 0; oh < ah.out; ++oh)
      for (int64_t ow = 0; ow < aw.out; ++ow) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0;
        int64_t inside = 0, in_padded = 0;
        for (int64_t i = 0; i < ah.kernel; ++i)
          for (int64_t j = 0; j < aw.kernel; ++j) {
            const int64_t ih = oh * ah.stride - ah.pad_begin + i * ah.dilation;
            const int64_t iw = ow * aw.stride - aw.pad_begin + j * aw.dilation;
            // A tap in the padded extent counts with count_include_pad; past it (a ceil_mode
            // window hanging over the end) it never counts.
            if (ih >= -ah.pad_begin && ih < ah.in + ah.pad_end && iw >= -aw.pad_begin && iw < aw.in + aw.pad_end)
              ++in_padded;
            if (ih < 0 || ih >= ah.in || iw < 0 || iw >= aw.in) continue;
            const double v = x.f32()[(p * ah.in + ih) * aw.in + iw];
            best = std::max(best, v);
            sum += v;
            ++inside;
          }
        const int64_t divisor = c.include_pad ? in_padded : inside;
        y.push_back(c.max ? best : divisor ? sum / static_cast<double>(divisor) : 0.0);
      }
  return y;
}

void check_pool(const PoolCase& c, std::mt19937& rng) {
  Shape xs = c.one_d ? Shape{c.batch, c.channels, c.in_w} : Shape{c.batch, c.channels, c.in_h, c.in_w};
  Tensor x = random_tensor(xs, rng);
  Attributes attrs;
  attrs.set("kernel_shape", c.per_axis(c.k_h, c.k_w));
  c.set_window_attrs(attrs);
  if (c.ceil_mode) attrs.set("ceil_mode", int64_t{1});
  if (!c.max) attrs.set("count_include_pad", int64_t{c.include_pad ? 1 : 0});
  Tensor got = run_op(c.max ? "MaxPool" : "AveragePool", {var(x)}, attrs).at(0);
  Shape shape;
  std::vector<double> want = naive_pool(c, x, shape);
  EXPECT_TRUE(close(got, shape, want)) << c.describe();
}

PoolCase random_pool(std::mt19937& rng, bool max, bool one_d) {
  PoolCase c;
  c.max = max;
  c.one_d = one_d;
  c.batch = pick(rng, 1, 2);
  c.channels = pick(rng, 1, 4);
  c.k_w = pick(rng, 1, 4);
  c.s_w = pick(rng, 1, 3);
  c.d_w = pick(rng, 1, 2);
  // Padding smaller than the kernel, as PyTorch requires; ONNX leaves it open.
  c.pl = pick(rng, 0, c.k_w - 1);
  c.pr = pick(rng, 0, c.k_w - 1);
  if (!one_d) {
    c.k_h = pick(rng, 1, 4);
    c.s_h = pick(rng, 1, 3);
    c.d_h = pick(rng, 1, 2);
    c.pt = pick(rng, 0, c.k_h - 1);
    c.pb = pick(rng, 0, c.k_h - 1);
  }
  c.in_w = (c.k_w - 1) * c.d_w + 1 + pick(rng, 0, 8);
  c.in_h = one_d ? 1 : (c.k_h - 1) * c.d_h + 1 + pick(rng, 0, 8);
  const int64_t mode = pick(rng, 0, 9);
  c.auto_pad = mode < 7 ? "NOTSET" : mode == 7 ? "VALID" : mode == 8 ? "SAME_UPPER" : "SAME_LOWER";
  c.ceil_mode = pick(rng, 0, 1) == 1;
  c.include_pad = pick(rng, 0, 1) == 1;
  return c;
}

TEST(ComputeOps, PoolsMatchNaiveOverRandomParameters) {
  std::mt19937 rng(11);
  for (int t = 0; t < 200; ++t) {
    check_pool(random_pool(rng, true, false), rng);
    check_pool(random_pool(rng, false, false), rng);
  }
  for (int t = 0; t < 80; ++t) {
    check_pool(random_pool(rng, true, true), rng);
    check_pool(random_pool(rng, false, true), rng);
  }
}

TEST(ComputeOps, PoolsOnLargePlanesUseAllThreadsCorrectly) {
  std::mt19937 rng(12);
  PoolCase c;  // ResNet stem max pool
  c.batch = 2, c.channels = 16, c.in_h = c.in_w = 112, c.k_h = c.k_w = 3, c.s_h = c.s_w = 2;
  c.pt = c.pl = c.pb = c.pr = 1;
  check_pool(c, rng);
  c.max = false;
  c.include_pad = true;
  c.ceil_mode = true;
  check_pool(c, rng);
}

// Values worked out by hand with PyTorch's rules (avg_pool1d / max_pool1d, ceil_mode=True).
TEST(ComputeOps, PoolCeilModeFollowsThePyTorchRule) {
  Tensor x = Tensor::from_floats({1, 1, 5}, {1, 2, 3, 4, 5});
  Attributes a;
  a.set("kernel_shape", std::vector<int64_t>{2});
  a.set("strides", std::vector<int64_t>{2});
  a.set("ceil_mode", int64_t{1});
  Tensor mx = run_op("MaxPool", {var(x)}, a).at(0);
  EXPECT_TRUE(close(mx, {1, 1, 3}, {2, 4, 5}));
  Tensor avg = run_op("AveragePool", {var(x)}, a).at(0);
  EXPECT_TRUE(close(avg, {1, 1, 3}, {1.5, 3.5, 5}));

  // Padding 1: the last window [3, 5) covers input 3 and end padding 4; with count_include_pad
  // the divisor counts the padding (2), not the full kernel (3).
  Tensor x4 = Tensor::from_floats({1, 1, 4}, {1, 2, 3, 4});
  Attributes p;
  p.set("kernel_shape", std::vector<int64_t>{3});
  p.set("strides", std::vector<int64_t>{2});
  p.set("pads", std::vector<int64_t>{1, 1});
  p.set("ceil_mode", int64_t{1});
  p.set("count_include_pad", int64_t{1});
  EXPECT_TRUE(close(run_op("AveragePool", {var(x4)}, p).at(0), {1, 1, 3}, {1.0, 3.0, 2.0}));
  p.set("count_include_pad", int64_t{0});
  EXPECT_TRUE(close(run_op("AveragePool", {var(x4)}, p).at(0), {1, 1, 3}, {1.5, 3.0, 4.0}));

  // A window that would start in the end padding is dropped: 5 + 1 + 1 padded, kernel 2,
  // stride 2 gives ceil(5 / 2) + 1 = 4 windows, the last starting at 6 >= 5 + 1.
  Attributes d;
  d.set("kernel_shape", std::vector<int64_t>{2});
  d.set("strides", std::vector<int64_t>{2});
  d.set("pads", std::vector<int64_t>{1, 1});
  d.set("ceil_mode", int64_t{1});
  EXPECT_TRUE(close(run_op("MaxPool", {var(x)}, d).at(0), {1, 1, 3}, {1, 3, 5}));
}

TEST(ComputeOps, PoolErrorsAreBadInput) {
  std::mt19937 rng(13);
  Attributes k;
  k.set("kernel_shape", std::vector<int64_t>{2, 2});
  EXPECT_THROW(run_op("MaxPool", {var(random_tensor({1, 1, 4, 4}, rng))}, k, {true, true}), BadInput);
  // An omitted Indices output is fine.
  EXPECT_EQ(run_op("MaxPool", {var(random_tensor({1, 1, 4, 4}, rng))}, k, {true, false}).at(0).shape(),
            (Shape{1, 1, 3, 3}));
  EXPECT_THROW(run_op("MaxPool", {var(random_tensor({1, 1, 4, 4}, rng))}, Attributes()), BadInput);
  Attributes k3;
  k3.set("kernel_shape", std::vector<int64_t>{2, 2, 2});
  try {
    run_op("AveragePool", {var(random_tensor({1, 1, 4, 4, 4}, rng))}, k3, {true}, 17, "pool3d");
    ADD_FAILURE() << "3-D pooling accepted";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("pool3d"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("3-D pooling not supported"), std::string::npos) << e.what();
  }
  Attributes big;
  big.set("kernel_shape", std::vector<int64_t>{5, 5});
  EXPECT_THROW(run_op("MaxPool", {var(random_tensor({1, 1, 4, 4}, rng))}, big), BadInput);
}

TEST(ComputeOps, GlobalPoolsMatchNaive) {
  std::mt19937 rng(17);
  for (const Shape& shape : {Shape{2, 3, 7}, Shape{2, 5, 7, 7}, Shape{1, 4, 3, 2, 5}, Shape{3, 64, 14, 14}}) {
    Tensor x = random_tensor(shape, rng);
    const int64_t planes = shape[0] * shape[1], plane = x.size() / planes;
    std::vector<double> mean, best;
    for (int64_t p = 0; p < planes; ++p) {
      double s = 0, m = -std::numeric_limits<double>::infinity();
      for (int64_t i = 0; i < plane; ++i) {
        s += x.f32()[p * plane + i];
        m = std::max<double>(m, x.f32()[p * plane + i]);
      }
      mean.push_back(s / static_cast<double>(plane));
      best.push_back(m);
    }
    Shape out(shape.size(), 1);
    out[0] = shape[0];
    out[1] = shape[1];
    EXPECT_TRUE(close(run_op("GlobalAveragePool", {var(x)}, Attributes()).at(0), out, mean)) << shape_string(shape);
    EXPECT_TRUE(close(run_op("GlobalMaxPool", {var(x)}, Attributes()).at(0), out, best)) << shape_string(shape);
  }
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization and LRN

TEST(ComputeOps, BatchNormalizationMatchesFormulaForAnyRank) {
  std::mt19937 rng(19);
  for (const Shape& shape : {Shape{4, 3}, Shape{2, 5, 9}, Shape{2, 4, 6, 7}, Shape{1, 3, 2, 3, 4}, Shape{2, 32, 20, 20}}) {
    const int64_t c = shape[1];
    Tensor x = random_tensor(shape, rng), scale = random_tensor({c}, rng), bias = random_tensor({c}, rng);
    Tensor mean = random_tensor({c}, rng), variance = random_tensor({c}, rng);
    for (int64_t i = 0; i < c; ++i) variance.f32()[i] = std::fabs(variance.f32()[i]) + 0.1f;
    Attributes attrs;
    attrs.set("epsilon", 1e-3f);
    const int64_t plane = x.size() / (shape[0] * c);
    std::vector<double> want;
    for (int64_t i = 0; i < x.size(); ++i) {
      const int64_t ch = (i / plane) % c;
      want.push_back(scale.f32()[ch] * (x.f32()[i] - mean.f32()[ch]) / std::sqrt(variance.f32()[ch] + 1e-3) +
                     bias.f32()[ch]);
    }
    Tensor got = run_op("BatchNormalization",
                        {var(x), constant(scale), constant(bias), constant(mean), constant(variance)}, attrs)
                     .at(0);
    EXPECT_TRUE(close(got, shape, want)) << shape_string(shape);
  }
}

TEST(ComputeOps, BatchNormalizationOpset7NonSpatial) {
  std::mt19937 rng(23);
  const Shape shape = {2, 3, 4, 5};
  Tensor x = random_tensor(shape, rng), scale = random_tensor({3, 4, 5}, rng), bias = random_tensor({3, 4, 5}, rng);
  Tensor mean = random_tensor({3, 4, 5}, rng), variance = random_tensor({3, 4, 5}, rng);
  for (int64_t i = 0; i < variance.size(); ++i) variance.f32()[i] = std::fabs(variance.f32()[i]) + 0.1f;
  Attributes attrs;
  attrs.set("spatial", int64_t{0});
  std::vector<double> want;
  for (int64_t i = 0; i < x.size(); ++i) {
    const int64_t e = i % 60;  // (channel, position) of the element
    want.push_back(scale.f32()[e] * (x.f32()[i] - mean.f32()[e]) / std::sqrt(variance.f32()[e] + 1e-5) +
                   bias.f32()[e]);
  }
  Tensor got = run_op("BatchNormalization",
                      {var(x), constant(scale), constant(bias), constant(mean), constant(variance)}, attrs, {true}, 7)
                   .at(0);
  EXPECT_TRUE(close(got, shape, want));
}

TEST(ComputeOps, BatchNormalizationRejectsTrainingAndBadParameters) {
  std::mt19937 rng(29);
  Tensor x = random_tensor({1, 3, 4, 4}, rng), p3 = random_tensor({3}, rng), p4 = random_tensor({4}, rng);
  std::vector<Input> ins = {var(x), constant(p3), constant(p3), constant(p3), constant(p3)};
  EXPECT_THROW(run_op("BatchNormalization", ins, Attributes(), {true, true, true}), BadInput);
  Attributes training;
  training.set("training_mode", int64_t{1});
  EXPECT_THROW(run_op("BatchNormalization", ins, training), BadInput);
  // Omitted statistics outputs are fine.
  EXPECT_EQ(run_op("BatchNormalization", ins, Attributes(), {true, false, false}).at(0).shape(), x.shape());
  try {
    run_op("BatchNormalization", {var(x), constant(p3), constant(p4), constant(p3), constant(p3)}, Attributes(), {true},
           15, "bn_bad");
    ADD_FAILURE() << "bias of the wrong length accepted";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("bn_bad"), std::string::npos) << e.what();
  }
}

TEST(ComputeOps, LRNMatchesFormula) {
  std::mt19937 rng(31);
  for (int64_t size : {1, 2, 3, 4, 5, 6}) {
    for (const Shape& shape : {Shape{2, 7, 3, 4}, Shape{1, 3, 5}, Shape{1, 16, 9, 9}}) {
      Tensor x = random_tensor(shape, rng);
      const float alpha = 0.02f, beta = 0.75f, bias = 2.0f;
      Attributes attrs;
      attrs.set("size", size);
      attrs.set("alpha", alpha);
      attrs.set("beta", beta);
      attrs.set("bias", bias);
      const int64_t c = shape[1], plane = x.size() / (shape[0] * c);
      std::vector<double> want;
      for (int64_t i = 0; i < x.size(); ++i) {
        const int64_t n = i / (c * plane), ch = (i / plane) % c, pos = i % plane;
        double sq = 0;
        const int64_t lo = ch - (size - 1) / 2, hi = ch + size / 2;  // floor, ceil of (size-1)/2
        for (int64_t k = std::max<int64_t>(0, lo); k <= std::min(c - 1, hi); ++k) {
          const double v = x.f32()[(n * c + k) * plane + pos];
          sq += v * v;
        }
        want.push_back(x.f32()[i] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta));
      }
      EXPECT_TRUE(close(run_op("LRN", {var(x)}, attrs).at(0), shape, want))
          << "size " << size << " " << shape_string(shape);
    }
  }
  EXPECT_THROW(run_op("LRN", {var(Tensor::zeros({1, 3, 2, 2}))}, Attributes()), BadInput);  // size is required
}

// ---------------------------------------------------------------------------------------------
// Gemm and MatMul

TEST(ComputeOps, GemmMatchesNaiveWithBroadcastC) {
  std::mt19937 rng(37);
  for (int t = 0; t < 80; ++t) {
    const int64_t m = pick(rng, 1, 40), n = pick(rng, 1, 40), k = pick(rng, 1, 40);
    const bool ta = pick(rng, 0, 1), tb = pick(rng, 0, 1);
    const float alpha = t % 3 == 0 ? 1.0f : 0.7f, beta = t % 4 == 0 ? 1.0f : t % 4 == 1 ? 0.0f : -1.3f;
    const std::vector<Shape> c_shapes = {{}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}, {1}};
    const int64_t ci = pick(rng, -1, static_cast<int64_t>(c_shapes.size()) - 1);  // -1: no C
    Tensor a = random_tensor(ta ? Shape{k, m} : Shape{m, k}, rng);
    Tensor b = random_tensor(tb ? Shape{n, k} : Shape{k, n}, rng);
    Tensor c = ci >= 0 ? random_tensor(c_shapes[static_cast<std::size_t>(ci)], rng) : Tensor();
    Attributes attrs;
    attrs.set("alpha", alpha);
    attrs.set("beta", beta);
    attrs.set("transA", int64_t{ta});
    attrs.set("transB", int64_t{tb});
    std::vector<double> want;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t p = 0; p < k; ++p)
          sum += static_cast<double>(ta ? a.f32()[p * m + i] : a.f32()[i * k + p]) *
                 (tb ? b.f32()[j * k + p] : b.f32()[p * n + j]);
        double cv = 0;
        if (ci >= 0) {
          const Shape& cs = c.shape();
          const int64_t rows = cs.size() == 2 ? cs[0] : 1, cols = cs.empty() ? 1 : cs.back();
          cv = c.f32()[(rows == 1 ? 0 : i) * cols + (cols == 1 ? 0 : j)];
        }
        want.push_back(alpha * sum + beta * cv);
      }
    std::vector<Input> ins = {var(a), constant(b)};
    if (ci >= 0) ins.push_back(constant(c));
    EXPECT_TRUE(close(run_op("Gemm", ins, attrs).at(0), {m, n}, want))
        << "m" << m << " n" << n << " k" << k << " ta" << ta << " tb" << tb << " C " << ci;
  }
  // Opset 11+: C omitted explicitly.
  Tensor a = random_tensor({2, 3}, rng), b = random_tensor({3, 4}, rng);
  EXPECT_EQ(run_op("Gemm", {var(a), constant(b), omitted()}, Attributes()).at(0).shape(), (Shape{2, 4}));
}

TEST(ComputeOps, GemmRejectsMismatchedShapes) {
  std::mt19937 rng(41);
  try {
    run_op("Gemm", {var(random_tensor({2, 3}, rng)), constant(random_tensor({4, 5}, rng))}, Attributes(), {true}, 13,
           "fc_bad");
    ADD_FAILURE() << "inner mismatch accepted";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("fc_bad"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run_op("Gemm",
                      {var(random_tensor({2, 3}, rng)), constant(random_tensor({3, 5}, rng)),
                       constant(random_tensor({3, 5}, rng))},
                      Attributes()),
               BadInput);
  EXPECT_THROW(run_op("Gemm", {var(random_tensor({2, 3, 1}, rng)), constant(random_tensor({3, 5}, rng))}, Attributes()),
               BadInput);
}

// numpy.matmul, element by element.
std::vector<double> naive_matmul(const Tensor& a, const Tensor& b, Shape& shape) {
  Shape as = a.shape(), bs = b.shape();
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  const std::size_t rank = std::max(as.size(), bs.size()) - 2;
  Shape ab(rank, 1), bb(rank, 1), batch(rank);
  std::copy(as.begin(), as.end() - 2, ab.begin() + static_cast<std::ptrdiff_t>(rank - (as.size() - 2)));
  std::copy(bs.begin(), bs.end() - 2, bb.begin() + static_cast<std::ptrdiff_t>(rank - (bs.size() - 2)));
  for (std::size_t d = 0; d < rank; ++d) batch[d] = std::max(ab[d], bb[d]);
  shape = batch;
  if (!a_vec) shape.push_back(m);
  if (!b_vec) shape.push_back(n);
  std::vector<double> y;
  const int64_t count = element_count(batch);
  for (int64_t bi = 0; bi < count; ++bi) {
    int64_t rest = bi, ao = 0, bo = 0, a_mul = 1, b_mul = 1;
    for (std::size_t d = rank; d-- > 0;) {
      const int64_t idx = rest % batch[d];
      rest /= batch[d];
      ao += (ab[d] == 1 ? 0 : idx) * a_mul;
      bo += (bb[d] == 1 ? 0 : idx) * b_mul;
      a_mul *= ab[d];
      b_mul *= bb[d];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t p = 0; p < k; ++p)
          sum += static_cast<double>(a.f32()[ao * m * k + i * k + p]) * b.f32()[bo * k * n + p * n + j];
        y.push_back(sum);
      }
  }
  return y;
}

TEST(ComputeOps, MatMulFollowsNumpySemantics) {
  std::mt19937 rng(43);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{5}, {5}},          {{5}, {5, 3}},          {{4, 5}, {5}},          {{4, 5}, {5, 3}},
      {{2, 4, 5}, {5, 3}}, {{4, 5}, {2, 5, 3}},    {{2, 1, 4, 5}, {3, 5, 6}}, {{3, 2, 4, 5}, {3, 2, 5, 6}},
      {{1, 4, 5}, {6, 5, 2}}, {{7, 5}, {3, 5}},    {{2, 3, 5}, {5}},       {{5}, {4, 5, 2}},
      {{8, 64, 48}, {8, 48, 40}}, {{128, 96}, {96, 80}},
  };
  for (const auto& [sa, sb] : cases) {
    Tensor a = random_tensor(sa, rng), b = random_tensor(sb, rng);
    if (sa.back() != (sb.size() == 1 ? sb[0] : sb[sb.size() - 2])) {
      EXPECT_THROW(run_op("MatMul", {var(a), var(b)}, Attributes()), BadInput)
          << shape_string(sa) << " @ " << shape_string(sb);
      continue;
    }
    Shape shape;
    std::vector<double> want = naive_matmul(a, b, shape);
    EXPECT_TRUE(close(run_op("MatMul", {var(a), constant(b)}, Attributes()).at(0), shape, want))
        << shape_string(sa) << " @ " << shape_string(sb);
  }
  EXPECT_THROW(run_op("MatMul", {var(random_tensor({2, 4, 5}, rng)), var(random_tensor({3, 5, 2}, rng))}, Attributes()),
               BadInput);
}

}  // namespace
}  // namespace coda
