// Shape arithmetic and data movement: Shape, Size, Gather, Slice, Split, Cast, Expand, Range,
// the comparisons Equal/Less/Greater/LessOrEqual/GreaterOrEqual, the logical And/Or/Xor/Not, and
// Where. Exporters build target shapes with these
// (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), so all of them fold at preparation time
// when their inputs are constant; ops whose output shape depends on input data (Slice starts,
// Expand shape, Range bounds, Split sizes) require those inputs to be constants.
// coda has no bool dtype: comparisons produce int64 0/1 and Where/Not accept any nonzero value
// as true. Data movement ops work on every dtype by element size and count no flops.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <Eigen/Core>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

using elementwise::BroadcastCursor;
using elementwise::BroadcastPlan;

int64_t product(const Shape& shape, std::size_t from, std::size_t to) {
  int64_t p = 1;
  for (std::size_t d = from; d < to; ++d) p *= shape[d];
  return p;
}

// ---------------------------------------------------------------------------------------------
// Shape (start/end from opset 15) and Size.

class ShapeOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const auto [start, end] = range(ctx, static_cast<int64_t>(ctx.shape(0).size()));
    return {TensorInfo{{std::max<int64_t>(end - start, 0)}, DType::Int64}};
  }

  void run(const RunContext& ctx) const override {
    // Reads only the input's shape: at preparation time the input may be metadata only.
    const Shape& shape = ctx.input(0).shape();
    const auto [start, end] = range(ctx, static_cast<int64_t>(shape.size()));
    int64_t* out = ctx.output(0).i64();
    for (int64_t d = start; d < end; ++d) out[d - start] = shape[static_cast<std::size_t>(d)];
  }

 private:
  template <typename Ctx>
  static std::pair<int64_t, int64_t> range(const Ctx& ctx, int64_t rank) {
    int64_t start = 0;
    int64_t end = rank;
    if (ctx.node().opset >= 15) {
      start = ctx.attrs().get_int("start", 0);
      end = ctx.attrs().get_int("end", rank);
    }
    // Negative values count from the back; both clamp to [0, rank] (ONNX Shape-15).
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    return {std::clamp<int64_t>(start, 0, rank), std::clamp<int64_t>(end, 0, rank)};
  }
};
CODA_REGISTER_OP(Shape, ShapeOp);

class SizeOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext&) const override { return {TensorInfo{{}, DType::Int64}}; }
  void run(const RunContext& ctx) const override { ctx.output(0).i64()[0] = ctx.input(0).size(); }
};
CODA_REGISTER_OP(Size, SizeOp);

// ---------------------------------------------------------------------------------------------
// Gather: out = data[:axis] + indices.shape + data[axis+1:]; indices in [-s, s-1].

class GatherOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    const TensorInfo& indices = ctx.input(1);
    const auto rank = static_cast<int64_t>(data.shape.size());
    if (rank == 0) ctx.fail("cannot gather from a scalar");
    const int64_t axis = gather_axis(ctx, rank);
    if (indices.dtype != DType::Int64) ctx.fail(std::string("indices must be int64, got ") + dtype_name(indices.dtype));
    if (const Tensor* c = ctx.constant(1)) check_indices(ctx, *c, data.shape[static_cast<std::size_t>(axis)]);
    Shape out(data.shape.begin(), data.shape.begin() + axis);
    out.insert(out.end(), indices.shape.begin(), indices.shape.end());
    out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
    return {TensorInfo{out, data.dtype}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& data = ctx.input(0);
    const Tensor& indices = ctx.input(1);
    const auto axis = static_cast<std::size_t>(gather_axis(ctx, data.rank()));
    const int64_t dim = data.shape()[axis];
    check_indices(ctx, indices, dim);
    const int64_t outer = product(data.shape(), 0, axis);
    const int64_t inner = product(data.shape(), axis + 1, data.shape().size());
    const int64_t count = indices.size();
    const int64_t* idx = indices.i64();
    const std::size_t element = dtype_size(data.dtype());
    const std::size_t bytes = static_cast<std::size_t>(inner) * element;
    const auto* src = static_cast<const char*>(data.raw());
    auto* dst = static_cast<char*>(ctx.output(0).raw());
    const int64_t tasks = outer * count;
    const bool parallel = static_cast<std::size_t>(tasks) * bytes >= elementwise::kParallelCopyBytes && tasks > 1;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t o = t / count;
      int64_t i = idx[t % count];
      if (i < 0) i += dim;
      std::memcpy(dst + static_cast<std::size_t>(t) * bytes, src + static_cast<std::size_t>(o * dim + i) * bytes, bytes);
    }
  }

 private:
  template <typename Ctx>
  static int64_t gather_axis(const Ctx& ctx, int64_t rank) {
    int64_t axis = ctx.attrs().get_int("axis", 0);
    const int64_t given = axis;
    if (!elementwise::normalize_axis(axis, rank))
      ctx.fail("axis " + std::to_string(given) + " is out of range for rank " + std::to_string(rank));
    return axis;
  }

  template <typename Ctx>
  static void check_indices(const Ctx& ctx, const Tensor& indices, int64_t dim) {
    const int64_t* idx = indices.i64();
    for (int64_t i = 0; i < indices.size(); ++i)
      if (idx[i] < -dim || idx[i] >= dim)
        ctx.fail("index " + std::to_string(idx[i]) + " is out of range for an axis of size " + std::to_string(dim));
  }
};
CODA_REGISTER_OP(Gather, GatherOp);

// ---------------------------------------------------------------------------------------------
// Slice: starts/ends/axes attributes before opset 10; constant inputs starts, ends, axes, steps
// from 10. Bounds clamp as the spec says: to [0, dim] for positive steps, [-1, dim-1] for
// negative ones (so a negative step can run down to and including index 0).

struct SliceSpec {
  Shape out;
  std::vector<int64_t> start;  // per input dimension
  std::vector<int64_t> step;
};

template <typename Ctx>
SliceSpec slice_spec(const Ctx& ctx, const Shape& shape, const Tensor* starts_in, const Tensor* ends_in,
                     const Tensor* axes_in, const Tensor* steps_in) {
  std::vector<int64_t> starts;
  std::vector<int64_t> ends;
  std::vector<int64_t> axes;
  std::vector<int64_t> steps;
  if (ctx.node().opset < 10) {
    starts = ctx.attrs().get_ints("starts");
    ends = ctx.attrs().get_ints("ends");
    axes = ctx.attrs().get_ints("axes");
  } else {
    if (!starts_in || !ends_in) ctx.fail("starts and ends must be constants");
    starts = starts_in->to_int64_vector();
    ends = ends_in->to_int64_vector();
    if (axes_in) axes = axes_in->to_int64_vector();
    if (steps_in) steps = steps_in->to_int64_vector();
  }
  const auto rank = static_cast<int64_t>(shape.size());
  if (starts.size() != ends.size())
    ctx.fail("starts has " + std::to_string(starts.size()) + " entries, ends " + std::to_string(ends.size()));
  if (axes.empty())
    for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    ctx.fail("starts, ends, axes and steps must have the same length");
  SliceSpec spec;
  spec.out = shape;
  spec.start.assign(shape.size(), 0);
  spec.step.assign(shape.size(), 1);
  std::vector<bool> seen(shape.size(), false);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i];
    if (!elementwise::normalize_axis(a, rank))
      ctx.fail("axis " + std::to_string(axes[i]) + " is out of range for rank " + std::to_string(rank));
    const auto d = static_cast<std::size_t>(a);
    if (seen[d]) ctx.fail("axis " + std::to_string(axes[i]) + " is given twice");
    seen[d] = true;
    const int64_t step = steps[i];
    if (step == 0) ctx.fail("steps must not be 0");
    const int64_t dim = shape[d];
    int64_t start = starts[i];
    int64_t end = ends[i];
    // Adding dim to a negative bound cannot overflow (dim >= 0).
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
    }
    spec.out[d] = count;
    spec.start[d] = start;
    spec.step[d] = step;
  }
  return spec;
}

