#include "kernels/autograd.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "kernels/error.h"

namespace coda {
namespace {

std::map<std::string, std::unique_ptr<GradKernel>>& grad_registry() {
  static std::map<std::string, std::unique_ptr<GradKernel>> kernels;
  return kernels;
}

template <typename T>
T at(const std::vector<T>& v, int i) {
  return i >= 0 && i < static_cast<int>(v.size()) ? v[static_cast<std::size_t>(i)] : nullptr;
}

}  // namespace

const Tensor& TrainForwardContext::input(int i) const {
  if (!has_input(i)) fail("missing input " + std::to_string(i));
  return *inputs_[static_cast<std::size_t>(i)];
}

Tensor* TrainForwardContext::mutable_input(int i) const { return at(mutable_inputs_, i); }

Tensor& TrainForwardContext::output(int i) const {
  Tensor* t = at(outputs_, i);
  if (!t) fail("missing output " + std::to_string(i));
  return *t;
}

RunContext TrainForwardContext::as_run_context() const { return RunContext(node_, inputs_, outputs_); }

void TrainForwardContext::fail(const std::string& message) const {
  throw BadInput(node_.describe() + ": " + message);
}

bool BackwardContext::has_input(int i) const { return at(inputs_, i) != nullptr; }

const Tensor& BackwardContext::input(int i) const {
  const Tensor* t = at(inputs_, i);
  if (!t) fail("missing input " + std::to_string(i));
  return *t;
}

const Tensor& BackwardContext::output(int i) const {
  const Tensor* t = at(outputs_, i);
  if (!t) fail("missing output " + std::to_string(i));
  return *t;
}

const Tensor* BackwardContext::output_grad(int i) const { return at(output_grads_, i); }
Tensor* BackwardContext::input_grad(int i) const { return at(input_grads_, i); }

void BackwardContext::fail(const std::string& message) const { throw BadInput(node_.describe() + ": " + message); }

void zero_gradient(Tensor* grad) {
  if (grad) std::fill(grad->f32(), grad->f32() + grad->size(), 0.0f);
}

const Tensor* output_grad_or_zero_inputs(const BackwardContext& ctx) {
  const Tensor* dy = ctx.output_grad(0);
  if (!dy)
    for (std::size_t i = 0; i < ctx.node().inputs.size(); ++i) zero_gradient(ctx.input_grad(static_cast<int>(i)));
  return dy;
}

bool unary_gradients(const BackwardContext& ctx, Tensor*& dx, const Tensor*& dy) {
  dx = ctx.input_grad(0);
  dy = ctx.output_grad(0);
  if (!dx) return false;
  if (!dy) {
    zero_gradient(dx);
    return false;
  }
  return true;
}

void GradKernel::forward_train(const TrainForwardContext& ctx) const {
  require_op(ctx.node()).run(ctx.as_run_context());
}

const GradKernel* find_grad(const std::string& op_type) {
  auto it = grad_registry().find(op_type);
  return it == grad_registry().end() ? nullptr : it->second.get();
}

void register_grad(const std::string& op_type, std::unique_ptr<GradKernel> kernel) {
  grad_registry()[op_type] = std::move(kernel);
}

float softmax_cross_entropy(const Tensor& logits, const std::vector<int>& labels, Tensor* grad) {
  if (logits.rank() != 2) throw BadInput("cross-entropy expects N x K logits, got " + shape_string(logits.shape()));
  const int64_t n = logits.dim(0), k = logits.dim(1);
  if (static_cast<int64_t>(labels.size()) != n)
    throw BadInput("cross-entropy: " + std::to_string(labels.size()) + " labels for " + std::to_string(n) + " rows");
  const float* x = logits.f32();
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x + i * k;
    const int label = labels[static_cast<std::size_t>(i)];
    if (label < 0 || label >= k)
      throw BadInput("label " + std::to_string(label) + " outside the " + std::to_string(k) + " classes");
    // Log-sum-exp shifted by the row maximum for numerical stability.
    float max = row[0];
    for (int64_t j = 1; j < k; ++j) max = std::max(max, row[j]);
    double sum = 0;
    for (int64_t j = 0; j < k; ++j) sum += std::exp(static_cast<double>(row[j] - max));
    const double log_sum = std::log(sum) + max;
    total += log_sum - row[label];
    if (grad) {
      float* g = grad->f32() + i * k;
      for (int64_t j = 0; j < k; ++j)
        g[j] = static_cast<float>((std::exp(static_cast<double>(row[j]) - log_sum) - (j == label ? 1.0 : 0.0)) /
                                  static_cast<double>(n));
    }
  }
  return static_cast<float>(total / static_cast<double>(n));
}

}  // namespace coda
