// Backward pass of Conv (1-D and 2-D, groups, strides, dilations, explicit or automatic padding,
// optional bias). The arithmetic lives in kernels/conv_kernels.cpp next to the forward kernels.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/autograd.h"
#include "kernels/conv_kernels.h"
#include "kernels/ops/window.h"

namespace coda {

namespace {

// The geometry the forward Conv kernel used; its shape checks already passed in shape inference,
// so only what the backward pass relies on is checked again.
Conv2dGeometry conv_geometry(const BackwardContext& ctx, const Shape& x, const Shape& w) {
  if ((x.size() != 3 && x.size() != 4) || w.size() != x.size())
    ctx.fail("input " + shape_string(x) + " and weights " + shape_string(w) + " must be 1-D or 2-D convolution shapes");
  Conv2dGeometry g;
  g.batch = x[0];
  g.in_channels = x[1];
  g.out_channels = w[0];
  g.groups = ctx.attrs().get_int("group", 1);
  if (g.groups < 1 || x[1] != w[1] * g.groups || w[0] % g.groups != 0)
    ctx.fail("weights " + shape_string(w) + " do not match input " + shape_string(x) + " in " +
             std::to_string(g.groups) + " group(s)");
  const std::vector<WindowAxis> axes =
      resolve_window(ctx.node(), Shape(x.begin() + 2, x.end()), std::vector<int64_t>(w.begin() + 2, w.end()),
                     WindowOptions{});
  const WindowAxis& wa = axes.back();
  g.in_w = wa.in;
  g.out_w = wa.out;
  g.kernel_w = wa.kernel;
  g.stride_w = wa.stride;
  g.dilation_w = wa.dilation;
  g.pad_left = wa.pad_begin;
  if (axes.size() == 2) {
    const WindowAxis& ha = axes.front();
    g.in_h = ha.in;
    g.out_h = ha.out;
    g.kernel_h = ha.kernel;
    g.stride_h = ha.stride;
    g.dilation_h = ha.dilation;
    g.pad_top = ha.pad_begin;
  }
  return g;
}

class ConvGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    Tensor* dx = ctx.input_grad(0);
    Tensor* dw = ctx.input_grad(1);
    Tensor* db = ctx.has_input(2) ? ctx.input_grad(2) : nullptr;
    const Tensor* dy = ctx.output_grad(0);
    if (!dy) {  // the output does not reach the loss: every gradient is zero
      for (Tensor* t : {dx, dw, db})
        if (t) std::fill(t->f32(), t->f32() + t->size(), 0.0f);
      return;
    }
    const Conv2dGeometry g = conv_geometry(ctx, x.shape(), w.shape());
    if (dy->size() != g.batch * g.out_channels * g.out_plane())
      ctx.fail("output gradient " + shape_string(dy->shape()) + " does not match the output of the convolution");
    if (dx) conv2d_backward_input(g, dy->f32(), w.f32(), dx->f32());
    if (dw || db) conv2d_backward_weights(g, x.f32(), dy->f32(), dw ? dw->f32() : nullptr, db ? db->f32() : nullptr);
  }
};

}  // namespace

CODA_REGISTER_GRAD(Conv, ConvGrad);

}  // namespace coda