template <typename T>
void slice_typed(const T* in, T* out, const Shape& in_shape, const SliceSpec& spec) {
  const std::size_t rank = in_shape.size();
  const int64_t total = product(spec.out, 0, rank);
  if (total == 0) return;
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  std::vector<int64_t> in_strides(rank, 1);
  for (std::size_t d = rank - 1; d-- > 0;) in_strides[d] = in_strides[d + 1] * in_shape[d + 1];
  const int64_t inner = spec.out[rank - 1];
  const int64_t rows = total / inner;
  const int64_t step = spec.step[rank - 1];
  const bool parallel = total >= elementwise::kParallelMin && rows > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t offset = spec.start[rank - 1];
    int64_t rest = r;
    for (std::size_t d = rank - 1; d-- > 0;) {
      offset += (spec.start[d] + (rest % spec.out[d]) * spec.step[d]) * in_strides[d];
      rest /= spec.out[d];
    }
    T* o = out + r * inner;
    if (step == 1) {
      std::memcpy(o, in + offset, static_cast<std::size_t>(inner) * sizeof(T));
    } else {
      for (int64_t x = 0; x < inner; ++x) o[x] = in[offset + x * step];
    }
  }
}

class SliceOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    if (ctx.node().opset >= 10) {
      for (int i = 1; i <= 4; ++i)
        if (ctx.has_input(i) && !ctx.constant(i))
          ctx.fail(std::string(kNames[i - 1]) + " must be a constant (or computed from constants and input shapes only)");
    }
    const SliceSpec spec = slice_spec(ctx, data.shape, ctx.constant(1), ctx.constant(2),
                                      ctx.has_input(3) ? ctx.constant(3) : nullptr,
                                      ctx.has_input(4) ? ctx.constant(4) : nullptr);
    return {TensorInfo{spec.out, data.dtype}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& data = ctx.input(0);
    const bool inputs = ctx.node().opset >= 10;
    const SliceSpec spec =
        slice_spec(ctx, data.shape(), inputs ? &ctx.input(1) : nullptr, inputs ? &ctx.input(2) : nullptr,
                   inputs && ctx.has_input(3) ? &ctx.input(3) : nullptr, inputs && ctx.has_input(4) ? &ctx.input(4) : nullptr);
    elementwise::with_element_type(data.dtype(), [&](auto zero) {
      using T = decltype(zero);
      slice_typed(static_cast<const T*>(data.raw()), static_cast<T*>(ctx.output(0).raw()), data.shape(), spec);
    });
  }

 private:
  static constexpr const char* kNames[4] = {"starts", "ends", "axes", "steps"};
};
CODA_REGISTER_OP(Slice, SliceOp);

// ---------------------------------------------------------------------------------------------
// Split along `axis`: sizes from the `split` attribute (opset < 13) or constant input 1 (opset
// >= 13, also opsets 1-2); else num_outputs (opset 18: chunks of ceil(dim / n), the last
// smaller); else equal parts, one per output.

