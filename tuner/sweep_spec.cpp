#include "tuner/sweep_spec.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "kernels/error.h"
#include "sim/platform.h"
#include "traces/number_text.h"

namespace coda::tuner {

namespace {

namespace fs = std::filesystem;
using traces::number_text;
using traces::parse_finite;
using traces::parse_integer;

// The platform keys whose values `values: dvfs` expands: units with a DVFS table.
const std::set<std::string> kDvfsKeys{"cpu.freq_mhz", "gpu.freq_mhz"};

std::string joined(const std::set<std::string>& names) {
  std::string list;
  for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
  return list;
}

std::string resolve_path(const std::string& directory, const std::string& path) {
  if (directory.empty() || path.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(directory) / path).lexically_normal().string();
}

// A number written in a spec, in the shortest form that reads back to the same double, so "64",
// "64.0" and "6.4e1" name the same point; other scalars stay as written.
std::string canonical_value(const std::string& text) {
  std::optional<double> number = parse_finite(text);
  return number ? number_text(*number) : text;
}

// Strict reading: every problem is one line naming the spec and where in it.
class SpecReader {
 public:
  explicit SpecReader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void fail(const std::string& problem) const { throw BadInput(source_ + ": " + problem); }

  void allow_keys(const YAML::Node& map, const std::string& where, const std::set<std::string>& allowed) const {
    for (const auto& entry : map) {
      const std::string key = entry.first.Scalar();
      if (!allowed.count(key))
        fail("unknown key '" + key + "'" + (where.empty() ? "" : " in " + where) + " (expected one of " +
             joined(allowed) + ")");
    }
  }

  std::string text(const YAML::Node& node, const std::string& where) const {
    if (!node.IsScalar()) fail(where + ": expected a single value");
    return node.Scalar();
  }

  // A string or a non-empty list of strings.
  std::vector<std::string> texts(const YAML::Node& node, const std::string& where) const {
    if (node.IsScalar()) return {node.Scalar()};
    if (!node.IsSequence()) fail(where + ": expected a value or a list of values");
    if (node.size() == 0) fail(where + ": empty list");
    std::vector<std::string> values;
    for (std::size_t i = 0; i < node.size(); ++i) values.push_back(text(node[i], where));
    return values;
  }

  int64_t integer(const YAML::Node& node, const std::string& where, int64_t minimum) const {
    std::optional<int64_t> value = parse_integer(text(node, where));
    if (!value) fail(where + ": '" + node.Scalar() + "' is not an integer");
    if (*value < minimum) fail(where + ": must be at least " + std::to_string(minimum) + " (got " + node.Scalar() + ")");
    return *value;
  }

  double number(const YAML::Node& node, const std::string& where) const {
    std::optional<double> value = parse_finite(text(node, where));
    if (!value) fail(where + ": '" + node.Scalar() + "' is not a number");
    return *value;
  }

  bool flag(const YAML::Node& node, const std::string& where) const {
    const std::string value = text(node, where);
    if (value == "true") return true;
    if (value == "false") return false;
    fail(where + ": expected true or false (got '" + value + "')");
  }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

// `steps` values evenly spaced over [low, high] (geometrically with log_scale), rounded when
// integer; the endpoints are exact and repeated values (rounding) appear once.
std::vector<std::string> range_grid(const SweepAxis& axis, int64_t steps) {
  std::vector<std::string> values;
  std::set<std::string> seen;
  for (int64_t i = 0; i < steps; ++i) {
    double x;
    if (i == 0) x = axis.low;
    else if (i == steps - 1) x = axis.high;
    else {
      double t = static_cast<double>(i) / static_cast<double>(steps - 1);
      x = axis.log_scale ? std::exp(std::log(axis.low) + t * (std::log(axis.high) - std::log(axis.low)))
                         : axis.low + t * (axis.high - axis.low);
    }
    if (axis.integer) x = std::round(x);
    std::string text = number_text(x);
    if (seen.insert(text).second) values.push_back(text);
  }
  return values;
}

class AxisReader {
 public:
  AxisReader(const SpecReader& reader, const SweepSpec& spec) : r_(reader), spec_(spec) {}

