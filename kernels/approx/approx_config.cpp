#include "kernels/approx/approx_config.h"

#include <nlohmann/json.hpp>

#include <set>

#include "kernels/atomic_file.h"
#include "kernels/error.h"

namespace coda {

namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& source, const std::string& message) { throw BadInput(source + ": " + message); }

OpChoice parse_choice(const json& entry, const std::string& where, const std::string& source, bool& unit_given) {
  if (!entry.is_object()) fail(source, where + " must be an object like {\"knob\": 12, \"unit\": \"gpu\"}");
  for (const auto& [key, value] : entry.items())
    if (key != "knob" && key != "unit") fail(source, where + " has unknown field '" + key + "'");
  OpChoice choice;
  if (entry.contains("knob")) {
    if (!entry["knob"].is_number_integer()) fail(source, where + ": \"knob\" must be an integer knob id");
    choice.knob = entry["knob"].get<int>();
  }
  unit_given = entry.contains("unit");
  if (unit_given) {
    if (!entry["unit"].is_string()) fail(source, where + ": \"unit\" must be a string");
    try {
      choice.unit = parse_unit(entry["unit"].get<std::string>());
    } catch (const BadInput& e) {
      fail(source, where + ": " + e.what());
    }
  }
  return choice;
}

ValueRange parse_range(const json& entry, const std::string& where, const std::string& source) {
  if (!entry.is_array() || entry.size() != 2 || !entry[0].is_number() || !entry[1].is_number())
    fail(source, where + " must be [low, high]");
  ValueRange range{entry[0].get<float>(), entry[1].get<float>()};
  if (!range.valid()) fail(source, where + " must have low < high");
  return range;
}

// The units a knob can run on.
bool unit_allowed(const Knob& knob, Unit unit) {
  switch (knob.unit) {
    case KnobUnit::Any: return unit == Unit::Cpu || unit == Unit::Gpu;
    case KnobUnit::Promise: return unit == Unit::Promise;
    case KnobUnit::LightNN: return unit == Unit::LightNN;
  }
  return false;
}

Unit natural_unit(const Knob& knob, Unit fallback) {
  if (knob.unit == KnobUnit::Promise) return Unit::Promise;
  if (knob.unit == KnobUnit::LightNN) return Unit::LightNN;
  return fallback;
}

}  // namespace

const char* unit_name(Unit unit) {
  switch (unit) {
    case Unit::Cpu: return "cpu";
    case Unit::Gpu: return "gpu";
    case Unit::Promise: return "promise";
    case Unit::LightNN: return "lightnn";
  }
  return "?";
}

Unit parse_unit(const std::string& text) {
  if (text == "cpu") return Unit::Cpu;
  if (text == "gpu") return Unit::Gpu;
  if (text == "promise") return Unit::Promise;
  if (text == "lightnn") return Unit::LightNN;
  throw BadInput("unknown unit '" + text + "' (expected cpu, gpu, promise or lightnn)");
}

ApproxConfig ApproxConfig::parse(const std::string& json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    fail(source, std::string("not valid JSON: ") + e.what());
  }
  if (!root.is_object()) fail(source, "a configuration must be a JSON object");
  ApproxConfig config;
  config.source = source;
  for (const auto& [key, value] : root.items()) {
    if (key == "all") {
      config.all = parse_choice(value, "\"all\"", source, config.all_unit_given);
      config.has_all = true;
    } else if (key == "default") {
      config.defaults = parse_choice(value, "\"default\"", source, config.default_unit_given);
    } else if (key == "ops") {
      if (!value.is_object()) fail(source, "\"ops\" must map op names to {\"knob\": ..., \"unit\": ...}");
      for (const auto& [name, entry] : value.items()) {
        bool given = false;
        config.ops[name] = parse_choice(entry, "op '" + name + "'", source, given);
        config.unit_given[name] = given;
      }
    } else if (key == "ranges") {
      if (!value.is_object()) fail(source, "\"ranges\" must map op names to {\"input\": [lo, hi], \"output\": [lo, hi]}");
      for (const auto& [name, entry] : value.items()) {
        if (!entry.is_object() || !entry.contains("input") || !entry.contains("output"))
          fail(source, "ranges of op '" + name + "' need \"input\" and \"output\"");
        config.ranges[name] = OpRanges{parse_range(entry["input"], "input range of op '" + name + "'", source),
                                       parse_range(entry["output"], "output range of op '" + name + "'", source)};
      }
    } else if (key != "comment" && key != "format" && key != "version") {
      fail(source, "unknown field '" + key + "' (expected default, all, ops, ranges)");
    }
  }
  if (config.default_unit_given && config.defaults.unit != Unit::Cpu && config.defaults.unit != Unit::Gpu)
    fail(source, "the default unit must be cpu or gpu");
  return config;
}