template <typename Ctx>
std::vector<int64_t> split_sizes(const Ctx& ctx, const Shape& shape, int64_t& axis, const Tensor* split_in) {
  const auto rank = static_cast<int64_t>(shape.size());
  axis = ctx.attrs().get_int("axis", 0);
  const int64_t given = axis;
  if (!elementwise::normalize_axis(axis, rank))
    ctx.fail("axis " + std::to_string(given) + " is out of range for rank " + std::to_string(rank));
  const int64_t dim = shape[static_cast<std::size_t>(axis)];
  const auto outputs = static_cast<int64_t>(ctx.node().outputs.size());
  std::vector<int64_t> sizes;
  if (split_in) {
    sizes = split_in->to_int64_vector();
  } else if (ctx.attrs().has("split")) {
    sizes = ctx.attrs().get_ints("split");
  } else if (ctx.attrs().has("num_outputs")) {
    const int64_t n = ctx.attrs().get_int("num_outputs", 0);
    if (n < 1) ctx.fail("num_outputs must be positive, got " + std::to_string(n));
    if (n != outputs)
      ctx.fail("num_outputs is " + std::to_string(n) + " but the node has " + std::to_string(outputs) + " outputs");
    const int64_t chunk = (dim + n - 1) / n;
    for (int64_t k = 0; k < n; ++k) sizes.push_back(std::clamp<int64_t>(dim - k * chunk, 0, chunk));
    return sizes;
  } else {
    if (outputs < 1) ctx.fail("has no outputs");
    if (dim % outputs != 0)
      ctx.fail("cannot split an axis of size " + std::to_string(dim) + " into " + std::to_string(outputs) +
               " equal parts");
    sizes.assign(static_cast<std::size_t>(outputs), dim / outputs);
    return sizes;
  }
  if (static_cast<int64_t>(sizes.size()) != outputs)
    ctx.fail("split has " + std::to_string(sizes.size()) + " sizes but the node has " + std::to_string(outputs) +
             " outputs");
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) ctx.fail("split sizes must not be negative");
    sum += s;
  }
  if (sum != dim)
    ctx.fail("split sizes add up to " + std::to_string(sum) + ", the axis has size " + std::to_string(dim));
  return sizes;
}

class SplitOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    if (data.shape.empty()) ctx.fail("cannot split a scalar");
    if (ctx.has_input(1) && !ctx.constant(1)) ctx.fail("the split input must be a constant");
    int64_t axis = 0;
    const std::vector<int64_t> sizes = split_sizes(ctx, data.shape, axis, ctx.has_input(1) ? ctx.constant(1) : nullptr);
    std::vector<TensorInfo> outs;
    for (int64_t s : sizes) {
      Shape shape = data.shape;
      shape[static_cast<std::size_t>(axis)] = s;
      outs.push_back(TensorInfo{shape, data.dtype});
    }
    return outs;
  }

  void run(const RunContext& ctx) const override {
    const Tensor& data = ctx.input(0);
    int64_t axis = 0;
    const std::vector<int64_t> sizes = split_sizes(ctx, data.shape(), axis, ctx.has_input(1) ? &ctx.input(1) : nullptr);
    const auto a = static_cast<std::size_t>(axis);
    const int64_t outer = product(data.shape(), 0, a);
    const std::size_t inner = static_cast<std::size_t>(product(data.shape(), a + 1, data.shape().size())) *
                              dtype_size(data.dtype());
    const std::size_t row = static_cast<std::size_t>(data.shape()[a]) * inner;
    const auto* src = static_cast<const char*>(data.raw());
    std::size_t start = 0;
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      const std::size_t block = static_cast<std::size_t>(sizes[k]) * inner;
      if (ctx.has_output(static_cast<int>(k))) {
        auto* dst = static_cast<char*>(ctx.output(static_cast<int>(k)).raw());
        if (outer == 1) {
          elementwise::parallel_copy(dst, src + start, block);
        } else {
          const bool parallel = static_cast<std::size_t>(outer) * block >= elementwise::kParallelCopyBytes;
#pragma omp parallel for schedule(static) if (parallel)
          for (int64_t o = 0; o < outer; ++o)
            std::memcpy(dst + static_cast<std::size_t>(o) * block, src + static_cast<std::size_t>(o) * row + start, block);
        }
      }
      start += block;
    }
  }
};
CODA_REGISTER_OP(Split, SplitOp);

// ---------------------------------------------------------------------------------------------
// Cast. `to` is an onnx.TensorProto.DataType (onnx/onnx.proto): float types land in float32
// storage, rounded to the target's precision (float16, bfloat16; double keeps float32
// precision); integer types and bool land in int64, wrapped to the target's width as a C++
// conversion would (bool: nonzero -> 1). Floats become integers by truncation toward zero,
// saturating at the int64 range (NaN -> 0), which keeps the conversion defined everywhere.

