#include "kernels/zoo.h"

#include <map>

#include "kernels/error.h"

namespace coda {
namespace {

std::map<std::string, ZooEntry>& zoo_registry() {
  static std::map<std::string, ZooEntry> entries;
  return entries;
}

// Bounds that keep a typo from asking for a terabyte network; real uses are far below.
constexpr int64_t kMaxBatch = 1 << 20;
constexpr int64_t kMaxChannels = 1 << 16;
constexpr int64_t kMaxClasses = 1 << 24;

void check_options(const std::string& name, const ZooOptions& o) {
  auto check = [&](const char* key, int64_t value, int64_t max) {
    if (value < 0 || value > max)
      throw BadInput("zoo:" + name + ": " + key + "=" + std::to_string(value) + " is out of range (0.." +
                     std::to_string(max) + ")");
  };
  check("batch", o.batch, kMaxBatch);
  check("in_channels", o.in_channels, kMaxChannels);
  check("classes", o.classes, kMaxClasses);
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace

void register_zoo_model(ZooEntry entry) {
  std::string name = entry.name;
  zoo_registry()[name] = std::move(entry);
}

Graph build_zoo_model(const std::string& name, const ZooOptions& options) {
  auto it = zoo_registry().find(name);
  if (it == zoo_registry().end()) {
    std::string known;
    for (const auto& e : zoo_registry()) known += (known.empty() ? "" : ", ") + e.first;
    throw BadInput("zoo:" + name + ": no such network (available: " + known + ")");
  }
  check_options(name, options);
  Graph graph = it->second.build(options);
  // The resolved options (the network's usual values filled in) make the spec self-contained.
  const Shape& in = graph.values[static_cast<std::size_t>(graph.inputs.front())].shape;
  const Shape& out = graph.values[static_cast<std::size_t>(graph.outputs.front())].shape;
  graph.metadata["coda.zoo"] = name + "?batch=" + std::to_string(in[0] < 0 ? 0 : in[0]) +
                               ",classes=" + std::to_string(out.back()) + ",in_channels=" + std::to_string(in[1]) +
                               ",seed=" + std::to_string(options.seed);
  return graph;
}

std::vector<ZooEntry> zoo_models() {
  std::vector<ZooEntry> all;
  for (const auto& e : zoo_registry()) all.push_back(e.second);
  return all;
}

std::string parse_zoo_spec(const std::string& spec, ZooOptions& options) {
  const auto q = spec.find('?');
  const std::string name = trim(spec.substr(0, q));
  if (name.empty()) throw BadInput("zoo:" + spec + ": no network name (e.g. zoo:resnet20)");
  if (q == std::string::npos) return name;
  const std::string query = spec.substr(q + 1);
  std::size_t pos = 0;
  while (pos <= query.size()) {
    std::size_t end = query.find_first_of(",&", pos);
    if (end == std::string::npos) end = query.size();
    const std::string pair = trim(query.substr(pos, end - pos));
    pos = end + 1;
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string key = trim(pair.substr(0, eq));
    const std::string text = eq == std::string::npos ? "" : trim(pair.substr(eq + 1));
    if (eq == std::string::npos || text.empty())
      throw BadInput("zoo:" + spec + ": '" + pair + "' is not KEY=VALUE");
    unsigned long long value = 0;
    try {
      std::size_t used = 0;
      if (text[0] == '-' || text[0] == '+') throw std::invalid_argument(text);
      value = std::stoull(text, &used, 10);
      if (used != text.size()) throw std::invalid_argument(text);
    } catch (const std::exception&) {
      throw BadInput("zoo:" + spec + ": " + key + "='" + text + "' is not a non-negative whole number");
    }
    auto small = [&](int64_t max) {
      if (value > static_cast<unsigned long long>(max))
        throw BadInput("zoo:" + spec + ": " + key + "=" + text + " is out of range (0.." + std::to_string(max) + ")");
      return static_cast<int64_t>(value);
    };
    if (key == "batch") {
      options.batch = small(kMaxBatch);
    } else if (key == "classes") {
      options.classes = small(kMaxClasses);
    } else if (key == "in_channels" || key == "in-channels") {
      options.in_channels = small(kMaxChannels);
    } else if (key == "seed") {
      options.seed = static_cast<std::uint64_t>(value);
    } else {
      throw BadInput("zoo:" + spec + ": unknown option '" + key + "' (known: batch, classes, in_channels, seed)");
    }
  }
  return name;
}

Graph build_zoo_model_from_spec(const std::string& spec, ZooOptions defaults) {
  std::string name = parse_zoo_spec(spec, defaults);
  return build_zoo_model(name, defaults);
}

}  // namespace coda
