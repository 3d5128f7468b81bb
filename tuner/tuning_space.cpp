#include "tuner/tuning_space.h"

#include <algorithm>
#include <stdexcept>

#include "kernels/error.h"
#include "kernels/op.h"

namespace coda::tuner {

namespace {

constexpr int kExactKnob = 11;  // fp32, the baseline (REFERENCE.md section 1, HPVM numbering)

// The unit a knob of the scope runs on, or false when the scope leaves the knob out.
bool unit_in_scope(const Knob& knob, KnobScope scope, Unit baseline_unit, Unit& unit) {
  if (knob.transforms_graph()) return false;  // pruning: LeGR's search, not this one
  switch (knob.unit) {
    case KnobUnit::Any:
      unit = baseline_unit;
      return true;
    case KnobUnit::Promise:
      unit = Unit::Promise;
      return scope == KnobScope::Hardware && knob.family == KnobFamily::Promise;
    case KnobUnit::LightNN:
      unit = Unit::LightNN;
      return scope == KnobScope::Hardware && knob.family == KnobFamily::ShiftAdd;
  }
  return false;
}

}  // namespace

std::vector<int> TuningSpace::choice_counts() const {
  std::vector<int> counts;
  counts.reserve(ops.size());
  for (const TunableOp& op : ops) counts.push_back(static_cast<int>(op.choices.size()));
  return counts;
}

double TuningSpace::size() const {
  constexpr double kSaturation = 1e300;
  double total = 1.0;
  for (const TunableOp& op : ops) total = std::min(kSaturation, total * static_cast<double>(op.choices.size()));
  return total;
}

TuningSpace build_tuning_space(const Graph& prepared, const KnobCatalog& catalog, KnobScope scope, Unit baseline_unit,
                               const std::vector<int>& allowed_knobs) {
  if (baseline_unit != Unit::Cpu && baseline_unit != Unit::Gpu)
    throw BadInput(std::string("the baseline unit must be cpu or gpu, not '") + unit_name(baseline_unit) + "'");
  for (int id : allowed_knobs) catalog.require(id);
  TuningSpace space;
  space.baseline_unit = baseline_unit;
  space.node_count = prepared.nodes.size();
  for (std::size_t n = 0; n < prepared.nodes.size(); ++n) {
    const Node& node = prepared.nodes[n];
    // Views only relabel their input's storage: there is no arithmetic to approximate.
    if (require_op(node).is_view()) continue;
    // Knobs approximate float arithmetic; integer nodes (shape computations) have none.
    int first_output = node.outputs.empty() ? -1 : node.outputs.front();
    if (first_output < 0 || prepared.values[static_cast<std::size_t>(first_output)].dtype != DType::Float32) continue;
    TunableOp op;
    op.node = n;
    op.name = node.name;
    op.op_type = node.op_type;
    op.choices.push_back(OpChoice{kExactKnob, baseline_unit});
    for (const Knob* knob : catalog.applicable(node.op_type)) {
      if (knob->id == kExactKnob) continue;
      if (!allowed_knobs.empty() && std::find(allowed_knobs.begin(), allowed_knobs.end(), knob->id) == allowed_knobs.end())
        continue;
      Unit unit = baseline_unit;
      if (unit_in_scope(*knob, scope, baseline_unit, unit)) op.choices.push_back(OpChoice{knob->id, unit});
    }
    if (op.choices.size() > 1) space.ops.push_back(std::move(op));
  }
  return space;
}

std::vector<OpChoice> node_choices(const TuningSpace& space, const Configuration& config) {
  if (config.size() != space.ops.size())
    throw std::invalid_argument("configuration has " + std::to_string(config.size()) + " choices, the space has " +
                                std::to_string(space.ops.size()) + " ops");
  std::vector<OpChoice> choices(space.node_count, OpChoice{kExactKnob, space.baseline_unit});
  for (std::size_t i = 0; i < config.size(); ++i) {
    const TunableOp& op = space.ops[i];
    if (config[i] < 0 || static_cast<std::size_t>(config[i]) >= op.choices.size())
      throw std::invalid_argument("configuration: choice " + std::to_string(config[i]) + " of op '" + op.name +
                                  "' is out of range (it has " + std::to_string(op.choices.size()) + ")");
    if (op.node >= choices.size())
      throw std::invalid_argument("tuning space: op '" + op.name + "' lies outside the graph's nodes");
    choices[op.node] = op.choices[static_cast<std::size_t>(config[i])];
  }
  return choices;
}

ApproxConfig to_approx_config(const TuningSpace& space, const Configuration& config) {
  node_choices(space, config);  // validates
  ApproxConfig result;
  result.defaults = OpChoice{kExactKnob, space.baseline_unit};
  result.default_unit_given = true;
  for (std::size_t i = 0; i < config.size(); ++i) {
    if (config[i] == 0) continue;
    const TunableOp& op = space.ops[i];
    result.ops[op.name] = op.choices[static_cast<std::size_t>(config[i])];
    // Written out so the file means the same whatever default unit a reader assumes.
    result.unit_given[op.name] = true;
  }
  return result;
}

Configuration from_approx_config(const TuningSpace& space, const ApproxConfig& config) {
  const std::string& source = config.source;
  Unit default_unit = config.default_unit_given ? config.defaults.unit : space.baseline_unit;
  if (default_unit != space.baseline_unit)
    throw BadInput(source + ": default unit '" + unit_name(default_unit) + "' differs from the tuning baseline '" +
                   unit_name(space.baseline_unit) + "'");
  // The choice of `op` with `knob` (and `unit` when given), or -1.
  auto find_choice = [](const TunableOp& op, int knob, bool unit_given, Unit unit) {
    for (std::size_t c = 0; c < op.choices.size(); ++c)
      if (op.choices[c].knob == knob && (!unit_given || op.choices[c].unit == unit)) return static_cast<int>(c);
    return -1;
  };
  for (const auto& [name, choice] : config.ops) {
    bool known = std::any_of(space.ops.begin(), space.ops.end(), [&](const TunableOp& op) { return op.name == name; });
    if (!known && choice.knob != kExactKnob)
      throw BadInput(source + ": op '" + name + "' is not tunable in this tuning space");
  }
  Configuration result(space.ops.size(), 0);
  for (std::size_t i = 0; i < space.ops.size(); ++i) {
    const TunableOp& op = space.ops[i];
    auto listed = config.ops.find(op.name);
    if (listed != config.ops.end()) {
      auto given = config.unit_given.find(op.name);
      bool unit_given = given != config.unit_given.end() && given->second;
      int c = find_choice(op, listed->second.knob, unit_given, listed->second.unit);
      if (c < 0)
        throw BadInput(source + ": op '" + op.name + "': knob " + std::to_string(listed->second.knob) +
                       (unit_given ? std::string(" on unit '") + unit_name(listed->second.unit) + "'" : std::string()) +
                       " is not a choice of this tuning space");
      result[i] = c;
      continue;
    }
    // "all" and "default" spread a knob over the ops it applies to; here, the ops offering it.
    int c = -1;
    if (config.has_all) c = find_choice(op, config.all.knob, config.all_unit_given, config.all.unit);
    if (c < 0 && config.defaults.knob != kExactKnob) c = find_choice(op, config.defaults.knob, false, default_unit);
    result[i] = std::max(c, 0);
  }
  return result;
}

std::string describe(const TuningSpace& space, const Configuration& config, const KnobCatalog& catalog) {
  node_choices(space, config);  // validates
  std::string text;
  for (std::size_t i = 0; i < config.size(); ++i) {
    if (config[i] == 0) continue;
    const OpChoice& choice = space.ops[i].choices[static_cast<std::size_t>(config[i])];
    text += (text.empty() ? "" : " ") + space.ops[i].name + "=" + catalog.require(choice.knob).name;
  }
  return text.empty() ? "exact" : text;
}

}  // namespace coda::tuner
