// Backward passes. Each differentiable op registers a GradKernel under its ONNX op type (one file
// per op family, kernels/grad_*.cpp), like the forward kernels. The trainer runs the forward pass
// in training mode (GradKernel::forward_train), keeps what the backward pass needs, then walks the
// nodes in reverse calling GradKernel::backward.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/graph.h"
#include "kernels/op.h"
#include "kernels/tensor.h"

namespace coda {

// Forward pass in training mode. Inputs are read-only except the ones an op updates as a side
// effect (batch norm's running statistics), reachable through mutable_input(). `saved` keeps
// whatever backward() needs beyond the inputs and outputs (e.g. batch norm's normalised input).
class TrainForwardContext {
 public:
  TrainForwardContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor*> mutable_inputs,
                      std::vector<Tensor*> outputs, std::vector<Tensor>& saved)
      : node_(node), inputs_(std::move(inputs)), mutable_inputs_(std::move(mutable_inputs)),
        outputs_(std::move(outputs)), saved_(saved) {}

  const Node& node() const { return node_; }
  const Attributes& attrs() const { return node_.attrs; }
  int input_count() const { return static_cast<int>(inputs_.size()); }
  bool has_input(int i) const { return i < input_count() && inputs_[static_cast<std::size_t>(i)] != nullptr; }
  const Tensor& input(int i) const;
  // Non-null only for constant inputs the trainer lets ops update (running statistics).
  Tensor* mutable_input(int i) const;
  int output_count() const { return static_cast<int>(outputs_.size()); }
  Tensor& output(int i) const;
  std::vector<Tensor>& saved() const { return saved_; }
  // The same node viewed by the inference kernel, to reuse its run().
  RunContext as_run_context() const;
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> mutable_inputs_;
  std::vector<Tensor*> outputs_;
  std::vector<Tensor>& saved_;
};

// Backward pass of one node: from dL/d(output) to dL/d(input) for every input that needs a
// gradient. input_grad(i) is null when input i needs none (data without parameters upstream,
// shape inputs, running statistics); the op must skip that work. Gradients are written, not
// accumulated: the trainer sums them when a value feeds several nodes.
class BackwardContext {
 public:
  BackwardContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<const Tensor*> outputs,
                  std::vector<const Tensor*> output_grads, std::vector<Tensor*> input_grads,
                  const std::vector<Tensor>& saved)
      : node_(node), inputs_(std::move(inputs)), outputs_(std::move(outputs)),
        output_grads_(std::move(output_grads)), input_grads_(std::move(input_grads)), saved_(saved) {}

  const Node& node() const { return node_; }
  const Attributes& attrs() const { return node_.attrs; }
  bool has_input(int i) const;
  const Tensor& input(int i) const;
  const Tensor& output(int i) const;
  // dL/d(output i); null if the output does not influence the loss.
  const Tensor* output_grad(int i) const;
  // Preallocated with input i's shape (uninitialised), or null when not needed.
  Tensor* input_grad(int i) const;
  const std::vector<Tensor>& saved() const { return saved_; }
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<const Tensor*> outputs_;
  std::vector<const Tensor*> output_grads_;
  std::vector<Tensor*> input_grads_;
  const std::vector<Tensor>& saved_;
};

// Fills a gradient with zeros; null (no gradient wanted) is ignored.
void zero_gradient(Tensor* grad);

// dL/d(output 0), or null when that output does not reach the loss; every input gradient asked
// for is then zero, and has been filled so: the backward pass has nothing left to do.
const Tensor* output_grad_or_zero_inputs(const BackwardContext& ctx);

// The common start of a backward pass with one differentiable input: dx = input_grad(0) and dy =
// output_grad(0). Returns false when nothing is left to do: input 0 takes no gradient, or the
// output does not reach the loss (dx is then zeroed).
bool unary_gradients(const BackwardContext& ctx, Tensor*& dx, const Tensor*& dy);

class GradKernel {
 public:
  virtual ~GradKernel() = default;
  // Default: the inference kernel's run(); ops that behave differently in training (batch norm,
  // dropout) override it.
  virtual void forward_train(const TrainForwardContext& ctx) const;
  virtual void backward(const BackwardContext& ctx) const = 0;
  // Constant inputs this op updates during forward_train (batch norm: running mean and variance).
  virtual std::vector<int> updated_inputs() const { return {}; }
  // Inputs that never take a gradient (indices, shapes, running statistics).
  virtual std::vector<int> non_differentiable_inputs() const { return {}; }
};

const GradKernel* find_grad(const std::string& op_type);
void register_grad(const std::string& op_type, std::unique_ptr<GradKernel> kernel);

template <typename Kernel>
struct GradRegistrar {
  explicit GradRegistrar(const char* op_type) { register_grad(op_type, std::make_unique<Kernel>()); }
};

#define CODA_REGISTER_GRAD(OP_TYPE, KERNEL_CLASS) \
  static const ::coda::GradRegistrar<KERNEL_CLASS> coda_grad_registrar_##OP_TYPE(#OP_TYPE)

// Mean softmax cross-entropy of logits (N x K) against labels; writes dL/dlogits (already divided
// by N) into `grad` when given. Returns the mean loss.
float softmax_cross_entropy(const Tensor& logits, const std::vector<int>& labels, Tensor* grad);

}  // namespace coda
