// Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1,
// ReduceL2. Axes come from the `axes` attribute (before opset 13 for ReduceSum, before 18 for the
// others) or the constant input 1; no axes reduces everything, unless noop_with_empty_axes=1
// makes the op an identity. keepdims (default 1) keeps reduced axes as size 1.
// An empty reduction gives the operation's identity (ONNX opset 18): 0 for sums, 1 for products,
// -inf / +inf for Max / Min (the type's lowest / highest for int64), NaN for the mean of nothing.
// Execution: size-1 axes are dropped and neighbouring axes of the same kind merged, so the input
// is an alternation of kept and reduced blocks. If the innermost block is reduced, each output is
// a sum of contiguous segments (Eigen vectorised reductions); if it is kept, whole output rows
// accumulate contiguous input rows. Both run in parallel over outputs or rows.
// Cost: one flop per input element.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

enum class Reduction { Sum, Mean, Max, Min, Prod, SumSquare, L1, L2 };

template <Reduction R>
constexpr bool int64_ok() {
  return R != Reduction::L2;
}

template <Reduction R, typename T>
T identity() {
  if constexpr (R == Reduction::Max) {
    return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  } else if constexpr (R == Reduction::Min) {
    return std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
  } else if constexpr (R == Reduction::Prod) {
    return T{1};
  } else {
    return T{0};
  }
}

// Reduction of one contiguous segment (elementwise transform included).
template <Reduction R, typename Seg>
auto reduce_segment(const Seg& x) {
  if constexpr (R == Reduction::Max) {
    return x.maxCoeff();
  } else if constexpr (R == Reduction::Min) {
    return x.minCoeff();
  } else if constexpr (R == Reduction::Prod) {
    return x.prod();
  } else if constexpr (R == Reduction::SumSquare || R == Reduction::L2) {
    return x.square().sum();
  } else if constexpr (R == Reduction::L1) {
    return x.abs().sum();
  } else {
    return x.sum();
  }
}

template <Reduction R, typename T>
T combine(T a, T b) {
  if constexpr (R == Reduction::Max) {
    return std::max(a, b);
  } else if constexpr (R == Reduction::Min) {
    return std::min(a, b);
  } else if constexpr (R == Reduction::Prod) {
    return a * b;
  } else {
    return a + b;
  }
}

// acc = combine(acc, transform(x)) over a row.
template <Reduction R, typename Acc, typename Row>
void accumulate(Acc& acc, const Row& x) {
  if constexpr (R == Reduction::Max) {
    acc = acc.max(x);
  } else if constexpr (R == Reduction::Min) {
    acc = acc.min(x);
  } else if constexpr (R == Reduction::Prod) {
    acc *= x;
  } else if constexpr (R == Reduction::SumSquare || R == Reduction::L2) {
    acc += x.square();
  } else if constexpr (R == Reduction::L1) {
    acc += x.abs();
  } else {
    acc += x;
  }
}

template <Reduction R, typename T>
T finish(T acc, int64_t count) {
  if constexpr (R == Reduction::Mean) {
    if constexpr (std::is_integral_v<T>) {
      return count == 0 ? T{0} : acc / static_cast<T>(count);
    } else {
      return acc / static_cast<T>(count);  // 0 / 0 = NaN for an empty reduction
    }
  } else if constexpr (R == Reduction::L2) {
    return std::sqrt(acc);
  } else {
    return acc;
  }
}

struct Block {
  int64_t size;
  int64_t stride;  // input stride of the block's first element step
  bool reduced;
};

// Size-1 axes dropped, neighbours of the same kind merged.
std::vector<Block> blocks_of(const Shape& shape, const std::vector<bool>& reduced) {
  std::vector<Block> blocks;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!blocks.empty() && blocks.back().reduced == reduced[d]) {
      blocks.back().size *= shape[d];
    } else {
      blocks.push_back(Block{shape[d], 0, reduced[d]});
    }
  }
  int64_t stride = 1;
  for (std::size_t b = blocks.size(); b-- > 0;) {
    blocks[b].stride = stride;
    stride *= blocks[b].size;
  }
  return blocks;
}

// Offset of the i-th combination of the given blocks (row-major over them).
int64_t offset_of(int64_t i, const std::vector<Block>& blocks) {
  int64_t offset = 0;
  for (std::size_t b = blocks.size(); b-- > 0;) {
    offset += (i % blocks[b].size) * blocks[b].stride;
    i /= blocks[b].size;
  }
  return offset;
}

int64_t combinations(const std::vector<Block>& blocks) {
  int64_t n = 1;
  for (const Block& b : blocks) n *= b.size;
  return n;
}

