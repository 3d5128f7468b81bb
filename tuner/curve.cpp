#include "tuner/curve.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>
#include <limits>
#include <set>

#include "kernels/approx/knob_catalog.h"
#include "kernels/atomic_file.h"
#include "kernels/error.h"

namespace coda::tuner {

namespace {

using nlohmann::json;

constexpr int kCurveVersion = 1;

// JSON has no NaN: a figure the cost model could not give (energy under the op-count model) is
// written as null and read back as NaN.
json number_or_null(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

class CurveReader {
 public:
  explicit CurveReader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& message) const { throw BadInput(source_ + ": " + message); }

  // Every field of an object must be one of `known`; each `required` one must be there.
  // Every known field is required except the optional ones.
  void check_fields(const json& object, const std::string& where, const std::set<std::string>& known,
                    const std::set<std::string>& optional = {"comment"}) const {
    for (const auto& [key, value] : object.items())
      if (!known.count(key)) fail(where + "unknown field '" + key + "'");
    for (const std::string& key : known)
      if (!optional.count(key) && !object.contains(key)) fail(where + "missing field '" + key + "'");
  }

  std::string text(const json& object, const std::string& key, const std::string& where) const {
    const json& value = object.at(key);
    if (!value.is_string()) fail(where + "\"" + key + "\" must be a string");
    return value.get<std::string>();
  }

  std::string one_of(const json& object, const std::string& key, const std::string& where,
                     const std::set<std::string>& allowed) const {
    std::string value = text(object, key, where);
    if (!allowed.count(value)) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(where + "\"" + key + "\" is '" + value + "' (expected " + list + ")");
    }
    return value;
  }

  // A finite number, or NaN from null where `nullable`.
  double number(const json& object, const std::string& key, const std::string& where, bool nullable = false) const {
    const json& value = object.at(key);
    if (nullable && value.is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!value.is_number())
      fail(where + "\"" + key + "\" must be a number" + (nullable ? " or null" : ""));
    return value.get<double>();
  }

  double non_negative(const json& object, const std::string& key, const std::string& where, bool nullable = false) const {
    double value = number(object, key, where, nullable);
    if (value < 0) fail(where + "\"" + key + "\" must not be negative (it is " + fmt::format("{}", value) + ")");
    return value;
  }

  double positive(const json& object, const std::string& key, const std::string& where, bool nullable = false) const {
    double value = number(object, key, where, nullable);
    if (!(value > 0) && !std::isnan(value))
      fail(where + "\"" + key + "\" must be positive (it is " + fmt::format("{}", value) + ")");
    return value;
  }

