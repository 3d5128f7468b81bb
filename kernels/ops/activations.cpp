// Elementwise unary ops: activations (Relu, LeakyRelu, PRelu, Elu, Selu, Celu, Sigmoid, HardSigmoid,
// HardSwish, Tanh, Softplus, Softsign, Gelu, Mish, ThresholdedRelu, Clip) and math functions (Exp,
// Log, Sqrt, Neg, Abs, Reciprocal, Erf, Floor, Ceil, Round, Sign). Formulas and attribute defaults
// follow the ONNX operator specification (onnx/docs/Operators.md). Each runs as an Eigen array
// expression over chunks of the tensor, chunks spread over OpenMP threads for large tensors.
// Cost: one flop per output element whatever the function, so counts stay comparable across
// libraries with different exp/erf implementations.

#include <Eigen/Core>
#include <cmath>
#include <limits>
#include <unsupported/Eigen/SpecialFunctions>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/activation_params.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;
using Int64Array = Eigen::Array<int64_t, Eigen::Dynamic, 1>;

// Calls fn(x, y) on maps of matching chunks of input 0 and output 0.
template <typename Fn>
void map_f32(const RunContext& ctx, Fn&& fn) {
  const float* in = ctx.input(0).f32();
  float* out = ctx.output(0).f32();
  elementwise::parallel_chunks(ctx.input(0).size(), [&](int64_t b, int64_t e) {
    ConstArrayMap x(in + b, e - b);
    ArrayMap y(out + b, e - b);
    fn(x, y);
  });
}

template <typename Fn>
void map_i64(const RunContext& ctx, Fn&& fn) {
  const int64_t* in = ctx.input(0).i64();
  int64_t* out = ctx.output(0).i64();
  elementwise::parallel_chunks(ctx.input(0).size(), [&](int64_t b, int64_t e) {
    Eigen::Map<const Int64Array> x(in + b, e - b);
    Eigen::Map<Int64Array> y(out + b, e - b);
    fn(x, y);
  });
}

class UnaryOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& x = ctx.input(0);
    if (x.dtype == DType::Int64 && !accepts_int64())
      ctx.fail("needs a float input, got int64");
    if (x.dtype == DType::Float16) ctx.fail("float16 input: the importer should have widened it to float32");
    validate(ctx);
    return {x};
  }

  void run(const RunContext& ctx) const override {
    if (ctx.input(0).dtype() == DType::Int64) {
      run_i64(ctx);
    } else {
      run_f32(ctx);
    }
  }

  void count(const InferContext&, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    cost.flops += element_count(outputs.front().shape);
  }

 protected:
  virtual bool accepts_int64() const { return false; }
  virtual void validate(const InferContext&) const {}
  virtual void run_f32(const RunContext& ctx) const = 0;
  virtual void run_i64(const RunContext& ctx) const { ctx.fail("int64 input is not supported"); }
};

