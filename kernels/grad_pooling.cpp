// Backward passes of MaxPool, AveragePool (1-D and 2-D windows with pads, strides, dilations and
// ceil_mode), GlobalAveragePool and GlobalMaxPool. Window geometry comes from window.h, exactly
// as in the forward kernels (kernels/ops/pooling.cpp). One (image, channel) plane per task, so
// every input gradient element is written by one thread in a fixed order.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/autograd.h"
#include "kernels/ops/window.h"

namespace coda {

namespace {

// Planes below this many input elements in total are not worth an OpenMP fork/join.
constexpr int64_t kParallelMin = 1 << 14;

// unary_gradients (autograd.h), then checks that the gradients match the tensors of the forward
// pass.
bool prepare(const BackwardContext& ctx, Tensor*& dx, const Tensor*& dy) {
  if (!unary_gradients(ctx, dx, dy)) return false;
  if (dx->size() != ctx.input(0).size()) ctx.fail("input gradient does not match the input");
  if (dy->size() != ctx.output(0).size()) ctx.fail("output gradient does not match the output");
  return true;
}

// Calls visit(p, oh, ow, i0, i1, j0, j1, din) for every window of every (image, channel) plane p,
// where [i0, i1) x [j0, j1) are the window's taps that lie inside the input and din is plane p of
// the input gradient, zeroed beforehand. One plane per task, so every input gradient element is
// written by one thread, in window order.
template <typename Visit>
void for_each_window(const PoolGeometry& g, float* dx, Visit visit) {
  const WindowAxis& H = g.h;
  const WindowAxis& W = g.w;
  const int64_t in_plane = H.in * W.in;
#pragma omp parallel for schedule(static) if (g.planes * in_plane >= kParallelMin && !omp_in_parallel())
  for (int64_t p = 0; p < g.planes; ++p) {
    float* din = dx + p * in_plane;
    std::fill(din, din + in_plane, 0.0f);
    for (int64_t oh = 0; oh < H.out; ++oh) {
      int64_t i0, i1;
      valid_taps(H.start(oh), H.kernel, H.dilation, 0, H.in, i0, i1);
      for (int64_t ow = 0; ow < W.out; ++ow) {
        int64_t j0, j1;
        valid_taps(W.start(ow), W.kernel, W.dilation, 0, W.in, j0, j1);
        visit(p, oh, ow, i0, i1, j0, j1, din);
      }
    }
  }
}

// Each output's gradient goes to the input element that produced the maximum: the first tap in
// row-major window order holding the output value, which is the element the forward kernel kept
// (it replaces its running maximum only on a strictly greater value). A window lying wholly in
// padding read no input and passes nothing back.
class MaxPoolGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    Tensor* dx_tensor;
    const Tensor* dy_tensor;
    if (!prepare(ctx, dx_tensor, dy_tensor)) return;
    if (ctx.node().outputs.size() > 1 && ctx.node().outputs[1] >= 0) ctx.fail("the Indices output is not supported");
    const Tensor& x_tensor = ctx.input(0);
    const PoolGeometry g = pool_geometry(ctx.node(), x_tensor.shape());
    const WindowAxis& H = g.h;
    const WindowAxis& W = g.w;
    const int64_t in_plane = H.in * W.in, out_plane = H.out * W.out;
    const float* x = x_tensor.f32();
    const float* y = ctx.output(0).f32();
    const float* dy = dy_tensor->f32();
    auto visit = [&](int64_t p, int64_t oh, int64_t ow, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float* din) {
      const float* in = x + p * in_plane;
      const int64_t o = p * out_plane + oh * W.out + ow;
      const float best = y[o];
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t row = (H.start(oh) + i * H.dilation) * W.in;
        for (int64_t j = j0; j < j1; ++j) {
          const int64_t at = row + W.start(ow) + j * W.dilation;
          if (in[at] == best) {
            din[at] += dy[o];
            return;
          }
        }
      }
    };
    for_each_window(g, dx_tensor->f32(), visit);
  }
};

// Every input tap of a window receives the output's gradient divided by the window's divisor (as
// in the forward kernel, average_divisors of window.h); taps on padding read zeros in the forward
// pass and receive nothing.
class AveragePoolGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    Tensor* dx_tensor;
    const Tensor* dy_tensor;
    if (!prepare(ctx, dx_tensor, dy_tensor)) return;
    const PoolGeometry g = pool_geometry(ctx.node(), ctx.input(0).shape());
    const WindowAxis& H = g.h;
    const WindowAxis& W = g.w;
    const bool include_pad = ctx.attrs().get_int("count_include_pad", 0) != 0;
    const std::vector<int64_t> dh = average_divisors(H, include_pad), dw = average_divisors(W, include_pad);
    const int64_t out_plane = H.out * W.out;
    const float* dy = dy_tensor->f32();
    auto visit = [&](int64_t p, int64_t oh, int64_t ow, int64_t i0, int64_t i1, int64_t j0, int64_t j1, float* din) {
      const int64_t n = dh[static_cast<std::size_t>(oh)] * dw[static_cast<std::size_t>(ow)];
      if (n <= 0) return;  // the forward output was 0 whatever the input
      // The forward kernel scales the window sum by the float reciprocal; its adjoint does too.
      const float share = dy[p * out_plane + oh * W.out + ow] * (1.0f / static_cast<float>(n));
      for (int64_t i = i0; i < i1; ++i) {
        float* row = din + (H.start(oh) + i * H.dilation) * W.in + W.start(ow);
        for (int64_t j = j0; j < j1; ++j) row[j * W.dilation] += share;
      }
    };
    for_each_window(g, dx_tensor->f32(), visit);
  }
};

// Global pools: one output per (image, channel) plane. The average passes dY / (plane size) to
// every element of its plane; the max passes dY to the plane's first maximum, the element the
// forward kernel keeps.
template <bool Max>
class GlobalPoolGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    Tensor* dx_tensor;
    const Tensor* dy_tensor;
    if (!prepare(ctx, dx_tensor, dy_tensor)) return;
    const Tensor& x_tensor = ctx.input(0);
    if (x_tensor.rank() < 3) ctx.fail("input " + shape_string(x_tensor.shape()) + " must be (N, C, D1, ...)");
    const int64_t planes = x_tensor.dim(0) * x_tensor.dim(1);
    const int64_t plane = planes == 0 ? 0 : x_tensor.size() / planes;
    const float* x = x_tensor.f32();
    const float* y = ctx.output(0).f32();
    const float* dy = dy_tensor->f32();
    float* dx = dx_tensor->f32();
    const float scale = plane > 0 ? 1.0f / static_cast<float>(plane) : 0.0f;
#pragma omp parallel for schedule(static) if (planes * plane >= kParallelMin && !omp_in_parallel())
    for (int64_t p = 0; p < planes; ++p) {
      float* din = dx + p * plane;
      if constexpr (Max) {
        const float* in = x + p * plane;
        std::fill(din, din + plane, 0.0f);
        const float* at = std::find(in, in + plane, y[p]);
        if (at != in + plane) din[at - in] = dy[p];
      } else {
        std::fill(din, din + plane, dy[p] * scale);
      }
    }
  }
};

}  // namespace

CODA_REGISTER_GRAD(MaxPool, MaxPoolGrad);
CODA_REGISTER_GRAD(AveragePool, AveragePoolGrad);
CODA_REGISTER_GRAD(GlobalAveragePool, GlobalPoolGrad<false>);
CODA_REGISTER_GRAD(GlobalMaxPool, GlobalPoolGrad<true>);

}  // namespace coda
