// Backward passes (kernels/grad_*.cpp) against central finite differences: for a fixed random R,
// the loss L = sum(Y * R) is evaluated with each input element moved by +-eps, and
// (L+ - L-) / 2 eps must match the analytic gradient within 1% (plus a small absolute floor for
// float rounding). Every op and parameter combination the trainer relies on is covered on small
// shapes; the convolution is also checked on larger shapes, at several thread counts, against
// naive double-precision loops (they exercise the tiled, packed and multi-threaded paths), and
// the backward passes must be bit-reproducible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/autograd.h"
#include "kernels/conv_kernels.h"
#include "kernels/error.h"
#include "kernels/graph.h"
#include "kernels/op.h"
#include "kernels/parallel.h"
#include "kernels/tensor.h"

namespace coda {
namespace {

// ---------------------------------------------------------------------------------------------
// Harness: one node run directly through its GradKernel.

struct Spec {
  std::string op;
  Attributes attrs;
  int opset = 17;
  std::vector<Tensor> inputs;  // an empty tensor is an omitted optional input
  std::vector<int> check;      // inputs whose gradient is checked
  int outputs = 1;             // output slots of the node
};

Node make_node(const Spec& s) {
  Node node;
  node.name = s.op + "_under_test";
  node.op_type = s.op;
  node.attrs = s.attrs;
  node.opset = s.opset;
  for (std::size_t i = 0; i < s.inputs.size(); ++i) node.inputs.push_back(s.inputs[i].empty() ? -1 : static_cast<int>(i));
  for (int o = 0; o < s.outputs; ++o) node.outputs.push_back(static_cast<int>(s.inputs.size()) + o);
  return node;
}

std::vector<const Tensor*> pointers(const std::vector<Tensor>& tensors) {
  std::vector<const Tensor*> p;
  for (const Tensor& t : tensors) p.push_back(t.empty() ? nullptr : &t);
  return p;
}

struct Forward {
  std::vector<Tensor> outputs;
  std::vector<Tensor> saved;
};

// Runs forward_train on `inputs`; inputs the op updates (batch norm statistics) are updated in
// place when `update` is set, left alone otherwise.
Forward forward(const Node& node, std::vector<Tensor>& inputs, bool update) {
  std::vector<TensorInfo> infos;
  for (const Tensor& t : inputs) infos.push_back(TensorInfo{t.shape(), t.dtype()});
  std::vector<const TensorInfo*> info_ptrs;
  for (std::size_t i = 0; i < inputs.size(); ++i) info_ptrs.push_back(inputs[i].empty() ? nullptr : &infos[i]);
  const std::vector<const Tensor*> in = pointers(inputs);
  const std::vector<TensorInfo> out_infos = require_op(node).infer(InferContext(node, info_ptrs, in));
  Forward f;
  std::vector<Tensor*> out;
  for (std::size_t o = 0; o < node.outputs.size(); ++o) f.outputs.emplace_back(out_infos.at(o).shape, out_infos.at(o).dtype);
  for (Tensor& t : f.outputs) out.push_back(&t);
  const GradKernel* grad = find_grad(node.op_type);
  if (!grad) throw BadInput("no gradient registered for " + node.op_type);
  std::vector<Tensor*> mutable_inputs(inputs.size(), nullptr);
  if (update)
    for (int i : grad->updated_inputs()) mutable_inputs[static_cast<std::size_t>(i)] = &inputs[static_cast<std::size_t>(i)];
  grad->forward_train(TrainForwardContext(node, in, mutable_inputs, out, f.saved));
  return f;
}

// Input gradients (empty tensors for inputs not in `wanted`) for output gradient `dy`.
std::vector<Tensor> backward(const Node& node, const std::vector<Tensor>& inputs, const Forward& f, const Tensor& dy,
                             const std::vector<int>& wanted) {
  std::vector<Tensor> grads(inputs.size());
  std::vector<Tensor*> grad_ptrs(inputs.size(), nullptr);
  for (int i : wanted) {
    const auto u = static_cast<std::size_t>(i);
    grads[u] = Tensor::filled(inputs[u].shape(), std::nanf(""));  // must be overwritten
    grad_ptrs[u] = &grads[u];
  }
  find_grad(node.op_type)
      ->backward(BackwardContext(node, pointers(inputs), pointers(f.outputs), {&dy}, grad_ptrs, f.saved));
  return grads;
}

double weighted_sum(const Tensor& y, const Tensor& r) {
  double s = 0.0;
  for (int64_t i = 0; i < y.size(); ++i) s += static_cast<double>(y.f32()[i]) * r.f32()[i];
  return s;
}

Tensor random_tensor(const Shape& shape, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t(shape);
  for (int64_t i = 0; i < t.size(); ++i) t.f32()[i] = dist(rng);
  return t;
}

// Values spaced 0.01 apart in random order: a +-1e-3 perturbation never changes which element of
// a window is the largest, so max pooling is differentiable at every test point.
Tensor distinct_tensor(const Shape& shape, std::mt19937& rng) {
  Tensor t(shape);
  std::vector<int64_t> order(static_cast<std::size_t>(t.size()));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t i = 0; i < t.size(); ++i)
    t.f32()[i] = 0.01f * static_cast<float>(order[static_cast<std::size_t>(i)]) - 0.005f * static_cast<float>(t.size());
  return t;
}

// Random values at least `gap` away from every kink.
Tensor away_from(const Shape& shape, std::mt19937& rng, float lo, float hi, const std::vector<float>& kinks,
                 float gap = 0.05f) {
  Tensor t = random_tensor(shape, rng, lo, hi);
  for (int64_t i = 0; i < t.size(); ++i)
    for (float k : kinks) {
      float& v = t.f32()[i];
      if (std::fabs(v - k) < gap) v = v < k ? k - gap : k + gap;
    }
  return t;
}

// Restores the default thread count when a test changes it.
struct ThreadGuard {
  ~ThreadGuard() { set_thread_count(0); }
};

// Checks every input in spec.check (all elements, or a random subset of `max_elements` for big
// tensors) against central differences. Returns the analytic gradients.
std::vector<Tensor> check_gradients(const Spec& spec, unsigned seed = 1, double eps = 1e-3,
                                    int64_t max_elements = 400) {
  // Offset from the seeds callers draw inputs with: an R equal to (a function of) the input can
  // make a gradient vanish (batch norm's does for R affine in x).
  std::mt19937 rng(seed + 7919);
  const Node node = make_node(spec);
  std::vector<Tensor> inputs;
  for (const Tensor& t : spec.inputs) inputs.push_back(t.empty() ? Tensor() : t.clone());
  const Forward f = forward(node, inputs, false);
  const Tensor r = random_tensor(f.outputs[0].shape(), rng);
  const std::vector<Tensor> grads = backward(node, inputs, f, r, spec.check);
  // The many tiny forward passes run on one thread: fork/join costs more than they do, and on a
  // loaded machine a parallel region waits for every thread to be scheduled.
  ThreadGuard guard;
  set_thread_count(1);
  for (int i : spec.check) {
    const auto u = static_cast<std::size_t>(i);
    const int64_t n = inputs[u].size();
    std::vector<int64_t> elements(static_cast<std::size_t>(n));
    std::iota(elements.begin(), elements.end(), 0);
    if (n > max_elements) {
      std::shuffle(elements.begin(), elements.end(), rng);
      elements.resize(static_cast<std::size_t>(max_elements));
    }
    std::vector<double> numeric;
    for (int64_t e : elements) {
      float& x = inputs[u].f32()[e];
      const float original = x;
      x = static_cast<float>(original + eps);
      const double step_up = static_cast<double>(x) - original;  // the step float can represent
      const double up = weighted_sum(forward(node, inputs, false).outputs[0], r);
      x = static_cast<float>(original - eps);
      const double step_down = original - static_cast<double>(x);
      const double down = weighted_sum(forward(node, inputs, false).outputs[0], r);
      x = original;
      numeric.push_back((up - down) / (step_up + step_down));
    }
    double scale = 0.0;
    for (double v : numeric) scale = std::max(scale, std::fabs(v));
    EXPECT_GT(scale, 1e-3) << spec.op << " input " << i << ": the loss does not depend on it (vacuous check)";
    const double floor = 3e-3 * std::max(scale, 0.1);
    int failures = 0;
    for (std::size_t k = 0; k < elements.size(); ++k) {
      const double analytic = grads[u].f32()[elements[k]];
      const double want = numeric[k];
      if (!(std::fabs(analytic - want) <= 1e-2 * std::fabs(want) + floor) && failures++ < 5)
        ADD_FAILURE() << spec.op << " input " << i << " element " << elements[k] << ": analytic " << analytic
                      << ", finite difference " << want;
    }
    EXPECT_EQ(failures, 0) << spec.op << " input " << i << ": " << failures << " of " << elements.size()
                           << " elements differ";
  }
  return grads;
}

Attributes attrs_of(std::initializer_list<std::pair<std::string, AttrValue>> list) {
  Attributes a;
  for (const auto& [name, value] : list) a.set(name, value);
  return a;
}

using Ints = std::vector<int64_t>;

// ---------------------------------------------------------------------------------------------
// Conv

struct ConvParams {
  int64_t batch = 2, cin = 3, cout = 4, groups = 1;
  Shape spatial = {6, 6};
  Ints kernel = {3, 3}, strides, dilations, pads;
  std::string auto_pad;
  bool bias = true;
};

Spec conv_spec(const ConvParams& p, std::mt19937& rng) {
  Spec s;
  s.op = "Conv";
  if (p.groups != 1) s.attrs.set("group", p.groups);
  if (!p.strides.empty()) s.attrs.set("strides", p.strides);
  if (!p.dilations.empty()) s.attrs.set("dilations", p.dilations);
  if (!p.pads.empty()) s.attrs.set("pads", p.pads);
  if (!p.auto_pad.empty()) s.attrs.set("auto_pad", p.auto_pad);
  Shape x = {p.batch, p.cin};
  x.insert(x.end(), p.spatial.begin(), p.spatial.end());
  Shape w = {p.cout, p.cin / p.groups};
  w.insert(w.end(), p.kernel.begin(), p.kernel.end());
  s.inputs = {random_tensor(x, rng), random_tensor(w, rng)};
  s.check = {0, 1};
  if (p.bias) {
    s.inputs.push_back(random_tensor({p.cout}, rng));
    s.check.push_back(2);
  }
  return s;
}

void check_conv(const ConvParams& p, unsigned seed) {
  std::mt19937 rng(seed);
  check_gradients(conv_spec(p, rng), seed);
}

TEST(Gradients, ConvBasic3x3WithBias) { check_conv({}, 1); }

TEST(Gradients, ConvStride2AsymmetricPadsNoBias) {
  ConvParams p;
  p.spatial = {7, 6};
  p.strides = {2, 2};
  p.pads = {0, 1, 1, 0};
  p.bias = false;
  check_conv(p, 2);
}

TEST(Gradients, ConvDilated) {
  ConvParams p;
  p.spatial = {7, 7};
  p.dilations = {2, 2};
  p.pads = {2, 1, 2, 1};
  check_conv(p, 3);
}

TEST(Gradients, ConvRectangularKernelMixedStridesAndDilations) {
  ConvParams p;
  p.spatial = {7, 8};
  p.kernel = {2, 3};
  p.strides = {2, 1};
  p.dilations = {1, 2};
  p.pads = {1, 0, 0, 2};
  check_conv(p, 4);
}

// With 16 or more input channels per group and unit strides the input gradient is computed as a
// transposed convolution; with fewer, through col2im.
TEST(Gradients, ConvManyInputChannels) {
  ConvParams p;
  p.batch = 1;
  p.cin = 16;
  p.spatial = {5, 5};
  p.pads = {1, 0, 2, 1};
  check_conv(p, 18);
  p.cin = 32;
  p.groups = 2;
  p.dilations = {2, 1};
  p.pads = {2, 1, 1, 1};
  check_conv(p, 19);
}

TEST(Gradients, ConvGrouped) {
  ConvParams p;
  p.cin = 4;
  p.cout = 6;
  p.groups = 2;
  check_conv(p, 5);
  p.strides = {2, 2};
  p.pads = {1, 1, 1, 1};
  check_conv(p, 6);
}

TEST(Gradients, ConvDepthwise) {
  ConvParams p;
  p.cin = 4;
  p.cout = 4;
  p.groups = 4;
  p.pads = {1, 1, 1, 1};
  check_conv(p, 7);  // unit stride: the transposed depthwise convolution
  p.strides = {2, 2};
  p.pads = {0, 1, 1, 0};
  check_conv(p, 8);  // strided: the direct scatter
}

TEST(Gradients, ConvDepthwiseWithChannelMultiplier) {
  ConvParams p;
  p.cin = 3;
  p.cout = 6;
  p.groups = 3;
  p.pads = {1, 1, 1, 1};
  check_conv(p, 9);
  p.strides = {2, 1};
  p.dilations = {1, 2};
  check_conv(p, 10);
}

TEST(Gradients, ConvPointwise) {
  ConvParams p;
  p.kernel = {1, 1};
  check_conv(p, 11);
  p.strides = {2, 2};
  check_conv(p, 12);
  // Padding wider than the kernel reach: not expressible as a transposed convolution.
  p.strides = {1, 1};
  p.pads = {1, 1, 1, 1};
  check_conv(p, 13);
}

TEST(Gradients, ConvAutoPadSame) {
  ConvParams p;
  p.spatial = {6, 5};
  p.strides = {2, 2};
  p.auto_pad = "SAME_UPPER";
  check_conv(p, 14);
  p.auto_pad = "SAME_LOWER";
  p.kernel = {2, 2};
  p.strides = {1, 1};
  check_conv(p, 15);
}

TEST(Gradients, Conv1d) {
  ConvParams p;
  p.spatial = {9};
  p.kernel = {3};
  p.strides = {2};
  p.pads = {1, 2};
  check_conv(p, 16);
  p.strides = {1};
  p.dilations = {2};
  p.groups = 3;
  p.cout = 6;
  check_conv(p, 17);
}

// Naive double-precision backward of a 2-D convolution.
struct NaiveConvGrads {
  std::vector<double> dx, dw, db;
};

NaiveConvGrads naive_conv_backward(const Conv2dGeometry& g, const Tensor& x, const Tensor& w, const Tensor& dy) {
  NaiveConvGrads r;
  r.dx.assign(static_cast<std::size_t>(x.size()), 0.0);
  r.dw.assign(static_cast<std::size_t>(w.size()), 0.0);
  r.db.assign(static_cast<std::size_t>(g.out_channels), 0.0);
  const int64_t cg = g.in_channels / g.groups, mg = g.out_channels / g.groups;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t o = 0; o < g.out_channels; ++o)
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) {
          const double d = dy.f32()[((n * g.out_channels + o) * g.out_h + oh) * g.out_w + ow];
          r.db[static_cast<std::size_t>(o)] += d;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t i = 0; i < g.kernel_h; ++i)
              for (int64_t j = 0; j < g.kernel_w; ++j) {
                const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
                const int64_t iw = ow * g.stride_w - g.pad_left + j * g.dilation_w;
                if (ih < 0 || ih >= g.in_h || iw < 0 || iw >= g.in_w) continue;
                const int64_t xi = ((n * g.in_channels + (o / mg) * cg + c) * g.in_h + ih) * g.in_w + iw;
                const int64_t wi = ((o * cg + c) * g.kernel_h + i) * g.kernel_w + j;
                r.dx[static_cast<std::size_t>(xi)] += d * w.f32()[wi];
                r.dw[static_cast<std::size_t>(wi)] += d * x.f32()[xi];
              }
        }
  return r;
}

