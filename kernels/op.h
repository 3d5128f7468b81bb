// The interface every tensor operation implements, and the registry that finds an operation by
// its ONNX op type. Each op lives in its own file under kernels/ops/ and registers itself with
// CODA_REGISTER_OP, so adding an op touches one new file and no switch statement.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/graph.h"
#include "kernels/tensor.h"

namespace coda {

struct TensorInfo {
  Shape shape;
  DType dtype = DType::Float32;
};

// Work and traffic of one op instance, used by `coda inspect` and the cost models.
struct OpCost {
  int64_t macs = 0;           // multiply-accumulates (conv, gemm, matmul)
  int64_t flops = 0;          // other arithmetic: one per elementwise/reduction operation
  int64_t params = 0;         // elements of constant float inputs (weights, biases, BN stats)
  int64_t bytes_read = 0;     // all inputs at their storage type
  int64_t bytes_written = 0;  // all outputs
};

// What shape inference sees of a node: its attributes and, for each input, the shape/dtype and the
// data when the input is constant (initializer or folded). Inputs the model omitted are absent.
class InferContext {
 public:
  InferContext(const Node& node, std::vector<const TensorInfo*> inputs, std::vector<const Tensor*> constants)
      : node_(node), inputs_(std::move(inputs)), constants_(std::move(constants)) {}

  const Node& node() const { return node_; }
  const Attributes& attrs() const { return node_.attrs; }
  int input_count() const { return static_cast<int>(inputs_.size()); }
  bool has_input(int i) const { return i < input_count() && inputs_[static_cast<std::size_t>(i)] != nullptr; }
  // Throws BadInput naming the node if the input is missing.
  const TensorInfo& input(int i) const;
  const Shape& shape(int i) const { return input(i).shape; }
  // Constant data of input i, or nullptr.
  const Tensor* constant(int i) const;
  // Integer list from attribute `name` (older opsets) or constant input `index` (newer opsets).
  // Returns false if neither is present; throws if the input exists but is not constant.
  bool ints_from_attr_or_input(const std::string& name, int index, std::vector<int64_t>& out) const;
  // Throws BadInput "node 'x' (Op): message".
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const Node& node_;
  std::vector<const TensorInfo*> inputs_;
  std::vector<const Tensor*> constants_;
};

// What an op sees when it runs: its input tensors and output tensors already allocated with the
// inferred shapes and dtypes.
class RunContext {
 public:
  RunContext(const Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor*> outputs)
      : node_(node), inputs_(std::move(inputs)), outputs_(std::move(outputs)) {}

  const Node& node() const { return node_; }
  const Attributes& attrs() const { return node_.attrs; }
  int input_count() const { return static_cast<int>(inputs_.size()); }
  bool has_input(int i) const { return i < input_count() && inputs_[static_cast<std::size_t>(i)] != nullptr; }
  const Tensor& input(int i) const;
  int output_count() const { return static_cast<int>(outputs_.size()); }
  bool has_output(int i) const { return i < output_count() && outputs_[static_cast<std::size_t>(i)] != nullptr; }
  Tensor& output(int i) const;
  bool ints_from_attr_or_input(const std::string& name, int index, std::vector<int64_t>& out) const;
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor*> outputs_;
};

class OpKernel {
 public:
  virtual ~OpKernel() = default;
  // Output shapes and dtypes; validates attributes and input shapes (BadInput on mismatch).
  virtual std::vector<TensorInfo> infer(const InferContext& ctx) const = 0;
  // Computes outputs from inputs (float data arrives as Float32; the importer widens other float
  // types). Outputs are preallocated, uninitialised.
  virtual void run(const RunContext& ctx) const = 0;
  // Multiply-accumulates and other arithmetic; bytes and params are filled in generically.
  virtual void count(const InferContext& ctx, const std::vector<TensorInfo>& outputs, OpCost& cost) const;
  // True for ops whose single output is input 0 with a new shape (Reshape, Flatten, ...): the
  // executor then shares the input's buffer instead of copying and does not call run().
  virtual bool is_view() const { return false; }
};

const OpKernel* find_op(const std::string& op_type);
// Throws BadInput "unsupported op type 'X' at node 'y'".
const OpKernel& require_op(const Node& node);
std::vector<std::string> registered_op_types();
void register_op(const std::string& op_type, std::unique_ptr<OpKernel> kernel);

template <typename Kernel>
struct OpRegistrar {
  explicit OpRegistrar(const char* op_type) { register_op(op_type, std::make_unique<Kernel>()); }
};

// CODA_REGISTER_OP(Conv, ConvOp) at namespace scope in the op's .cpp file.
#define CODA_REGISTER_OP(OP_TYPE, KERNEL_CLASS) \
  static const ::coda::OpRegistrar<KERNEL_CLASS> coda_registrar_##OP_TYPE(#OP_TYPE)

// Cost of one node whose inputs and outputs have the given infos (and constant data where known).
OpCost op_cost(const OpKernel& kernel, const InferContext& ctx, const std::vector<TensorInfo>& outputs);

}  // namespace coda