enum TensorProtoType : int64_t {
  kFloat = 1, kUint8 = 2, kInt8 = 3, kUint16 = 4, kInt16 = 5, kInt32 = 6, kInt64 = 7, kString = 8,
  kBool = 9, kFloat16 = 10, kDouble = 11, kUint32 = 12, kUint64 = 13, kBfloat16 = 16
};

int64_t wrap_int(int64_t v, int64_t to) {
  switch (to) {
    case kUint8: return static_cast<uint8_t>(v);
    case kInt8: return static_cast<int8_t>(v);
    case kUint16: return static_cast<uint16_t>(v);
    case kInt16: return static_cast<int16_t>(v);
    case kInt32: return static_cast<int32_t>(v);
    case kUint32: return static_cast<uint32_t>(v);
    case kBool: return v != 0 ? 1 : 0;
    default: return v;  // int64, uint64 (same bits)
  }
}

int64_t float_to_int(float v) {
  if (std::isnan(v)) return 0;
  // 2^63 is exactly representable in float; anything at or beyond it saturates.
  constexpr float kLimit = 9223372036854775808.0f;
  if (v >= kLimit) return std::numeric_limits<int64_t>::max();
  if (v < -kLimit) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(v);
}

class CastOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& x = ctx.input(0);
    return {TensorInfo{x.shape, target_dtype(ctx)}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.output(0);
    const int64_t to = ctx.attrs().get_int("to", 0);
    const int64_t n = x.size();
    // float32 view of the input (float16 inputs widen, exactly).
    const Tensor xf = x.dtype() == DType::Float16 ? x.to(DType::Float32) : x;
    if (y.dtype() == DType::Float32) {
      float* out = y.f32();
      if (xf.dtype() == DType::Int64) {
        const int64_t* in = xf.i64();
        elementwise::parallel_chunks(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) out[i] = static_cast<float>(in[i]);
        });
      } else if (out != xf.f32()) {
        std::memcpy(out, xf.f32(), static_cast<std::size_t>(n) * sizeof(float));
      }
      if (to == kFloat16) {
        elementwise::parallel_chunks(n, [&](int64_t b, int64_t e) {
          Eigen::Map<Eigen::ArrayXf> v(out + b, e - b);
          v = v.cast<Eigen::half>().cast<float>();
        });
      } else if (to == kBfloat16) {
        elementwise::parallel_chunks(n, [&](int64_t b, int64_t e) {
          Eigen::Map<Eigen::ArrayXf> v(out + b, e - b);
          v = v.cast<Eigen::bfloat16>().cast<float>();
        });
      }
      return;
    }
    int64_t* out = y.i64();
    if (xf.dtype() == DType::Int64) {
      const int64_t* in = xf.i64();
      elementwise::parallel_chunks(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = wrap_int(in[i], to);
      });
    } else {
      const float* in = xf.f32();
      elementwise::parallel_chunks(n, [&](int64_t b, int64_t e) {
        // Bool is "nonzero" on the float itself: 0.5 is true.
        if (to == kBool) {
          for (int64_t i = b; i < e; ++i) out[i] = in[i] != 0.0f ? 1 : 0;
        } else {
          for (int64_t i = b; i < e; ++i) out[i] = wrap_int(float_to_int(in[i]), to);
        }
      });
    }
  }

  void count(const InferContext&, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    cost.flops += element_count(outputs.front().shape);
  }

 private:
  static DType target_dtype(const InferContext& ctx) {
    if (!ctx.attrs().has("to")) ctx.fail("the 'to' attribute is required");
    const int64_t to = ctx.attrs().get_int("to", 0);
    switch (to) {
      case kFloat: case kFloat16: case kDouble: case kBfloat16:
        return DType::Float32;
      case kUint8: case kInt8: case kUint16: case kInt16: case kInt32: case kInt64: case kBool: case kUint32:
      case kUint64:
        return DType::Int64;
      default:
        ctx.fail("cannot cast to ONNX data type " + std::to_string(to) + (to == kString ? " (string)" : ""));
    }
  }
};
CODA_REGISTER_OP(Cast, CastOp);