ApproxConfig ApproxConfig::load(const std::string& path) { return parse(read_file(path), path); }

std::string ApproxConfig::to_json() const {
  json root;
  // Units are written where they were given: an unwritten one follows the knob (see resolve_config).
  root["default"] = {{"knob", defaults.knob}};
  if (default_unit_given) root["default"]["unit"] = unit_name(defaults.unit);
  if (has_all) {
    root["all"] = {{"knob", all.knob}};
    if (all_unit_given) root["all"]["unit"] = unit_name(all.unit);
  }
  json ops_json = json::object();
  for (const auto& [name, choice] : ops) {
    ops_json[name] = {{"knob", choice.knob}};
    auto given = unit_given.find(name);
    if (given != unit_given.end() && given->second) ops_json[name]["unit"] = unit_name(choice.unit);
  }
  root["ops"] = ops_json;
  if (!ranges.empty()) {
    json ranges_json = json::object();
    for (const auto& [name, r] : ranges)
      ranges_json[name] = {{"input", {r.input.low, r.input.high}}, {"output", {r.output.low, r.output.high}}};
    root["ranges"] = ranges_json;
  }
  return root.dump(2) + "\n";
}

std::vector<OpChoice> resolve_config(const ApproxConfig& config, const Graph& graph, const KnobCatalog& catalog) {
  const std::string& source = config.source;
  std::set<std::string> names;
  for (const Node& node : graph.nodes) names.insert(node.name);
  for (const auto& [name, choice] : config.ops)
    if (!names.count(name)) fail(source, "op '" + name + "' is not in the model");
  for (const auto& [name, r] : config.ranges)
    if (!names.count(name)) fail(source, "ranges name op '" + name + "', which is not in the model");
  const Knob* default_knob = catalog.find(config.defaults.knob);
  if (!default_knob) fail(source, "default knob " + std::to_string(config.defaults.knob) + " is not in the knob catalog");
  if (default_knob->unit != KnobUnit::Any || default_knob->transforms_graph())
    fail(source, "the default knob must be hardware-independent and not prune (knob " +
                     std::to_string(default_knob->id) + " is " + family_name(default_knob->family) + ")");

  const Knob* all_knob = nullptr;
  if (config.has_all) {
    all_knob = catalog.find(config.all.knob);
    if (!all_knob) fail(source, "\"all\": knob " + std::to_string(config.all.knob) + " is not in the knob catalog");
  }
  // A knob given for an op (listed, or through "all"): applicable, on a unit it can run on.
  auto checked = [&](const Node& node, OpChoice choice, bool unit_given, const std::string& what) {
    const Knob* knob = catalog.find(choice.knob);
    if (!knob) fail(source, what + ": knob " + std::to_string(choice.knob) + " is not in the knob catalog");
    if (!knob->applies_to_op(node.op_type))
      fail(source, what + ": knob " + std::to_string(knob->id) + " (" + knob->name + ") does not apply to " +
                       node.op_type);
    if (!unit_given) choice.unit = natural_unit(*knob, config.defaults.unit);
    if (!unit_allowed(*knob, choice.unit))
      fail(source, what + ": knob " + std::to_string(knob->id) + " (" + knob->name + ") cannot run on unit '" +
                       unit_name(choice.unit) + "'" +
                       (knob->unit == KnobUnit::Any ? " (it runs on cpu or gpu)"
                                                    : std::string(" (it needs ") + unit_name(knob->unit) + ")"));
    return choice;
  };

  std::vector<OpChoice> choices;
  for (const Node& node : graph.nodes) {
    auto listed = config.ops.find(node.name);
    OpChoice choice;
    if (listed != config.ops.end()) {
      choice = checked(node, listed->second, config.unit_given.at(node.name),
                       "op '" + node.name + "' (" + node.op_type + ")");
    } else if (all_knob && all_knob->applies_to_op(node.op_type)) {
      choice = checked(node, config.all, config.all_unit_given, "\"all\" at op '" + node.name + "'");
    } else {
      choice.unit = config.defaults.unit;
      choice.knob = default_knob->applies_to_op(node.op_type) ? default_knob->id : 11;
    }
    choices.push_back(choice);
  }
  return choices;
}

}  // namespace coda
