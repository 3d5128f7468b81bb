// Conv (ONNX opsets 1-18): 1-D and 2-D convolution with groups, dilations, strides, explicit or
// automatic padding and an optional bias. Shape checks and geometry come from window.h, the
// arithmetic from kernels/conv_kernels.cpp.
#include <vector>

#include "kernels/conv_kernels.h"
#include "kernels/op.h"
#include "kernels/ops/window.h"

namespace coda {

namespace {

Shape output_shape(const Conv2dGeometry& g, std::size_t rank) {
  if (rank == 3) return {g.batch, g.out_channels, g.out_w};
  return {g.batch, g.out_channels, g.out_h, g.out_w};
}

class ConvOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& x = ctx.input(0);
    const TensorInfo& w = ctx.input(1);
    if (x.dtype != DType::Float32 || w.dtype != DType::Float32) ctx.fail("input and weights must be float");
    if (ctx.has_input(2) && ctx.input(2).dtype != DType::Float32) ctx.fail("bias must be float");
    Conv2dGeometry g = conv_geometry(ctx.node(), x.shape, w.shape, ctx.has_input(2) ? &ctx.shape(2) : nullptr);
    return {TensorInfo{output_shape(g, x.shape.size()), DType::Float32}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    Conv2dGeometry g = conv_geometry(ctx.node(), x.shape(), w.shape(), b ? &b->shape() : nullptr);
    conv2d(g, x.f32(), w.f32(), b ? b->f32() : nullptr, ctx.output(0).f32());
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>&, OpCost& cost) const override {
    Conv2dGeometry g = conv_geometry(ctx.node(), ctx.shape(0), ctx.shape(1), ctx.has_input(2) ? &ctx.shape(2) : nullptr);
    cost.macs += g.macs();
    if (ctx.has_input(2)) cost.flops += g.batch * g.out_channels * g.out_plane();  // one bias add per output
  }
};

}  // namespace

CODA_REGISTER_OP(Conv, ConvOp);

}  // namespace coda
