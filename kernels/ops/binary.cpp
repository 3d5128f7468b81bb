// Elementwise arithmetic with numpy multidirectional broadcasting (onnx/docs/Broadcasting.md):
// Add, Sub, Mul, Div, Pow and the variadic Max, Min, Sum, Mean. Float32 and Int64 (exporters do
// shape arithmetic in int64). Opset < 7 nodes with broadcast=1 follow that opset's rule (B matched
// against A's dimensions from `axis`, by default the trailing ones).
// Also home of the broadcasting machinery declared in broadcast.h.
#include <Eigen/Core>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace elementwise {

bool broadcast_shapes(const std::vector<Shape>& shapes, Shape& out) {
  std::size_t rank = 0;
  for (const Shape& s : shapes) rank = std::max(rank, s.size());
  out.assign(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {  // i counts from the last dimension
    int64_t dim = 1;
    for (const Shape& s : shapes) {
      if (i >= s.size()) continue;
      int64_t v = s[s.size() - 1 - i];
      if (v == 1) continue;
      if (dim == 1) {
        dim = v;
      } else if (v != dim) {
        return false;
      }
    }
    out[rank - 1 - i] = dim;
  }
  return true;
}

Shape broadcast_or_fail(const InferContext& ctx, const std::vector<Shape>& shapes) {
  Shape out;
  if (!broadcast_shapes(shapes, out)) {
    std::string message = "cannot broadcast";
    for (std::size_t i = 0; i < shapes.size(); ++i) message += (i ? " with " : " ") + shape_string(shapes[i]);
    ctx.fail(message);
  }
  return out;
}

bool broadcasts_to(const Shape& from, const Shape& to) {
  Shape out;
  return broadcast_shapes({from, to}, out) && out == to;
}

bool legacy_broadcast(const Attributes& attrs, int opset, const Shape& a, const Shape& b, Shape& b_as,
                      std::string& error) {
  if (opset >= 7 || attrs.get_int("broadcast", 0) == 0) return false;
  const auto ra = static_cast<int64_t>(a.size());
  const auto rb = static_cast<int64_t>(b.size());
  b_as.assign(a.size(), 1);
  if (element_count(b) == 1) return true;
  int64_t axis = attrs.get_int("axis", ra - rb);
  if (axis < 0) axis += ra;
  bool fits = axis >= 0 && axis + rb <= ra;
  for (int64_t i = 0; fits && i < rb; ++i) fits = a[static_cast<std::size_t>(axis + i)] == b[static_cast<std::size_t>(i)];
  if (!fits) {
    error = "with broadcast=1 (opset < 7), B of shape " + shape_string(b) + " must match the dimensions of A (" +
            shape_string(a) + ") from axis " + std::to_string(axis);
    return true;
  }
  for (int64_t i = 0; i < rb; ++i) b_as[static_cast<std::size_t>(axis + i)] = b[static_cast<std::size_t>(i)];
  return true;
}

BroadcastPlan::BroadcastPlan(const Shape& out, const std::vector<Shape>& operands)
    : operands_(static_cast<int>(operands.size())) {
  const std::size_t rank = out.size();
  const std::size_t k_count = operands.size();
  // Strides of each operand over the output's dimensions, 0 where it is broadcast.
  std::vector<std::vector<int64_t>> full(k_count, std::vector<int64_t>(rank, 0));
  for (std::size_t k = 0; k < k_count; ++k) {
    const Shape& s = operands[k];
    if (s.size() > rank) throw std::logic_error("BroadcastPlan: operand of higher rank than the output");
    const std::size_t lead = rank - s.size();
    int64_t stride = 1;
    for (std::size_t d = s.size(); d-- > 0;) {
      full[k][lead + d] = s[d] == 1 ? 0 : stride;
      stride *= s[d];
    }
  }
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> merged(k_count);
  for (std::size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    bool joins = !dims.empty();
    for (std::size_t k = 0; joins && k < k_count; ++k) joins = merged[k].back() == full[k][d] * out[d];
    if (joins) {
      dims.back() *= out[d];
      for (std::size_t k = 0; k < k_count; ++k) merged[k].back() = full[k][d];
    } else {
      dims.push_back(out[d]);
      for (std::size_t k = 0; k < k_count; ++k) merged[k].push_back(full[k][d]);
    }
  }
  inner_strides_.assign(k_count, 0);
  if (dims.empty()) return;  // one element
  inner_ = dims.back();
  for (std::size_t k = 0; k < k_count; ++k) inner_strides_[k] = merged[k].back();
  dims.pop_back();
  dims_ = dims;
  for (int64_t d : dims_) rows_ *= d;
  strides_.reserve(k_count * dims_.size());
  for (std::size_t k = 0; k < k_count; ++k)
    strides_.insert(strides_.end(), merged[k].begin(), merged[k].begin() + static_cast<std::ptrdiff_t>(dims_.size()));
}

BroadcastCursor::BroadcastCursor(const BroadcastPlan& plan, int64_t row)
    : plan_(plan), index_(plan.dims_.size(), 0), offsets_(static_cast<std::size_t>(plan.operands_), 0) {
  const std::size_t n = plan.dims_.size();
  for (std::size_t d = n; d-- > 0;) {
    index_[d] = row % plan.dims_[d];
    row /= plan.dims_[d];
  }
  for (std::size_t k = 0; k < offsets_.size(); ++k)
    for (std::size_t d = 0; d < n; ++d) offsets_[k] += index_[d] * plan.strides_[k * n + d];
}

void BroadcastCursor::next() {
  const std::size_t n = plan_.dims_.size();
  for (std::size_t d = n; d-- > 0;) {
    ++index_[d];
    for (std::size_t k = 0; k < offsets_.size(); ++k) offsets_[k] += plan_.strides_[k * n + d];
    if (index_[d] < plan_.dims_[d]) return;
    for (std::size_t k = 0; k < offsets_.size(); ++k) offsets_[k] -= plan_.strides_[k * n + d] * plan_.dims_[d];
    index_[d] = 0;
  }
}

}  // namespace elementwise