::testing::AssertionResult matches(const float* got, const std::vector<double>& want, const char* what) {
  double scale = 0.0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  for (std::size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-4 * (std::fabs(want[i]) + scale)))
      return ::testing::AssertionFailure() << what << " element " << i << ": got " << got[i] << ", want " << want[i];
  return ::testing::AssertionSuccess();
}

Conv2dGeometry geometry(int64_t batch, int64_t cin, int64_t cout, int64_t groups, int64_t h, int64_t w, int64_t k,
                        int64_t stride, int64_t pad, int64_t dilation = 1) {
  Conv2dGeometry g;
  g.batch = batch;
  g.in_channels = cin;
  g.out_channels = cout;
  g.groups = groups;
  g.in_h = h;
  g.in_w = w;
  g.kernel_h = g.kernel_w = k;
  g.stride_h = g.stride_w = stride;
  g.dilation_h = g.dilation_w = dilation;
  g.pad_top = g.pad_left = pad;
  g.out_h = (h + 2 * pad - ((k - 1) * dilation + 1)) / stride + 1;
  g.out_w = (w + 2 * pad - ((k - 1) * dilation + 1)) / stride + 1;
  return g;
}

TEST(Gradients, ConvLargerShapesMatchNaiveLoopsOnSeveralThreadCounts) {
  ThreadGuard guard;
  const std::vector<Conv2dGeometry> cases = {
      geometry(3, 8, 12, 1, 20, 20, 3, 1, 1),   // one 400-pixel plane per GEMM
      geometry(5, 6, 10, 1, 8, 8, 3, 1, 1),     // small planes packed side by side
      geometry(2, 5, 7, 1, 40, 36, 3, 1, 1),    // planes split into pixel tiles
      geometry(4, 8, 8, 1, 17, 15, 3, 2, 1),    // strided: col2im per image
      geometry(1, 6, 9, 1, 30, 30, 3, 2, 1),    // strided, one image: the threads share each plane
      geometry(2, 8, 12, 2, 12, 12, 3, 2, 0),   // strided groups
      geometry(3, 16, 8, 1, 9, 9, 1, 1, 0),     // pointwise
      geometry(2, 16, 12, 1, 13, 11, 3, 1, 1),  // unit stride, 16 channels: the transposed convolution
      geometry(2, 32, 8, 2, 10, 10, 3, 1, 2, 2),  // the same, grouped and dilated
      geometry(2, 12, 12, 12, 20, 20, 3, 1, 1), // depthwise
      geometry(2, 12, 24, 12, 15, 15, 5, 2, 2, 2),
  };
  std::mt19937 rng(21);
  for (int threads : {1, 2, 3}) {
    set_thread_count(threads);
    for (const Conv2dGeometry& g : cases) {
      const Tensor x = random_tensor({g.batch, g.in_channels, g.in_h, g.in_w}, rng);
      const Tensor w = random_tensor({g.out_channels, g.in_channels / g.groups, g.kernel_h, g.kernel_w}, rng);
      const Tensor dy = random_tensor({g.batch, g.out_channels, g.out_h, g.out_w}, rng);
      Tensor dx({g.batch, g.in_channels, g.in_h, g.in_w}), dw(w.shape()), db({g.out_channels});
      conv2d_backward_input(g, dy.f32(), w.f32(), dx.f32());
      conv2d_backward_weights(g, x.f32(), dy.f32(), dw.f32(), db.f32());
      const NaiveConvGrads want = naive_conv_backward(g, x, w, dy);
      const std::string what = "threads " + std::to_string(threads) + ", " + shape_string(x.shape()) + " * " +
                               shape_string(w.shape()) + " stride " + std::to_string(g.stride_h);
      EXPECT_TRUE(matches(dx.f32(), want.dx, "dX")) << what;
      EXPECT_TRUE(matches(dw.f32(), want.dw, "dW")) << what;
      EXPECT_TRUE(matches(db.f32(), want.db, "dB")) << what;
    }
  }
}

