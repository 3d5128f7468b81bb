// Gemm (Y = alpha * op(A) * op(B) + beta * C, C broadcast to (M, N)) and MatMul (numpy matmul:
// 1-D operands promoted, batch dimensions broadcast), ONNX opsets 7-18, on coda::sgemm. Operand
// shapes are resolved in matrix_shapes.h.
#include <omp.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/conv_kernels.h"
#include "kernels/op.h"
#include "kernels/ops/matrix_shapes.h"

namespace coda {

namespace {

// ---------------------------------------------------------------------------------------------
// Gemm

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
    const float alpha = s.alpha, beta = s.beta;
    float* y = ctx.output(0).f32();
    float gemm_beta = 0.0f;
    if (c && beta != 0.0f) {
      // Y starts as beta * C broadcast; the product then accumulates onto it.
      const float* cd = c->f32();
      for (int64_t i = 0; i < s.m; ++i) {
        const float* row = cd + (s.c_rows == 1 ? 0 : i) * s.c_cols;
        float* out = y + i * s.n;
        if (s.c_cols == 1) {
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
    if (s.b_matrices == 1) {
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
