// Backward passes of Gemm (Y = alpha op(A) op(B) + beta C, C broadcast to (M, N)) and MatMul
// (numpy matmul: 1-D operands promoted, batch dimensions broadcast), on coda::sgemm. Each
// gradient is one or a few GEMMs whose results no two threads share, and broadcast operands
// accumulate their batches in index order, so results are reproducible for a thread count.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/autograd.h"
#include "kernels/conv_kernels.h"

namespace coda {

namespace {

void zero(Tensor* t) {
  if (t) std::fill(t->f32(), t->f32() + t->size(), 0.0f);
}

class GemmGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    Tensor* da = ctx.input_grad(0);
    Tensor* db = ctx.input_grad(1);
    Tensor* dc = ctx.has_input(2) ? ctx.input_grad(2) : nullptr;
    const Tensor* dy_tensor = ctx.output_grad(0);
    if (!dy_tensor) {
      zero(da);
      zero(db);
      zero(dc);
      return;
    }
    if (a.rank() != 2 || b.rank() != 2) ctx.fail("A and B must be matrices");
    const bool ta = ctx.attrs().get_int("transA", 0) != 0;
    const bool tb = ctx.attrs().get_int("transB", 0) != 0;
    const float alpha = ctx.attrs().get_float("alpha", 1.0f);
    const float beta = ctx.attrs().get_float("beta", 1.0f);
    const int64_t m = ta ? a.dim(1) : a.dim(0), k = ta ? a.dim(0) : a.dim(1);
    const int64_t n = tb ? b.dim(0) : b.dim(1);
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
      const Shape& cs = ctx.input(2).shape();
      if (cs.size() > 2) ctx.fail("C " + shape_string(cs) + " must have rank <= 2");
      const int64_t c_rows = cs.size() == 2 ? cs[0] : 1;
      const int64_t c_cols = cs.empty() ? 1 : cs.back();
      if ((c_rows != 1 && c_rows != m) || (c_cols != 1 && c_cols != n))
        ctx.fail("C " + shape_string(cs) + " does not broadcast to " + std::to_string(m) + "x" + std::to_string(n));
      float* out = dc->f32();
      if (c_rows == m && c_cols == n) {
        for (int64_t i = 0; i < m * n; ++i) out[i] = beta * dy[i];
      } else {
        std::vector<double> sum(static_cast<std::size_t>(c_rows * c_cols), 0.0);
        for (int64_t i = 0; i < m; ++i) {
          double* row = sum.data() + (c_rows == 1 ? 0 : i) * c_cols;
          const float* g = dy + i * n;
          if (c_cols == 1) {
            double s = 0.0;
            for (int64_t j = 0; j < n; ++j) s += g[j];
            row[0] += s;
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
    const Tensor* dy_tensor = ctx.output_grad(0);
    if (!dy_tensor) {
      zero(da);
      zero(db);
      return;
    }
    if (!da && !db) return;
    if (a.rank() == 0 || b.rank() == 0) ctx.fail("A and B must not be scalars");
    // Numpy promotion: a 1-D A is a row vector, a 1-D B a column vector.
    const Shape a2 = a.rank() == 1 ? Shape{1, a.dim(0)} : a.shape();
    const Shape b2 = b.rank() == 1 ? Shape{b.dim(0), 1} : b.shape();
    const int64_t m = a2[a2.size() - 2], k = a2.back(), n = b2.back();
    if (b2[b2.size() - 2] != k) ctx.fail("inner dimensions differ");
    Shape a_batch(a2.begin(), a2.end() - 2), b_batch(b2.begin(), b2.end() - 2);
    const std::size_t rank = std::max(a_batch.size(), b_batch.size());
    a_batch.insert(a_batch.begin(), rank - a_batch.size(), 1);
    b_batch.insert(b_batch.begin(), rank - b_batch.size(), 1);
    Shape batch(rank);
    for (std::size_t d = 0; d < rank; ++d) {
      if (a_batch[d] != b_batch[d] && a_batch[d] != 1 && b_batch[d] != 1) ctx.fail("batch dimensions do not broadcast");
      batch[d] = std::max(a_batch[d], b_batch[d]);
    }
    const int64_t batches = element_count(batch);
    const int64_t a_count = element_count(a_batch), b_count = element_count(b_batch);
    const float* dy = dy_tensor->f32();
    if (dy_tensor->size() != batches * m * n) ctx.fail("output gradient " + shape_string(dy_tensor->shape()) +
                                                       " does not match the product");
    if (batches == 0 || m == 0 || n == 0 || k == 0) {
      zero(da);
      zero(db);
      return;
    }
    if (b_count == 1) {
      // One B shared by every batch (linear layers): the batches of A are rows of one tall matrix.
      if (da) sgemm(false, true, batches * m, k, n, 1.0f, dy, n, b.f32(), n, 0.0f, da->f32(), k);
      if (db) sgemm(true, false, k, n, batches * m, 1.0f, a.f32(), k, dy, n, 0.0f, db->f32(), n);
      return;
    }
    // Element offset of batch i's A and B matrix (stride 0 along broadcast dimensions).
    std::vector<int64_t> a_off(static_cast<std::size_t>(batches)), b_off(static_cast<std::size_t>(batches));
    std::vector<int64_t> a_stride(rank, 0), b_stride(rank, 0);
    int64_t as = m * k, bs = k * n;
    for (std::size_t d = rank; d-- > 0;) {
      a_stride[d] = a_batch[d] == 1 ? 0 : as;
      b_stride[d] = b_batch[d] == 1 ? 0 : bs;
      as *= a_batch[d];
      bs *= b_batch[d];
    }
    std::vector<int64_t> index(rank, 0);
    for (int64_t i = 0; i < batches; ++i) {
      int64_t ao = 0, bo = 0;
      for (std::size_t d = 0; d < rank; ++d) {
        ao += index[d] * a_stride[d];
        bo += index[d] * b_stride[d];
      }
      a_off[static_cast<std::size_t>(i)] = ao;
      b_off[static_cast<std::size_t>(i)] = bo;
      for (std::size_t d = rank; d-- > 0;) {
        if (++index[d] < batch[d]) break;
        index[d] = 0;
      }
    }
    // An operand shared by several batches sums their contributions, in batch order.
    const bool a_shared = a_count < batches, b_shared = b_count < batches;
    if (da && a_shared) zero(da);
    if (db && b_shared) zero(db);
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
