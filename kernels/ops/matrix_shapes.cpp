#include "kernels/ops/matrix_shapes.h"

#include <algorithm>
#include <string>

#include "kernels/error.h"

namespace coda {

GemmShape gemm_shape(const Node& node, const Shape& a, const Shape& b, const Shape* c) {
  auto fail = [&](const std::string& message) { throw BadInput(node.describe() + ": " + message); };
  if (a.size() != 2 || b.size() != 2)
    fail("A " + shape_string(a) + " and B " + shape_string(b) + " must both be matrices");
  GemmShape s;
  s.transpose_a = node.attrs.get_int("transA", 0) != 0;
  s.transpose_b = node.attrs.get_int("transB", 0) != 0;
  s.alpha = node.attrs.get_float("alpha", 1.0f);
  s.beta = node.attrs.get_float("beta", 1.0f);
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
    s.c_rows = c->size() == 2 ? (*c)[0] : 1;
    s.c_cols = c->empty() ? 1 : c->back();
  }
  return s;
}

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
  }
  s.a_matrices = element_count(a_batch);
  s.b_matrices = element_count(b_batch);
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

}  // namespace coda