namespace {

using elementwise::BroadcastCursor;
using elementwise::BroadcastPlan;

template <typename T>
using Array = Eigen::Array<T, Eigen::Dynamic, 1>;

// out = f(a, b) elementwise with broadcasting; f receives two Eigen array expressions (a row of
// an operand, or one of its elements repeated) and returns an expression. `out` may alias `a`
// when a has the output's shape (the variadic ops accumulate in place).
template <typename T, typename F>
void apply_binary(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, T* out,
                  const Shape& out_shape, F f) {
  BroadcastPlan plan(out_shape, {a_shape, b_shape});
  const int64_t inner = plan.inner();
  const bool a_walks = plan.inner_stride(0) != 0;
  const bool b_walks = plan.inner_stride(1) != 0;
  elementwise::for_each_segment(plan, [&](const BroadcastCursor& c, int64_t row, int64_t begin, int64_t end) {
    const Eigen::Index n = end - begin;
    Eigen::Map<Array<T>> o(out + row * inner + begin, n);
    const T* pa = a + c.offset(0) + (a_walks ? begin : 0);
    const T* pb = b + c.offset(1) + (b_walks ? begin : 0);
    if (a_walks && b_walks) {
      o = f(Eigen::Map<const Array<T>>(pa, n), Eigen::Map<const Array<T>>(pb, n));
    } else if (a_walks) {
      o = f(Eigen::Map<const Array<T>>(pa, n), Array<T>::Constant(n, *pb));
    } else {
      o = f(Array<T>::Constant(n, *pa), Eigen::Map<const Array<T>>(pb, n));
    }
  });
}

// Scalar-loop variant for functions Eigen does not vectorise exactly (pow, integer division).
template <typename A, typename B, typename O, typename F>
void apply_binary_scalar(const A* a, const Shape& a_shape, const B* b, const Shape& b_shape, O* out,
                         const Shape& out_shape, F f) {
  BroadcastPlan plan(out_shape, {a_shape, b_shape});
  const int64_t inner = plan.inner();
  const int64_t sa = plan.inner_stride(0);
  const int64_t sb = plan.inner_stride(1);
  elementwise::for_each_segment(plan, [&](const BroadcastCursor& c, int64_t row, int64_t begin, int64_t end) {
    O* o = out + row * inner;
    const A* pa = a + c.offset(0);
    const B* pb = b + c.offset(1);
    for (int64_t i = begin; i < end; ++i) o[i] = f(pa[i * sa], pb[i * sb]);
  });
}

enum class Kind { Add, Sub, Mul, Div, Pow, Max, Min, Sum, Mean };

constexpr bool is_variadic(Kind k) { return k == Kind::Max || k == Kind::Min || k == Kind::Sum || k == Kind::Mean; }

template <typename T>
const T* data(const Tensor& t);
template <>
const float* data<float>(const Tensor& t) { return t.f32(); }
template <>
const int64_t* data<int64_t>(const Tensor& t) { return t.i64(); }
template <typename T>
T* data(Tensor& t);
template <>
float* data<float>(Tensor& t) { return t.f32(); }
template <>
int64_t* data<int64_t>(Tensor& t) { return t.i64(); }

// Integer power by squaring. A negative exponent gives the truncated reciprocal power, which is
// 0 except for bases 1 and -1 (what C++ integer division of 1 by x^n gives).
int64_t int_pow(int64_t base, int64_t exponent) {
  if (exponent < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exponent % 2 == 0) ? 1 : -1;
    return 0;  // base 0 is rejected before the loop: 0 to a negative power has no integer value
  }
  uint64_t result = 1;
  uint64_t b = static_cast<uint64_t>(base);  // unsigned arithmetic wraps like two's complement
  auto e = static_cast<uint64_t>(exponent);
  while (e) {
    if (e & 1u) result *= b;
    b *= b;
    e >>= 1u;
  }
  return static_cast<int64_t>(result);
}

