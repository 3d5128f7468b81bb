// Softmax and LogSoftmax, numerically stable (the row maximum is subtracted before exp).
// Opset < 13 coerces the input to 2-D at `axis` (default 1) and normalises over the flattened
// trailing dimensions; opset >= 13 normalises along the single dimension `axis` (default -1).
// Both reduce to [outer, n, inner] with the normalisation over n: inner == 1 runs contiguous
// rows, inner > 1 runs column blocks of the n x inner row-major matrix, reducing whole rows at a
// time, so NCHW channel softmax never walks memory with a stride.
// Cost: four flops per element (max, subtract-and-exp, sum, divide).

#include <Eigen/Core>
#include <algorithm>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

struct Layout {
  int64_t outer = 1;
  int64_t n = 1;
  int64_t inner = 1;
};

// Normalised axis or failure, with the opset's default.
template <typename Ctx>
int64_t softmax_axis(const Ctx& ctx, int64_t rank) {
  const bool legacy = ctx.node().opset < 13;
  int64_t axis = ctx.attrs().get_int("axis", legacy ? 1 : -1);
  int64_t normalised = axis;
  // Opset < 13 accepts axis == rank (everything flattened into the outer dimension).
  const bool ok = legacy && axis == rank ? true : elementwise::normalize_axis(normalised, rank);
  if (!ok) ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return normalised;
}

Layout layout_of(const Shape& shape, int64_t axis, bool legacy) {
  Layout l;
  const auto rank = static_cast<int64_t>(shape.size());
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t v = shape[static_cast<std::size_t>(d)];
    if (d < axis) {
      l.outer *= v;
    } else if (d == axis || legacy) {
      l.n *= v;
    } else {
      l.inner *= v;
    }
  }
  return l;
}

template <bool Log>
void softmax_rows(const float* in, float* out, int64_t rows, int64_t n) {
  const bool parallel = rows > 1 && rows * n >= elementwise::kParallelMin;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; ++r) {
    Eigen::Map<const Eigen::ArrayXf> x(in + r * n, n);
    Eigen::Map<Eigen::ArrayXf> y(out + r * n, n);
    const float m = x.maxCoeff();
    y = (x - m).exp();
    const float sum = y.sum();
    if constexpr (Log) {
      y = (x - m) - std::log(sum);
    } else {
      y /= sum;
    }
  }
}

template <bool Log>
void softmax_columns(const float* in, float* out, const Layout& l) {
  // Column blocks of 256 floats: long enough to vectorise, short enough that the block's rows
  // stay in L2 between the max, exp and divide passes. Every pass walks whole rows of the block
  // (contiguous memory), keeping per-column maxima and sums in two small arrays.
  constexpr int64_t kColumns = 256;
  const int64_t blocks = (l.inner + kColumns - 1) / kColumns;
  const int64_t tasks = l.outer * blocks;
  const bool parallel = tasks > 1 && l.outer * l.n * l.inner >= elementwise::kParallelMin;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / blocks;
    const int64_t c0 = (t % blocks) * kColumns;
    const int64_t w = std::min(kColumns, l.inner - c0);
    const float* x = in + o * l.n * l.inner + c0;
    float* y = out + o * l.n * l.inner + c0;
    using Row = Eigen::Array<float, kColumns, 1>;
    Row m_storage;
    Row sum_storage;
    Eigen::Map<Eigen::ArrayXf> m(m_storage.data(), w);
    Eigen::Map<Eigen::ArrayXf> sum(sum_storage.data(), w);
    m = Eigen::Map<const Eigen::ArrayXf>(x, w);
    for (int64_t k = 1; k < l.n; ++k) m = m.max(Eigen::Map<const Eigen::ArrayXf>(x + k * l.inner, w));
    sum.setZero();
    for (int64_t k = 0; k < l.n; ++k) {
      Eigen::Map<Eigen::ArrayXf> yk(y + k * l.inner, w);
      yk = (Eigen::Map<const Eigen::ArrayXf>(x + k * l.inner, w) - m).exp();
      sum += yk;
    }
    if constexpr (Log) {
      sum = sum.log();
      for (int64_t k = 0; k < l.n; ++k)
        Eigen::Map<Eigen::ArrayXf>(y + k * l.inner, w) = (Eigen::Map<const Eigen::ArrayXf>(x + k * l.inner, w) - m) - sum;
    } else {
      for (int64_t k = 0; k < l.n; ++k) Eigen::Map<Eigen::ArrayXf>(y + k * l.inner, w) /= sum;
    }
  }
}

template <bool Log>
class SoftmaxOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& x = ctx.input(0);
    if (x.dtype != DType::Float32) ctx.fail(std::string("needs a float input, got ") + dtype_name(x.dtype));
    softmax_axis(ctx, static_cast<int64_t>(x.shape.size()));
    return {x};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t axis = softmax_axis(ctx, x.rank());
    const Layout l = layout_of(x.shape(), axis, ctx.node().opset < 13);
    if (l.outer * l.n * l.inner == 0) return;
    if (l.inner == 1) {
      softmax_rows<Log>(x.f32(), ctx.output(0).f32(), l.outer, l.n);
    } else {
      softmax_columns<Log>(x.f32(), ctx.output(0).f32(), l);
    }
  }

  void count(const InferContext&, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    cost.flops += 4 * element_count(outputs.front().shape);
  }
};

}  // namespace

CODA_REGISTER_OP(Softmax, SoftmaxOp<false>);
CODA_REGISTER_OP(LogSoftmax, SoftmaxOp<true>);

}  // namespace coda
