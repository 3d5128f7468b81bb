// Operand shapes of Gemm and MatMul resolved into the dimensions of the matrix products, shared by
// the forward kernels (kernels/ops/gemm.cpp) and their backward passes (kernels/grad_gemm.cpp),
// following the ONNX operator specification (onnx/docs/Operators.md, opsets 7-18).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/graph.h"
#include "kernels/tensor.h"

namespace coda {

// Gemm: Y (M, N) = alpha op(A) op(B) + beta C, op(A) M x K, op(B) K x N.
struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  float alpha = 1.0f, beta = 1.0f;
  // C right-aligned to (M, N): its rows and columns, each 1 (broadcast) or full.
  int64_t c_rows = 1, c_cols = 1;
};

// Reads the node's transA, transB, alpha and beta and validates A, B and, when given, C against
// them. Throws BadInput naming the node.
GemmShape gemm_shape(const Node& node, const Shape& a, const Shape& b, const Shape* c);

// MatMul with numpy semantics: a 1-D A is a row vector and a 1-D B a column vector (the promoted
// dimension is removed from the result), and the leading (batch) dimensions broadcast.
struct MatMulShape {
  int64_t m = 1, n = 1, k = 1;
  Shape batch;                     // broadcast batch dimensions
  int64_t a_matrices = 1;          // matrices A holds (1: one matrix shared by every batch)
  int64_t b_matrices = 1;
  std::vector<int64_t> a_offsets;  // element offset of each batch's A and B matrix
  std::vector<int64_t> b_offsets;  // (filled only when asked for)
  Shape output;
};

// Throws BadInput naming the node when A and B do not multiply.
MatMulShape matmul_shape(const Node& node, const Shape& a, const Shape& b, bool with_offsets);

}  // namespace coda