TEST(Gradients, Col2imIsTheAdjointOfIm2col) {
  // <im2col(x), c> == <x, col2im(c)> for every geometry: padding, stride, dilation.
  std::mt19937 rng(22);
  for (const Conv2dGeometry& g : {geometry(1, 3, 1, 1, 7, 6, 3, 2, 1), geometry(1, 2, 1, 1, 9, 9, 3, 1, 2, 2)}) {
    const int64_t p0 = 3, p1 = g.out_h * g.out_w;
    const Tensor x = random_tensor({g.in_channels, g.in_h, g.in_w}, rng);
    const Tensor c = random_tensor({g.patch_size(), p1 - p0}, rng);
    Tensor cols({g.patch_size(), p1 - p0});
    im2col(g, x.f32(), p0, p1, cols.f32());
    Tensor back = Tensor::zeros(x.shape());
    col2im(g, c.f32(), p0, p1, back.f32());
    EXPECT_NEAR(weighted_sum(cols, c), weighted_sum(back, x), 1e-4);
  }
}

// ---------------------------------------------------------------------------------------------
// Gemm, MatMul

TEST(Gradients, GemmAllTransposesAndBiasShapes) {
  std::mt19937 rng(30);
  const int64_t m = 3, k = 4, n = 5;
  const std::vector<Shape> c_shapes = {{n}, {1, n}, {m, 1}, {m, n}, {1}, {}};
  int variant = 0;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (std::size_t c = 0; c <= c_shapes.size(); ++c) {
        Spec s;
        s.op = "Gemm";
        s.attrs = attrs_of({{"transA", int64_t{ta}}, {"transB", int64_t{tb}}});
        if (variant % 2) s.attrs.set("alpha", 0.7f);
        if (variant % 3) s.attrs.set("beta", -1.5f);
        s.inputs = {random_tensor(ta ? Shape{k, m} : Shape{m, k}, rng), random_tensor(tb ? Shape{n, k} : Shape{k, n}, rng)};
        s.check = {0, 1};
        if (c < c_shapes.size()) {  // the last variant has no C
          s.inputs.push_back(random_tensor(c_shapes[c], rng));
          s.check.push_back(2);
        }
        SCOPED_TRACE("transA " + std::to_string(ta) + " transB " + std::to_string(tb) + " variant " +
                     std::to_string(variant));
        check_gradients(s, static_cast<unsigned>(variant++));
      }
}

