// Gemm (Y = alpha * op(A) * op(B) + beta * C, C broadcast to (M, N)) and MatMul (numpy matmul:
// 1-D operands promoted, batch dimensions broadcast), ONNX opsets 7-18, on coda::sgemm.
#include <omp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/conv_kernels.h"
#include "kernels/error.h"
#include "kernels/op.h"

namespace coda {

namespace {

// ---------------------------------------------------------------------------------------------
// Gemm

struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
};

GemmShape gemm_shape(const Node& node, const Shape& a, const Shape& b, const Shape* c) {
  auto fail = [&](const std::string& message) { throw BadInput(node.describe() + ": " + message); };
  if (a.size() != 2 || b.size() != 2)
    fail("A " + shape_string(a) + " and B " + shape_string(b) + " must both be matrices");
  GemmShape s;
  s.transpose_a = node.attrs.get_int("transA", 0) != 0;
  s.transpose_b = node.attrs.get_int("transB", 0) != 0;
  s.m = s.transpose_a ? a[1] : a[0];
  s.k = s.transpose_a ? a[0] : a[1];
  const int64_t kb = s.transpose_b ? b[1] : b[0];
  s.n = s.transpose_b ? b[0] : b[1];
  if (kb != s.k)
    fail("inner dimensions differ: op(A) is " + std::to_string(s.m) + "x" + std::to_string(s.k) + ", op(B) is " +
         std::to_string(kb) + "x" + std::to_string(s.n) + " (transA=" + std::to_string(s.transpose_a) +
         ", transB=" + std::to_string(s.transpose_b) + ")");
  if (c) {
    // Unidirectional broadcasting of C to (M, N): right-aligned, each dimension 1 or equal.
    bool ok = c->size() <= 2;
    const Shape target = {s.m, s.n};
    for (std::size_t i = 0; ok && i < c->size(); ++i) {
      int64_t d = (*c)[c->size() - 1 - i], t = target[1 - i];
      ok = d == 1 || d == t;
    }
    if (!ok) fail("C " + shape_string(*c) + " does not broadcast to the output " + shape_string(target));
  }
  return s;
}

class GemmOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    for (int i = 0; i < 3; ++i)
      if (ctx.has_input(i) && ctx.input(i).dtype != DType::Float32) ctx.fail("inputs must be float");
    GemmShape s = gemm_shape(ctx.node(), ctx.shape(0), ctx.shape(1), ctx.has_input(2) ? &ctx.shape(2) : nullptr);
    return {TensorInfo{{s.m, s.n}, DType::Float32}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    GemmShape s = gemm_shape(ctx.node(), a.shape(), b.shape(), c ? &c->shape() : nullptr);
    const float alpha = ctx.attrs().get_float("alpha", 1.0f);
    const float beta = ctx.attrs().get_float("beta", 1.0f);
    float* y = ctx.output(0).f32();
    float gemm_beta = 0.0f;
    if (c && beta != 0.0f) {
      // Y starts as beta * C broadcast; the product then accumulates onto it.
      const float* cd = c->f32();
      const Shape& cs = c->shape();
      const int64_t c_rows = cs.size() == 2 ? cs[0] : 1;
      const int64_t c_cols = cs.empty() ? 1 : cs.back();
      for (int64_t i = 0; i < s.m; ++i) {
        const float* row = cd + (c_rows == 1 ? 0 : i) * c_cols;
        float* out = y + i * s.n;
        if (c_cols == 1) {
          std::fill(out, out + s.n, beta * row[0]);
        } else {
          for (int64_t j = 0; j < s.n; ++j) out[j] = beta * row[j];
        }
      }
      gemm_beta = 1.0f;
    }
    const int64_t lda = a.shape()[1], ldb = b.shape()[1];
    sgemm(s.transpose_a, s.transpose_b, s.m, s.n, s.k, alpha, a.f32(), lda, b.f32(), ldb, gemm_beta, y, s.n);
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>&, OpCost& cost) const override {
    GemmShape s = gemm_shape(ctx.node(), ctx.shape(0), ctx.shape(1), ctx.has_input(2) ? &ctx.shape(2) : nullptr);
    cost.macs += s.m * s.n * s.k;
    if (ctx.has_input(2)) cost.flops += s.m * s.n;  // adding beta * C
  }
};

// ---------------------------------------------------------------------------------------------
// MatMul

struct MatMulShape {
  int64_t m = 1, n = 1, k = 1;
  Shape batch;                     // broadcast batch dimensions
  std::vector<int64_t> a_offsets;  // element offset of each batch's A and B matrix
  std::vector<int64_t> b_offsets;
  Shape output;
  bool a_batched = false, b_batched = false;  // whether A/B have any batch dimension > 1
};

