// Backward pass of Conv (1-D and 2-D, groups, strides, dilations, explicit or automatic padding,
// optional bias). The arithmetic lives in kernels/conv_kernels.cpp next to the forward kernels.
#include "kernels/autograd.h"
#include "kernels/conv_kernels.h"
#include "kernels/ops/window.h"

namespace coda {

namespace {

class ConvGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    Tensor* dx = ctx.input_grad(0);
    Tensor* dw = ctx.input_grad(1);
    Tensor* db = ctx.has_input(2) ? ctx.input_grad(2) : nullptr;
    const Tensor* dy = output_grad_or_zero_inputs(ctx);
    if (!dy) return;
    // The geometry the forward kernel used (window.h), with its shape checks.
    const Conv2dGeometry g = conv_geometry(ctx.node(), x.shape(), w.shape());
    if (dy->size() != g.batch * g.out_channels * g.out_plane())
      ctx.fail("output gradient " + shape_string(dy->shape()) + " does not match the output of the convolution");
    if (dx) conv2d_backward_input(g, dy->f32(), w.f32(), dx->f32());
    if (dw || db) conv2d_backward_weights(g, x.f32(), dy->f32(), dw ? dw->f32() : nullptr, db ? db->f32() : nullptr);
  }
};

}  // namespace

CODA_REGISTER_GRAD(Conv, ConvGrad);

}  // namespace coda