  SweepAxis read(const YAML::Node& node, int position, bool grid) const {
    const std::string where = "axis " + std::to_string(position);
    if (!node.IsMap()) r_.fail(where + ": expected a mapping with one of set, network, config, batch");
    std::vector<std::string> kinds;
    for (const char* kind : {"set", "network", "config", "batch"})
      if (node[kind]) kinds.push_back(kind);
    if (kinds.size() != 1)
      r_.fail(where + ": needs exactly one of set, network, config, batch" +
              (kinds.empty() ? std::string() : " (has " + kinds[0] + " and " + kinds[1] + ")"));
    const std::string& kind = kinds[0];
    SweepAxis axis;
    if (kind == "set") {
      r_.allow_keys(node, where, {"set", "name", "values", "range", "steps", "log", "integer"});
      read_platform(node, where, grid, axis);
    } else {
      r_.allow_keys(node, where, {kind, "name"});
      axis.name = kind;
      const std::vector<std::string> values = r_.texts(node[kind], where + ": " + kind);
      if (kind == "network") axis.kind = SweepAxisKind::Network;
      if (kind == "config") axis.kind = SweepAxisKind::Config;
      if (kind == "batch") {
        axis.kind = SweepAxisKind::Batch;
        for (std::size_t i = 0; i < values.size(); ++i) {
          std::optional<int64_t> batch = parse_integer(values[i]);
          if (!batch || *batch < 1 || *batch > (int64_t{1} << 30))
            r_.fail(where + ": batch: '" + values[i] + "' is not a positive batch size");
          axis.values.push_back(std::to_string(*batch));
        }
      } else {
        axis.values = values;
      }
    }
    if (node["name"]) {
      axis.name = r_.text(node["name"], where + ": name");
      if (axis.name.empty()) r_.fail(where + ": name: empty");
    }
    std::set<std::string> seen;
    for (const std::string& value : axis.values)
      if (!seen.insert(value).second) r_.fail(where + " (" + axis.name + "): value '" + value + "' appears twice");
    return axis;
  }

 private:
  void read_platform(const YAML::Node& node, const std::string& where, bool grid, SweepAxis& axis) const {
    axis.kind = SweepAxisKind::Platform;
    axis.keys = r_.texts(node["set"], where + ": set");
    std::set<std::string> distinct;
    for (const std::string& key : axis.keys) {
      if (key.empty() || key.find('=') != std::string::npos || key.find_first_of(" \t") != std::string::npos)
        r_.fail(where + ": set: '" + key + "' is not a platform key (a dotted path such as promise.banks)");
      if (!distinct.insert(key).second) r_.fail(where + ": set: '" + key + "' appears twice");
    }
    axis.name = axis.keys[0];
    for (std::size_t i = 1; i < axis.keys.size(); ++i) axis.name += "+" + axis.keys[i];
    const std::string named = where + " (" + axis.name + ")";

    const bool has_values = static_cast<bool>(node["values"]), has_range = static_cast<bool>(node["range"]);
    if (has_values == has_range) r_.fail(named + ": needs exactly one of values and range");
    if (has_values) {
      for (const char* key : {"steps", "log", "integer"})
        if (node[key]) r_.fail(named + ": '" + key + "' only applies to a range");
      const YAML::Node values = node["values"];
      if (values.IsScalar() && values.Scalar() == "dvfs") {
        axis.values = dvfs_steps(named, axis.keys);
        return;
      }
      if (!values.IsSequence()) r_.fail(named + ": values: expected a list or the word dvfs");
      if (values.size() == 0) r_.fail(named + ": values: empty list");
      for (std::size_t i = 0; i < values.size(); ++i) {
        std::string value = canonical_value(r_.text(values[i], named + ": values"));
        if (value.empty()) r_.fail(named + ": values: empty value");
        axis.values.push_back(value);
      }
      return;
    }

    const YAML::Node range = node["range"];
    if (!range.IsSequence() || range.size() != 2) r_.fail(named + ": range: expected [low, high]");
    axis.continuous = true;
    axis.low = r_.number(range[0], named + ": range");
    axis.high = r_.number(range[1], named + ": range");
    if (!(axis.low < axis.high))
      r_.fail(named + ": range: low " + number_text(axis.low) + " is not below high " + number_text(axis.high));
    if (node["log"]) axis.log_scale = r_.flag(node["log"], named + ": log");
    if (node["integer"]) axis.integer = r_.flag(node["integer"], named + ": integer");
    if (axis.log_scale && axis.low <= 0) r_.fail(named + ": range: a log range needs low > 0");
    if (axis.integer && std::ceil(axis.low) > std::floor(axis.high))
      r_.fail(named + ": range: no integer lies in [" + number_text(axis.low) + ", " + number_text(axis.high) + "]");
    if (node["steps"]) {
      int64_t steps = r_.integer(node["steps"], named + ": steps", 2);
      if (steps > 1000000) r_.fail(named + ": steps: at most 1000000");
      axis.values = range_grid(axis, steps);
    } else if (grid) {
      r_.fail(named + ": a grid design needs 'steps' for a range");
    }
  }