 private:
  std::string source_;
};

// HPVM's names for the knob families (its global_knobs list: fp32 11, fp16 12, perf 121-138,
// perf_fp16 151-168, samp 231-239, samp_fp16 261-269, red_samp 41-46, PROMISE swing_level 1-7;
// REFERENCE.md sections 1 and 9). Knobs HPVM lacks keep the catalog's name.
std::string hpvm_knob_name(const Knob& knob) {
  const bool half = knob.precision == Arithmetic::Fp16;
  switch (knob.family) {
    case KnobFamily::Exact: return "fp32";
    case KnobFamily::Fp16: return knob.accumulate == Arithmetic::Fp16 ? "fp16" : knob.name;
    case KnobFamily::Perforation: return half ? "perf_fp16" : "perf";
    case KnobFamily::FilterSampling: return half ? "samp_fp16" : "samp";
    case KnobFamily::ReductionSampling: return "red_samp";
    case KnobFamily::Promise: return "swing_level";
    default: return knob.name;
  }
}

// HPVM's tensor-op names for ONNX op types.
std::string hpvm_op_name(const Node& node) {
  const std::string& type = node.op_type;
  if (type == "Conv") return node.attrs.get_int("group", 1) > 1 ? "group_conv" : "conv";
  if (type == "Gemm" || type == "MatMul") return "mul";
  if (type == "MaxPool" || type == "GlobalMaxPool") return "pool_max";
  if (type == "AveragePool" || type == "GlobalAveragePool" || type == "ReduceMean") return "pool_mean";
  if (type == "BatchNormalization") return "batchnorm";
  if (type == "Clip") return "clipped_relu";
  std::string lower;
  for (char c : type) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower;
}

// Ops that only reinterpret a tensor's shape: HPVM has no tensor op for them, so they get no line.
bool is_view(const std::string& op_type) {
  return op_type == "Flatten" || op_type == "Reshape" || op_type == "Identity" || op_type == "Squeeze" ||
         op_type == "Unsqueeze";
}

bool is_layer_head(const std::string& op_type) { return op_type == "Conv" || op_type == "Gemm" || op_type == "MatMul"; }

// HPVM fuses a convolution or matrix multiply with its bias add, activation and pooling into one
// layer node, which gets one configuration line ("1 gpu conv perf_fp16 155 add fp16 12 relu fp16 12").
// `node` joins the group ending in `last` when it reads last's output, is its only reader, and
// is such a follower (an Add only with a constant bias).
bool joins_layer(const Graph& graph, const Node& last, const Node& node, const std::vector<int>& readers) {
  static const std::set<std::string> followers = {"Add", "Relu", "Tanh", "Clip", "MaxPool", "AveragePool"};
  if (!followers.count(node.op_type) || node.inputs.empty() || last.outputs.empty()) return false;
  const int produced = last.outputs[0];
  if (produced < 0 || readers[static_cast<std::size_t>(produced)] != 1) return false;
  bool reads_it = false, other_inputs_constant = true;
  for (int input : node.inputs) {
    if (input == produced) reads_it = true;
    else if (input >= 0 && !graph.values[static_cast<std::size_t>(input)].constant) other_inputs_constant = false;
  }
  return reads_it && other_inputs_constant;
}

}  // namespace

std::string Curve::to_json() const {
  json root;
  root["format"] = "coda-curve";
  root["version"] = kCurveVersion;
  root["model"] = model;
  root["op_names"] = op_names;
  root["data"] = data;
  root["phase"] = phase;
  root["objective"] = objective;
  root["cost_model"] = cost_model;
  root["platform"] = platform;
  root["tuning"] = tuning;
  root["qos_metric"] = qos_metric;
  root["qos_unit"] = qos_unit;
  root["higher_is_better"] = higher_is_better;
  root["threshold"] = threshold;
  root["max_loss"] = number_or_null(max_loss);
  root["baseline_qos_calibration"] = number_or_null(baseline_qos_calibration);
  root["baseline_qos_test"] = number_or_null(baseline_qos_test);
  root["baseline_latency"] = number_or_null(baseline_latency);
  root["baseline_energy"] = number_or_null(baseline_energy);
  root["tuning_seconds"] = number_or_null(tuning_seconds);
  root["evaluations"] = evaluations;
  json points_json = json::array();
  for (const CurvePoint& point : points) {
    json p;
    p["name"] = point.name;
    p["predicted_qos"] = number_or_null(point.predicted_qos);
    p["qos_calibration"] = number_or_null(point.qos_calibration);
    p["qos_test"] = number_or_null(point.qos_test);
    p["speedup"] = number_or_null(point.speedup);
    p["energy_reduction"] = number_or_null(point.energy_reduction);
    p["latency"] = number_or_null(point.latency);
    p["energy"] = number_or_null(point.energy);
    p["config"] = json::parse(point.config.to_json());
    if (!point.model.empty()) p["model"] = point.model;
    points_json.push_back(std::move(p));
  }
  root["points"] = std::move(points_json);
  return root.dump(2) + "\n";
}