// ---------------------------------------------------------------------------------------------
// Expand: broadcasts the input against the constant shape input (bidirectionally: a 1 in the
// shape keeps the input's dimension).

class ExpandOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    const Tensor* shape = ctx.constant(1);
    if (!shape) ctx.fail("the shape input must be a constant (or computed from constants and input shapes only)");
    if (shape->dtype() != DType::Int64) ctx.fail("the shape input must be int64");
    if (shape->rank() != 1) ctx.fail("the shape input must be 1-D, got shape " + shape_string(shape->shape()));
    const Shape target = shape->to_int64_vector();
    for (int64_t d : target)
      if (d < 0) ctx.fail("the shape " + shape_string(target) + " has a negative dimension");
    return {TensorInfo{elementwise::broadcast_or_fail(ctx, {data.shape, target}), data.dtype}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& data = ctx.input(0);
    Tensor& out = ctx.output(0);
    BroadcastPlan plan(out.shape(), {data.shape()});
    const int64_t inner = plan.inner();
    const bool walks = plan.inner_stride(0) != 0;
    elementwise::with_element_type(data.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T* in = static_cast<const T*>(data.raw());
      T* o = static_cast<T*>(out.raw());
      elementwise::for_each_segment(plan, [&](const BroadcastCursor& c, int64_t row, int64_t begin, int64_t end) {
        T* dst = o + row * inner + begin;
        if (walks) {
          std::memcpy(dst, in + c.offset(0) + begin, static_cast<std::size_t>(end - begin) * sizeof(T));
        } else {
          std::fill(dst, dst + (end - begin), in[c.offset(0)]);
        }
      });
    });
  }
};
CODA_REGISTER_OP(Expand, ExpandOp);

// ---------------------------------------------------------------------------------------------
// Range(start, limit, delta): max(ceil((limit - start) / delta), 0) elements start + i * delta
// (ONNX Range-11). The count is computed in double from the difference in the input type, as
// ONNX Runtime does.

class RangeOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const DType dtype = ctx.input(0).dtype;
    for (int i = 0; i < 3; ++i) {
      const TensorInfo& in = ctx.input(i);
      if (in.dtype != dtype) ctx.fail("start, limit and delta must have the same type");
      if (element_count(in.shape) != 1) ctx.fail("start, limit and delta must be scalars");
      if (!ctx.constant(i)) ctx.fail("start, limit and delta must be constants (the output size depends on them)");
    }
    if (dtype != DType::Float32 && dtype != DType::Int64)
      ctx.fail(std::string("supports float32 and int64, got ") + dtype_name(dtype));
    return {TensorInfo{{count(ctx, *ctx.constant(0), *ctx.constant(1), *ctx.constant(2))}, dtype}};
  }

  void run(const RunContext& ctx) const override {
    Tensor& out = ctx.output(0);
    const int64_t n = out.size();
    if (out.dtype() == DType::Int64) {
      const int64_t start = ctx.input(0).i64()[0];
      const int64_t delta = ctx.input(2).i64()[0];
      for (int64_t i = 0; i < n; ++i) out.i64()[i] = start + i * delta;
    } else {
      const float start = ctx.input(0).f32()[0];
      const float delta = ctx.input(2).f32()[0];
      for (int64_t i = 0; i < n; ++i) out.f32()[i] = start + static_cast<float>(i) * delta;
    }
  }

  void count(const InferContext&, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    cost.flops += element_count(outputs.front().shape);
  }

 private:
  static int64_t count(const InferContext& ctx, const Tensor& start, const Tensor& limit, const Tensor& delta) {
    double span = 0.0;
    double step = 0.0;
    if (start.dtype() == DType::Int64) {
      if (delta.i64()[0] == 0) ctx.fail("delta must not be 0");
      span = static_cast<double>(limit.i64()[0] - start.i64()[0]);
      step = static_cast<double>(delta.i64()[0]);
    } else {
      if (delta.f32()[0] == 0.0f) ctx.fail("delta must not be 0");
      span = static_cast<double>(limit.f32()[0] - start.f32()[0]);
      step = static_cast<double>(delta.f32()[0]);
    }
    const double n = std::ceil(span / step);
    if (!(n < 9.0e18)) ctx.fail("the range has too many elements");
    return n > 0 ? static_cast<int64_t>(n) : 0;
  }
};
CODA_REGISTER_OP(Range, RangeOp);

