// Backward passes of Gemm (Y = alpha op(A) op(B) + beta C, C broadcast to (M, N)) and MatMul
// (numpy matmul: 1-D operands promoted, batch dimensions broadcast), on coda::sgemm. Each
// gradient is one or a few GEMMs whose results no two threads share, and broadcast operands
// accumulate their batches in index order, so results are reproducible for a thread count.
#include <string>
#include <vector>

#include "kernels/autograd.h"
#include "kernels/conv_kernels.h"
#include "kernels/ops/matrix_shapes.h"

namespace coda {

namespace {

class GemmGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Tensor* da = ctx.input_grad(0);
    Tensor* db = ctx.input_grad(1);
    Tensor* dc = ctx.has_input(2) ? ctx.input_grad(2) : nullptr;
    const Tensor* dy_tensor = output_grad_or_zero_inputs(ctx);
    if (!dy_tensor) return;
    const GemmShape s =
        gemm_shape(ctx.node(), a.shape(), b.shape(), ctx.has_input(2) ? &ctx.input(2).shape() : nullptr);
    const bool ta = s.transpose_a, tb = s.transpose_b;
    const float alpha = s.alpha, beta = s.beta;
    const int64_t m = s.m, k = s.k, n = s.n;
    const int64_t lda = a.dim(1), ldb = b.dim(1);
    if (dy_tensor->size() != m * n) ctx.fail("output gradient " + shape_string(dy_tensor->shape()) + " is not " +
                                             std::to_string(m) + "x" + std::to_string(n));
    const float* dy = dy_tensor->f32();
    if (da) {
      if (!ta) {  // dA = alpha dY op(B)^T
        sgemm(false, !tb, m, k, n, alpha, dy, n, b.f32(), ldb, 0.0f, da->f32(), k);
      } else {  // A holds op(A)^T: dA = alpha op(B) dY^T
        sgemm(tb, true, k, m, n, alpha, b.f32(), ldb, dy, n, 0.0f, da->f32(), m);
      }
    }
    if (db) {
      if (!tb) {  // dB = alpha op(A)^T dY
        sgemm(!ta, false, k, n, m, alpha, a.f32(), lda, dy, n, 0.0f, db->f32(), n);
      } else {  // B holds op(B)^T: dB = alpha dY^T op(A)
        sgemm(true, ta, n, k, m, alpha, dy, n, a.f32(), lda, 0.0f, db->f32(), k);
      }
    }
    if (dc) {
      // beta dY summed over the dimensions along which C was broadcast (C is right-aligned to
      // (M, N), each of its dimensions 1 or full).
      const int64_t c_rows = s.c_rows, c_cols = s.c_cols;
      float* out = dc->f32();
      if (c_rows == m && c_cols == n) {
        for (int64_t i = 0; i < m * n; ++i) out[i] = beta * dy[i];
      } else {
        std::vector<double> sum(static_cast<std::size_t>(c_rows * c_cols), 0.0);
        for (int64_t i = 0; i < m; ++i) {
          double* row = sum.data() + (c_rows == 1 ? 0 : i) * c_cols;
          const float* g = dy + i * n;
          if (c_cols == 1) {
            double row_sum = 0.0;
            for (int64_t j = 0; j < n; ++j) row_sum += g[j];
            row[0] += row_sum;
          } else {
            for (int64_t j = 0; j < n; ++j) row[j] += g[j];
          }
        }
        for (std::size_t i = 0; i < sum.size(); ++i) out[i] = static_cast<float>(beta * sum[i]);
      }
    }
  }
};

// MatMul: per broadcast batch index i, dA_i += dY_i B_i^T and dB_i += A_i^T dY_i, where A_i and
// B_i are the (possibly shared) matrices the forward pass multiplied.
class MatMulGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Tensor* da = ctx.input_grad(0);
    Tensor* db = ctx.input_grad(1);
    const Tensor* dy_tensor = output_grad_or_zero_inputs(ctx);
    if (!dy_tensor) return;
    if (!da && !db) return;
    const MatMulShape s = matmul_shape(ctx.node(), a.shape(), b.shape(), true);
    const int64_t m = s.m, k = s.k, n = s.n;
    const int64_t batches = element_count(s.batch);
    const float* dy = dy_tensor->f32();
    if (dy_tensor->size() != batches * m * n) ctx.fail("output gradient " + shape_string(dy_tensor->shape()) +
                                                       " does not match the product");
    if (batches == 0 || m == 0 || n == 0 || k == 0) {
      zero_gradient(da);
      zero_gradient(db);
      return;
    }
    if (s.b_matrices == 1) {
      // One B shared by every batch (linear layers): the batches of A are rows of one tall matrix.
      if (da) sgemm(false, true, batches * m, k, n, 1.0f, dy, n, b.f32(), n, 0.0f, da->f32(), k);
      if (db) sgemm(true, false, k, n, batches * m, 1.0f, a.f32(), k, dy, n, 0.0f, db->f32(), n);
      return;
    }
    const std::vector<int64_t>& a_off = s.a_offsets;
    const std::vector<int64_t>& b_off = s.b_offsets;
    // An operand shared by several batches sums their contributions, in batch order.
    const bool a_shared = s.a_matrices < batches, b_shared = s.b_matrices < batches;
    if (da && a_shared) zero_gradient(da);
    if (db && b_shared) zero_gradient(db);
    for (int64_t i = 0; i < batches; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const float* g = dy + i * m * n;
      if (da)
        sgemm(false, true, m, k, n, 1.0f, g, n, b.f32() + b_off[u], n, a_shared ? 1.0f : 0.0f, da->f32() + a_off[u], k);
      if (db)
        sgemm(true, false, k, n, m, 1.0f, a.f32() + a_off[u], k, g, n, b_shared ? 1.0f : 0.0f, db->f32() + b_off[u], n);
    }
  }
};

}  // namespace

CODA_REGISTER_GRAD(Gemm, GemmGrad);
CODA_REGISTER_GRAD(MatMul, MatMulGrad);

}  // namespace coda
