// BatchNormalization in training mode (Ioffe & Szegedy, 2015, "Batch Normalization", Algorithm 1
// and its backward pass in section 3): the forward pass normalises with the statistics of the
// batch (biased variance, over N and the spatial positions of each channel) and updates the
// running statistics as ONNX defines them,
//   running = running * momentum + batch * (1 - momentum), momentum 0.9 by default,
// with the unbiased batch variance in the running variance, as PyTorch does. Opsets before 9 with
// spatial = 0 keep statistics per (channel, position), over N only.
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "kernels/autograd.h"

namespace coda {

namespace {

constexpr int64_t kParallelMin = 1 << 15;

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;

// x viewed as (batch, params, inner): parameter k normalises the `batch` runs of `inner`
// contiguous elements at offsets (n * params + k) * inner.
struct Layout {
  int64_t batch = 1, params = 1, inner = 1;
  int64_t count() const { return batch * inner; }  // elements behind each statistic
};

template <typename Ctx>
Layout layout_of(const Ctx& ctx, const Tensor& x) {
  if (x.rank() < 2) ctx.fail("input " + shape_string(x.shape()) + " must be (N, C, ...)");
  Layout l;
  l.batch = x.dim(0);
  int64_t plane = 1;
  for (int d = 2; d < x.rank(); ++d) plane *= x.dim(d);
  const bool spatial = ctx.attrs().get_int("spatial", 1) != 0;
  l.params = spatial ? x.dim(1) : x.dim(1) * plane;
  l.inner = spatial ? plane : 1;
  for (int i = 1; i < 5; ++i)
    if (ctx.input(i).size() != l.params)
      ctx.fail("parameter input " + std::to_string(i) + " " + shape_string(ctx.input(i).shape()) + " should hold " +
               std::to_string(l.params) + " values");
  return l;
}

class BatchNormalizationGrad final : public GradKernel {
 public:
  void forward_train(const TrainForwardContext& ctx) const override {
    const Tensor& x_tensor = ctx.input(0);
    const Layout l = layout_of(ctx, x_tensor);
    if (l.count() < 2)
      ctx.fail("training needs more than one value per channel, got input " + shape_string(x_tensor.shape()));
    const float epsilon = ctx.attrs().get_float("epsilon", 1e-5f);
    const float momentum = ctx.attrs().get_float("momentum", 0.9f);
    const float* x = x_tensor.f32();
    const float* scale = ctx.input(1).f32();
    const float* shift = ctx.input(2).f32();
    float* y = ctx.output(0).f32();
    Tensor mean_tensor({l.params}), inv_std_tensor({l.params});
    float* mean = mean_tensor.f32();
    float* inv_std = inv_std_tensor.f32();
    std::vector<double> variance(static_cast<std::size_t>(l.params));
    const double count = static_cast<double>(l.count());
#pragma omp parallel for schedule(static) if (l.batch * l.params * l.inner >= kParallelMin && !omp_in_parallel())
    for (int64_t k = 0; k < l.params; ++k) {
      // Two passes (mean, then squared deviations) in float runs summed in double: the variance
      // does not suffer the cancellation of E[x^2] - E[x]^2.
      double sum = 0.0;
      for (int64_t b = 0; b < l.batch; ++b) sum += ConstArrayMap(x + (b * l.params + k) * l.inner, l.inner).sum();
      const auto m = static_cast<float>(sum / count);
      double squares = 0.0;
      for (int64_t b = 0; b < l.batch; ++b)
        squares += (ConstArrayMap(x + (b * l.params + k) * l.inner, l.inner) - m).square().sum();
      const double var = squares / count;
      variance[static_cast<std::size_t>(k)] = var;
      mean[k] = m;
      inv_std[k] = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(epsilon)));
      const float f = inv_std[k] * scale[k], s = shift[k];
      for (int64_t b = 0; b < l.batch; ++b) {
        const int64_t at = (b * l.params + k) * l.inner;
        ArrayMap(y + at, l.inner) = (ConstArrayMap(x + at, l.inner) - m) * f + s;
      }
    }
    Tensor* running_mean = ctx.mutable_input(3);
    Tensor* running_var = ctx.mutable_input(4);
    const double keep = momentum, take = 1.0 - static_cast<double>(momentum);
    if (running_mean)
      for (int64_t k = 0; k < l.params; ++k)
        running_mean->f32()[k] = static_cast<float>(running_mean->f32()[k] * keep + mean[k] * take);
    if (running_var)
      for (int64_t k = 0; k < l.params; ++k)
        running_var->f32()[k] = static_cast<float>(
            running_var->f32()[k] * keep + variance[static_cast<std::size_t>(k)] * count / (count - 1.0) * take);
    std::vector<Tensor>& saved = ctx.saved();
    saved.clear();
    saved.push_back(std::move(mean_tensor));
    saved.push_back(std::move(inv_std_tensor));
  }

