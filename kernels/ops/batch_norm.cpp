// BatchNormalization in inference mode (ONNX opsets 1-18):
//   y = scale * (x - mean) / sqrt(var + epsilon) + B, per channel (dimension 1), any rank >= 2.
// Opsets before 9 carried `spatial`: spatial = 0 gives every (channel, position) its own statistics,
// the parameters then having the shape (C, D1, ..., Dn).
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/op.h"

namespace coda {

namespace {

constexpr int64_t kParallelMin = 1 << 15;

struct BatchNormShape {
  int64_t batch = 1, channels = 1, plane = 1;  // x viewed as (batch, channels, plane)
  int64_t params = 1;                          // elements of each parameter: C, or C * plane
};

BatchNormShape batch_norm_shape(const Node& node, const std::vector<const Shape*>& in) {
  auto fail = [&](const std::string& message) { throw BadInput(node.describe() + ": " + message); };
  const Shape& x = *in[0];
  if (x.size() < 2) fail("input " + shape_string(x) + " must be (N, C, ...)");
  BatchNormShape s;
  s.batch = x[0];
  s.channels = x[1];
  for (std::size_t d = 2; d < x.size(); ++d) s.plane *= x[d];
  const bool spatial = node.attrs.get_int("spatial", 1) != 0;
  Shape want = {s.channels};
  if (!spatial) want.assign(x.begin() + 1, x.end());
  s.params = element_count(want);
  static const char* names[] = {"scale", "B", "mean", "var"};
  for (std::size_t i = 1; i < 5; ++i) {
    const Shape& p = *in[i];
    // Exporters of the spatial = 0 form sometimes flatten the parameters; the element count is
    // what the arithmetic depends on.
    if (p != want && !(!spatial && element_count(p) == s.params))
      fail(std::string(names[i - 1]) + " " + shape_string(p) + " must be " + shape_string(want) + " for input " +
           shape_string(x));
  }
  return s;
}

void reject_training(const Node& node) {
  auto fail = [&](const std::string& message) { throw BadInput(node.describe() + ": " + message); };
  if (node.attrs.get_int("training_mode", 0) != 0)
    fail("training_mode = 1 is not supported (inference only)");
  for (std::size_t o = 1; o < node.outputs.size(); ++o)
    if (node.outputs[o] >= 0)
      fail("output " + std::to_string(o) + " (running or saved statistics) is only produced in training, which is not "
           "supported");
}

class BatchNormalizationOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    reject_training(ctx.node());
    std::vector<const Shape*> shapes;
    for (int i = 0; i < 5; ++i) {
      if (ctx.input(i).dtype != DType::Float32) ctx.fail("inputs must be float");
      shapes.push_back(&ctx.shape(i));
    }
    batch_norm_shape(ctx.node(), shapes);
    // Omitted statistics outputs still occupy slots in the node's output list.
    std::vector<TensorInfo> outs(ctx.node().outputs.size(), TensorInfo{{ctx.shape(0)[1]}, DType::Float32});
    if (outs.empty()) outs.resize(1);
    outs[0] = TensorInfo{ctx.shape(0), DType::Float32};
    return outs;
  }

  void run(const RunContext& ctx) const override {
    reject_training(ctx.node());
    std::vector<const Shape*> shapes;
    for (int i = 0; i < 5; ++i) shapes.push_back(&ctx.input(i).shape());
    const BatchNormShape s = batch_norm_shape(ctx.node(), shapes);
    const float epsilon = ctx.attrs().get_float("epsilon", 1e-5f);
    const float* scale = ctx.input(1).f32();
    const float* shift = ctx.input(2).f32();
    const float* mean = ctx.input(3).f32();
    const float* var = ctx.input(4).f32();
    // Fold scale / sqrt(var + eps) into one factor per parameter element. The mean is still
    // subtracted before scaling, so inputs close to a large mean do not lose their digits.
    std::vector<float> factor(static_cast<std::size_t>(s.params));
    for (int64_t i = 0; i < s.params; ++i)
      factor[static_cast<std::size_t>(i)] = static_cast<float>(scale[i] / std::sqrt(static_cast<double>(var[i]) + epsilon));

    const float* x = ctx.input(0).f32();
    float* y = ctx.output(0).f32();
    const int64_t rows = s.batch * s.channels;
    const bool per_channel = s.params == s.channels;
#pragma omp parallel for schedule(static) if (rows * s.plane >= kParallelMin && !omp_in_parallel())
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t c = r % s.channels;
      const float* in = x + r * s.plane;
      float* out = y + r * s.plane;
      if (per_channel) {
        const float m = mean[c], f = factor[static_cast<std::size_t>(c)], b = shift[c];
        for (int64_t i = 0; i < s.plane; ++i) out[i] = (in[i] - m) * f + b;
      } else {
        const int64_t base = c * s.plane;
        for (int64_t i = 0; i < s.plane; ++i)
          out[i] = (in[i] - mean[base + i]) * factor[static_cast<std::size_t>(base + i)] + shift[base + i];
      }
    }
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>&, OpCost& cost) const override {
    // Inference folds the normalisation into one multiply-add per element (the per-channel
    // folding itself is negligible).
    cost.flops += 2 * element_count(ctx.shape(0));
  }
};

}  // namespace

CODA_REGISTER_OP(BatchNormalization, BatchNormalizationOp);

}  // namespace coda
