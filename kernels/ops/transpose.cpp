// Transpose: permutes dimensions (perm defaults to reversing them). The permutation is first
// simplified: size-1 dimensions are dropped and input dimensions that stay adjacent and in order
// are merged. Every permutation then falls in one of two kernels:
// - the innermost dimension stays innermost (the attention head split 0,2,1,3, or swapping
//   N and C): rows of that dimension are copied whole;
// - otherwise (NCHW <-> NHWC, 2-D transposes, and the rest): batched 2-D transposes of the input's
//   innermost dimension against the output's, in cache-sized tiles.
// Both are parallel over rows or tiles with OpenMP and work on any dtype by element size.
#include <algorithm>
#include <cstring>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

std::vector<int64_t> permutation(const Attributes& attrs, std::size_t rank) {
  std::vector<int64_t> perm = attrs.get_ints("perm");
  if (perm.empty()) {
    perm.resize(rank);
    for (std::size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(rank - 1 - i);
  }
  return perm;
}

// The permutation after dropping size-1 dimensions and merging runs of input dimensions that
// stay consecutive in the output. `shape` is in input order; out dimension j is shape[perm[j]].
struct Simplified {
  Shape shape;
  std::vector<int64_t> perm;
};

Simplified simplify(const Shape& in_shape, const std::vector<int64_t>& perm) {
  const std::size_t rank = in_shape.size();
  std::vector<int64_t> renumber(rank, -1);
  Shape kept;
  for (std::size_t d = 0; d < rank; ++d)
    if (in_shape[d] != 1) {
      renumber[d] = static_cast<int64_t>(kept.size());
      kept.push_back(in_shape[d]);
    }
  std::vector<int64_t> p;
  for (int64_t d : perm)
    if (renumber[static_cast<std::size_t>(d)] >= 0) p.push_back(renumber[static_cast<std::size_t>(d)]);
  // Runs of consecutive input dimensions in output order.
  std::vector<std::pair<int64_t, int64_t>> runs;  // first input dim, last input dim
  for (int64_t d : p) {
    if (!runs.empty() && runs.back().second + 1 == d) {
      runs.back().second = d;
    } else {
      runs.emplace_back(d, d);
    }
  }
  // Number the runs by their position in the input.
  std::vector<std::size_t> order(runs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return runs[a].first < runs[b].first; });
  Simplified s;
  s.perm.resize(runs.size());
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const auto& run = runs[order[pos]];
    int64_t size = 1;
    for (int64_t d = run.first; d <= run.second; ++d) size *= kept[static_cast<std::size_t>(d)];
    s.shape.push_back(size);
    s.perm[order[pos]] = static_cast<int64_t>(pos);
  }
  return s;
}

// Input offset of the start of output row `row`, where a row spans the output's last `skip`
// dimensions (which the caller walks itself).
struct Walker {
  std::vector<int64_t> out_dims;     // output dimensions left to enumerate, outermost first
  std::vector<int64_t> in_strides;   // input stride of each of them
  int64_t offset_of(int64_t row) const {
    int64_t offset = 0;
    for (std::size_t d = out_dims.size(); d-- > 0;) {
      offset += (row % out_dims[d]) * in_strides[d];
      row /= out_dims[d];
    }
    return offset;
  }
};