TEST(Gradients, MatMulShapes) {
  std::mt19937 rng(31);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 5}},           // plain
      {{2, 3, 4}, {4, 5}},        // shared B (a linear layer over a sequence)
      {{2, 1, 3, 4}, {3, 4, 2}},  // broadcast batches on both sides
      {{4}, {2, 4, 3}},           // 1-D A, batched B
      {{2, 3, 4}, {4}},           // 1-D B
  };
  for (const auto& [a, b] : cases) {
    Spec s;
    s.op = "MatMul";
    s.inputs = {random_tensor(a, rng), random_tensor(b, rng)};
    s.check = {0, 1};
    SCOPED_TRACE(shape_string(a) + " x " + shape_string(b));
    check_gradients(s, 32);
  }
}

// ---------------------------------------------------------------------------------------------
// Activations

void check_unary(const std::string& op, const Tensor& x, const Attributes& attrs = {}, int opset = 17,
                 std::vector<Tensor> extra = {}) {
  Spec s;
  s.op = op;
  s.attrs = attrs;
  s.opset = opset;
  s.inputs = {x};
  for (Tensor& t : extra) s.inputs.push_back(std::move(t));
  s.check = {0};
  SCOPED_TRACE(op);
  check_gradients(s, 40);
}

TEST(Gradients, Activations) {
  std::mt19937 rng(41);
  const Shape shape = {2, 3, 4, 5};
  check_unary("Relu", away_from(shape, rng, -2, 2, {0}));
  check_unary("LeakyRelu", away_from(shape, rng, -2, 2, {0}));
  check_unary("LeakyRelu", away_from(shape, rng, -2, 2, {0}), attrs_of({{"alpha", 0.3f}}));
  check_unary("Elu", away_from(shape, rng, -2, 2, {0}));
  check_unary("Elu", away_from(shape, rng, -2, 2, {0}), attrs_of({{"alpha", 0.5f}}));
  check_unary("Tanh", random_tensor(shape, rng, -2, 2));
  check_unary("Sigmoid", random_tensor(shape, rng, -3, 3));
  check_unary("HardSigmoid", away_from(shape, rng, -4, 4, {-2.5f, 2.5f}));
  check_unary("HardSigmoid", away_from(shape, rng, -4, 4, {-1.0f, 1.0f}),
              attrs_of({{"alpha", 0.5f}, {"beta", 0.5f}}));
  check_unary("HardSwish", away_from(shape, rng, -5, 5, {-3.0f, 3.0f}));
  // ReLU6 as exported: Clip with min/max inputs (opset 11+) and as attributes (opset 6).
  check_unary("Clip", away_from(shape, rng, -2, 8, {0.0f, 6.0f}), {}, 13,
              {Tensor::scalar(0.0f), Tensor::scalar(6.0f)});
  check_unary("Clip", away_from(shape, rng, -2, 8, {0.0f, 6.0f}), attrs_of({{"min", 0.0f}, {"max", 6.0f}}), 6);
  check_unary("Clip", away_from(shape, rng, -2, 2, {-0.5f}), {}, 13, {Tensor::scalar(-0.5f)});  // min only
}

