#include "kernels/op.h"

#include <map>
#include <mutex>

#include "kernels/error.h"

namespace coda {

namespace {

std::map<std::string, std::unique_ptr<OpKernel>>& registry() {
  static std::map<std::string, std::unique_ptr<OpKernel>> ops;
  return ops;
}

bool ints_from(const Attributes& attrs, const std::string& name, const Tensor* input, bool input_present,
               std::vector<int64_t>& out, const Node& node) {
  if (input_present) {
    if (!input) throw BadInput(node.describe() + ": input '" + name + "' must be a constant");
    out = input->to_int64_vector();
    return true;
  }
  if (attrs.has(name)) {
    out = attrs.get_ints(name);
    return true;
  }
  return false;
}

}  // namespace

const TensorInfo& InferContext::input(int i) const {
  if (!has_input(i)) fail("missing input " + std::to_string(i));
  return *inputs_[static_cast<std::size_t>(i)];
}

const Tensor* InferContext::constant(int i) const {
  if (i >= static_cast<int>(constants_.size())) return nullptr;
  return constants_[static_cast<std::size_t>(i)];
}

bool InferContext::ints_from_attr_or_input(const std::string& name, int index, std::vector<int64_t>& out) const {
  return ints_from(attrs(), name, constant(index), has_input(index), out, node_);
}

void InferContext::fail(const std::string& message) const { throw BadInput(node_.describe() + ": " + message); }

const Tensor& RunContext::input(int i) const {
  if (!has_input(i)) fail("missing input " + std::to_string(i));
  return *inputs_[static_cast<std::size_t>(i)];
}

Tensor& RunContext::output(int i) const {
  if (!has_output(i)) fail("missing output " + std::to_string(i));
  return *outputs_[static_cast<std::size_t>(i)];
}

bool RunContext::ints_from_attr_or_input(const std::string& name, int index, std::vector<int64_t>& out) const {
  return ints_from(attrs(), name, has_input(index) ? &input(index) : nullptr, has_input(index), out, node_);
}

void RunContext::fail(const std::string& message) const { throw BadInput(node_.describe() + ": " + message); }

void OpKernel::count(const InferContext&, const std::vector<TensorInfo>&, OpCost&) const {}

const OpKernel* find_op(const std::string& op_type) {
  auto it = registry().find(op_type);
  return it == registry().end() ? nullptr : it->second.get();
}

const OpKernel& require_op(const Node& node) {
  const OpKernel* op = find_op(node.op_type);
  if (!op) throw BadInput("unsupported op type '" + node.op_type + "' at node '" + node.name + "'");
  return *op;
}

std::vector<std::string> registered_op_types() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;
}

void register_op(const std::string& op_type, std::unique_ptr<OpKernel> kernel) {
  registry()[op_type] = std::move(kernel);
}

OpCost op_cost(const OpKernel& kernel, const InferContext& ctx, const std::vector<TensorInfo>& outputs) {
  OpCost cost;
  for (int i = 0; i < ctx.input_count(); ++i) {
    if (!ctx.has_input(i)) continue;
    const TensorInfo& in = ctx.input(i);
    int64_t n = element_count(in.shape);
    cost.bytes_read += n * static_cast<int64_t>(dtype_size(in.dtype));
    if (ctx.constant(i) && in.dtype != DType::Int64) cost.params += n;
  }
  for (const TensorInfo& out : outputs)
    cost.bytes_written += element_count(out.shape) * static_cast<int64_t>(dtype_size(out.dtype));
  kernel.count(ctx, outputs, cost);
  return cost;
}

}  // namespace coda
