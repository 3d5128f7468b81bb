#include "kernels/approx/knob_catalog.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/op.h"

namespace coda {

// Generated at build time from kernels/knobs.yaml (kernels/CMakeLists.txt).
extern const char* const kBuiltinKnobCatalog;

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& message) { throw BadInput(where + ": " + message); }

template <typename Enum>
Enum parse_enum(const YAML::Node& node, const char* field, const std::map<std::string, Enum>& names,
                const std::string& where, Enum fallback) {
  if (!node[field]) return fallback;
  std::string text = node[field].as<std::string>();
  auto it = names.find(text);
  if (it == names.end()) {
    std::string known;
    for (const auto& [name, value] : names) known += (known.empty() ? "" : ", ") + name;
    fail(where, std::string("field '") + field + "' is '" + text + "', expected one of " + known);
  }
  return it->second;
}

template <typename T>
T get(const YAML::Node& node, const char* field, const std::string& where, const T& fallback, bool required = false) {
  if (!node[field]) {
    if (required) fail(where, std::string("missing field '") + field + "'");
    return fallback;
  }
  try {
    return node[field].as<T>();
  } catch (const YAML::Exception&) {
    fail(where, std::string("field '") + field + "' has the wrong type");
  }
}

void check(bool ok, const std::string& where, const std::string& message) {
  if (!ok) fail(where, message);
}

Knob parse_knob(const YAML::Node& node, const std::string& source, std::size_t index) {
  std::string where = source + ": knob #" + std::to_string(index + 1);
  if (!node.IsMap()) fail(where, "expected a mapping");
  Knob knob;
  knob.id = get<int>(node, "id", where, 0, true);
  where = source + ": knob " + std::to_string(knob.id);
  knob.name = get<std::string>(node, "name", where, "", true);
  knob.family = parse_enum<KnobFamily>(node, "family",
                                       {{"exact", KnobFamily::Exact},
                                        {"fp16", KnobFamily::Fp16},
                                        {"perforation", KnobFamily::Perforation},
                                        {"filter_sampling", KnobFamily::FilterSampling},
                                        {"reduction_sampling", KnobFamily::ReductionSampling},
                                        {"promise", KnobFamily::Promise},
                                        {"shift_add", KnobFamily::ShiftAdd},
                                        {"precision", KnobFamily::Precision},
                                        {"pruning", KnobFamily::Pruning}},
                                       where, KnobFamily::Exact);
  if (!node["family"]) fail(where, "missing field 'family'");
  std::map<std::string, Arithmetic> arithmetic{{"fp32", Arithmetic::Fp32}, {"fp16", Arithmetic::Fp16}};
  knob.precision = parse_enum(node, "precision", arithmetic, where, Arithmetic::Fp32);
  knob.accumulate = parse_enum(node, "accumulate", arithmetic, where, knob.precision);
  knob.unit = parse_enum<KnobUnit>(node, "unit", {{"any", KnobUnit::Any}, {"promise", KnobUnit::Promise}, {"lightnn", KnobUnit::LightNN}},
                                   where, KnobUnit::Any);
  if (!node["applies_to"] || !node["applies_to"].IsSequence()) fail(where, "missing list 'applies_to'");
  for (const YAML::Node& op : node["applies_to"]) {
    std::string type = op.as<std::string>();
    if (type == "all") continue;
    check(find_op(type) != nullptr, where, "applies_to names unknown op type '" + type + "'");
    knob.applies_to.push_back(type);
  }
  knob.r_compute = get<double>(node, "r_compute", where, 1.0, true);
  knob.r_memory = get<double>(node, "r_memory", where, 1.0, true);
  check(knob.r_compute > 0 && knob.r_memory > 0, where, "r_compute and r_memory must be positive");

  switch (knob.family) {
    case KnobFamily::Perforation: {
      std::string axis = get<std::string>(node, "axis", where, "", true);
      check(axis == "rows" || axis == "columns", where, "axis must be rows or columns");
      knob.axis = axis == "rows" ? 0 : 1;
      [[fallthrough]];
    }
    case KnobFamily::FilterSampling:
      knob.k = get<int>(node, "k", where, 0, true);
      knob.offset = get<int>(node, "offset", where, 0, true);
      check(knob.k >= 2, where, "k must be at least 2");
      check(knob.offset >= 0 && knob.offset < knob.k, where, "offset must be in 0..k-1");
      break;
    case KnobFamily::ReductionSampling:
    case KnobFamily::Pruning:
      knob.fraction = get<double>(node, "fraction", where, 0.0, true);
      check(knob.fraction > 0 && knob.fraction < 1, where, "fraction must be in (0, 1)");
      break;
    case KnobFamily::Promise:
      knob.swing = get<int>(node, "swing", where, 0, true);
      knob.sigma = get<double>(node, "sigma", where, 0.0, true);
      check(knob.sigma >= 0, where, "sigma must not be negative");
      break;
    case KnobFamily::ShiftAdd:
      knob.terms = get<int>(node, "terms", where, 1, true);
      knob.flexible = get<bool>(node, "flexible", where, false);
      knob.residual_threshold = get<double>(node, "residual_threshold", where, 0.0);
      knob.exponent_levels = get<int>(node, "exponent_levels", where, 8);
      knob.activation_bits = get<int>(node, "activation_bits", where, 8);
      check(knob.terms == 1 || knob.terms == 2, where, "terms must be 1 or 2");
      check(!knob.flexible || knob.terms == 2, where, "a flexible (FLightNN) knob needs terms: 2");
      check(knob.exponent_levels >= 1 && knob.exponent_levels <= 16, where, "exponent_levels must be in 1..16");
      check(knob.activation_bits == 8 || knob.activation_bits == 16, where, "activation_bits must be 8 or 16");
      break;
    case KnobFamily::Precision:
      knob.bits = get<int>(node, "bits", where, 0, true);
      check(knob.bits >= 2 && knob.bits <= 24, where, "bits must be in 2..24");
      break;
    case KnobFamily::Exact:
    case KnobFamily::Fp16:
      break;
  }
  bool needs_fp16 = knob.family == KnobFamily::Fp16;
  check(!needs_fp16 || knob.precision == Arithmetic::Fp16, where, "an fp16 knob needs precision: fp16");
  return knob;
}