  // With x^ = (x - mean) inv_std and the per-channel sums dB = sum dy, dS = sum dy x^:
  //   dx = scale inv_std (dy - dB / count - x^ dS / count).
  void backward(const BackwardContext& ctx) const override {
    Tensor* dx_tensor = ctx.input_grad(0);
    Tensor* dscale_tensor = ctx.input_grad(1);
    Tensor* dshift_tensor = ctx.input_grad(2);
    const Tensor* dy_tensor = output_grad_or_zero_inputs(ctx);
    if (!dy_tensor) return;
    const Tensor& x_tensor = ctx.input(0);
    const Layout l = layout_of(ctx, x_tensor);
    if (ctx.saved().size() != 2 || ctx.saved()[0].size() != l.params)
      ctx.fail("backward without the statistics of a training forward pass");
    const float* mean = ctx.saved()[0].f32();
    const float* inv_std = ctx.saved()[1].f32();
    const float* x = x_tensor.f32();
    const float* scale = ctx.input(1).f32();
    const float* dy = dy_tensor->f32();
    float* dx = dx_tensor ? dx_tensor->f32() : nullptr;
    float* dscale = dscale_tensor ? dscale_tensor->f32() : nullptr;
    float* dshift = dshift_tensor ? dshift_tensor->f32() : nullptr;
    const double count = static_cast<double>(l.count());
#pragma omp parallel for schedule(static) if (l.batch * l.params * l.inner >= kParallelMin && !omp_in_parallel())
    for (int64_t k = 0; k < l.params; ++k) {
      const float m = mean[k];
      double sum_dy = 0.0, sum_dy_xc = 0.0;  // sum dy, sum dy (x - mean)
      for (int64_t b = 0; b < l.batch; ++b) {
        const int64_t at = (b * l.params + k) * l.inner;
        const ConstArrayMap g(dy + at, l.inner);
        sum_dy += g.sum();
        sum_dy_xc += (g * (ConstArrayMap(x + at, l.inner) - m)).sum();
      }
      const double sum_dy_xhat = sum_dy_xc * inv_std[k];
      if (dshift) dshift[k] = static_cast<float>(sum_dy);
      if (dscale) dscale[k] = static_cast<float>(sum_dy_xhat);
      if (!dx) continue;
      // dx = a dy + b (x - mean) + c with per-channel constants.
      const double f = static_cast<double>(scale[k]) * inv_std[k];
      const auto a = static_cast<float>(f);
      const auto bc = static_cast<float>(-f * sum_dy_xhat * inv_std[k] / count);
      const auto c = static_cast<float>(-f * sum_dy / count);
      for (int64_t b = 0; b < l.batch; ++b) {
        const int64_t at = (b * l.params + k) * l.inner;
        ArrayMap(dx + at, l.inner) =
            a * ConstArrayMap(dy + at, l.inner) + bc * (ConstArrayMap(x + at, l.inner) - m) + c;
      }
    }
  }

  std::vector<int> updated_inputs() const override { return {3, 4}; }
  std::vector<int> non_differentiable_inputs() const override { return {3, 4}; }
};

}  // namespace

CODA_REGISTER_GRAD(BatchNormalization, BatchNormalizationGrad);

}  // namespace coda
