// Ops whose output is their input with another shape: Reshape, Flatten, Squeeze, Unsqueeze and
// Identity. They are views (is_view): the executor hands the input's buffer to the output and never
// calls run(), which copies only for callers that want a separate tensor.
// Dropout also lives here. In inference it is the identity, but its optional mask output makes it
// a two-output op, and is_view() cannot tell nodes apart, so it copies (a memcpy next to the
// layers around it). The mask, bool in ONNX, is produced as int64 ones: coda has no bool dtype
// and every element is kept in inference.
#include <algorithm>
#include <cstring>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

class ViewOp : public OpKernel {
 public:
  bool is_view() const override { return true; }
  void run(const RunContext& ctx) const override {
    Tensor& out = ctx.output(0);
    elementwise::parallel_copy(out.raw(), ctx.input(0).raw(), out.bytes());
  }
};

// Reshape: the target shape is the constant input 1 (opset >= 5) or the `shape` attribute (opset
// < 5). 0 copies the input's dimension at that index, unless allowzero=1 (opset 14) where it means
// an empty dimension; one -1 is inferred from the element count.
class ReshapeOp final : public ViewOp {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    std::vector<int64_t> target;
    if (ctx.node().opset < 5 && !ctx.has_input(1)) {
      if (!ctx.attrs().has("shape")) ctx.fail("the 'shape' attribute is required");
      target = ctx.attrs().get_ints("shape");
    } else {
      if (!ctx.has_input(1)) ctx.fail("needs the shape input");
      const Tensor* shape = ctx.constant(1);
      if (!shape)
        ctx.fail("the shape input must be a constant (or computed from constants and input shapes only)");
      if (shape->dtype() != DType::Int64) ctx.fail(std::string("the shape input must be int64, got ") + dtype_name(shape->dtype()));
      if (shape->rank() != 1) ctx.fail("the shape input must be 1-D, got shape " + shape_string(shape->shape()));
      target = shape->to_int64_vector();
    }
    const bool allowzero = ctx.node().opset >= 14 && ctx.attrs().get_int("allowzero", 0) != 0;
    Shape out(target.size());
    int inferred = -1;
    int64_t known = 1;
    for (std::size_t i = 0; i < target.size(); ++i) {
      int64_t d = target[i];
      if (d == 0 && !allowzero) {
        if (i >= data.shape.size())
          ctx.fail("shape entry " + std::to_string(i) + " is 0 (copy the input dimension), but the input " +
                   shape_string(data.shape) + " has rank " + std::to_string(data.shape.size()));
        d = data.shape[i];
      } else if (d == -1) {
        if (inferred >= 0) ctx.fail("shape " + shape_list(target) + " has more than one -1");
        inferred = static_cast<int>(i);
        out[i] = -1;
        continue;
      } else if (d < -1) {
        ctx.fail("shape " + shape_list(target) + " has the invalid dimension " + std::to_string(d));
      }
      out[i] = d;
      known *= d;
    }
    const int64_t count = element_count(data.shape);
    if (inferred >= 0) {
      if (known == 0 || count % known != 0)
        ctx.fail("cannot reshape " + shape_string(data.shape) + " to " + shape_list(target) +
                 ": the -1 dimension cannot be inferred");
      out[static_cast<std::size_t>(inferred)] = count / known;
    } else if (known != count) {
      ctx.fail("cannot reshape " + shape_string(data.shape) + " (" + std::to_string(count) + " elements) to " +
               shape_string(out) + " (" + std::to_string(known) + " elements)");
    }
    return {TensorInfo{out, data.dtype}};
  }

 private:
  // "[2,-1,0]": the requested shape as written, with its -1 and 0 entries.
  static std::string shape_list(const std::vector<int64_t>& dims) {
    std::string s = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
    return s + "]";
  }
};
CODA_REGISTER_OP(Reshape, ReshapeOp);

// Flatten: 2-D [d0 * ... * d(axis-1), d(axis) * ... * d(n-1)]; axis in [-r, r], default 1.
class FlattenOp final : public ViewOp {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    const auto rank = static_cast<int64_t>(data.shape.size());
    int64_t axis = ctx.attrs().get_int("axis", 1);
    if (axis < -rank || axis > rank)
      ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    if (axis < 0) axis += rank;
    int64_t outer = 1;
    int64_t inner = 1;
    for (int64_t d = 0; d < rank; ++d) (d < axis ? outer : inner) *= data.shape[static_cast<std::size_t>(d)];
    return {TensorInfo{{outer, inner}, data.dtype}};
  }
};
CODA_REGISTER_OP(Flatten, FlattenOp);