template <typename T>
void transpose_typed(const T* in, T* out, const Simplified& s) {
  const std::size_t rank = s.shape.size();
  int64_t total = 1;
  for (int64_t d : s.shape) total *= d;
  if (total == 0) return;
  if (rank <= 1) {
    elementwise::parallel_copy(out, in, static_cast<std::size_t>(total) * sizeof(T));
    return;
  }
  std::vector<int64_t> in_strides(rank, 1);
  for (std::size_t d = rank - 1; d-- > 0;) in_strides[d] = in_strides[d + 1] * s.shape[d + 1];
  Shape out_shape(rank);
  for (std::size_t j = 0; j < rank; ++j) out_shape[j] = s.shape[static_cast<std::size_t>(s.perm[j])];

  if (s.perm[rank - 1] == static_cast<int64_t>(rank - 1)) {
    // Rows of the innermost dimension move whole. (Merging guarantees the output's previous
    // dimension is not the input's previous one, so rows land scattered.)
    const int64_t inner = s.shape[rank - 1];
    Walker w;
    for (std::size_t j = 0; j + 1 < rank; ++j) {
      w.out_dims.push_back(out_shape[j]);
      w.in_strides.push_back(in_strides[static_cast<std::size_t>(s.perm[j])]);
    }
    const int64_t rows = total / inner;
    const bool parallel = total >= elementwise::kParallelMin;
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(out + r * inner, in + w.offset_of(r), static_cast<std::size_t>(inner) * sizeof(T));
    return;
  }

  // Tiled 2-D transposes. x walks the output's innermost dimension (input dim a, strided read);
  // y walks the input's innermost dimension (output position q, strided write).
  const auto a = static_cast<std::size_t>(s.perm[rank - 1]);
  std::size_t q = 0;
  while (s.perm[q] != static_cast<int64_t>(rank - 1)) ++q;
  const int64_t nx = s.shape[a];
  const int64_t ny = s.shape[rank - 1];
  const int64_t in_x = in_strides[a];
  std::vector<int64_t> out_strides(rank, 1);
  for (std::size_t j = rank - 1; j-- > 0;) out_strides[j] = out_strides[j + 1] * out_shape[j + 1];
  const int64_t out_y = out_strides[q];
  // Batch: every other output dimension.
  std::vector<int64_t> batch_dims;
  std::vector<int64_t> batch_in;
  std::vector<int64_t> batch_out;
  for (std::size_t j = 0; j + 1 < rank; ++j) {
    if (j == q) continue;
    batch_dims.push_back(out_shape[j]);
    batch_in.push_back(in_strides[static_cast<std::size_t>(s.perm[j])]);
    batch_out.push_back(out_strides[j]);
  }
  // 32 x 32 tiles: 4 KiB of floats read and written per tile, well inside L1.
  constexpr int64_t kTile = 32;
  const int64_t tiles_x = (nx + kTile - 1) / kTile;
  const int64_t tiles_y = (ny + kTile - 1) / kTile;
  const int64_t batches = total / (nx * ny);
  const int64_t tasks = batches * tiles_y * tiles_x;
  const bool parallel = total >= elementwise::kParallelMin;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t rest = t;
    const int64_t tx = rest % tiles_x;
    rest /= tiles_x;
    const int64_t ty = rest % tiles_y;
    int64_t batch = rest / tiles_y;
    int64_t in_base = 0;
    int64_t out_base = 0;
    for (std::size_t d = batch_dims.size(); d-- > 0;) {
      const int64_t i = batch % batch_dims[d];
      batch /= batch_dims[d];
      in_base += i * batch_in[d];
      out_base += i * batch_out[d];
    }
    const int64_t x0 = tx * kTile;
    const int64_t x1 = std::min(nx, x0 + kTile);
    const int64_t y0 = ty * kTile;
    const int64_t y1 = std::min(ny, y0 + kTile);
    for (int64_t y = y0; y < y1; ++y) {
      T* o = out + out_base + y * out_y;
      const T* src = in + in_base + y;
      for (int64_t x = x0; x < x1; ++x) o[x] = src[x * in_x];
    }
  }
}

class TransposeOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    const std::size_t rank = data.shape.size();
    std::vector<int64_t> perm = permutation(ctx.attrs(), rank);
    if (perm.size() != rank)
      ctx.fail("perm has " + std::to_string(perm.size()) + " entries for an input of rank " + std::to_string(rank));
    std::vector<bool> seen(rank, false);
    Shape out(rank);
    for (std::size_t j = 0; j < rank; ++j) {
      const int64_t p = perm[j];
      if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<std::size_t>(p)])
        ctx.fail("perm is not a permutation of 0.." + std::to_string(rank - 1));
      seen[static_cast<std::size_t>(p)] = true;
      out[j] = data.shape[static_cast<std::size_t>(p)];
    }
    return {TensorInfo{out, data.dtype}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    const Simplified s = simplify(in.shape(), permutation(ctx.attrs(), in.shape().size()));
    elementwise::with_element_type(in.dtype(), [&](auto zero) {
      using T = decltype(zero);
      transpose_typed(static_cast<const T*>(in.raw()), static_cast<T*>(out.raw()), s);
    });
  }
};

}  // namespace

CODA_REGISTER_OP(Transpose, TransposeOp);

}  // namespace coda