// Numpy matmul semantics (onnx/docs/Operators.md#MatMul): a 1-D A is a row vector and a 1-D B a
// column vector, the promoted dimension is removed from the result, and the leading (batch)
// dimensions broadcast.
MatMulShape matmul_shape(const Node& node, const Shape& a, const Shape& b, bool with_offsets) {
  auto fail = [&](const std::string& message) { throw BadInput(node.describe() + ": " + message); };
  if (a.empty() || b.empty()) fail("A " + shape_string(a) + " and B " + shape_string(b) + " must not be scalars");
  MatMulShape s;
  Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  s.m = a2[a2.size() - 2];
  s.k = a2.back();
  s.n = b2.back();
  if (b2[b2.size() - 2] != s.k)
    fail("inner dimensions differ: A " + shape_string(a) + ", B " + shape_string(b));
  Shape a_batch(a2.begin(), a2.end() - 2), b_batch(b2.begin(), b2.end() - 2);
  const std::size_t rank = std::max(a_batch.size(), b_batch.size());
  a_batch.insert(a_batch.begin(), rank - a_batch.size(), 1);
  b_batch.insert(b_batch.begin(), rank - b_batch.size(), 1);
  s.batch.resize(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    if (a_batch[d] != b_batch[d] && a_batch[d] != 1 && b_batch[d] != 1)
      fail("batch dimensions of A " + shape_string(a) + " and B " + shape_string(b) + " do not broadcast");
    s.batch[d] = a_batch[d] == 1 ? b_batch[d] : a_batch[d];
    s.a_batched |= a_batch[d] > 1;
    s.b_batched |= b_batch[d] > 1;
  }
  s.output = s.batch;
  if (a.size() > 1) s.output.push_back(s.m);
  if (b.size() > 1) s.output.push_back(s.n);
  if (!with_offsets) return s;

  const int64_t count = element_count(s.batch);
  s.a_offsets.assign(static_cast<std::size_t>(count), 0);
  s.b_offsets.assign(static_cast<std::size_t>(count), 0);
  // Element strides of each batch dimension, zero where the operand broadcasts.
  std::vector<int64_t> a_stride(rank, 0), b_stride(rank, 0);
  int64_t as = s.m * s.k, bs = s.k * s.n;
  for (std::size_t d = rank; d-- > 0;) {
    a_stride[d] = a_batch[d] == 1 ? 0 : as;
    b_stride[d] = b_batch[d] == 1 ? 0 : bs;
    as *= a_batch[d];
    bs *= b_batch[d];
  }
  std::vector<int64_t> index(rank, 0);
  for (int64_t i = 0; i < count; ++i) {
    int64_t ao = 0, bo = 0;
    for (std::size_t d = 0; d < rank; ++d) {
      ao += index[d] * a_stride[d];
      bo += index[d] * b_stride[d];
    }
    s.a_offsets[static_cast<std::size_t>(i)] = ao;
    s.b_offsets[static_cast<std::size_t>(i)] = bo;
    for (std::size_t d = rank; d-- > 0;) {
      if (++index[d] < s.batch[d]) break;
      index[d] = 0;
    }
  }
  return s;
}

class MatMulOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    if (ctx.input(0).dtype != DType::Float32 || ctx.input(1).dtype != DType::Float32)
      ctx.fail("inputs must be float");
    return {TensorInfo{matmul_shape(ctx.node(), ctx.shape(0), ctx.shape(1), false).output, DType::Float32}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    MatMulShape s = matmul_shape(ctx.node(), a.shape(), b.shape(), true);
    float* y = ctx.output(0).f32();
    const auto batches = static_cast<int64_t>(s.a_offsets.size());
    if (batches == 0 || s.m == 0 || s.n == 0) return;
    if (!s.b_batched) {
      // B is one matrix shared by every batch (the linear layers of a transformer), so the batch
      // dimensions all come from A, whose matrices are consecutive rows of one taller matrix:
      // one GEMM does them all.
      sgemm(false, false, batches * s.m, s.n, s.k, 1.0f, a.f32(), s.k, b.f32(), s.n, 0.0f, y, s.n);
      return;
    }
    // Independent products: with at least one per thread, each runs single-threaded in its own
    // task (no fork/join per product); otherwise each product uses every thread.
    const bool outer = batches >= omp_get_max_threads() && !omp_in_parallel();
#pragma omp parallel for schedule(dynamic, 1) if (outer)
    for (int64_t i = 0; i < batches; ++i)
      sgemm(false, false, s.m, s.n, s.k, 1.0f, a.f32() + s.a_offsets[static_cast<std::size_t>(i)], s.k,
            b.f32() + s.b_offsets[static_cast<std::size_t>(i)], s.n, 0.0f, y + i * s.m * s.n, s.n);
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>&, OpCost& cost) const override {
    MatMulShape s = matmul_shape(ctx.node(), ctx.shape(0), ctx.shape(1), false);
    cost.macs += element_count(s.batch) * s.m * s.n * s.k;
  }
};

}  // namespace

CODA_REGISTER_OP(Gemm, GemmOp);
CODA_REGISTER_OP(MatMul, MatMulOp);

}  // namespace coda
