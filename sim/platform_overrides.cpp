#include "sim/platform_overrides.h"

#include <algorithm>
#include <cctype>
#include <cstddef>

#include "kernels/error.h"

namespace coda::sim {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what, const std::string& problem) {
  throw BadInput(source + ": --set " + what + ": " + problem);
}

std::vector<std::string> split_path(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (true) {
    std::size_t dot = key.find('.', begin);
    parts.push_back(key.substr(begin, dot - begin));
    if (dot == std::string::npos) return parts;
    begin = dot + 1;
  }
}

// The existing child of a mapping or list named by `part`; an undefined node when there is none.
// Reads through a const node: a non-const lookup would insert the missing key.
YAML::Node existing_child(const YAML::Node& parent, const std::string& part) {
  if (parent.IsMap()) return parent[part];
  bool is_index = !part.empty() && std::all_of(part.begin(), part.end(), [](unsigned char c) { return std::isdigit(c); });
  if (parent.IsSequence() && is_index && part.size() < 10 && std::stoul(part) < parent.size()) return parent[std::stoul(part)];
  return YAML::Node(YAML::NodeType::Undefined);
}

// Replaces the value at `key` (which must exist) by `value`; `what` names the override in errors.
void set_existing(YAML::Node& root, const std::string& key, const YAML::Node& value, const std::string& source,
                  const std::string& what) {
  std::vector<std::string> parts = split_path(key);
  YAML::Node parent;
  parent.reset(root);  // reset() rebinds the handle; `=` would overwrite the node it refers to
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = existing_child(parent, parts[i]);
    if (!child.IsDefined()) fail(source, what, "unknown platform key");
    parent.reset(child);
  }
  const std::string& last = parts.back();
  if (!existing_child(parent, last).IsDefined()) fail(source, what, "unknown platform key");
  if (parent.IsMap())
    parent[last] = value;
  else
    parent[std::stoul(last)] = value;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

void apply_nvpmodel(YAML::Node& root, const std::string& mode, const std::string& source) {
  const std::string what = "nvpmodel=" + mode;
  const YAML::Node presets = static_cast<const YAML::Node&>(root)["nvpmodel"];
  if (!presets.IsSequence()) fail(source, what, "the platform has no nvpmodel list");
  std::string known;
  for (std::size_t i = 0; i < presets.size(); ++i) {
    const YAML::Node preset = presets[i];
    if (!preset.IsMap()) continue;  // reading the platform reports the malformed entry
    const std::string id = preset["id"] ? preset["id"].as<std::string>("") : "";
    const std::string name = preset["name"] ? preset["name"].as<std::string>("") : "";
    known += (known.empty() ? "" : ", ") + id + " " + name;
    if (mode != id && lower(mode) != lower(name)) continue;
    const std::pair<const char*, const char*> copies[] = {
        {"cpu_cores", "cpu.cores"}, {"cpu_freq_mhz", "cpu.freq_mhz"}, {"gpu_freq_mhz", "gpu.freq_mhz"}};
    for (const auto& [from, to] : copies) {
      if (!preset[from]) throw BadInput(source + ": nvpmodel." + std::to_string(i) + "." + from + ": missing");
      // A copy, not the preset's own node: yaml-cpp nodes alias on assignment.
      set_existing(root, to, YAML::Clone(preset[from]), source, what + " (" + to + ")");
    }
    return;
  }
  fail(source, what, "no nvpmodel with that id or name (known: " + known + ")");
}

}  // namespace

void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides, const std::string& source) {
  for (const std::string& override_text : overrides) {
    std::size_t equals = override_text.find('=');
    if (equals == std::string::npos || equals == 0) fail(source, override_text, "expected KEY=VALUE");
    const std::string key = override_text.substr(0, equals);
    const std::string value_text = override_text.substr(equals + 1);
    if (key == "nvpmodel") {
      apply_nvpmodel(root, value_text, source);
      continue;
    }
    YAML::Node value;
    try {
      value = YAML::Load(value_text);
    } catch (const YAML::Exception& e) {
      fail(source, key, "value '" + value_text + "' is not valid YAML: " + e.msg);
    }
    if (value.IsMap()) fail(source, key, "the value must be a scalar or a list, got a mapping");
    set_existing(root, key, value, source, key);
  }
}

}  // namespace coda::sim