// One combining step out = a (op) b of the arithmetic kinds.
template <Kind K, typename T>
void combine(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, T* out, const Shape& out_shape) {
  if constexpr (K == Kind::Add || K == Kind::Sum || K == Kind::Mean) {
    apply_binary(a, a_shape, b, b_shape, out, out_shape, [](const auto& x, const auto& y) { return x + y; });
  } else if constexpr (K == Kind::Sub) {
    apply_binary(a, a_shape, b, b_shape, out, out_shape, [](const auto& x, const auto& y) { return x - y; });
  } else if constexpr (K == Kind::Mul) {
    apply_binary(a, a_shape, b, b_shape, out, out_shape, [](const auto& x, const auto& y) { return x * y; });
  } else if constexpr (K == Kind::Div) {
    if constexpr (std::is_same_v<T, float>) {
      apply_binary(a, a_shape, b, b_shape, out, out_shape, [](const auto& x, const auto& y) { return x / y; });
    } else {
      // Integer division truncates toward zero, as C++ (and ONNX Runtime) do.
      apply_binary_scalar(a, a_shape, b, b_shape, out, out_shape, [](T x, T y) {
        // INT64_MIN / -1 overflows; two's complement wrap-around gives INT64_MIN.
        return y == -1 ? static_cast<T>(0ull - static_cast<uint64_t>(x)) : x / y;
      });
    }
  } else if constexpr (K == Kind::Max || K == Kind::Min) {
    if constexpr (std::is_same_v<T, float>) {
      // NaN propagates, as numpy.maximum/minimum (the ONNX reference implementation) do. Written
      // as a compare-and-select loop, which GCC vectorises; Eigen's PropagateNaN max trips a
      // false -Wmaybe-uninitialized in GCC 12's AVX-512 headers.
      apply_binary_scalar(a, a_shape, b, b_shape, out, out_shape, [](float x, float y) {
        if constexpr (K == Kind::Max) {
          return (x > y || x != x) ? x : y;
        } else {
          return (x < y || x != x) ? x : y;
        }
      });
    } else if constexpr (K == Kind::Max) {
      apply_binary(a, a_shape, b, b_shape, out, out_shape, [](const auto& x, const auto& y) { return x.max(y); });
    } else {
      apply_binary(a, a_shape, b, b_shape, out, out_shape, [](const auto& x, const auto& y) { return x.min(y); });
    }
  }
}

