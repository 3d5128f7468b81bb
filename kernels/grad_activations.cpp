// Backward passes of the elementwise activations: Relu, LeakyRelu, Elu, Tanh, Sigmoid,
// HardSigmoid, HardSwish and Clip (ReLU6 in exported MobileNets). Attribute defaults are those of
// the forward kernels (ONNX operator specification). At a kink the gradient is the one-sided
// value PyTorch uses: Relu passes it only for x > 0, Clip only strictly inside its bounds.

#include <Eigen/Core>

#include "kernels/autograd.h"
#include "kernels/ops/activation_params.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

// Calls fn(x, y, dy, dx) on maps of matching chunks of the input, the output, the output
// gradient and the input gradient, threads splitting large tensors.
template <typename Fn>
void map_grad(const BackwardContext& ctx, Fn&& fn) {
  Tensor* dx_tensor;
  const Tensor* dy_tensor;
  if (!unary_gradients(ctx, dx_tensor, dy_tensor)) return;
  const Tensor& x_tensor = ctx.input(0);
  if (x_tensor.dtype() != DType::Float32) ctx.fail("gradients need a float input");
  if (dy_tensor->size() != x_tensor.size() || dx_tensor->size() != x_tensor.size())
    ctx.fail("gradient shapes do not match the input " + shape_string(x_tensor.shape()));
  const float* x = x_tensor.f32();
  const float* y = ctx.output(0).f32();
  const float* dy = dy_tensor->f32();
  float* dx = dx_tensor->f32();
  elementwise::parallel_chunks(x_tensor.size(), [&](int64_t b, int64_t e) {
    const Eigen::Index n = e - b;
    ConstArrayMap xs(x + b, n), ys(y + b, n), dys(dy + b, n);
    ArrayMap dxs(dx + b, n);
    fn(xs, ys, dys, dxs);
  });
}

class ReluGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    map_grad(ctx, [](const ConstArrayMap& x, const ConstArrayMap&, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = (x > 0.0f).select(dy, 0.0f);
    });
  }
};

class LeakyReluGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const float alpha = leaky_relu_alpha(ctx.attrs());
    map_grad(ctx, [alpha](const ConstArrayMap& x, const ConstArrayMap&, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = (x > 0.0f).select(dy, alpha * dy);
    });
  }
};

// y = alpha (e^x - 1) for x <= 0, so dy/dx = alpha e^x = y + alpha there.
class EluGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const float alpha = elu_alpha(ctx.attrs());
    map_grad(ctx, [alpha](const ConstArrayMap& x, const ConstArrayMap& y, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = (x > 0.0f).select(dy, dy * (y + alpha));
    });
  }
};

class TanhGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    map_grad(ctx, [](const ConstArrayMap&, const ConstArrayMap& y, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = dy * (1.0f - y.square());
    });
  }
};

class SigmoidGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    map_grad(ctx, [](const ConstArrayMap&, const ConstArrayMap& y, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = dy * y * (1.0f - y);
    });
  }
};

// y = clamp(alpha x + beta, 0, 1): slope alpha strictly between the saturation points.
class HardSigmoidGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const HardSigmoidParams p = hard_sigmoid_params(ctx.attrs());
    map_grad(ctx, [p](const ConstArrayMap& x, const ConstArrayMap&, const ConstArrayMap& dy, ArrayMap& dx) {
      const auto z = p.alpha * x + p.beta;
      dx = (z > 0.0f && z < 1.0f).select(p.alpha * dy, 0.0f);
    });
  }
};

// y = x clamp(x/6 + 1/2, 0, 1): 0 below -3, x/3 + 1/2 on [-3, 3], 1 above (as PyTorch's
// hardswish_backward).
class HardSwishGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    map_grad(ctx, [](const ConstArrayMap& x, const ConstArrayMap&, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = (x < -3.0f).select(0.0f, (x <= 3.0f).select(dy * (x * (1.0f / 3.0f) + 0.5f), dy));
    });
  }
};

class ClipGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const ClipBounds b = clip_bounds(ctx.node(), ctx.has_input(1) ? &ctx.input(1) : nullptr,
                                     ctx.has_input(2) ? &ctx.input(2) : nullptr);
    map_grad(ctx, [b](const ConstArrayMap& x, const ConstArrayMap&, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = (x > b.lo && x < b.hi).select(dy, 0.0f);
    });
  }
  std::vector<int> non_differentiable_inputs() const override { return {1, 2}; }
};

}  // namespace

CODA_REGISTER_GRAD(Relu, ReluGrad);
CODA_REGISTER_GRAD(LeakyRelu, LeakyReluGrad);
CODA_REGISTER_GRAD(Elu, EluGrad);
CODA_REGISTER_GRAD(Tanh, TanhGrad);
CODA_REGISTER_GRAD(Sigmoid, SigmoidGrad);
CODA_REGISTER_GRAD(HardSigmoid, HardSigmoidGrad);
CODA_REGISTER_GRAD(HardSwish, HardSwishGrad);
CODA_REGISTER_GRAD(Clip, ClipGrad);

}  // namespace coda
