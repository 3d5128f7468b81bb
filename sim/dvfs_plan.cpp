#include "sim/dvfs_plan.h"

#include <algorithm>
#include <cmath>

#include <yaml-cpp/yaml.h>

#include "kernels/atomic_file.h"
#include "kernels/error.h"

namespace coda::sim {
namespace {

double number(const YAML::Node& node, const std::string& key, const std::string& where) {
  if (!node[key]) throw BadInput(where + "." + key + ": missing");
  try {
    double value = node[key].as<double>();
    if (!std::isfinite(value)) throw BadInput(where + "." + key + ": not a finite number");
    return value;
  } catch (const YAML::Exception&) {
    throw BadInput(where + "." + key + ": expected a number, got '" + node[key].Scalar() + "'");
  }
}

void check_keys(const YAML::Node& node, const std::vector<std::string>& allowed, const std::string& prefix) {
  for (const auto& item : node) {
    auto key = item.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      throw BadInput(prefix + key + ": unknown key");
  }
}

}  // namespace

const DvfsTable* dvfs_table(const Platform& platform, const std::string& unit) {
  if (unit == "gpu") return &platform.gpu.dvfs;
  if (unit == "cpu") return &platform.cpu.dvfs;
  return nullptr;
}

double Governor::next_freq(const DvfsTable& table, double current_mhz, double start_mhz, double busy,
                           double max_temp_c) const {
  int step = table.step_index(current_mhz);
  if (step < 0) return current_mhz;
  int top = static_cast<int>(table.points.size()) - 1;
  if (kind == "ondemand") {
    if (busy > up_threshold) step = std::min(top, step + 1);
    else if (busy < down_threshold) step = std::max(0, step - 1);
  } else {
    int cap = std::max(0, table.step_index(start_mhz));
    if (max_temp_c >= trip_c) step = std::max(0, step - 1);
    else if (max_temp_c < release_c) step = std::min(cap, step + 1);
  }
  return table.points[static_cast<std::size_t>(step)].freq_mhz;
}

DvfsPlan DvfsPlan::parse(const std::string& yaml_text, const std::string& source, const Platform& platform) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw BadInput(source + ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw BadInput(source + ": expected a mapping with 'schedule' and/or 'governor'");
  DvfsPlan plan;
  try {
    check_keys(root, {"schedule", "governor"}, source + ": ");
    if (root["schedule"]) {
      if (!root["schedule"].IsSequence()) throw BadInput(source + ": schedule: expected a list");
      for (std::size_t i = 0; i < root["schedule"].size(); ++i) {
        YAML::Node item = root["schedule"][i];
        std::string where = source + ": schedule[" + std::to_string(i) + "]";
        if (!item.IsMap()) throw BadInput(where + ": expected {time_ms, unit, freq_mhz}");
        check_keys(item, {"time_ms", "unit", "freq_mhz"}, where + ".");
        DvfsStep step;
        step.time_s = number(item, "time_ms", where) * 1e-3;
        if (step.time_s < 0) throw BadInput(where + ".time_ms: must be >= 0");
        if (!item["unit"]) throw BadInput(where + ".unit: missing");
        step.unit = item["unit"].as<std::string>();
        const DvfsTable* table = dvfs_table(platform, step.unit);
        if (!table) throw BadInput(where + ".unit: '" + step.unit + "' has no DVFS table (cpu or gpu)");
        step.freq_mhz = number(item, "freq_mhz", where);
        if (!table->has_step(step.freq_mhz))
          throw BadInput(where + ".freq_mhz: " + item["freq_mhz"].Scalar() + " is not a step of " + step.unit + ".dvfs");
        plan.schedule.push_back(step);
      }
      std::stable_sort(plan.schedule.begin(), plan.schedule.end(),
                       [](const DvfsStep& a, const DvfsStep& b) { return a.time_s < b.time_s; });
    }
    if (root["governor"]) {
      YAML::Node g = root["governor"];
      std::string where = source + ": governor";
      if (!g.IsMap()) throw BadInput(where + ": expected a mapping");
      check_keys(g, {"unit", "kind", "up_threshold", "down_threshold", "trip_c", "release_c"}, where + ".");
      Governor governor;
      if (!g["unit"] || !g["kind"]) throw BadInput(where + ": needs 'unit' and 'kind'");
      governor.unit = g["unit"].as<std::string>();
      governor.kind = g["kind"].as<std::string>();
      if (!dvfs_table(platform, governor.unit))
        throw BadInput(where + ".unit: '" + governor.unit + "' has no DVFS table (cpu or gpu)");
      if (governor.kind == "ondemand") {
        if (g["up_threshold"]) governor.up_threshold = number(g, "up_threshold", where);
        if (g["down_threshold"]) governor.down_threshold = number(g, "down_threshold", where);
        if (!(governor.down_threshold >= 0 && governor.down_threshold < governor.up_threshold && governor.up_threshold <= 1))
          throw BadInput(where + ": need 0 <= down_threshold < up_threshold <= 1");
      } else if (governor.kind == "thermal") {
        if (g["trip_c"]) governor.trip_c = number(g, "trip_c", where);
        if (g["release_c"]) governor.release_c = number(g, "release_c", where);
        if (!(governor.release_c < governor.trip_c)) throw BadInput(where + ": need release_c < trip_c");
      } else {
        throw BadInput(where + ".kind: unknown governor '" + governor.kind + "' (ondemand or thermal)");
      }
      plan.governor = governor;
    }
  } catch (const YAML::Exception& e) {
    throw BadInput(source + ": " + e.msg);
  }
  return plan;
}

DvfsPlan DvfsPlan::load(const std::string& path, const Platform& platform) {
  return parse(read_file(path), path, platform);
}

}  // namespace coda::sim