TEST(Gradients, ReluAndClipKinksTakeThePyTorchSide) {
  const Tensor x = Tensor::from_floats({4}, {-1.0f, 0.0f, 6.0f, 3.0f});
  const Tensor dy = Tensor::from_floats({4}, {1.0f, 1.0f, 1.0f, 1.0f});
  for (const std::string op : {"Relu", "Clip"}) {
    Spec s;
    s.op = op;
    s.inputs = {x};
    if (op == "Clip") s.inputs.insert(s.inputs.end(), {Tensor::scalar(0.0f), Tensor::scalar(6.0f)});
    const Node node = make_node(s);
    const Forward f = forward(node, s.inputs, false);
    const Tensor dx = backward(node, s.inputs, f, dy, {0})[0];
    EXPECT_EQ(dx.f32()[0], 0.0f) << op;
    EXPECT_EQ(dx.f32()[1], 0.0f) << op;  // x == 0: no gradient
    EXPECT_EQ(dx.f32()[2], op == "Relu" ? 1.0f : 0.0f) << op;  // x == max: none through Clip
    EXPECT_EQ(dx.f32()[3], 1.0f) << op;
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling

void check_pool(const std::string& op, const Shape& shape, const Attributes& attrs, unsigned seed) {
  std::mt19937 rng(seed);
  Spec s;
  s.op = op;
  s.attrs = attrs;
  s.inputs = {op == "MaxPool" || op == "GlobalMaxPool" ? distinct_tensor(shape, rng) : random_tensor(shape, rng)};
  s.check = {0};
  check_gradients(s, seed);
}

TEST(Gradients, MaxPool) {
  check_pool("MaxPool", {2, 2, 6, 6}, attrs_of({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}}), 50);
  check_pool("MaxPool", {2, 2, 7, 7},
             attrs_of({{"kernel_shape", Ints{3, 3}}, {"strides", Ints{2, 2}}, {"pads", Ints{1, 1, 1, 1}}}), 51);
  check_pool("MaxPool", {1, 3, 6, 7},
             attrs_of({{"kernel_shape", Ints{3, 2}}, {"strides", Ints{2, 2}}, {"ceil_mode", int64_t{1}}}), 52);
  check_pool("MaxPool", {1, 2, 8, 8},
             attrs_of({{"kernel_shape", Ints{2, 2}}, {"dilations", Ints{2, 2}}, {"pads", Ints{0, 1, 1, 0}}}), 53);
  check_pool("MaxPool", {2, 3, 9}, attrs_of({{"kernel_shape", Ints{3}}, {"strides", Ints{2}}, {"pads", Ints{1, 0}}}),
             54);
  // Overlapping windows (stride 1): an element can be the maximum of several windows.
  check_pool("MaxPool", {1, 2, 5, 5}, attrs_of({{"kernel_shape", Ints{3, 3}}}), 55);
}

TEST(Gradients, MaxPoolTieGoesToTheFirstMaximum) {
  Spec s;
  s.op = "MaxPool";
  s.attrs = attrs_of({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}});
  // Window 1 ties at positions 1 and 2 of its row-major order, window 2 ties everywhere.
  s.inputs = {Tensor::from_floats({1, 1, 2, 4}, {0.0f, 5.0f, 1.0f, 1.0f, 5.0f, -1.0f, 1.0f, 1.0f})};
  const Node node = make_node(s);
  const Forward f = forward(node, s.inputs, false);
  const Tensor dx = backward(node, s.inputs, f, Tensor::from_floats({1, 1, 1, 2}, {2.0f, 3.0f}), {0})[0];
  const std::vector<float> want = {0, 2, 3, 0, 0, 0, 0, 0};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(dx.f32()[i], want[static_cast<std::size_t>(i)]) << "element " << i;
}

TEST(Gradients, AveragePool) {
  for (int64_t include_pad : {0, 1}) {
    SCOPED_TRACE("count_include_pad " + std::to_string(include_pad));
    check_pool("AveragePool", {2, 2, 6, 6},
               attrs_of({{"kernel_shape", Ints{2, 2}}, {"strides", Ints{2, 2}}, {"count_include_pad", include_pad}}),
               60);
    check_pool("AveragePool", {1, 2, 7, 6},
               attrs_of({{"kernel_shape", Ints{3, 3}},
                         {"strides", Ints{2, 2}},
                         {"pads", Ints{1, 0, 1, 2}},
                         {"count_include_pad", include_pad}}),
               61);
    check_pool("AveragePool", {1, 2, 6, 6},
               attrs_of({{"kernel_shape", Ints{3, 3}},
                         {"strides", Ints{2, 2}},
                         {"pads", Ints{1, 1, 1, 1}},
                         {"ceil_mode", int64_t{1}},
                         {"count_include_pad", include_pad}}),
               62);
    check_pool("AveragePool", {2, 2, 8},
               attrs_of({{"kernel_shape", Ints{3}}, {"pads", Ints{2, 1}}, {"count_include_pad", include_pad}}), 63);
  }
}

