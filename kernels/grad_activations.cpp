// Backward passes of the elementwise activations: Relu, LeakyRelu, Elu, Tanh, Sigmoid,
// HardSigmoid, HardSwish and Clip (ReLU6 in exported MobileNets). Attribute defaults are those of
// the forward kernels (ONNX operator specification). At a kink the gradient is the one-sided
// value PyTorch uses: Relu passes it only for x > 0, Clip only strictly inside its bounds.

// GCC 12's AVX-512 intrinsics raise a false -Wmaybe-uninitialized when Eigen's packet math is
// inlined (GCC bug 105593, fixed in GCC 13); it must be silenced before the first include.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <Eigen/Core>
#include <algorithm>
#include <limits>

#include "kernels/autograd.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

// Calls fn(x, y, dy, dx) on maps of matching chunks of the input, the output, the output
// gradient and the input gradient, threads splitting large tensors.
template <typename Fn>
void map_grad(const BackwardContext& ctx, Fn&& fn) {
  Tensor* dx_tensor = ctx.input_grad(0);
  if (!dx_tensor) return;
  const Tensor* dy_tensor = ctx.output_grad(0);
  if (!dy_tensor) {
    std::fill(dx_tensor->f32(), dx_tensor->f32() + dx_tensor->size(), 0.0f);
    return;
  }
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
    const float alpha = ctx.attrs().get_float("alpha", 0.01f);
    map_grad(ctx, [alpha](const ConstArrayMap& x, const ConstArrayMap&, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = (x > 0.0f).select(dy, alpha * dy);
    });
  }
};

// y = alpha (e^x - 1) for x <= 0, so dy/dx = alpha e^x = y + alpha there.
class EluGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const float alpha = ctx.attrs().get_float("alpha", 1.0f);
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
    const float alpha = ctx.attrs().get_float("alpha", 0.2f);
    const float beta = ctx.attrs().get_float("beta", 0.5f);
    map_grad(ctx, [alpha, beta](const ConstArrayMap& x, const ConstArrayMap&, const ConstArrayMap& dy, ArrayMap& dx) {
      const auto z = alpha * x + beta;
      dx = (z > 0.0f && z < 1.0f).select(alpha * dy, 0.0f);
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
    float lo = std::numeric_limits<float>::lowest();
    float hi = std::numeric_limits<float>::max();
    if (ctx.node().opset < 11) {
      lo = ctx.attrs().get_float("min", lo);
      hi = ctx.attrs().get_float("max", hi);
    } else {
      if (ctx.has_input(1)) lo = ctx.input(1).f32()[0];
      if (ctx.has_input(2)) hi = ctx.input(2).f32()[0];
    }
    map_grad(ctx, [lo, hi](const ConstArrayMap& x, const ConstArrayMap&, const ConstArrayMap& dy, ArrayMap& dx) {
      dx = (x > lo && x < hi).select(dy, 0.0f);
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
