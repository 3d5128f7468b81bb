#include "models/layer_space.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph_builder.h"
#include "kernels/zoo.h"
#include "models/layer_predictor.h"
#include "sim/op_workload.h"
#include "sim/unit_model.h"
#include "traces/number_text.h"

namespace coda::models {

using traces::number_text;

namespace {

const std::vector<std::string> kOpClasses{"conv", "dwconv", "fc", "pool", "eltwise"};

// Strict reading of the space file: every problem names the file and the key path.
class Reader {
 public:
  explicit Reader(std::string source) : source_(std::move(source)) {}
  [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
    throw BadInput(source_ + ": " + key + ": " + problem);
  }
  void allow_keys(const YAML::Node& map, const std::string& key, const std::set<std::string>& allowed) const {
    if (!map.IsMap()) fail(key.empty() ? "top level" : key, "expected a mapping");
    for (const auto& entry : map) {
      std::string name = entry.first.as<std::string>();
      if (!allowed.count(name)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(key.empty() ? name : key + "." + name, "unknown key (expected one of " + list + ")");
      }
    }
  }
  template <typename T>
  T scalar(const YAML::Node& node, const std::string& key) const {
    if (!node.IsScalar()) fail(key, "expected a single value");
    try {
      return node.as<T>();
    } catch (const YAML::Exception&) {
      fail(key, "'" + node.Scalar() + "' is not a valid value");
    }
  }
  template <typename T>
  std::vector<T> list(const YAML::Node& node, const std::string& key) const {
    if (node.IsScalar()) return {scalar<T>(node, key)};
    if (!node.IsSequence()) fail(key, "expected a list");
    if (node.size() == 0) fail(key, "empty list");
    std::vector<T> values;
    for (std::size_t i = 0; i < node.size(); ++i) values.push_back(scalar<T>(node[i], key + "." + std::to_string(i)));
    return values;
  }
  int64_t positive(const YAML::Node& node, const std::string& key) const {
    auto value = scalar<int64_t>(node, key);
    if (value < 1) fail(key, "must be at least 1 (got " + std::to_string(value) + ")");
    return value;
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

LayerConfig parse_layer(const Reader& r, const YAML::Node& node, const std::string& key) {
  r.allow_keys(node, key, {"op_type", "batch", "in_channels", "in_h", "in_w", "out_channels", "kernel", "stride",
                           "pad", "groups", "bias", "in_features", "out_features", "network"});
  LayerConfig layer;
  if (!node["op_type"]) r.fail(key + ".op_type", "missing");
  layer.op_type = r.scalar<std::string>(node["op_type"], key + ".op_type");
  layer.network = node["network"] ? r.scalar<std::string>(node["network"], key + ".network") : "space";
  auto get = [&](const char* name, int64_t fallback) {
    return node[name] ? r.positive(node[name], key + "." + name) : fallback;
  };
  layer.batch = get("batch", 1);
  if (layer.op_type == "Gemm") {
    layer.in_channels = get("in_features", 0);
    layer.out_channels = get("out_features", 0);
    if (layer.in_channels == 0 || layer.out_channels == 0) r.fail(key, "a Gemm layer needs in_features and out_features");
    layer.bias = true;
  } else {
    layer.in_channels = get("in_channels", 0);
    layer.in_h = get("in_h", 0);
    layer.in_w = get("in_w", layer.in_h);
    if (layer.in_channels == 0 || layer.in_h == 0) r.fail(key, "needs in_channels and in_h");
    layer.out_channels = get("out_channels", layer.in_channels);
    layer.kernel = get("kernel", 1);
    layer.stride = get("stride", 1);
    layer.groups = get("groups", 1);
    layer.pad = node["pad"] ? r.scalar<int64_t>(node["pad"], key + ".pad") : layer.kernel / 2;
    layer.bias = node["bias"] ? r.scalar<bool>(node["bias"], key + ".bias") : false;
  }
  static const std::set<std::string> kBuildable{"Conv", "Gemm", "MaxPool", "AveragePool", "GlobalAveragePool",
                                                "Relu", "Add", "BatchNormalization", "Clip", "Tanh", "Softmax"};
  if (!kBuildable.count(layer.op_type)) {
    std::string list;
    for (const auto& t : kBuildable) list += (list.empty() ? "" : ", ") + t;
    r.fail(key + ".op_type", "'" + layer.op_type + "' cannot be profiled (one of " + list + ")");
  }
  std::map<std::string, double> features{{"groups", static_cast<double>(layer.groups)},
                                          {"in_channels", static_cast<double>(layer.in_channels)}};
  layer.op_class = op_class(layer.op_type, features);
  return layer;
}

// The layer a node of a prepared zoo graph is, or nothing for ops profile does not build.
std::optional<LayerConfig> layer_of(const NodeReport& report, const std::string& network) {
  const Node& node = *report.node;
  if (report.inputs.empty() || report.outputs.empty()) return std::nullopt;
  const Shape& x = report.inputs[0].shape;
  LayerConfig layer;
  layer.op_type = node.op_type;
  layer.network = network;
  layer.batch = 1;
  if (node.op_type == "Gemm") {
    if (x.size() != 2 || report.outputs[0].shape.size() != 2) return std::nullopt;
    layer.in_channels = x[1];
    layer.out_channels = report.outputs[0].shape[1];
    layer.bias = true;
    layer.op_class = "fc";
    return layer;
  }
  static const std::set<std::string> kSpatial{"Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "Relu", "Add",
                                              "BatchNormalization", "Clip", "Tanh", "Softmax"};
  if (!kSpatial.count(node.op_type)) return std::nullopt;
  if (x.size() == 2 && (node.op_type == "Relu" || node.op_type == "Softmax" || node.op_type == "Tanh")) {
    layer.in_channels = layer.out_channels = x[1];
    layer.op_class = "eltwise";
    return layer;
  }
  if (x.size() != 4) return std::nullopt;
  layer.in_channels = layer.out_channels = x[1];
  layer.in_h = x[2];
  layer.in_w = x[3];
  if (node.op_type == "Conv") {
    std::vector<int64_t> k = node.attrs.get_ints("kernel_shape", {});
    std::vector<int64_t> s = node.attrs.get_ints("strides", {1, 1});
    std::vector<int64_t> p = node.attrs.get_ints("pads", {0, 0, 0, 0});
    if (k.size() != 2 || k[0] != k[1] || s[0] != s[1] || p.empty()) return std::nullopt;
    layer.kernel = k[0];
    layer.stride = s[0];
    layer.pad = p[0];
    layer.groups = node.attrs.get_int("group", 1);
    layer.out_channels = report.outputs[0].shape[1];
    layer.bias = report.inputs.size() > 2 && !report.inputs[2].shape.empty();
  } else if (node.op_type == "MaxPool" || node.op_type == "AveragePool") {
    std::vector<int64_t> k = node.attrs.get_ints("kernel_shape", {});
    std::vector<int64_t> s = node.attrs.get_ints("strides", {1, 1});
    std::vector<int64_t> p = node.attrs.get_ints("pads", {0, 0, 0, 0});
    if (k.size() != 2 || k[0] != k[1]) return std::nullopt;
    layer.kernel = k[0];
    layer.stride = s.empty() ? 1 : s[0];
    layer.pad = p.empty() ? 0 : p[0];
  }
  std::map<std::string, double> features{{"groups", static_cast<double>(layer.groups)},
                                          {"in_channels", static_cast<double>(layer.in_channels)}};
  layer.op_class = op_class(layer.op_type, features);
  return layer;
}

int64_t scaled(int64_t value, double factor, int64_t lowest) {
  return std::max<int64_t>(lowest, static_cast<int64_t>(std::llround(static_cast<double>(value) * factor)));
}

}  // namespace

std::string LayerConfig::describe() const {
  std::ostringstream out;
  out << op_type << " ";
  if (op_class == "fc") {
    out << in_channels << " -> " << out_channels << " b" << batch;
    return out.str();
  }
  out << in_channels;
  if (in_h > 0) out << "x" << in_h << "x" << in_w;
  if (op_type == "Conv") out << " -> " << out_channels << " k" << kernel << " s" << stride << " p" << pad << " g" << groups
                             << (bias ? " bias" : "");
  if (op_type == "MaxPool" || op_type == "AveragePool") out << " k" << kernel << " s" << stride << " p" << pad;
  out << " b" << batch;
  return out.str();
}

Graph layer_graph(const LayerConfig& layer, bool with_weights, std::uint64_t seed) {
  GraphBuilder builder("layer", seed, !with_weights);
  const std::string name = "layer";
  int y = -1;
  if (layer.op_type == "Gemm") {
    int x = builder.input("x", {layer.batch, layer.in_channels});
    y = builder.gemm(x, layer.out_channels, name);
  } else {
    Shape shape = layer.in_h > 0 ? Shape{layer.batch, layer.in_channels, layer.in_h, layer.in_w}
                                 : Shape{layer.batch, layer.in_channels};
    int x = builder.input("x", shape);
    if (layer.op_type == "Conv") {
      ConvSpec spec;
      spec.out_channels = layer.out_channels;
      spec.kernel = layer.kernel;
      spec.stride = layer.stride;
      spec.pad = layer.pad;
      spec.groups = layer.groups;
      spec.bias = layer.bias;
      y = builder.conv(x, spec, name);
    } else if (layer.op_type == "MaxPool") {
      y = builder.max_pool(x, layer.kernel, layer.stride, layer.pad, name);
    } else if (layer.op_type == "AveragePool") {
      y = builder.average_pool(x, layer.kernel, layer.stride, layer.pad, name);
    } else if (layer.op_type == "GlobalAveragePool") {
      y = builder.global_average_pool(x, name);
    } else if (layer.op_type == "Relu") {
      y = builder.relu(x, name);
    } else if (layer.op_type == "Tanh") {
      y = builder.tanh(x, name);
    } else if (layer.op_type == "Clip") {
      y = builder.relu6(x, name);
    } else if (layer.op_type == "BatchNormalization") {
      y = builder.batch_norm(x, name);
    } else if (layer.op_type == "Softmax") {
      y = builder.softmax(x, name);
    } else if (layer.op_type == "Add") {
      int other = builder.input("x2", shape);
      y = builder.add(x, other, name);
    } else {
      throw BadInput("layer " + layer.describe() + ": op type cannot be profiled");
    }
  }
  builder.output(y);
  Graph graph = builder.finish();
  prepare_graph(graph);
  return graph;
}

LayerSpace parse_layer_space(const std::string& yaml_text, const std::string& source) {
  Reader r(source);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw BadInput(source + ": not valid YAML (line " + std::to_string(e.mark.line + 1) + ": " + e.msg + ")");
  }
  r.allow_keys(root, "", {"schema", "version", "seed", "batch", "units", "dvfs", "dvfs_per_layer", "knobs",
                          "prior", "samples", "adaptive", "layers"});
  if (root["schema"] && r.scalar<std::string>(root["schema"], "schema") != "coda-layer-space")
    r.fail("schema", "expected 'coda-layer-space'");
  if (root["version"] && r.scalar<int>(root["version"], "version") != 1)
    r.fail("version", "this coda reads version 1");
  LayerSpace space;
  space.source = source;
  if (root["seed"]) space.seed = r.scalar<std::uint64_t>(root["seed"], "seed");
  if (root["batch"]) {
    space.batches.clear();
    for (auto b : r.list<int64_t>(root["batch"], "batch")) {
      if (b < 1) r.fail("batch", "batch sizes must be at least 1");
      space.batches.push_back(b);
    }
  }
  const std::vector<std::string> units = sim::unit_model_names();
  if (root["units"]) {
    for (const auto& u : r.list<std::string>(root["units"], "units")) {
      if (std::find(units.begin(), units.end(), u) == units.end()) r.fail("units", "unknown unit '" + u + "'");
      space.units.push_back(u);
    }
  }
  if (root["dvfs"]) {
    const YAML::Node& dvfs = root["dvfs"];
    if (!dvfs.IsMap()) r.fail("dvfs", "expected a mapping unit -> list of MHz or 'all'");
    for (const auto& entry : dvfs) {
      std::string unit = entry.first.as<std::string>();
      if (std::find(units.begin(), units.end(), unit) == units.end()) r.fail("dvfs." + unit, "unknown unit");
      if (entry.second.IsScalar() && entry.second.Scalar() == "all") {
        space.dvfs[unit] = {};  // every step, resolved against the platform
      } else {
        for (double f : r.list<double>(entry.second, "dvfs." + unit)) {
          if (!(f > 0)) r.fail("dvfs." + unit, "frequencies must be positive");
          space.dvfs[unit].push_back(f);
        }
      }
    }
  }
  if (root["dvfs_per_layer"]) space.dvfs_per_layer = static_cast<int>(r.positive(root["dvfs_per_layer"], "dvfs_per_layer"));
  if (root["knobs"]) {
    const YAML::Node& knobs = root["knobs"];
    if (knobs.IsScalar() && knobs.Scalar() == "all") {
      space.one_knob_per_family = false;
    } else if (knobs.IsScalar() && knobs.Scalar() == "families") {
      space.one_knob_per_family = true;
    } else {
      for (int id : r.list<int>(knobs, "knobs")) {
        if (knob_catalog().find(id) == nullptr) r.fail("knobs", "unknown knob id " + std::to_string(id));
        space.knobs.push_back(id);
      }
      space.one_knob_per_family = false;
    }
  }
  if (root["prior"]) {
    const YAML::Node& prior = root["prior"];
    r.allow_keys(prior, "prior", {"networks", "jitter"});
    if (prior["networks"]) {
      std::set<std::string> known;
      for (const auto& entry : zoo_models()) known.insert(entry.name);
      for (const auto& name : r.list<std::string>(prior["networks"], "prior.networks")) {
        if (!known.count(name)) r.fail("prior.networks", "unknown zoo network '" + name + "' (see coda zoo)");
        space.prior_networks.push_back(name);
      }
    }
    if (prior["jitter"]) {
      space.jitter = r.scalar<double>(prior["jitter"], "prior.jitter");
      if (!(space.jitter >= 0 && space.jitter < 1)) r.fail("prior.jitter", "must be in [0, 1)");
    }
  }
  if (root["samples"]) {
    const YAML::Node& samples = root["samples"];
    if (!samples.IsMap()) r.fail("samples", "expected a mapping op class -> count");
    for (const auto& entry : samples) {
      std::string cls = entry.first.as<std::string>();
      if (std::find(kOpClasses.begin(), kOpClasses.end(), cls) == kOpClasses.end())
        r.fail("samples." + cls, "unknown op class (conv, dwconv, fc, pool, eltwise)");
      int64_t count = r.scalar<int64_t>(entry.second, "samples." + cls);
      if (count < 0) r.fail("samples." + cls, "must not be negative");
      space.samples[cls] = static_cast<int>(count);
    }
  }
  if (root["adaptive"]) {
    const YAML::Node& adaptive = root["adaptive"];
    r.allow_keys(adaptive, "adaptive", {"rounds", "threshold", "per_round"});
    if (adaptive["rounds"]) {
      space.adaptive.rounds = r.scalar<int>(adaptive["rounds"], "adaptive.rounds");
      if (space.adaptive.rounds < 0) r.fail("adaptive.rounds", "must not be negative");
    }
    if (adaptive["threshold"]) {
      space.adaptive.threshold = r.scalar<double>(adaptive["threshold"], "adaptive.threshold");
      if (!(space.adaptive.threshold > 0)) r.fail("adaptive.threshold", "must be positive");
    }
    if (adaptive["per_round"]) space.adaptive.per_round = static_cast<int>(r.positive(adaptive["per_round"], "adaptive.per_round"));
  }
  if (root["layers"]) {
    const YAML::Node& layers = root["layers"];
    if (!layers.IsSequence()) r.fail("layers", "expected a list of layers");
    for (std::size_t i = 0; i < layers.size(); ++i)
      space.explicit_layers.push_back(parse_layer(r, layers[i], "layers." + std::to_string(i)));
  }
  if (space.prior_networks.empty() && !space.samples.empty()) {
    for (const auto& [cls, count] : space.samples)
      if (count > 0) r.fail("samples", "drawing layers needs prior.networks to draw them from");
  }
  if (space.explicit_layers.empty() && space.samples.empty()) r.fail("top level", "no layers: give samples or layers");
  return space;
}

LayerSpace load_layer_space(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw BadInput(path + ": cannot open layer space file");
  std::stringstream text;
  text << in.rdbuf();
  return parse_layer_space(text.str(), path);
}

std::map<std::string, std::vector<LayerConfig>> zoo_layers(const std::vector<std::string>& networks) {
  std::map<std::string, std::vector<LayerConfig>> by_class;
  std::set<std::string> seen;
  for (const auto& name : networks) {
    ZooOptions options;
    options.batch = 1;
    options.shapes_only = true;
    Graph graph = build_zoo_model(name, options);
    prepare_graph(graph);
    for (const NodeReport& report : analyse_graph(graph)) {
      std::optional<LayerConfig> layer = layer_of(report, name);
      if (!layer || !seen.insert(layer->describe()).second) continue;
      by_class[layer->op_class].push_back(*layer);
    }
  }
  return by_class;
}

LayerConfig jitter_layer(const LayerConfig& layer, double jitter, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> factor(1 - jitter, 1 + jitter);
  LayerConfig out = layer;
  out.network = layer.network;
  if (layer.op_class == "fc") {
    out.in_channels = scaled(layer.in_channels, factor(rng), 1);
    out.out_channels = scaled(layer.out_channels, factor(rng), 1);
    return out;
  }
  if (layer.op_class == "dwconv") {
    out.in_channels = out.out_channels = out.groups = scaled(layer.in_channels, factor(rng), 1);
  } else {
    out.in_channels = scaled(layer.in_channels, factor(rng), 1);
    if (layer.op_type == "Conv") out.out_channels = scaled(layer.out_channels, factor(rng), 1);
    else out.out_channels = out.in_channels;
    if (layer.groups > 1) {
      // Grouped (not depthwise) convolutions keep their group count: round channels to it.
      out.in_channels = std::max<int64_t>(1, out.in_channels / layer.groups) * layer.groups;
      out.out_channels = std::max<int64_t>(1, out.out_channels / layer.groups) * layer.groups;
    }
  }
  if (layer.in_h > 0) {
    double f = factor(rng);
    int64_t lowest = std::max<int64_t>(1, layer.kernel - 2 * layer.pad);
    out.in_h = scaled(layer.in_h, f, lowest);
    out.in_w = scaled(layer.in_w, f, lowest);
  }
  return out;
}

std::vector<LayerConfig> draw_layers(const LayerSpace& space) {
  std::vector<LayerConfig> drawn;
  if (!space.samples.empty()) {
    std::map<std::string, std::vector<LayerConfig>> prior = zoo_layers(space.prior_networks);
    std::mt19937_64 rng(space.seed);
    for (const auto& cls : kOpClasses) {
      auto wanted = space.samples.find(cls);
      if (wanted == space.samples.end() || wanted->second == 0) continue;
      const std::vector<LayerConfig>& pool = prior[cls];
      if (pool.empty())
        throw BadInput(space.source + ": samples." + cls + ": the prior networks have no " + cls + " layers");
      std::vector<LayerConfig> exact = pool;
      std::shuffle(exact.begin(), exact.end(), rng);
      auto count = static_cast<std::size_t>(wanted->second);
      if (exact.size() > count) exact.resize(count);
      std::vector<LayerConfig> chosen = exact;
      std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
      while (chosen.size() < count) chosen.push_back(jitter_layer(pool[pick(rng)], space.jitter, rng()));
      drawn.insert(drawn.end(), chosen.begin(), chosen.end());
    }
  }
  // Explicit layers keep the batch they were written with; drawn ones take each batch size.
  std::vector<LayerConfig> layers = space.explicit_layers;
  for (const LayerConfig& layer : drawn) {
    for (int64_t b : space.batches) {
      LayerConfig copy = layer;
      copy.batch = b;
      layers.push_back(copy);
    }
  }
  return layers;
}

std::vector<double> dvfs_points(const LayerSpace& space, const sim::Platform& platform, const std::string& unit) {
  const sim::UnitModel& model = sim::unit_model(unit);
  const sim::DvfsTable* table = model.dvfs(platform);
  auto listed = space.dvfs.find(unit);
  if (listed == space.dvfs.end()) return {model.freq_mhz(platform)};
  if (table == nullptr)
    throw BadInput(space.source + ": dvfs." + unit + ": the unit has a fixed clock on platform " + platform.name);
  if (listed->second.empty()) {
    std::vector<double> all;
    for (const auto& point : table->points) all.push_back(point.freq_mhz);
    return all;
  }
  for (double f : listed->second)
    if (!table->has_step(f))
      throw BadInput(space.source + ": dvfs." + unit + ": " + number_text(f) + " MHz is not a DVFS step of " +
                     platform.name);
  return listed->second;
}

}  // namespace coda::models