TEST(Gradients, GlobalPools) {
  check_pool("GlobalAveragePool", {2, 3, 4, 5}, {}, 64);
  check_pool("GlobalAveragePool", {2, 3, 7}, {}, 65);
  check_pool("GlobalMaxPool", {2, 3, 4, 5}, {}, 66);
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization (training)

Spec batch_norm_spec(const Shape& x_shape, std::mt19937& rng, const Attributes& attrs = {}) {
  const int64_t c = x_shape[1];
  Spec s;
  s.op = "BatchNormalization";
  s.attrs = attrs;
  // A channel offset and spread so the statistics differ between channels.
  Tensor x = random_tensor(x_shape, rng);
  const int64_t plane = x.size() / (x_shape[0] * c);
  for (int64_t i = 0; i < x.size(); ++i) {
    const int64_t ch = (i / plane) % c;
    x.f32()[i] = x.f32()[i] * (0.5f + 0.5f * static_cast<float>(ch)) + static_cast<float>(ch) - 1.0f;
  }
  s.inputs = {x, random_tensor({c}, rng, 0.5f, 1.5f), random_tensor({c}, rng), random_tensor({c}, rng),
              random_tensor({c}, rng, 0.5f, 2.0f)};
  s.check = {0, 1, 2};
  return s;
}

TEST(Gradients, BatchNormTrainingGradients) {
  std::mt19937 rng(70);
  check_gradients(batch_norm_spec({3, 2, 3, 4}, rng), 70);
  check_gradients(batch_norm_spec({5, 3}, rng, attrs_of({{"epsilon", 1e-3f}})), 71);  // after a Gemm
  check_gradients(batch_norm_spec({2, 2, 7}, rng), 72);
}

TEST(Gradients, BatchNormTrainingForwardAndRunningStatistics) {
  std::mt19937 rng(73);
  const Shape shape = {4, 3, 2, 5};
  for (float momentum : {0.9f, 0.7f}) {
    Spec s = batch_norm_spec(shape, rng, momentum == 0.9f ? Attributes{} : attrs_of({{"momentum", momentum}}));
    const Node node = make_node(s);
    std::vector<Tensor> inputs = s.inputs;
    const Tensor mean0 = inputs[3].clone(), var0 = inputs[4].clone();
    inputs[3] = mean0.clone();
    inputs[4] = var0.clone();
    const Forward f = forward(node, inputs, true);
    const int64_t c = shape[1], plane = 10, count = shape[0] * plane;
    for (int64_t ch = 0; ch < c; ++ch) {
      double sum = 0, squares = 0;
      for (int64_t n = 0; n < shape[0]; ++n)
        for (int64_t p = 0; p < plane; ++p) sum += inputs[0].f32()[(n * c + ch) * plane + p];
      const double mean = sum / static_cast<double>(count);
      for (int64_t n = 0; n < shape[0]; ++n)
        for (int64_t p = 0; p < plane; ++p) {
          const double d = inputs[0].f32()[(n * c + ch) * plane + p] - mean;
          squares += d * d;
        }
      const double var = squares / static_cast<double>(count);  // biased: normalisation
      const double unbiased = squares / static_cast<double>(count - 1);  // running estimate
      EXPECT_NEAR(inputs[3].f32()[ch], mean0.f32()[ch] * momentum + mean * (1 - momentum), 1e-5);
      EXPECT_NEAR(inputs[4].f32()[ch], var0.f32()[ch] * momentum + unbiased * (1 - momentum), 1e-5);
      const double inv_std = 1.0 / std::sqrt(var + 1e-5);
      for (int64_t n = 0; n < shape[0]; ++n)
        for (int64_t p = 0; p < plane; ++p) {
          const int64_t at = (n * c + ch) * plane + p;
          const double want = (inputs[0].f32()[at] - mean) * inv_std * inputs[1].f32()[ch] + inputs[2].f32()[ch];
          EXPECT_NEAR(f.outputs[0].f32()[at], want, 1e-4);
        }
    }
  }
}

TEST(Gradients, BatchNormTrainingNeedsTwoValuesPerChannel) {
  std::mt19937 rng(74);
  Spec s = batch_norm_spec({1, 3}, rng);
  EXPECT_THROW(forward(make_node(s), s.inputs, true), BadInput);
}

// ---------------------------------------------------------------------------------------------
// Structural ops

void check_binary(const std::string& op, const Shape& a, const Shape& b, unsigned seed, int opset = 17,
                  const Attributes& attrs = {}) {
  std::mt19937 rng(seed);
  Spec s;
  s.op = op;
  s.opset = opset;
  s.attrs = attrs;
  s.inputs = {random_tensor(a, rng), random_tensor(b, rng)};
  s.check = {0, 1};
  SCOPED_TRACE(op + " " + shape_string(a) + " with " + shape_string(b));
  check_gradients(s, seed);
}

TEST(Gradients, AddSubMulWithBroadcasting) {
  for (const std::string op : {"Add", "Sub", "Mul"}) {
    check_binary(op, {2, 3, 4}, {2, 3, 4}, 80);
    check_binary(op, {2, 3, 4, 5}, {1, 3, 1, 1}, 81);  // per-channel bias
    check_binary(op, {2, 3, 4, 5}, {3, 1, 1}, 82);
    check_binary(op, {2, 3, 4}, {4}, 83);              // trailing dimension
    check_binary(op, {2, 1, 4}, {3, 1}, 84);           // both sides broadcast
    check_binary(op, {3, 1, 5}, {}, 85);               // scalar
    check_binary(op, {1, 3, 1}, {2, 3, 4}, 86);        // the first operand broadcast
    check_binary(op, {2, 3, 4, 5}, {3, 4}, 87, 6, attrs_of({{"broadcast", int64_t{1}}, {"axis", int64_t{1}}}));
  }
}

TEST(Gradients, SumOfThreeWithBroadcasting) {
  std::mt19937 rng(88);
  Spec s;
  s.op = "Sum";
  s.inputs = {random_tensor({2, 3, 4}, rng), random_tensor({3, 1}, rng), random_tensor({2, 3, 4}, rng)};
  s.check = {0, 1, 2};
  check_gradients(s, 88);
}

TEST(Gradients, ViewsCopyTheGradient) {
  std::mt19937 rng(90);
  Spec flatten;
  flatten.op = "Flatten";
  flatten.inputs = {random_tensor({2, 3, 2, 2}, rng)};
  flatten.check = {0};
  check_gradients(flatten, 90);
  Spec reshape;
  reshape.op = "Reshape";
  reshape.inputs = {random_tensor({2, 3, 4}, rng), Tensor::from_int64({2}, {4, -1})};
  reshape.check = {0};
  check_gradients(reshape, 91);
  Spec identity;
  identity.op = "Identity";
  identity.inputs = {random_tensor({5}, rng)};
  identity.check = {0};
  check_gradients(identity, 92);
  Spec squeeze;
  squeeze.op = "Squeeze";
  squeeze.inputs = {random_tensor({2, 1, 3}, rng), Tensor::from_int64({1}, {1})};
  squeeze.check = {0};
  check_gradients(squeeze, 93);
  Spec unsqueeze;
  unsqueeze.op = "Unsqueeze";
  unsqueeze.inputs = {random_tensor({2, 3}, rng), Tensor::from_int64({1}, {0})};
  unsqueeze.check = {0};
  check_gradients(unsqueeze, 94);
}

TEST(Gradients, DropoutWithoutRatioIsTheIdentity) {
  std::mt19937 rng(95);
  Spec s;
  s.op = "Dropout";
  s.opset = 13;
  s.inputs = {random_tensor({3, 4}, rng), Tensor::scalar(0.0f)};
  s.check = {0};
  check_gradients(s, 95);
}

TEST(Gradients, DropoutTrainingMaskIsScaledReproducibleAndFresh) {
  std::mt19937 rng(96);
  for (int opset : {10, 13}) {
    Spec s;
    s.op = "Dropout";
    s.opset = opset;
    s.outputs = 2;
    s.inputs = {random_tensor({64, 128}, rng, 0.5f, 1.0f)};  // no zeros: a zero output means dropped
    if (opset == 10) {
      s.attrs.set("ratio", 0.25f);
    } else {
      s.inputs.push_back(Tensor::scalar(0.25f));
    }
    const Node node = make_node(s);
    const Forward f = forward(node, s.inputs, false);
    const Tensor& x = s.inputs[0];
    const Tensor& y = f.outputs[0];
    int64_t kept = 0;
    for (int64_t i = 0; i < x.size(); ++i) {
      const bool keep = y.f32()[i] != 0.0f;
      kept += keep;
      if (keep) {
        EXPECT_FLOAT_EQ(y.f32()[i], x.f32()[i] / 0.75f);
      }
      ASSERT_EQ(f.outputs[1].i64()[i], keep ? 1 : 0);
    }
    // 8192 Bernoulli(0.75) draws: the kept fraction is within 5 standard deviations (0.024).
    EXPECT_NEAR(static_cast<double>(kept) / static_cast<double>(x.size()), 0.75, 0.024);
    const Tensor dy = random_tensor(y.shape(), rng);
    const Tensor dx = backward(node, s.inputs, f, dy, {0})[0];
    for (int64_t i = 0; i < x.size(); ++i)
      ASSERT_FLOAT_EQ(dx.f32()[i], y.f32()[i] != 0.0f ? dy.f32()[i] / 0.75f : 0.0f);
    // The same input gives the same mask; another batch another one.
    const Forward again = forward(node, s.inputs, false);
    EXPECT_EQ(std::memcmp(again.outputs[0].raw(), y.raw(), y.bytes()), 0);
    std::vector<Tensor> other = {random_tensor(x.shape(), rng, 0.5f, 1.0f)};
    if (opset == 13) other.push_back(s.inputs[1]);
    const Forward next = forward(node, other, false);
    int64_t same = 0;
    for (int64_t i = 0; i < x.size(); ++i) same += (next.outputs[1].i64()[i] == f.outputs[1].i64()[i]);
    EXPECT_LT(same, x.size() * 9 / 10);  // independent masks agree on ~62.5% of elements
  }
}

TEST(Gradients, Concat) {
  std::mt19937 rng(100);
  for (int64_t axis : {1, -1, 0}) {
    Spec s;
    s.op = "Concat";
    s.attrs = attrs_of({{"axis", axis}});
    Shape a = {2, 3, 4}, b = a, c = a;
    const auto d = static_cast<std::size_t>(axis < 0 ? axis + 3 : axis);
    b[d] = 2;
    c[d] = 1;
    s.inputs = {random_tensor(a, rng), random_tensor(b, rng), random_tensor(c, rng)};
    s.check = {0, 1, 2};
    SCOPED_TRACE("axis " + std::to_string(axis));
    check_gradients(s, 100);
  }
}

TEST(Gradients, Pad) {
  std::mt19937 rng(110);
  for (const std::string mode : {"constant", "reflect", "edge", "wrap"}) {
    Spec s;
    s.op = "Pad";
    s.opset = 13;
    s.attrs = attrs_of({{"mode", mode}});
    // Begin pads of dims 0..3 then end pads; a negative pad crops.
    s.inputs = {random_tensor({1, 2, 4, 5}, rng), Tensor::from_int64({8}, {0, 0, 2, -1, 0, 1, 1, 3})};
    if (mode == "constant") s.inputs.push_back(Tensor::scalar(0.5f));
    s.check = {0};
    SCOPED_TRACE(mode);
    check_gradients(s, 110);
  }
  Spec legacy;  // opset 2: pads as an attribute
  legacy.op = "Pad";
  legacy.opset = 2;
  legacy.attrs = attrs_of({{"pads", Ints{0, 1, 1, 0, 2, 0}}});
  legacy.inputs = {random_tensor({2, 3, 3}, rng)};
  legacy.check = {0};
  check_gradients(legacy, 111);
}

TEST(Gradients, Transpose) {
  std::mt19937 rng(120);
  for (const Ints& perm : {Ints{0, 2, 3, 1}, Ints{3, 1, 0, 2}, Ints{}}) {
    Spec s;
    s.op = "Transpose";
    if (!perm.empty()) s.attrs.set("perm", perm);
    s.inputs = {random_tensor({2, 3, 4, 5}, rng)};
    s.check = {0};
    check_gradients(s, 120);
  }
}

TEST(Gradients, SoftmaxAndLogSoftmax) {
  std::mt19937 rng(130);
  for (const std::string op : {"Softmax", "LogSoftmax"}) {
    for (const auto& [axis, opset] : std::vector<std::pair<int64_t, int>>{{-1, 13}, {1, 13}, {1, 11}, {0, 13}}) {
      Spec s;
      s.op = op;
      s.opset = opset;
      s.attrs = attrs_of({{"axis", axis}});
      s.inputs = {random_tensor({2, 3, 4}, rng, -2, 2)};
      s.check = {0};
      SCOPED_TRACE(op + " axis " + std::to_string(axis) + " opset " + std::to_string(opset));
      check_gradients(s, 130);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Loss

TEST(Gradients, SoftmaxCrossEntropy) {
  std::mt19937 rng(140);
  Tensor logits = random_tensor({4, 5}, rng, -3, 3);
  const std::vector<int> labels = {0, 3, 4, 3};
  Tensor grad(logits.shape());
  const float loss = softmax_cross_entropy(logits, labels, &grad);
  double want = 0;
  for (int64_t i = 0; i < 4; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < 5; ++j) sum += std::exp(static_cast<double>(logits.f32()[i * 5 + j]));
    want += std::log(sum) - logits.f32()[i * 5 + labels[static_cast<std::size_t>(i)]];
  }
  EXPECT_NEAR(loss, want / 4, 1e-5);
  const double eps = 1e-3;
  for (int64_t e = 0; e < logits.size(); ++e) {
    float& x = logits.f32()[e];
    const float original = x;
    x = static_cast<float>(original + eps);
    const double up = softmax_cross_entropy(logits, labels, nullptr);
    x = static_cast<float>(original - eps);
    const double down = softmax_cross_entropy(logits, labels, nullptr);
    x = original;
    EXPECT_NEAR(grad.f32()[e], (up - down) / (2 * eps), 2e-3) << "element " << e;
  }
  EXPECT_THROW(softmax_cross_entropy(logits, {0, 1, 2, 5}, nullptr), BadInput);
}

// ---------------------------------------------------------------------------------------------
// Determinism: two runs give bit-identical gradients.

std::vector<Tensor> run_backward(const Spec& s, const Tensor& dy) {
  const Node node = make_node(s);
  std::vector<Tensor> inputs = s.inputs;
  const Forward f = forward(node, inputs, false);
  return backward(node, inputs, f, dy, s.check);
}

void expect_bit_identical(const Spec& s, unsigned seed) {
  std::mt19937 rng(seed);
  const Node node = make_node(s);
  std::vector<Tensor> inputs = s.inputs;
  const Tensor dy = random_tensor(forward(node, inputs, false).outputs[0].shape(), rng);
  const std::vector<Tensor> first = run_backward(s, dy);
  const std::vector<Tensor> second = run_backward(s, dy);
  for (int i : s.check) {
    const auto u = static_cast<std::size_t>(i);
    EXPECT_EQ(std::memcmp(first[u].raw(), second[u].raw(), first[u].bytes()), 0) << s.op << " input " << i;
  }
}

TEST(Gradients, BackwardPassesAreBitReproducible) {
  ThreadGuard guard;
  std::mt19937 rng(150);
  for (int threads : {2, 3}) {
    set_thread_count(threads);
    ConvParams conv;
    conv.batch = 8;
    conv.cin = conv.cout = 16;
    conv.spatial = {16, 16};
    conv.pads = {1, 1, 1, 1};
    expect_bit_identical(conv_spec(conv, rng), 151);
    conv.strides = {2, 2};
    expect_bit_identical(conv_spec(conv, rng), 152);
    conv.groups = 16;
    expect_bit_identical(conv_spec(conv, rng), 153);
    expect_bit_identical(batch_norm_spec({16, 8, 12, 12}, rng), 154);
    Spec add;
    add.op = "Add";
    add.inputs = {random_tensor({16, 8, 24, 24}, rng), random_tensor({1, 8, 1, 1}, rng)};
    add.check = {0, 1};
    expect_bit_identical(add, 155);
    Spec gemm;
    gemm.op = "Gemm";
    gemm.attrs = attrs_of({{"transB", int64_t{1}}});
    gemm.inputs = {random_tensor({64, 300}, rng), random_tensor({100, 300}, rng), random_tensor({100}, rng)};
    gemm.check = {0, 1, 2};
    expect_bit_identical(gemm, 156);
  }
}

TEST(Gradients, EveryTrainableOpHasAGradient) {
  for (const char* op : {"Conv", "Gemm", "MatMul", "Relu", "LeakyRelu", "Tanh", "Sigmoid", "Clip", "Elu", "MaxPool",
                         "AveragePool", "GlobalAveragePool", "BatchNormalization", "Add", "Sum", "Mul", "Flatten",
                         "Reshape", "Identity", "Dropout", "Concat", "Pad", "Transpose", "Softmax"})
    EXPECT_NE(find_grad(op), nullptr) << op;
}

}  // namespace
}  // namespace coda
