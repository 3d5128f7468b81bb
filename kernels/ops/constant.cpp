// Constant (value / value_float / value_floats / value_int / value_ints attributes) and
// ConstantOfShape (a tensor of the constant input's shape filled with the one-element `value`
// attribute, float32 0 by default). Both have no non-constant inputs, so prepare_graph folds them
// into constants. Float16 values are widened to float32, the compute type.
#include <algorithm>
#include <cstring>

#include "kernels/error.h"
#include "kernels/op.h"

namespace coda {

namespace {

template <typename Ctx>
Tensor constant_value(const Ctx& ctx) {
  const Attributes& attrs = ctx.attrs();
  int given = 0;
  for (const char* name : {"value", "value_float", "value_floats", "value_int", "value_ints", "sparse_value",
                           "value_string", "value_strings"})
    given += attrs.has(name) ? 1 : 0;
  if (given != 1) ctx.fail("needs exactly one value attribute, got " + std::to_string(given));
  if (attrs.has("sparse_value")) ctx.fail("sparse_value is not supported");
  if (attrs.has("value_string") || attrs.has("value_strings")) ctx.fail("string constants are not supported");
  if (const Tensor* t = attrs.get_tensor("value")) {
    if (t->empty() && t->size() > 0) ctx.fail("the value tensor has no data");
    return t->dtype() == DType::Float16 ? t->to(DType::Float32) : *t;
  }
  if (attrs.has("value_float")) return Tensor::scalar(attrs.get_float("value_float", 0.0f));
  if (attrs.has("value_int")) return Tensor::from_int64({}, {attrs.get_int("value_int", 0)});
  if (attrs.has("value_floats")) {
    std::vector<float> v = attrs.get_floats("value_floats");
    return Tensor::from_floats({static_cast<int64_t>(v.size())}, v);
  }
  std::vector<int64_t> v = attrs.get_ints("value_ints");
  return Tensor::from_int64({static_cast<int64_t>(v.size())}, v);
}

class ConstantOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const Tensor value = constant_value(ctx);
    return {TensorInfo{value.shape(), value.dtype()}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor value = constant_value(ctx);
    Tensor& out = ctx.output(0);
    if (out.bytes()) std::memcpy(out.raw(), value.raw(), out.bytes());
  }
};
CODA_REGISTER_OP(Constant, ConstantOp);

template <typename Ctx>
Tensor fill_value(const Ctx& ctx) {
  const Tensor* t = ctx.attrs().get_tensor("value");
  if (!t) return Tensor::scalar(0.0f);
  if (t->size() != 1) ctx.fail("value must have one element, got " + std::to_string(t->size()));
  return t->dtype() == DType::Float16 ? t->to(DType::Float32) : *t;
}

class ConstantOfShapeOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& shape_info = ctx.input(0);
    const Tensor* shape = ctx.constant(0);
    if (!shape) ctx.fail("the shape input must be a constant (or computed from constants and input shapes only)");
    if (shape_info.dtype != DType::Int64) ctx.fail(std::string("the shape input must be int64, got ") + dtype_name(shape_info.dtype));
    if (shape->rank() > 1) ctx.fail("the shape input must be 1-D, got shape " + shape_string(shape->shape()));
    Shape out = shape->to_int64_vector();
    for (int64_t d : out)
      if (d < 0) ctx.fail("the shape " + shape_string(out) + " has a negative dimension");
    return {TensorInfo{out, fill_value(ctx).dtype()}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor value = fill_value(ctx);
    Tensor& out = ctx.output(0);
    if (out.dtype() == DType::Int64) {
      std::fill(out.i64(), out.i64() + out.size(), value.i64()[0]);
    } else {
      std::fill(out.f32(), out.f32() + out.size(), value.f32()[0]);
    }
  }
};
CODA_REGISTER_OP(ConstantOfShape, ConstantOfShapeOp);

}  // namespace

}  // namespace coda
