// LRN, local response normalisation across channels (ONNX opsets 1-18; Krizhevsky et al. 2012):
//   square_sum[n,c,d] = sum of x[n,i,d]^2 for i in [c - floor((size-1)/2), c + ceil((size-1)/2)]
//                       clipped to [0, C-1]
//   y = x / (bias + alpha / size * square_sum) ^ beta
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/op.h"

namespace coda {

namespace {

constexpr int64_t kParallelMin = 1 << 14;

class LRNOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const Shape& x = ctx.shape(0);
    if (x.size() < 2) ctx.fail("input " + shape_string(x) + " must be (N, C, ...)");
    if (ctx.input(0).dtype != DType::Float32) ctx.fail("input must be float");
    size(ctx.node());
    return {TensorInfo{x, DType::Float32}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& xt = ctx.input(0);
    const int64_t n = size(ctx.node());
    // Defaults from the ONNX specification of LRN.
    const float alpha = ctx.attrs().get_float("alpha", 1e-4f);
    const float beta = ctx.attrs().get_float("beta", 0.75f);
    const float bias = ctx.attrs().get_float("bias", 1.0f);
    const int64_t batch = xt.dim(0), channels = xt.dim(1);
    const int64_t plane = batch * channels == 0 ? 0 : xt.size() / (batch * channels);
    const int64_t before = (n - 1) / 2, after = n - 1 - before;  // floor and ceil of (size-1)/2
    const float* x = xt.f32();
    float* y = ctx.output(0).f32();
    const float scale = alpha / static_cast<float>(n);
    const int64_t rows = batch * channels;
#pragma omp parallel if (rows * plane >= kParallelMin && !omp_in_parallel())
    {
      std::vector<float> sum(static_cast<std::size_t>(plane));
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t image = r / channels, c = r % channels;
        const int64_t c0 = std::max<int64_t>(0, c - before), c1 = std::min(channels - 1, c + after);
        std::fill(sum.begin(), sum.end(), 0.0f);
        // Channel rows outer, positions inner: each neighbour row is read contiguously.
        for (int64_t k = c0; k <= c1; ++k) {
          const float* v = x + (image * channels + k) * plane;
          for (int64_t i = 0; i < plane; ++i) sum[static_cast<std::size_t>(i)] += v[i] * v[i];
        }
        const float* in = x + r * plane;
        float* out = y + r * plane;
        for (int64_t i = 0; i < plane; ++i)
          out[i] = in[i] / std::pow(bias + scale * sum[static_cast<std::size_t>(i)], beta);
      }
    }
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>&, OpCost& cost) const override {
    // Per element: its square, size - 1 adds of neighbour squares, the alpha/size scaling, the
    // bias add, the power and the division.
    cost.flops += element_count(ctx.shape(0)) * (size(ctx.node()) + 4);
  }

 private:
  static int64_t size(const Node& node) {
    if (!node.attrs.has("size")) throw BadInput(node.describe() + ": attribute 'size' is required");
    const int64_t n = node.attrs.get_int("size", 1);
    if (n < 1) throw BadInput(node.describe() + ": size " + std::to_string(n) + " must be >= 1");
    return n;
  }
};

}  // namespace

CODA_REGISTER_OP(LRN, LRNOp);

}  // namespace coda