  std::vector<std::string> dvfs_steps(const std::string& named, const std::vector<std::string>& keys) const {
    if (keys.size() != 1 || !kDvfsKeys.count(keys[0]))
      r_.fail(named + ": values: dvfs expands the DVFS table of one unit clock (" + joined(kDvfsKeys) + ")");
    sim::Platform platform;
    try {
      platform = sim::Platform::from_option(spec_.platform, spec_.fixed_sets);
    } catch (const BadInput& e) {
      r_.fail(named + ": values: dvfs: " + e.what());
    }
    const sim::DvfsTable& table = keys[0] == "cpu.freq_mhz" ? platform.cpu.dvfs : platform.gpu.dvfs;
    std::vector<std::string> values;
    for (const sim::DvfsPoint& point : table.points) values.push_back(number_text(point.freq_mhz));
    if (values.empty()) r_.fail(named + ": values: dvfs: the platform's table is empty");
    return values;
  }

  const SpecReader& r_;
  const SweepSpec& spec_;
};

}  // namespace

std::vector<std::string> SweepSpec::axis_names() const {
  std::vector<std::string> names;
  for (const SweepAxis& axis : axes) names.push_back(axis.name);
  return names;
}

std::string SweepSpec::resolved_network(const std::string& value) const {
  if (value.rfind("zoo:", 0) == 0) return value;
  return resolve_path(directory, value);
}

std::string SweepSpec::resolved_config(const std::string& value) const {
  if (value == "exact" || value.rfind("knob:", 0) == 0) return value;
  const auto hash = value.rfind('#');
  if (hash == std::string::npos) return resolve_path(directory, value);
  return resolve_path(directory, value.substr(0, hash)) + value.substr(hash);
}

SweepSpec SweepSpec::parse(const std::string& yaml_text, const std::string& source, const std::string& directory) {
  SpecReader r(source);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    r.fail("not valid YAML: " + e.msg + " at line " + std::to_string(e.mark.line + 1));
  }
  if (!root.IsMap()) r.fail("expected a mapping of sweep settings (name, evaluator, design, axes, ...)");
  r.allow_keys(root, "", {"name", "evaluator", "platform", "set", "network", "config", "batch", "placement", "seed",
                          "batch_points", "design", "axes"});

  SweepSpec spec;
  spec.source = source;
  spec.directory = directory;
  spec.text = yaml_text;
  spec.name = root["name"] ? r.text(root["name"], "name") : fs::path(source).stem().string();
  if (spec.name.empty()) spec.name = "sweep";