Curve Curve::parse(const std::string& text, const std::string& source) {
  CurveReader reader(source);
  json root;
  try {
    root = json::parse(text);
  } catch (const json::parse_error& e) {
    reader.fail(std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object()) reader.fail("a curve must be a JSON object");
  if (!root.contains("format") || root["format"] != "coda-curve")
    reader.fail("not a coda curve (expected \"format\": \"coda-curve\")");
  if (!root.contains("version") || !root["version"].is_number_integer() || root["version"].get<int>() != kCurveVersion)
    reader.fail(fmt::format("unsupported curve version {} (this coda reads version {})",
                            root.contains("version") ? root["version"].dump() : "(none)", kCurveVersion));
  reader.check_fields(root, "",
                      {"format", "version", "comment", "model", "op_names", "data", "phase", "objective", "cost_model",
                       "platform", "tuning", "qos_metric", "qos_unit", "higher_is_better", "threshold", "max_loss",
                       "baseline_qos_calibration", "baseline_qos_test", "baseline_latency", "baseline_energy",
                       "tuning_seconds", "evaluations", "points"});
  Curve curve;
  curve.model = reader.text(root, "model", "");
  if (!root["op_names"].is_array() || root["op_names"].empty()) reader.fail("\"op_names\" must be a non-empty list of op names");
  for (const json& name : root["op_names"]) {
    if (!name.is_string() || name.get<std::string>().empty()) reader.fail("\"op_names\" must hold non-empty strings");
    curve.op_names.push_back(name.get<std::string>());
  }
  curve.data = reader.text(root, "data", "");
  curve.phase = reader.one_of(root, "phase", "", {"dev", "install"});
  curve.objective = reader.one_of(root, "objective", "", {"speed", "energy"});
  curve.cost_model = reader.text(root, "cost_model", "");
  curve.platform = reader.text(root, "platform", "");
  curve.tuning = reader.one_of(root, "tuning", "", {"p1", "p2", "empirical"});
  curve.qos_metric = reader.text(root, "qos_metric", "");
  curve.qos_unit = reader.text(root, "qos_unit", "");
  if (!root["higher_is_better"].is_boolean()) reader.fail("\"higher_is_better\" must be true or false");
  curve.higher_is_better = root["higher_is_better"].get<bool>();
  curve.threshold = reader.text(root, "threshold", "");
  curve.max_loss = reader.non_negative(root, "max_loss", "");
  curve.baseline_qos_calibration = reader.number(root, "baseline_qos_calibration", "");
  curve.baseline_qos_test = reader.number(root, "baseline_qos_test", "");
  curve.baseline_latency = reader.positive(root, "baseline_latency", "");
  curve.baseline_energy = reader.positive(root, "baseline_energy", "", true);
  curve.tuning_seconds = reader.non_negative(root, "tuning_seconds", "");
  if (!root["evaluations"].is_number_integer() || root["evaluations"].get<long long>() < 0)
    reader.fail("\"evaluations\" must be a non-negative integer");
  curve.evaluations = root["evaluations"].get<int>();

  if (!root["points"].is_array()) reader.fail("\"points\" must be a list");
  std::set<std::string> names;
  for (std::size_t i = 0; i < root["points"].size(); ++i) {
    const json& p = root["points"][i];
    const std::string where = fmt::format("points[{}]: ", i);
    if (!p.is_object()) reader.fail(where + "must be an object");
    reader.check_fields(p, where,
                        {"name", "predicted_qos", "qos_calibration", "qos_test", "speedup", "energy_reduction", "latency",
                         "energy", "config", "model", "comment"},
                        {"comment", "model"});
    CurvePoint point;
    point.name = reader.text(p, "name", where);
    if (point.name.empty()) reader.fail(where + "\"name\" must not be empty");
    if (!names.insert(point.name).second) reader.fail(where + "name '" + point.name + "' is used twice");
    point.predicted_qos = reader.number(p, "predicted_qos", where);
    point.qos_calibration = reader.number(p, "qos_calibration", where);
    point.qos_test = reader.number(p, "qos_test", where);
    point.speedup = reader.positive(p, "speedup", where);
    point.energy_reduction = reader.positive(p, "energy_reduction", where, true);
    point.latency = reader.positive(p, "latency", where);
    point.energy = reader.positive(p, "energy", where, true);
    if (!p["config"].is_object()) reader.fail(where + "\"config\" must be a configuration object");
    point.config = ApproxConfig::parse(p["config"].dump(), source + ": points[" + std::to_string(i) + "].config");
    if (p.contains("model")) {
      point.model = reader.text(p, "model", where);
      if (point.model.empty()) reader.fail(where + "\"model\" must name the pruned model, or be left out");
    }
    curve.points.push_back(std::move(point));
  }
  return curve;
}

Curve Curve::load(const std::string& path) { return parse(read_file(path), path); }

void Curve::check_matches(const Graph& prepared, const std::string& source) const {
  std::string difference;
  if (op_names.size() != prepared.nodes.size()) {
    difference = fmt::format("{} ops in the curve, {} in the model", op_names.size(), prepared.nodes.size());
  } else {
    for (std::size_t i = 0; i < op_names.size(); ++i)
      if (op_names[i] != prepared.nodes[i].name) {
        difference = fmt::format("op {} is '{}' in the curve but '{}' in the model", i, op_names[i], prepared.nodes[i].name);
        break;
      }
  }
  if (difference.empty()) return;
  throw BadInput(source + ": curve was tuned for " + model + ", whose ops differ from " +
                 (prepared.name.empty() ? std::string("the model") : prepared.name) + "'s (" + difference + ")");
}

std::string to_hpvm_config(const Curve& curve, const Graph& prepared) {
  curve.check_matches(prepared, "HPVM export");
  const KnobCatalog& catalog = knob_catalog();

  std::vector<int> readers(prepared.values.size(), 0);
  for (const Node& node : prepared.nodes)
    for (int input : node.inputs)
      if (input >= 0) ++readers[static_cast<std::size_t>(input)];
  for (int output : prepared.outputs)
    if (output >= 0) ++readers[static_cast<std::size_t>(output)];  // a graph output is read outside

  // Layer groups: node indices, one configuration line each.
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < prepared.nodes.size(); ++i) {
    const Node& node = prepared.nodes[i];
    if (is_view(node.op_type)) continue;
    if (!groups.empty() && !is_layer_head(node.op_type)) {
      const Node& last = prepared.nodes[groups.back().back()];
      const Node& head = prepared.nodes[groups.back().front()];
      if (is_layer_head(head.op_type) && joins_layer(prepared, last, node, readers)) {
        groups.back().push_back(i);
        continue;
      }
    }
    groups.push_back({i});
  }

  auto block = [&](const std::string& name, double speedup, double energy, double qos,
                   const std::vector<OpChoice>& choices) {
    const double loss = curve.higher_is_better ? curve.baseline_qos_test - qos : qos - curve.baseline_qos_test;
    std::string text = "+++++\n";
    // HPVM writes 1.0 for an energy reduction it did not measure.
    text += fmt::format("{} {} {} {} {}\n", name, speedup, std::isfinite(energy) ? energy : 1.0, qos, loss);
    for (std::size_t g = 0; g < groups.size(); ++g) {
      // A group runs on its head op's unit, as HPVM maps a whole layer node to one target.
      text += fmt::format("{} {}", g + 1, unit_name(choices[groups[g].front()].unit));
      for (std::size_t index : groups[g]) {
        const Knob& knob = catalog.require(choices[index].knob);
        text += fmt::format(" {} {} {}", hpvm_op_name(prepared.nodes[index]), hpvm_knob_name(knob),
                            knob.family == KnobFamily::Promise ? knob.swing : knob.id);
      }
      text += "\n";
    }
    return text + "-----\n";
  };

  // First line: the baseline's time in milliseconds; conf0 is the exact baseline, as in the files
  // ApproxTuner writes.
  std::string out = fmt::format("{}\n", curve.baseline_latency * 1e3);
  out += block("conf0", 1.0, 1.0, curve.baseline_qos_test, std::vector<OpChoice>(prepared.nodes.size()));
  for (const CurvePoint& point : curve.points) {
    ApproxConfig config = point.config;
    config.source = "curve point " + point.name;
    out += block(point.name, point.speedup, point.energy_reduction, point.qos_test,
                 resolve_config(config, prepared, catalog));
  }
  return out;
}

}  // namespace coda::tuner
