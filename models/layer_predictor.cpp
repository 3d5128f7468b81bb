#include "models/layer_predictor.h"

#include "kernels/approx/knob_catalog.h"
#include "kernels/op.h"

namespace coda::models {

std::string op_class(const std::string& op_type, const std::map<std::string, double>& features) {
  if (op_type == "Conv") {
    auto groups = features.find("groups");
    auto in_channels = features.find("in_channels");
    bool depthwise = groups != features.end() && in_channels != features.end() && groups->second > 1 &&
                     groups->second == in_channels->second;
    return depthwise ? "dwconv" : "conv";
  }
  if (op_type == "Gemm" || op_type == "MatMul") return "fc";
  if (op_type == "MaxPool" || op_type == "AveragePool" || op_type == "GlobalAveragePool" ||
      op_type == "GlobalMaxPool")
    return "pool";
  // The simulator's rule: a kernel that only re-labels its input costs nothing.
  const OpKernel* kernel = find_op(op_type);
  if (kernel != nullptr && kernel->is_view()) return "view";
  return "eltwise";
}

std::string knob_key(int knob_id) {
  const Knob& knob = knob_catalog().require(knob_id);
  if (knob.family == KnobFamily::Pruning) return "exact";
  std::string key = family_name(knob.family);
  if (knob.family != KnobFamily::Fp16 && knob.precision == Arithmetic::Fp16) key += "+fp16";
  return key;
}

void add_query_features(int knob_id, std::map<std::string, double>& features) {
  const Knob& knob = knob_catalog().require(knob_id);
  if (knob.family == KnobFamily::Promise) features["knob_swing"] = knob.swing;
  if (knob.family == KnobFamily::ShiftAdd) features["knob_terms"] = knob.terms;
  auto get = [&](const char* name) {
    auto it = features.find(name);
    return it == features.end() ? 0.0 : it->second;
  };
  double bytes = get("input_bytes") + get("output_bytes") + get("weight_bytes");
  if (bytes > 0) features["intensity"] = (2 * get("macs") + get("flops")) / bytes;
}

LayerQuery query_of(const sim::OpRecord& record) {
  LayerQuery query;
  query.op_class = op_class(record.op_type, record.features);
  query.unit = record.unit;
  query.knob = knob_key(record.knob);
  query.freq_mhz = record.freq_mhz;
  query.features = record.features;
  add_query_features(record.knob, query.features);
  return query;
}

}  // namespace coda::models