  if (root["evaluator"]) {
    const std::string evaluator = r.text(root["evaluator"], "evaluator");
    if (evaluator == "sim") {
      spec.evaluator = "sim";
    } else if (evaluator.rfind("predictor:", 0) == 0 && evaluator.size() > 10) {
      const std::string path = resolve_path(directory, evaluator.substr(10));
      std::error_code ignored;
      if (!fs::is_regular_file(path, ignored)) r.fail("evaluator: predictor file '" + path + "' not found");
      spec.evaluator = "predictor:" + path;
    } else {
      r.fail("evaluator: '" + evaluator + "' is not an evaluator (sim, or predictor:FILE)");
    }
  }
  if (root["platform"]) {
    spec.platform = resolve_path(directory, r.text(root["platform"], "platform"));
    std::error_code ignored;
    if (spec.platform.empty() || !fs::is_regular_file(spec.platform, ignored))
      r.fail("platform: file '" + spec.platform + "' not found");
  }
  if (root["set"]) {
    spec.fixed_sets = r.texts(root["set"], "set");
    for (const std::string& set : spec.fixed_sets)
      if (set.find('=') == std::string::npos || set.front() == '=')
        r.fail("set: '" + set + "' is not KEY=VALUE");
  }
  if (root["network"]) spec.network = r.text(root["network"], "network");
  if (root["config"]) spec.config = r.text(root["config"], "config");
  if (root["batch"]) {
    const int64_t batch = r.integer(root["batch"], "batch", 1);
    if (batch > (int64_t{1} << 30)) r.fail("batch: " + std::to_string(batch) + " is not a batch size");
    spec.batch = static_cast<int>(batch);
  }
  if (root["placement"]) {
    spec.placement = r.text(root["placement"], "placement");
    if (spec.placement != "configured" && spec.placement != "auto")
      r.fail("placement: '" + spec.placement + "' is not a placement (configured, auto)");
  }
  if (root["seed"]) {
    const std::string seed = r.text(root["seed"], "seed");
    try {
      std::size_t used = 0;
      if (seed.empty() || seed[0] == '-') throw std::invalid_argument(seed);
      spec.seed = std::stoull(seed, &used, 10);
      if (used != seed.size()) throw std::invalid_argument(seed);
    } catch (const std::logic_error&) {
      r.fail("seed: '" + seed + "' is not a non-negative integer");
    }
  }
  if (root["batch_points"]) {
    const int64_t batch_points = r.integer(root["batch_points"], "batch_points", 1);
    if (batch_points > 1'000'000) r.fail("batch_points: at most 1000000");
    spec.batch_points = static_cast<int>(batch_points);
  }

  if (root["design"]) {
    const YAML::Node design = root["design"];
    if (!design.IsMap()) r.fail("design: expected a mapping such as {kind: grid} or {kind: lhs, points: 200}");
    r.allow_keys(design, "design", {"kind", "points"});
    const std::string kind = design["kind"] ? r.text(design["kind"], "design: kind") : "grid";
    if (kind == "grid") spec.design = SweepDesignKind::Grid;
    else if (kind == "random") spec.design = SweepDesignKind::Random;
    else if (kind == "lhs") spec.design = SweepDesignKind::LatinHypercube;
    else r.fail("design: kind: '" + kind + "' is not a design (grid, random, lhs)");
    if (spec.design == SweepDesignKind::Grid) {
      if (design["points"]) r.fail("design: points: a grid's points are its axes' values (points is for random and lhs)");
    } else {
      if (!design["points"]) r.fail("design: a " + kind + " design needs points (how many samples)");
      spec.design_points = r.integer(design["points"], "design: points", 1);
      if (spec.design_points > 10'000'000) r.fail("design: points: at most 10000000");
    }
  }

  if (!root["axes"]) r.fail("no axes");
  const YAML::Node axes = root["axes"];
  if (!axes.IsSequence()) r.fail("axes: expected a list of axes");
  if (axes.size() == 0) r.fail("no axes");
  AxisReader axis_reader(r, spec);
  std::set<std::string> names, keys;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    SweepAxis axis = axis_reader.read(axes[i], static_cast<int>(i + 1), spec.design == SweepDesignKind::Grid);
    const std::string where = "axis " + std::to_string(i + 1) + " (" + axis.name + ")";
    if (!names.insert(axis.name).second) r.fail(where + ": another axis has the same name");
    for (const std::string& key : axis.keys)
      if (!keys.insert(key).second) r.fail(where + ": key '" + key + "' is already set by another axis");
    spec.axes.push_back(std::move(axis));
  }
  // A network, config or batch axis is recognised by kind, whatever its column name.
  std::set<SweepAxisKind> kinds;
  for (std::size_t i = 0; i < spec.axes.size(); ++i)
    if (spec.axes[i].kind != SweepAxisKind::Platform && !kinds.insert(spec.axes[i].kind).second)
      r.fail("axis " + std::to_string(i + 1) + " (" + spec.axes[i].name + "): another axis already varies the same thing");
  return spec;
}

SweepSpec SweepSpec::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(path + ": cannot read the sweep spec");
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path, fs::path(path).parent_path().string());
}

}  // namespace coda::tuner
