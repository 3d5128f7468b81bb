// Conv (ONNX opsets 1-18): 1-D and 2-D convolution with groups, dilations, strides, explicit or
// automatic padding and an optional bias. The arithmetic lives in kernels/conv_kernels.cpp.
#include <string>
#include <vector>

#include "kernels/conv_kernels.h"
#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/window.h"

namespace coda {

namespace {

[[noreturn]] void fail(const Node& node, const std::string& message) {
  throw BadInput(node.describe() + ": " + message);
}

// Validates the shapes of X (N, C, [H,] W), W (C_out, C/group, [kh,] kw) and B (C_out) against the
// attributes and returns the geometry, 1-D cases as height 1.
Conv2dGeometry conv_geometry(const Node& node, const Shape& x, const Shape& w, const Shape* b) {
  if (x.size() == 5) fail(node, "3-D convolution not supported (input " + shape_string(x) + ")");
  if (x.size() != 3 && x.size() != 4)
    fail(node, "input " + shape_string(x) + " must be (N, C, L) or (N, C, H, W)");
  if (w.size() != x.size())
    fail(node, "weights " + shape_string(w) + " must have the rank of the input " + shape_string(x));
  const int64_t groups = node.attrs.get_int("group", 1);
  if (groups < 1) fail(node, "group " + std::to_string(groups) + " must be >= 1");
  const int64_t in_channels = x[1], out_channels = w[0];
  if (in_channels % groups != 0)
    fail(node, "input channels " + std::to_string(in_channels) + " are not divisible by group " +
                   std::to_string(groups));
  if (w[1] * groups != in_channels)
    fail(node, "weights " + shape_string(w) + " expect " + std::to_string(w[1]) + " input channels per group, the input " +
                   shape_string(x) + " has " + std::to_string(in_channels) + " channels in " + std::to_string(groups) +
                   " group(s)");
  if (out_channels < 1 || out_channels % groups != 0)
    fail(node, "output channels " + std::to_string(out_channels) + " of weights " + shape_string(w) +
                   " are not a positive multiple of group " + std::to_string(groups));
  if (b && (b->size() != 1 || (*b)[0] != out_channels))
    fail(node, "bias " + shape_string(*b) + " must be (" + std::to_string(out_channels) + ")");

  Shape spatial(x.begin() + 2, x.end());
  std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (node.attrs.has("kernel_shape") && node.attrs.get_ints("kernel_shape") != kernel)
    fail(node, "kernel_shape does not match the weights " + shape_string(w));
  std::vector<WindowAxis> axes = resolve_window(node, spatial, kernel, WindowOptions{});

  Conv2dGeometry g;
  g.batch = x[0];
  g.in_channels = in_channels;
  g.out_channels = out_channels;
  g.groups = groups;
  // The last axis is the width; a 1-D convolution keeps the default height of 1.
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
