#include "kernels/approx/shift_add_training.h"

#include <algorithm>
#include <cstring>

namespace coda {

namespace {

// Whether the knob accepts a weight of this shape for the target (shift_add_layout's rule), so
// training quantizes exactly the tensors evaluation will.
bool accepted_shape(const ShiftAddTarget& target, const Shape& w) {
  if (target.op_type == "Conv") return w.size() >= 3;
  if (target.op_type == "Gemm") return w.size() == 2;
  if (w.empty()) return false;
  for (std::size_t d = 0; d + 2 < w.size(); ++d)
    if (w[d] != 1) return false;
  return true;
}

}  // namespace

std::map<std::string, ShiftAddTarget> shift_add_targets(const Graph& graph) {
  std::map<std::string, ShiftAddTarget> targets;
  for (const Node& node : graph.nodes) {
    if (node.op_type != "Conv" && node.op_type != "Gemm" && node.op_type != "MatMul") continue;
    if (node.inputs.size() < 2 || node.inputs[1] < 0) continue;
    const std::string& name = graph.values[static_cast<std::size_t>(node.inputs[1])].name;
    ShiftAddTarget target{node.op_type, node.op_type == "Gemm" && node.attrs.get_int("transB", 0) != 0};
    targets.emplace(name, target);
  }
  return targets;
}

Tensor shift_add_target_weights(const ShiftAddTarget& target, const Tensor& weights, const ShiftAddParams& params) {
  if (weights.dtype() != DType::Float32 || !accepted_shape(target, weights.shape())) return Tensor();
  return shift_add_quantized(weights, shift_add_layout(target.op_type, weights.shape(), target.transpose_b), params);
}

WeightTransform make_shift_add_transform(const Graph& graph, const ShiftAddParams& params) {
  params.validate("shift-add training");
  return [targets = shift_add_targets(graph), params](const std::string& name, const Tensor& shadow,
                                                       Tensor& effective) {
    auto it = targets.find(name);
    Tensor quantized = it == targets.end() ? Tensor() : shift_add_target_weights(it->second, shadow, params);
    const Tensor& source = quantized.empty() ? shadow : quantized;
    std::memcpy(effective.raw(), source.raw(), source.bytes());
  };
}

int quantize_graph_weights(Graph& graph, const ShiftAddParams& params) {
  int changed = 0;
  for (const auto& [name, target] : shift_add_targets(graph)) {
    const int id = graph.find_value(name);
    Value& v = graph.values[static_cast<std::size_t>(id)];
    if (!v.constant) continue;
    Tensor quantized = shift_add_target_weights(target, *v.constant, params);
    if (quantized.empty()) continue;
    // A new tensor, not an in-place write: other graphs may share the constant's storage.
    v.constant = quantized;
    ++changed;
  }
  return changed;
}

}  // namespace coda
