// Concat: joins tensors of one dtype along an axis (negative from opset 11; opset 1 defaulted it
// to 1). A pure copy: every input contributes one contiguous block per row of the dimensions
// before the axis, so the kernel is a series of memcpy calls whatever the dtype.
#include <cstring>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

class ConcatOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    if (ctx.input_count() < 1) ctx.fail("needs at least one input");
    const TensorInfo& first = ctx.input(0);
    const auto rank = static_cast<int64_t>(first.shape.size());
    if (rank == 0) ctx.fail("cannot concatenate scalars");
    if (ctx.node().opset >= 4 && !ctx.attrs().has("axis")) ctx.fail("the 'axis' attribute is required");
    int64_t axis = ctx.attrs().get_int("axis", 1);
    if (!elementwise::normalize_axis(axis, rank))
      ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    Shape out = first.shape;
    out[static_cast<std::size_t>(axis)] = 0;
    for (int i = 0; i < ctx.input_count(); ++i) {
      const TensorInfo& in = ctx.input(i);
      if (in.dtype != first.dtype)
        ctx.fail("input " + std::to_string(i) + " is " + dtype_name(in.dtype) + ", input 0 is " +
                 dtype_name(first.dtype));
      bool fits = in.shape.size() == first.shape.size();
      for (std::size_t d = 0; fits && d < in.shape.size(); ++d)
        fits = d == static_cast<std::size_t>(axis) || in.shape[d] == first.shape[d];
      if (!fits)
        ctx.fail("cannot concatenate " + shape_string(first.shape) + " with " + shape_string(in.shape) +
                 " along axis " + std::to_string(axis));
      out[static_cast<std::size_t>(axis)] += in.shape[static_cast<std::size_t>(axis)];
    }
    return {TensorInfo{out, first.dtype}};
  }

  void run(const RunContext& ctx) const override {
    Tensor& out = ctx.output(0);
    const int n = ctx.input_count();
    const int64_t rank = out.rank();
    int64_t axis = ctx.attrs().get_int("axis", 1);
    elementwise::normalize_axis(axis, rank);
    const std::size_t element = dtype_size(out.dtype());
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out.shape()[static_cast<std::size_t>(d)];
    int64_t inner = 1;
    for (int64_t d = axis + 1; d < rank; ++d) inner *= out.shape()[static_cast<std::size_t>(d)];

    // Bytes of one row of each input and where that block starts within an output row.
    std::vector<std::size_t> block(static_cast<std::size_t>(n));
    std::vector<std::size_t> start(static_cast<std::size_t>(n));
    std::vector<const char*> src(static_cast<std::size_t>(n));
    std::size_t row = 0;
    for (int i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      start[k] = row;
      src[k] = static_cast<const char*>(ctx.input(i).raw());
      block[k] = static_cast<std::size_t>(ctx.input(i).shape()[static_cast<std::size_t>(axis)] * inner) * element;
      row += block[k];
    }
    if (row == 0 || outer == 0) return;
    auto* dst = static_cast<char*>(out.raw());
    // Many rows (concatenation along an inner axis): one thread per range of rows. Few rows
    // (the batch-1 channel concatenation of CNNs): each block is large, copy it with all threads.
    if (outer >= 64 && out.bytes() >= elementwise::kParallelCopyBytes) {
#pragma omp parallel for schedule(static)
      for (int64_t o = 0; o < outer; ++o)
        for (int i = 0; i < n; ++i) {
          const auto k = static_cast<std::size_t>(i);
          std::memcpy(dst + static_cast<std::size_t>(o) * row + start[k],
                      src[k] + static_cast<std::size_t>(o) * block[k], block[k]);
        }
      return;
    }
    for (int64_t o = 0; o < outer; ++o)
      for (int i = 0; i < n; ++i) {
        const auto k = static_cast<std::size_t>(i);
        elementwise::parallel_copy(dst + static_cast<std::size_t>(o) * row + start[k],
                                   src[k] + static_cast<std::size_t>(o) * block[k], block[k]);
      }
  }
};

}  // namespace

CODA_REGISTER_OP(Concat, ConcatOp);

}  // namespace coda
