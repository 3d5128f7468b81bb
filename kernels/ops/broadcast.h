// Shared machinery of the elementwise ops (binary arithmetic, comparisons, Where, Expand, PRelu):
// numpy-style multidirectional broadcasting (onnx/docs/Broadcasting.md) and the chunked OpenMP
// loops that keep every large elementwise kernel multi-threaded. Implemented in binary.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/graph.h"
#include "kernels/tensor.h"

namespace coda {

class InferContext;

namespace elementwise {

// Below this many elements a kernel runs on one thread: an OpenMP fork/join costs a few
// microseconds, which is what a single core needs for ~32K float operations.
constexpr int64_t kParallelMin = int64_t{1} << 15;
// Elements per parallel task: 64 KiB of floats, a comfortable fit in a core's L2 cache.
constexpr int64_t kChunk = int64_t{1} << 14;

// Calls fn(begin, end) over [0, n) in chunks of kChunk, in parallel when n >= kParallelMin.
// fn must not throw (exceptions cannot leave an OpenMP region): validate before calling.
template <typename Fn>
void parallel_chunks(int64_t n, Fn&& fn) {
  if (n < kParallelMin) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) fn(c * kChunk, std::min(n, (c + 1) * kChunk));
}

// Copies below this size stay on one thread: a single core copies 1 MiB in a few tens of
// microseconds, about the cost of waking the thread team.
constexpr std::size_t kParallelCopyBytes = std::size_t{1} << 20;

// memcpy, split over threads when large. Regions must not overlap.
inline void parallel_copy(void* dst, const void* src, std::size_t bytes) {
  if (bytes < kParallelCopyBytes) {
    if (bytes) std::memcpy(dst, src, bytes);
    return;
  }
  constexpr std::size_t kPiece = std::size_t{1} << 18;
  const auto pieces = static_cast<int64_t>((bytes + kPiece - 1) / kPiece);
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pieces; ++p) {
    const std::size_t begin = static_cast<std::size_t>(p) * kPiece;
    std::memcpy(static_cast<char*>(dst) + begin, static_cast<const char*>(src) + begin,
                std::min(kPiece, bytes - begin));
  }
}

// Output shape of numpy multidirectional broadcasting of all shapes; false if they do not broadcast.
bool broadcast_shapes(const std::vector<Shape>& shapes, Shape& out);
// Same, failing through ctx with "cannot broadcast 1x3x4 with 1x5x4".
Shape broadcast_or_fail(const InferContext& ctx, const std::vector<Shape>& shapes);
// True if `from` broadcasts to exactly `to` (unidirectional broadcasting, as PRelu's slope).
bool broadcasts_to(const Shape& from, const Shape& to);

// Opsets < 7 of the arithmetic and comparison ops broadcast only with the attribute broadcast=1:
// B (one element, or a contiguous run of A's dimensions starting at `axis`, by default its
// trailing ones) stretches over A. Returns false when the node does not use that rule; otherwise
// sets `b_as` to B's shape padded with 1s to A's rank, under which numpy broadcasting gives the
// legacy result, or sets `error` when B does not fit A.
bool legacy_broadcast(const Attributes& attrs, int opset, const Shape& a, const Shape& b, Shape& b_as,
                      std::string& error);

// Walks a contiguous output of shape `out` as rows of inner() elements. Along a row each operand
// (whose shape broadcasts to `out`) either advances one element per output element (inner_stride
// 1) or repeats one element (inner_stride 0). Dimensions of size 1 are dropped and neighbours
// that every operand walks alike are merged, so same-shape operands become one long row, a
// 1xCx1x1 bias on NxCxHxW becomes N*C rows of H*W against a repeated element, and so on.
class BroadcastPlan {
 public:
  BroadcastPlan(const Shape& out, const std::vector<Shape>& operands);
  int64_t rows() const { return rows_; }
  int64_t inner() const { return inner_; }
  int64_t inner_stride(int operand) const { return inner_strides_[static_cast<std::size_t>(operand)]; }
  int operand_count() const { return operands_; }

 private:
  friend class BroadcastCursor;
  std::vector<int64_t> dims_;     // merged outer dimensions, outermost first
  std::vector<int64_t> strides_;  // operand k, dimension d at [k * dims_.size() + d]
  std::vector<int64_t> inner_strides_;
  int64_t inner_ = 1;
  int64_t rows_ = 1;
  int operands_ = 0;
};

// Element offset of each operand at the start of a row; next() moves to the following row.
class BroadcastCursor {
 public:
  BroadcastCursor(const BroadcastPlan& plan, int64_t row);
  int64_t offset(int operand) const { return offsets_[static_cast<std::size_t>(operand)]; }
  void next();

 private:
  const BroadcastPlan& plan_;
  std::vector<int64_t> index_;
  std::vector<int64_t> offsets_;
};

// Calls fn(cursor, row, begin, end) for every row segment [begin, end) of the plan: whole rows
// grouped into tasks of about kChunk elements, or long rows split into kChunk pieces, in
// parallel when the output has at least kParallelMin elements. The output element of
// (row, i) is row * inner() + i. fn must not throw.
template <typename Fn>
void for_each_segment(const BroadcastPlan& plan, Fn&& fn) {
  const int64_t inner = plan.inner();
  const int64_t rows = plan.rows();
  if (inner == 0 || rows == 0) return;
  if (inner * rows < kParallelMin) {
    BroadcastCursor cursor(plan, 0);
    for (int64_t r = 0; r < rows; ++r, cursor.next()) fn(static_cast<const BroadcastCursor&>(cursor), r, int64_t{0}, inner);
    return;
  }
  if (inner >= kChunk) {
    const int64_t pieces = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rows * pieces; ++t) {
      const int64_t r = t / pieces;
      const int64_t begin = (t % pieces) * kChunk;
      const BroadcastCursor cursor(plan, r);
      fn(cursor, r, begin, std::min(inner, begin + kChunk));
    }
    return;
  }
  const int64_t group = std::max<int64_t>(1, kChunk / inner);
  const int64_t tasks = (rows + group - 1) / group;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tasks; ++t) {
    BroadcastCursor cursor(plan, t * group);
    const int64_t end = std::min(rows, (t + 1) * group);
    for (int64_t r = t * group; r < end; ++r, cursor.next())
      fn(static_cast<const BroadcastCursor&>(cursor), r, int64_t{0}, inner);
  }
}

// Axis in [-rank, rank) made non-negative; false when out of range.
inline bool normalize_axis(int64_t& axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return false;
  if (axis < 0) axis += rank;
  return true;
}

// Calls fn(T{}) with T the unsigned integer type of the dtype's element size, for ops that only
// move elements and so work on every dtype alike.
template <typename Fn>
void with_element_type(DType dtype, Fn&& fn) {
  switch (dtype_size(dtype)) {
    case 2: fn(uint16_t{}); break;
    case 4: fn(uint32_t{}); break;
    default: fn(uint64_t{}); break;
  }
}

}  // namespace elementwise
}  // namespace coda