// Ops with a fixed formula and no attributes, float only.
#define CODA_FLOAT_UNARY(OP, BODY)                                                  \
  class OP##Op final : public UnaryOp {                                            \
    void run_f32(const RunContext& ctx) const override {                           \
      map_f32(ctx, [](const ConstArrayMap& x, ArrayMap& y) { BODY; });             \
    }                                                                              \
  };                                                                               \
  CODA_REGISTER_OP(OP, OP##Op)

CODA_FLOAT_UNARY(Sigmoid, y = x.logistic());
CODA_FLOAT_UNARY(Tanh, y = x.tanh());
CODA_FLOAT_UNARY(Exp, y = x.exp());
CODA_FLOAT_UNARY(Log, y = x.log());
CODA_FLOAT_UNARY(Sqrt, y = x.sqrt());
CODA_FLOAT_UNARY(Reciprocal, y = x.inverse());
CODA_FLOAT_UNARY(Erf, y = x.erf());
CODA_FLOAT_UNARY(Floor, y = x.floor());
CODA_FLOAT_UNARY(Ceil, y = x.ceil());
// Round halves to even (ONNX Round), which is what rint does in the default rounding mode.
CODA_FLOAT_UNARY(Round, y = x.rint());
CODA_FLOAT_UNARY(Softsign, y = x / (x.abs() + 1.0f));
// log(1 + exp(x)) rewritten as max(x, 0) + log1p(exp(-|x|)), which neither overflows for large x
// nor loses the small tail for very negative x.
CODA_FLOAT_UNARY(Softplus, y = x.max(0.0f) + (-x.abs()).exp().log1p());
// Mish (opset 18): x * tanh(softplus(x)).
CODA_FLOAT_UNARY(Mish, y = x * (x.max(0.0f) + (-x.abs()).exp().log1p()).tanh());

#undef CODA_FLOAT_UNARY

// Ops that also take int64 (exporters apply them to shape arithmetic).
class ReluOp final : public UnaryOp {
  bool accepts_int64() const override { return true; }
  void run_f32(const RunContext& ctx) const override {
    map_f32(ctx, [](const ConstArrayMap& x, ArrayMap& y) { y = x.max(0.0f); });
  }
  void run_i64(const RunContext& ctx) const override {
    map_i64(ctx, [](const auto& x, auto& y) { y = x.max(int64_t{0}); });
  }
};
CODA_REGISTER_OP(Relu, ReluOp);

class NegOp final : public UnaryOp {
  bool accepts_int64() const override { return true; }
  void run_f32(const RunContext& ctx) const override {
    map_f32(ctx, [](const ConstArrayMap& x, ArrayMap& y) { y = -x; });
  }
  void run_i64(const RunContext& ctx) const override {
    map_i64(ctx, [](const auto& x, auto& y) { y = -x; });
  }
};
CODA_REGISTER_OP(Neg, NegOp);

class AbsOp final : public UnaryOp {
  bool accepts_int64() const override { return true; }
  void run_f32(const RunContext& ctx) const override {
    map_f32(ctx, [](const ConstArrayMap& x, ArrayMap& y) { y = x.abs(); });
  }
  void run_i64(const RunContext& ctx) const override {
    map_i64(ctx, [](const auto& x, auto& y) { y = x.abs(); });
  }
};
CODA_REGISTER_OP(Abs, AbsOp);

class SignOp final : public UnaryOp {
  bool accepts_int64() const override { return true; }
  void run_f32(const RunContext& ctx) const override {
    map_f32(ctx, [](const ConstArrayMap& x, ArrayMap& y) { y = x.sign(); });
  }
  void run_i64(const RunContext& ctx) const override {
    map_i64(ctx, [](const auto& x, auto& y) { y = x.sign(); });
  }
};
CODA_REGISTER_OP(Sign, SignOp);

// Relu-family ops are written as max(x, 0) + f(min(x, 0)), which Eigen vectorises without a select
// and which equals the spec's piecewise definition exactly (one side is always an exact zero).
class LeakyReluOp final : public UnaryOp {
  void run_f32(const RunContext& ctx) const override {
    const float alpha = leaky_relu_alpha(ctx.attrs());
    map_f32(ctx, [alpha](const ConstArrayMap& x, ArrayMap& y) { y = x.max(0.0f) + alpha * x.min(0.0f); });
  }
};
CODA_REGISTER_OP(LeakyRelu, LeakyReluOp);

class EluOp final : public UnaryOp {
  void run_f32(const RunContext& ctx) const override {
    const float alpha = elu_alpha(ctx.attrs());
    map_f32(ctx, [alpha](const ConstArrayMap& x, ArrayMap& y) {
      y = x.max(0.0f) + alpha * (x.min(0.0f).exp() - 1.0f);
    });
  }
};
CODA_REGISTER_OP(Elu, EluOp);

class SeluOp final : public UnaryOp {
  void run_f32(const RunContext& ctx) const override {
    // Defaults from the ONNX Selu specification (Klambauer et al., 2017, "Self-Normalizing Neural
    // Networks"), given there to float precision.
    const float alpha = ctx.attrs().get_float("alpha", 1.67326319217681884765625f);
    const float gamma = ctx.attrs().get_float("gamma", 1.05070102214813232421875f);
    map_f32(ctx, [alpha, gamma](const ConstArrayMap& x, ArrayMap& y) {
      y = gamma * (x.max(0.0f) + alpha * (x.min(0.0f).exp() - 1.0f));
    });
  }
};
CODA_REGISTER_OP(Selu, SeluOp);

class CeluOp final : public UnaryOp {
  void validate(const InferContext& ctx) const override {
    if (ctx.attrs().get_float("alpha", 1.0f) == 0.0f) ctx.fail("alpha must not be 0");
  }
  void run_f32(const RunContext& ctx) const override {
    const float alpha = ctx.attrs().get_float("alpha", 1.0f);
    map_f32(ctx, [alpha](const ConstArrayMap& x, ArrayMap& y) {
      y = x.max(0.0f) + (alpha * ((x / alpha).exp() - 1.0f)).min(0.0f);
    });
  }
};
CODA_REGISTER_OP(Celu, CeluOp);

class ThresholdedReluOp final : public UnaryOp {
  void run_f32(const RunContext& ctx) const override {
    const float alpha = ctx.attrs().get_float("alpha", 1.0f);
    map_f32(ctx, [alpha](const ConstArrayMap& x, ArrayMap& y) { y = (x > alpha).select(x, 0.0f); });
  }
};
CODA_REGISTER_OP(ThresholdedRelu, ThresholdedReluOp);

class HardSigmoidOp final : public UnaryOp {
  void run_f32(const RunContext& ctx) const override {
    const HardSigmoidParams p = hard_sigmoid_params(ctx.attrs());
    map_f32(ctx, [p](const ConstArrayMap& x, ArrayMap& y) { y = (p.alpha * x + p.beta).max(0.0f).min(1.0f); });
  }
};
CODA_REGISTER_OP(HardSigmoid, HardSigmoidOp);

// HardSwish (opset 14): x * HardSigmoid(x) with alpha = 1/6, beta = 0.5 (ONNX spec).
class HardSwishOp final : public UnaryOp {
  void run_f32(const RunContext& ctx) const override {
    map_f32(ctx, [](const ConstArrayMap& x, ArrayMap& y) {
      y = x * (x * (1.0f / 6.0f) + 0.5f).max(0.0f).min(1.0f);
    });
  }
};
CODA_REGISTER_OP(HardSwish, HardSwishOp);

// Gelu (opset 20): 0.5 x (1 + erf(x / sqrt 2)), or with approximate="tanh"
// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) (Hendrycks & Gimpel, 2016).
class GeluOp final : public UnaryOp {
  void validate(const InferContext& ctx) const override {
    std::string mode = ctx.attrs().get_string("approximate", "none");
    if (mode != "none" && mode != "tanh") ctx.fail("approximate must be 'none' or 'tanh', got '" + mode + "'");
  }
  void run_f32(const RunContext& ctx) const override {
    if (ctx.attrs().get_string("approximate", "none") == "tanh") {
      const auto k = static_cast<float>(std::sqrt(2.0 / 3.14159265358979323846));
      map_f32(ctx, [k](const ConstArrayMap& x, ArrayMap& y) {
        y = 0.5f * x * (1.0f + (k * (x + 0.044715f * x.cube())).tanh());
      });
    } else {
      const auto inv_sqrt2 = static_cast<float>(1.0 / std::sqrt(2.0));
      map_f32(ctx, [inv_sqrt2](const ConstArrayMap& x, ArrayMap& y) {
        y = 0.5f * x * (1.0f + (x * inv_sqrt2).erf());
      });
    }
  }
};
CODA_REGISTER_OP(Gelu, GeluOp);

// Clip: bounds are attributes before opset 11 (defaults: the float range) and optional scalar
// inputs from 11 (absent or omitted means unbounded); int64 data from opset 12.
class ClipOp final : public UnaryOp {
  bool accepts_int64() const override { return true; }

  void validate(const InferContext& ctx) const override {
    if (ctx.node().opset < 11) return;
    for (int i = 1; i <= 2; ++i) {
      if (!ctx.has_input(i)) continue;
      const TensorInfo& bound = ctx.input(i);
      if (element_count(bound.shape) != 1)
        ctx.fail(std::string(i == 1 ? "min" : "max") + " must be a scalar, got shape " + shape_string(bound.shape));
      if (bound.dtype != ctx.input(0).dtype)
        ctx.fail(std::string(i == 1 ? "min" : "max") + " is " + dtype_name(bound.dtype) + ", the input is " +
                 dtype_name(ctx.input(0).dtype));
    }
  }

  void run_f32(const RunContext& ctx) const override {
    const ClipBounds b = clip_bounds(ctx.node(), ctx.has_input(1) ? &ctx.input(1) : nullptr,
                                     ctx.has_input(2) ? &ctx.input(2) : nullptr);
    // min(max(x, lo), hi): with lo > hi every element becomes hi, as in numpy.clip.
    map_f32(ctx, [b](const ConstArrayMap& x, ArrayMap& y) { y = x.max(b.lo).min(b.hi); });
  }

  void run_i64(const RunContext& ctx) const override {
    int64_t lo = std::numeric_limits<int64_t>::min();
    int64_t hi = std::numeric_limits<int64_t>::max();
    if (ctx.has_input(1)) lo = ctx.input(1).i64()[0];
    if (ctx.has_input(2)) hi = ctx.input(2).i64()[0];
    map_i64(ctx, [lo, hi](const auto& x, auto& y) { y = x.max(lo).min(hi); });
  }
};
CODA_REGISTER_OP(Clip, ClipOp);

// PRelu: y = x for x >= 0, slope * x otherwise. From opset 7 the slope broadcasts to x
// (unidirectionally); before, it is one value or one per channel (axis 1), which PyTorch exports
// as a 1-D tensor of C values.
Shape slope_shape(int opset, const Shape& x, const Shape& slope) {
  const int64_t n = element_count(slope);
  if (opset < 7 && x.size() >= 2 && n == x[1] && n > 1 && !elementwise::broadcasts_to(slope, x)) {
    Shape per_channel(x.size() - 1, 1);
    per_channel[0] = n;
    return per_channel;
  }
  return slope;
}

class PReluOp final : public UnaryOp {
  void validate(const InferContext& ctx) const override {
    const TensorInfo& slope = ctx.input(1);
    if (slope.dtype != DType::Float32) ctx.fail(std::string("slope must be float32, got ") + dtype_name(slope.dtype));
    if (!elementwise::broadcasts_to(slope_shape(ctx.node().opset, ctx.shape(0), slope.shape), ctx.shape(0)))
      ctx.fail("slope of shape " + shape_string(slope.shape) + " does not broadcast to the input's shape " +
               shape_string(ctx.shape(0)));
  }

  void run_f32(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor slope = ctx.input(1).reshaped(slope_shape(ctx.node().opset, x.shape(), ctx.input(1).shape()));
    float* out = ctx.output(0).f32();
    elementwise::BroadcastPlan plan(x.shape(), {x.shape(), slope.shape()});
    const int64_t inner = plan.inner();
    const bool slope_walks = plan.inner_stride(1) != 0;
    elementwise::for_each_segment(
        plan, [&](const elementwise::BroadcastCursor& c, int64_t row, int64_t begin, int64_t end) {
          const Eigen::Index n = end - begin;
          ConstArrayMap xs(x.f32() + row * inner + begin, n);
          ArrayMap y(out + row * inner + begin, n);
          if (slope_walks) {
            y = xs.max(0.0f) + ConstArrayMap(slope.f32() + c.offset(1) + begin, n) * xs.min(0.0f);
          } else {
            y = xs.max(0.0f) + slope.f32()[c.offset(1)] * xs.min(0.0f);
          }
        });
  }
};
CODA_REGISTER_OP(PRelu, PReluOp);

}  // namespace

}  // namespace coda