std::mutex& catalog_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::unique_ptr<KnobCatalog>& active_catalog() {
  static std::unique_ptr<KnobCatalog> catalog;
  return catalog;
}

}  // namespace

bool Knob::applies_to_op(const std::string& op_type) const {
  return applies_to.empty() || std::find(applies_to.begin(), applies_to.end(), op_type) != applies_to.end();
}

const char* family_name(KnobFamily family) {
  switch (family) {
    case KnobFamily::Exact: return "exact";
    case KnobFamily::Fp16: return "fp16";
    case KnobFamily::Perforation: return "perforation";
    case KnobFamily::FilterSampling: return "filter_sampling";
    case KnobFamily::ReductionSampling: return "reduction_sampling";
    case KnobFamily::Promise: return "promise";
    case KnobFamily::ShiftAdd: return "shift_add";
    case KnobFamily::Precision: return "precision";
    case KnobFamily::Pruning: return "pruning";
  }
  return "?";
}

const char* unit_name(KnobUnit unit) {
  switch (unit) {
    case KnobUnit::Any: return "any";
    case KnobUnit::Promise: return "promise";
    case KnobUnit::LightNN: return "lightnn";
  }
  return "?";
}

KnobCatalog KnobCatalog::parse(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw BadInput(source + ": not valid YAML: " + e.msg + " at line " + std::to_string(e.mark.line + 1));
  }
  if (!root.IsMap() || !root["knobs"] || !root["knobs"].IsSequence()) throw BadInput(source + ": expected a list 'knobs'");
  KnobCatalog catalog;
  catalog.source_ = source;
  std::set<int> ids;
  std::size_t index = 0;
  for (const YAML::Node& node : root["knobs"]) {
    Knob knob = parse_knob(node, source, index++);
    if (!ids.insert(knob.id).second) throw BadInput(source + ": knob id " + std::to_string(knob.id) + " appears twice");
    catalog.knobs_.push_back(std::move(knob));
  }
  const Knob* exact = catalog.find(11);
  if (!exact || exact->family != KnobFamily::Exact || !exact->applies_to.empty())
    throw BadInput(source + ": knob 11 must be the exact knob and apply to all ops");
  return catalog;
}

KnobCatalog KnobCatalog::load(const std::string& path) { return parse(read_file(path), path); }

const Knob* KnobCatalog::find(int id) const {
  for (const Knob& knob : knobs_)
    if (knob.id == id) return &knob;
  return nullptr;
}

const Knob& KnobCatalog::require(int id) const {
  const Knob* knob = find(id);
  if (!knob) throw BadInput("unknown knob id " + std::to_string(id) + " (not in " + source_ + ")");
  return *knob;
}

std::vector<const Knob*> KnobCatalog::applicable(const std::string& op_type) const {
  std::vector<const Knob*> out;
  for (const Knob& knob : knobs_)
    if (knob.applies_to_op(op_type)) out.push_back(&knob);
  return out;
}

const KnobCatalog& knob_catalog() {
  std::lock_guard<std::mutex> lock(catalog_mutex());
  auto& catalog = active_catalog();
  if (!catalog) catalog = std::make_unique<KnobCatalog>(KnobCatalog::parse(kBuiltinKnobCatalog, "knobs.yaml (built in)"));
  return *catalog;
}

void set_knob_catalog_file(const std::string& path) {
  auto loaded = std::make_unique<KnobCatalog>(KnobCatalog::load(path));
  std::lock_guard<std::mutex> lock(catalog_mutex());
  active_catalog() = std::move(loaded);
}

}  // namespace coda