// ---------------------------------------------------------------------------------------------
// Comparisons and logical ops (int64 0/1 out), Not, Where.

enum class Compare { Equal, Less, Greater, LessOrEqual, GreaterOrEqual, And, Or, Xor };

constexpr bool is_logical(Compare c) { return c == Compare::And || c == Compare::Or || c == Compare::Xor; }

template <Compare C>
class CompareOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& a = ctx.input(0);
    const TensorInfo& b = ctx.input(1);
    if (a.dtype != b.dtype)
      ctx.fail(std::string("inputs have different types ") + dtype_name(a.dtype) + " and " + dtype_name(b.dtype));
    if (a.dtype == DType::Float16) ctx.fail("float16 input: the importer should have widened it to float32");
    if (is_logical(C) && a.dtype != DType::Int64) ctx.fail("needs bool (int64 0/1) inputs");
    Shape b_as;
    std::string error;
    if (elementwise::legacy_broadcast(ctx.attrs(), ctx.node().opset, a.shape, b.shape, b_as, error)) {
      if (!error.empty()) ctx.fail(error);
      return {TensorInfo{a.shape, DType::Int64}};
    }
    return {TensorInfo{elementwise::broadcast_or_fail(ctx, {a.shape, b.shape}), DType::Int64}};
  }

  void run(const RunContext& ctx) const override {
    Tensor b = ctx.input(1);
    Shape b_as;
    std::string error;
    if (elementwise::legacy_broadcast(ctx.attrs(), ctx.node().opset, ctx.input(0).shape(), b.shape(), b_as, error))
      b = b.reshaped(b_as);
    if (ctx.input(0).dtype() == DType::Int64) {
      run_typed(ctx.input(0).i64(), ctx.input(0).shape(), b.i64(), b.shape(), ctx);
    } else {
      run_typed(ctx.input(0).f32(), ctx.input(0).shape(), b.f32(), b.shape(), ctx);
    }
  }

  void count(const InferContext&, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    cost.flops += element_count(outputs.front().shape);
  }

 private:
  template <typename T>
  static void run_typed(const T* a, const Shape& a_shape, const T* b, const Shape& b_shape, const RunContext& ctx) {
    Tensor& out = ctx.output(0);
    int64_t* o = out.i64();
    BroadcastPlan plan(out.shape(), {a_shape, b_shape});
    const int64_t inner = plan.inner();
    const int64_t sa = plan.inner_stride(0);
    const int64_t sb = plan.inner_stride(1);
    elementwise::for_each_segment(plan, [&](const BroadcastCursor& c, int64_t row, int64_t begin, int64_t end) {
      const T* pa = a + c.offset(0);
      const T* pb = b + c.offset(1);
      int64_t* dst = o + row * inner;
      for (int64_t i = begin; i < end; ++i) {
        const T x = pa[i * sa];
        const T y = pb[i * sb];
        if constexpr (C == Compare::Equal) {
          dst[i] = x == y;
        } else if constexpr (C == Compare::Less) {
          dst[i] = x < y;
        } else if constexpr (C == Compare::Greater) {
          dst[i] = x > y;
        } else if constexpr (C == Compare::LessOrEqual) {
          dst[i] = x <= y;
        } else if constexpr (C == Compare::GreaterOrEqual) {
          dst[i] = x >= y;
        } else if constexpr (C == Compare::And) {
          dst[i] = (x != 0) && (y != 0);
        } else if constexpr (C == Compare::Or) {
          dst[i] = (x != 0) || (y != 0);
        } else {
          dst[i] = (x != 0) != (y != 0);
        }
      }
    });
  }
};
CODA_REGISTER_OP(Equal, CompareOp<Compare::Equal>);
CODA_REGISTER_OP(Less, CompareOp<Compare::Less>);
CODA_REGISTER_OP(Greater, CompareOp<Compare::Greater>);
CODA_REGISTER_OP(LessOrEqual, CompareOp<Compare::LessOrEqual>);
CODA_REGISTER_OP(GreaterOrEqual, CompareOp<Compare::GreaterOrEqual>);
CODA_REGISTER_OP(And, CompareOp<Compare::And>);
CODA_REGISTER_OP(Or, CompareOp<Compare::Or>);
CODA_REGISTER_OP(Xor, CompareOp<Compare::Xor>);

class NotOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    if (ctx.input(0).dtype != DType::Int64) ctx.fail("needs a bool (int64 0/1) input");
    return {ctx.input(0)};
  }
  void run(const RunContext& ctx) const override {
    const int64_t* in = ctx.input(0).i64();
    int64_t* out = ctx.output(0).i64();
    elementwise::parallel_chunks(ctx.input(0).size(), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = in[i] == 0 ? 1 : 0;
    });
  }
};
CODA_REGISTER_OP(Not, NotOp);

// Where(condition, X, Y): X where the condition is nonzero, else Y; all three broadcast.
class WhereOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& cond = ctx.input(0);
    const TensorInfo& x = ctx.input(1);
    const TensorInfo& y = ctx.input(2);
    if (cond.dtype == DType::Float16) ctx.fail("the condition must be bool (int64 0/1)");
    if (x.dtype != y.dtype)
      ctx.fail(std::string("X is ") + dtype_name(x.dtype) + ", Y is " + dtype_name(y.dtype));
    return {TensorInfo{elementwise::broadcast_or_fail(ctx, {cond.shape, x.shape, y.shape}), x.dtype}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& cond = ctx.input(0);
    Tensor cond64 = cond;
    if (cond.dtype() == DType::Float32) {
      // Nonzero is true (a truncating conversion would make 0.5 false).
      cond64 = Tensor(cond.shape(), DType::Int64);
      const float* f = cond.f32();
      for (int64_t i = 0; i < cond.size(); ++i) cond64.i64()[i] = f[i] != 0.0f ? 1 : 0;
    }
    Tensor& out = ctx.output(0);
    BroadcastPlan plan(out.shape(), {cond.shape(), ctx.input(1).shape(), ctx.input(2).shape()});
    const int64_t inner = plan.inner();
    const int64_t sc = plan.inner_stride(0);
    const int64_t sx = plan.inner_stride(1);
    const int64_t sy = plan.inner_stride(2);
    const int64_t* c = cond64.i64();
    elementwise::with_element_type(out.dtype(), [&](auto zero) {
      using T = decltype(zero);
      const T* x = static_cast<const T*>(ctx.input(1).raw());
      const T* y = static_cast<const T*>(ctx.input(2).raw());
      T* o = static_cast<T*>(out.raw());
      elementwise::for_each_segment(plan, [&](const BroadcastCursor& cur, int64_t row, int64_t begin, int64_t end) {
        const int64_t* pc = c + cur.offset(0);
        const T* px = x + cur.offset(1);
        const T* py = y + cur.offset(2);
        T* dst = o + row * inner;
        for (int64_t i = begin; i < end; ++i) dst[i] = pc[i * sc] != 0 ? px[i * sx] : py[i * sy];
      });
    });
  }
};
CODA_REGISTER_OP(Where, WhereOp);

}  // namespace

}  // namespace coda