template <Reduction R, typename T>
void reduce_typed(const T* in, T* out, const Shape& shape, const std::vector<bool>& reduced) {
  using Array = Eigen::Array<T, Eigen::Dynamic, 1>;
  int64_t out_count = 1;
  int64_t count = 1;  // elements reduced into each output
  for (std::size_t d = 0; d < shape.size(); ++d) (reduced[d] ? count : out_count) *= shape[d];
  if (out_count == 0) return;
  if (count == 0) {
    std::fill(out, out + out_count, finish<R, T>(identity<R, T>(), 0));
    return;
  }
  const std::vector<Block> blocks = blocks_of(shape, reduced);
  std::vector<Block> kept;
  std::vector<Block> red;
  for (const Block& b : blocks) (b.reduced ? red : kept).push_back(b);
  const int64_t total = out_count * count;
  const bool parallel = total >= elementwise::kParallelMin;

  if (!blocks.empty() && blocks.back().reduced) {
    // Each output reduces segments of `inner` contiguous elements.
    const int64_t inner = red.back().size;
    red.pop_back();
    const int64_t segments = combinations(red);
#pragma omp parallel for schedule(static) if (parallel && out_count > 1)
    for (int64_t o = 0; o < out_count; ++o) {
      const int64_t base = offset_of(o, kept);
      T acc = identity<R, T>();
      for (int64_t s = 0; s < segments; ++s)
        acc = combine<R, T>(acc, reduce_segment<R>(Eigen::Map<const Array>(in + base + offset_of(s, red), inner)));
      out[o] = finish<R, T>(acc, count);
    }
    return;
  }
  // The innermost block is kept (or there is none): rows of `inner` outputs accumulate rows of
  // the input. Long rows are split so that a few rows still occupy every thread.
  const int64_t inner = blocks.empty() ? 1 : kept.back().size;
  if (!kept.empty()) kept.pop_back();
  const int64_t rows = out_count / inner;
  const int64_t combos = combinations(red);
  const int64_t piece = std::min<int64_t>(inner, elementwise::kChunk);
  const int64_t pieces = (inner + piece - 1) / piece;
#pragma omp parallel for schedule(static) if (parallel && rows * pieces > 1)
  for (int64_t t = 0; t < rows * pieces; ++t) {
    const int64_t r = t / pieces;
    const int64_t begin = (t % pieces) * piece;
    const int64_t n = std::min(inner, begin + piece) - begin;
    const int64_t base = offset_of(r, kept) + begin;
    Eigen::Map<Array> acc(out + r * inner + begin, n);
    acc.setConstant(identity<R, T>());
    for (int64_t s = 0; s < combos; ++s) accumulate<R>(acc, Eigen::Map<const Array>(in + base + offset_of(s, red), n));
    for (int64_t i = 0; i < n; ++i) acc[i] = finish<R, T>(acc[i], count);
  }
}

template <Reduction R>
class ReduceOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& x = ctx.input(0);
    if (x.dtype == DType::Float16) ctx.fail("float16 input: the importer should have widened it to float32");
    if (x.dtype == DType::Int64 && !int64_ok<R>()) ctx.fail("needs a float input, got int64");
    std::vector<bool> reduced;
    const bool noop = reduced_axes(ctx, x.shape, reduced);
    if (noop) return {x};
    const bool keepdims = ctx.attrs().get_int("keepdims", 1) != 0;
    Shape out;
    for (std::size_t d = 0; d < x.shape.size(); ++d) {
      if (!reduced[d]) {
        out.push_back(x.shape[d]);
      } else if (keepdims) {
        out.push_back(1);
      }
    }
    return {TensorInfo{out, x.dtype}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    Tensor& out = ctx.output(0);
    std::vector<bool> reduced;
    if (reduced_axes(ctx, x.shape(), reduced)) {
      elementwise::parallel_copy(out.raw(), x.raw(), out.bytes());
      return;
    }
    if (x.dtype() == DType::Int64) {
      if constexpr (int64_ok<R>()) reduce_typed<R, int64_t>(x.i64(), out.i64(), x.shape(), reduced);
    } else {
      reduce_typed<R, float>(x.f32(), out.f32(), x.shape(), reduced);
    }
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>&, OpCost& cost) const override {
    cost.flops += element_count(ctx.shape(0));
  }

 private:
  // Marks the reduced axes; returns true for the noop_with_empty_axes identity.
  template <typename Ctx>
  static bool reduced_axes(const Ctx& ctx, const Shape& shape, std::vector<bool>& reduced) {
    const auto rank = static_cast<int64_t>(shape.size());
    std::vector<int64_t> axes;
    ctx.ints_from_attr_or_input("axes", 1, axes);
    reduced.assign(shape.size(), axes.empty());
    if (axes.empty()) return ctx.attrs().get_int("noop_with_empty_axes", 0) != 0;
    for (int64_t axis : axes) {
      int64_t a = axis;
      if (!elementwise::normalize_axis(a, rank))
        ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
      if (reduced[static_cast<std::size_t>(a)]) ctx.fail("axis " + std::to_string(axis) + " is given twice");
      reduced[static_cast<std::size_t>(a)] = true;
    }
    return false;
  }
};

}  // namespace

CODA_REGISTER_OP(ReduceSum, ReduceOp<Reduction::Sum>);
CODA_REGISTER_OP(ReduceMean, ReduceOp<Reduction::Mean>);
CODA_REGISTER_OP(ReduceMax, ReduceOp<Reduction::Max>);
CODA_REGISTER_OP(ReduceMin, ReduceOp<Reduction::Min>);
CODA_REGISTER_OP(ReduceProd, ReduceOp<Reduction::Prod>);
CODA_REGISTER_OP(ReduceSumSquare, ReduceOp<Reduction::SumSquare>);
CODA_REGISTER_OP(ReduceL1, ReduceOp<Reduction::L1>);
CODA_REGISTER_OP(ReduceL2, ReduceOp<Reduction::L2>);

}  // namespace coda