// Axes of Squeeze/Unsqueeze: attribute before opset 13, constant input 1 from 13.
std::vector<int64_t> axes_of(const InferContext& ctx, bool required) {
  std::vector<int64_t> axes;
  if (!ctx.ints_from_attr_or_input("axes", 1, axes) && required) ctx.fail("the axes are required");
  return axes;
}

class SqueezeOp final : public ViewOp {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    const auto rank = static_cast<int64_t>(data.shape.size());
    std::vector<int64_t> axes = axes_of(ctx, false);
    std::vector<bool> drop(data.shape.size(), false);
    if (axes.empty()) {
      // No axes: every dimension of size 1 goes.
      for (std::size_t d = 0; d < data.shape.size(); ++d) drop[d] = data.shape[d] == 1;
    }
    for (int64_t axis : axes) {
      int64_t a = axis;
      if (!elementwise::normalize_axis(a, rank))
        ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
      if (data.shape[static_cast<std::size_t>(a)] != 1)
        ctx.fail("cannot squeeze axis " + std::to_string(axis) + " of shape " + shape_string(data.shape) +
                 ": its size is not 1");
      drop[static_cast<std::size_t>(a)] = true;
    }
    Shape out;
    for (std::size_t d = 0; d < data.shape.size(); ++d)
      if (!drop[d]) out.push_back(data.shape[d]);
    return {TensorInfo{out, data.dtype}};
  }
};
CODA_REGISTER_OP(Squeeze, SqueezeOp);

// Unsqueeze: axes index the output, whose rank is the input's plus the number of axes.
class UnsqueezeOp final : public ViewOp {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    std::vector<int64_t> axes = axes_of(ctx, true);
    const auto rank = static_cast<int64_t>(data.shape.size() + axes.size());
    std::vector<bool> inserted(static_cast<std::size_t>(rank), false);
    for (int64_t axis : axes) {
      int64_t a = axis;
      if (!elementwise::normalize_axis(a, rank))
        ctx.fail("axis " + std::to_string(axis) + " is out of range for output rank " + std::to_string(rank));
      if (inserted[static_cast<std::size_t>(a)]) ctx.fail("axis " + std::to_string(axis) + " is given twice");
      inserted[static_cast<std::size_t>(a)] = true;
    }
    Shape out;
    std::size_t next = 0;
    for (int64_t d = 0; d < rank; ++d) out.push_back(inserted[static_cast<std::size_t>(d)] ? 1 : data.shape[next++]);
    return {TensorInfo{out, data.dtype}};
  }
};
CODA_REGISTER_OP(Unsqueeze, UnsqueezeOp);

class IdentityOp final : public ViewOp {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override { return {ctx.input(0)}; }
};
CODA_REGISTER_OP(Identity, IdentityOp);

// Dropout in inference: output = input. Opset < 12 gives ratio (and, before 7, is_test) as
// attributes; coda runs inference whatever is_test says. From 12, ratio and training_mode are
// inputs: a training_mode that is true fails, since coda does not draw random masks.
class DropoutOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    if (ctx.node().opset >= 12 && ctx.has_input(2) && ctx.constant(2)) check_training(*ctx.constant(2), ctx);
    return {data, TensorInfo{data.shape, DType::Int64}};
  }

  void run(const RunContext& ctx) const override {
    if (ctx.node().opset >= 12 && ctx.has_input(2)) check_training(ctx.input(2), ctx);
    Tensor& out = ctx.output(0);
    elementwise::parallel_copy(out.raw(), ctx.input(0).raw(), out.bytes());
    if (ctx.has_output(1)) {
      Tensor& mask = ctx.output(1);
      std::fill(mask.i64(), mask.i64() + mask.size(), int64_t{1});
    }
  }

 private:
  template <typename Ctx>
  static void check_training(const Tensor& training_mode, const Ctx& ctx) {
    for (int64_t flag : training_mode.to_int64_vector())
      if (flag != 0) ctx.fail("training_mode is true; coda runs Dropout in inference only");
  }
};
CODA_REGISTER_OP(Dropout, DropoutOp);

}  // namespace

}  // namespace coda