template <Kind K>
class ArithmeticOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const int n = ctx.input_count();
    if constexpr (is_variadic(K)) {
      if (n < 1) ctx.fail("needs at least one input");
    } else {
      if (n != 2) ctx.fail("needs 2 inputs, got " + std::to_string(n));
    }
    std::vector<Shape> shapes;
    const DType dtype = ctx.input(0).dtype;
    for (int i = 0; i < n; ++i) {
      const TensorInfo& in = ctx.input(i);
      shapes.push_back(in.shape);
      // Pow takes its exponent in any numeric type; the others need one type throughout.
      if (K == Kind::Pow && i == 1) {
        if (in.dtype == DType::Float16) ctx.fail("float16 exponent: the importer should have widened it");
        continue;
      }
      if (in.dtype != dtype)
        ctx.fail(std::string("inputs have different types ") + dtype_name(dtype) + " and " + dtype_name(in.dtype));
    }
    if (dtype != DType::Float32 && dtype != DType::Int64)
      ctx.fail(std::string("supports float32 and int64 inputs, got ") + dtype_name(dtype));
    if (K == Kind::Mean && dtype != DType::Float32) ctx.fail("Mean needs float inputs");
    if constexpr (K == Kind::Div) {
      // A constant integer divisor can be checked now rather than at every run.
      if (dtype == DType::Int64 && ctx.constant(1)) check_divisor(*ctx.constant(1), ctx);
    }
    if constexpr (!is_variadic(K)) {
      Shape b_as;
      std::string error;
      if (elementwise::legacy_broadcast(ctx.attrs(), ctx.node().opset, shapes[0], shapes[1], b_as, error)) {
        if (!error.empty()) ctx.fail(error);
        return {TensorInfo{shapes[0], dtype}};
      }
    }
    return {TensorInfo{elementwise::broadcast_or_fail(ctx, shapes), dtype}};
  }

  void run(const RunContext& ctx) const override {
    Tensor& out = ctx.output(0);
    if (out.dtype() == DType::Float32) {
      run_typed<float>(ctx, out);
    } else {
      run_typed<int64_t>(ctx, out);
    }
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    // One operation per output element per pairwise step (a Mean adds its division).
    int64_t steps = std::max(1, ctx.input_count() - 1) + (K == Kind::Mean ? 1 : 0);
    cost.flops += steps * element_count(outputs.front().shape);
  }

 private:
  template <typename Ctx>
  static void check_divisor(const Tensor& divisor, const Ctx& ctx) {
    const int64_t* d = divisor.i64();
    for (int64_t i = 0; i < divisor.size(); ++i)
      if (d[i] == 0) ctx.fail("integer division by zero");
  }

  template <typename T>
  void run_typed(const RunContext& ctx, Tensor& out) const {
    T* o = data<T>(out);
    const Shape& os = out.shape();
    if constexpr (K == Kind::Pow) {
      run_pow<T>(ctx, out);
    } else if constexpr (is_variadic(K)) {
      const int n = ctx.input_count();
      const Tensor& first = ctx.input(0);
      if (n == 1) {
        // A single input broadcasts to itself: the result is a copy.
        if (out.bytes()) std::memcpy(out.raw(), first.raw(), out.bytes());
      } else {
        combine<K, T>(data<T>(first), first.shape(), data<T>(ctx.input(1)), ctx.input(1).shape(), o, os);
        for (int i = 2; i < n; ++i) combine<K, T>(o, os, data<T>(ctx.input(i)), ctx.input(i).shape(), o, os);
      }
      if constexpr (K == Kind::Mean) {
        const auto count = static_cast<float>(n);
        elementwise::parallel_chunks(out.size(), [&](int64_t b, int64_t e) {
          Eigen::Map<Eigen::ArrayXf> y(out.f32() + b, e - b);
          y /= count;
        });
      }
    } else {
      const Tensor& a = ctx.input(0);
      const Tensor b = second_operand(ctx);
      if constexpr (K == Kind::Div && std::is_same_v<T, int64_t>) check_divisor(b, ctx);
      combine<K, T>(data<T>(a), a.shape(), data<T>(b), b.shape(), o, os);
    }
  }

  // Input 1, viewed with the shape the opset < 7 broadcast rule gives it.
  static Tensor second_operand(const RunContext& ctx) {
    const Tensor& b = ctx.input(1);
    Shape b_as;
    std::string error;
    if (elementwise::legacy_broadcast(ctx.attrs(), ctx.node().opset, ctx.input(0).shape(), b.shape(), b_as, error))
      return b.reshaped(b_as);
    return b;
  }

  template <typename T>
  static void run_pow(const RunContext& ctx, Tensor& out) {
    const Tensor& x = ctx.input(0);
    const Tensor y = second_operand(ctx);
    const Shape& os = out.shape();
    if constexpr (std::is_same_v<T, float>) {
      const Tensor exponent = y.to(DType::Float32);
      const float* e = exponent.f32();
      // x^2 (LayerNorm's variance, exported as Pow) is exact as a product and vectorises.
      if (exponent.size() == 1 && (e[0] == 2.0f || e[0] == 1.0f) && os == x.shape()) {
        const bool square = e[0] == 2.0f;
        elementwise::parallel_chunks(out.size(), [&](int64_t b, int64_t end) {
          Eigen::Map<const Eigen::ArrayXf> in(x.f32() + b, end - b);
          Eigen::Map<Eigen::ArrayXf> o(out.f32() + b, end - b);
          if (square) {
            o = in.square();
          } else {
            o = in;
          }
        });
        return;
      }
      apply_binary_scalar(x.f32(), x.shape(), e, exponent.shape(), out.f32(), os,
                          [](float base, float power) { return std::pow(base, power); });
    } else if (y.dtype() == DType::Int64) {
      const int64_t* e = y.i64();
      const int64_t* base = x.i64();
      // 0 to a negative power is a division by zero in integers.
      bool negative_power = false;
      bool zero_base = false;
      for (int64_t i = 0; i < y.size(); ++i) negative_power |= e[i] < 0;
      for (int64_t i = 0; negative_power && i < x.size(); ++i) zero_base |= base[i] == 0;
      if (negative_power && zero_base) ctx.fail("integer 0 raised to a negative power");
      apply_binary_scalar(base, x.shape(), e, y.shape(), out.i64(), os, int_pow);
    } else {
      // Integer base, float exponent: computed in double and truncated, as ONNX Runtime does.
      apply_binary_scalar(x.i64(), x.shape(), y.f32(), y.shape(), out.i64(), os, [](int64_t base, float power) {
        double v = std::pow(static_cast<double>(base), static_cast<double>(power));
        if (!(std::fabs(v) < 9.2e18)) return v > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
        return static_cast<int64_t>(v);
      });
    }
  }
};

}  // namespace

CODA_REGISTER_OP(Add, ArithmeticOp<Kind::Add>);
CODA_REGISTER_OP(Sub, ArithmeticOp<Kind::Sub>);
CODA_REGISTER_OP(Mul, ArithmeticOp<Kind::Mul>);
CODA_REGISTER_OP(Div, ArithmeticOp<Kind::Div>);
CODA_REGISTER_OP(Pow, ArithmeticOp<Kind::Pow>);
CODA_REGISTER_OP(Max, ArithmeticOp<Kind::Max>);
CODA_REGISTER_OP(Min, ArithmeticOp<Kind::Min>);
CODA_REGISTER_OP(Sum, ArithmeticOp<Kind::Sum>);
CODA_REGISTER_OP(Mean, ArithmeticOp<Kind::Mean>);

}  // namespace coda
