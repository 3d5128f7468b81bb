#include "tuner/sweep_evaluator.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernels/error.h"
#include "models/network_prediction.h"
#include "models/predictor_fit.h"
#include "sim/simulate.h"
#include "sim/unit_model.h"

#ifndef CODA_VERSION
#error "coda_tuner is built with CODA_VERSION (tuner/CMakeLists.txt)"
#endif

namespace coda::sim {
extern const char* const kBuiltinPlatformTx2;
}

namespace coda::tuner {

namespace {

// Networks kept loaded between points: a sweep's points are ordered with its last axes fastest,
// so a few cover the networks that points next to each other share.
constexpr std::size_t kNetworksKept = 8;

std::uint64_t fnv1a64(const std::string& bytes) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string hex16(std::uint64_t value) { return fmt::format("{:016x}", value); }

std::string read_whole_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(path + ": cannot read the " + what);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const char* kind_name(SweepAxisKind kind) {
  switch (kind) {
    case SweepAxisKind::Platform: return "platform";
    case SweepAxisKind::Network: return "network";
    case SweepAxisKind::Config: return "config";
    case SweepAxisKind::Batch: return "batch";
  }
  return "";
}

// What a predictor reads from a platform besides its idle draw: the unit clocks (nvpmodel presets
// set clocks and core counts).
bool predictor_sees(const std::string& key) {
  const std::string clock = ".freq_mhz";
  return key == "nvpmodel" ||
         (key.size() > clock.size() && key.compare(key.size() - clock.size(), clock.size(), clock) == 0);
}

bool has_axis(const SweepSpec& spec, SweepAxisKind kind) {
  return std::any_of(spec.axes.begin(), spec.axes.end(), [&](const SweepAxis& a) { return a.kind == kind; });
}

std::string joined(const std::vector<std::string>& parts, const char* separator) {
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : separator) + part;
  return text;
}

}  // namespace

SweepEvaluator::SweepEvaluator(const SweepSpec& spec, SweepNetworkLoader loader)
    : spec_(spec), loader_(std::move(loader)) {
  if (spec_.platform.empty()) {
    platform_text_ = sim::kBuiltinPlatformTx2;
    platform_source_ = "tx2.yaml (built in)";
  } else {
    platform_text_ = read_whole_file(spec_.platform, "platform");
    platform_source_ = spec_.platform;
  }
  sim::Platform base;
  try {
    base = sim::Platform::parse(platform_text_, platform_source_, spec_.fixed_sets);
  } catch (const BadInput& e) {
    throw BadInput(spec_.source + ": " + e.what());
  }

  nlohmann::json id;
  id["coda_version"] = CODA_VERSION;
  id["evaluator"] = spec_.uses_predictor() ? "predictor" : "sim";
  if (spec_.uses_predictor()) {
    const std::string path = spec_.predictor_path();
    id["predictor_digest"] = hex16(fnv1a64(read_whole_file(path, "predictor")));
    predictor_ = models::load_predictor(path);
  }
  id["platform"] = base.name;
  id["platform_digest"] = hex16(fnv1a64(platform_text_));
  id["set"] = spec_.fixed_sets;
  id["placement"] = spec_.placement;
  id["seed"] = spec_.seed;
  if (!has_axis(spec_, SweepAxisKind::Network)) id["network"] = spec_.network;
  if (!has_axis(spec_, SweepAxisKind::Config)) id["config"] = spec_.config;
  if (!has_axis(spec_, SweepAxisKind::Batch)) id["batch"] = spec_.batch;
  nlohmann::json axes = nlohmann::json::array();
  for (const SweepAxis& axis : spec_.axes)
    axes.push_back({{"name", axis.name}, {"kind", kind_name(axis.kind)}, {"keys", axis.keys}});
  id["axes"] = axes;
  sweep_id_ = hex16(fnv1a64(id.dump()));
}

SweepEvaluator::~SweepEvaluator() = default;

std::string SweepEvaluator::point_json(const SweepPoint& point) const {
  if (point.values.size() != spec_.axes.size())
    throw std::logic_error("sweep point " + std::to_string(point.index) + " has " + std::to_string(point.values.size()) +
                           " values for " + std::to_string(spec_.axes.size()) + " axes");
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  for (std::size_t a = 0; a < spec_.axes.size(); ++a) json[spec_.axes[a].name] = point.values[a];
  return json.dump();
}

std::string SweepEvaluator::key(const SweepPoint& point) const {
  return hex16(fnv1a64(sweep_id_ + "\n" + point_json(point)));
}

SweepEvaluator::PointSetup SweepEvaluator::setup_of(const SweepPoint& point) const {
  if (point.values.size() != spec_.axes.size())
    throw std::logic_error("sweep point " + std::to_string(point.index) + " does not match the axes");
  PointSetup setup;
  setup.overrides = spec_.fixed_sets;
  setup.model = spec_.network;
  setup.config = spec_.config;
  setup.batch = spec_.batch;
  for (std::size_t a = 0; a < spec_.axes.size(); ++a) {
    const SweepAxis& axis = spec_.axes[a];
    const std::string& value = point.values[a];
    switch (axis.kind) {
      case SweepAxisKind::Platform:
        for (const std::string& key : axis.keys) setup.overrides.push_back(key + "=" + value);
        break;
      case SweepAxisKind::Network: setup.model = value; break;
      case SweepAxisKind::Config: setup.config = value; break;
      case SweepAxisKind::Batch:
        try {
          setup.batch = std::stoi(value);
        } catch (const std::logic_error&) {
          throw BadInput("batch '" + value + "' is not a batch size");
        }
        if (setup.batch < 1) throw BadInput("batch '" + value + "' is not a batch size");
        break;
    }
  }
  return setup;
}

SweepEvaluator::CachedNetwork& SweepEvaluator::network_for(const std::string& model, const std::string& config, int batch) {
  const std::string model_path = spec_.resolved_network(model), config_path = spec_.resolved_config(config);
  const std::string cache_key = model_path + "|" + config_path + "|" + std::to_string(batch);
  auto found = networks_.find(cache_key);
  if (found != networks_.end()) {
    network_order_.erase(std::find(network_order_.begin(), network_order_.end(), cache_key));
    network_order_.push_back(cache_key);
    return found->second;
  }
  SweepNetwork network = loader_(model_path, config_path, batch);
  if (network.choices.size() != network.graph.nodes.size())
    throw std::logic_error("sweep network loader: " + std::to_string(network.choices.size()) + " choices for " +
                           std::to_string(network.graph.nodes.size()) + " nodes of " + model);
  if (networks_.size() >= kNetworksKept) {
    networks_.erase(network_order_.front());
    network_order_.erase(network_order_.begin());
  }
  network_order_.push_back(cache_key);
  return networks_.emplace(cache_key, CachedNetwork{std::move(network), {}}).first->second;
}

std::string SweepEvaluator::network_key(const SweepPoint& point) const {
  const PointSetup setup = setup_of(point);
  return setup.model + "|" + setup.config + "|" + std::to_string(setup.batch);
}

void SweepEvaluator::warm_up(const std::vector<SweepPoint>& points) {
  std::set<std::string> warmed;
  for (const SweepPoint& point : points) {
    if (warmed.size() >= kNetworksKept) break;
    try {
      const PointSetup setup = setup_of(point);
      if (!warmed.insert(setup.model + "|" + setup.config + "|" + std::to_string(setup.batch)).second) continue;
      CachedNetwork& cached = network_for(setup.model, setup.config, setup.batch);
      if (!predictor_) {
        const sim::Platform platform = sim::Platform::parse(platform_text_, platform_source_, setup.overrides);
        sim::precompute_weight_stats(cached.network.graph, cached.network.choices, platform, cached.weights);
      }
    } catch (const BadInput&) {
      // Validation names the problem; warming up only saves time.
    }
  }
}

void SweepEvaluator::validate(const std::vector<SweepPoint>& points) {
  if (predictor_)
    for (const SweepAxis& axis : spec_.axes)
      for (const std::string& key : axis.keys)
        if (!predictor_sees(key))
          throw BadInput(spec_.source + ": axis '" + axis.name + "' changes nothing a predictor sees (only unit " +
                         "clocks reach it); use evaluator: sim");

  // Per platform override set: the units it lacks. Per network: the units its ops are placed on
  // (the first op on each), so that points pairing them are checked without reloading either.
  std::map<std::string, std::set<std::string>> absent_units;
  std::map<std::string, std::map<std::string, std::string>> placed_units;
  std::set<std::string> coverage_checked;
  for (const SweepPoint& point : points) {
    try {
      const PointSetup setup = setup_of(point);
      const std::string platform_key = joined(setup.overrides, "\n");
      const std::string network_key = setup.model + "|" + setup.config + "|" + std::to_string(setup.batch);
      // A predictor's coverage depends on the ops' units, which auto placement picks from the
      // platform's clocks.
      const std::string coverage_key = spec_.placement == "auto" ? network_key + "\n" + platform_key : network_key;
      const bool check_coverage = predictor_ && !coverage_checked.count(coverage_key);

      std::optional<sim::Platform> platform;
      auto platform_of_point = [&]() -> const sim::Platform& {
        if (!platform) platform = sim::Platform::parse(platform_text_, platform_source_, setup.overrides);
        return *platform;
      };
      if (!absent_units.count(platform_key)) {
        std::set<std::string> absent;
        for (const std::string& unit : sim::unit_model_names())
          if (!sim::unit_model(unit).present(platform_of_point())) absent.insert(unit);
        absent_units[platform_key] = std::move(absent);
      }
      const SweepNetwork* network = nullptr;
      if (!placed_units.count(network_key) || check_coverage) {
        network = &network_for(setup.model, setup.config, setup.batch).network;
        std::map<std::string, std::string>& first_op = placed_units[network_key];
        for (std::size_t n = 0; n < network->graph.nodes.size(); ++n)
          first_op.emplace(unit_name(network->choices[n].unit), network->graph.nodes[n].describe());
      }
      for (const auto& [unit, node] : placed_units[network_key])
        if (absent_units[platform_key].count(unit))
          throw BadInput(node + ": placed on " + unit + ", which the platform does not have");

      if (!check_coverage) continue;
      const std::vector<OpChoice> choices = spec_.placement == "auto"
                                                ? sim::auto_placement(network->graph, network->choices, platform_of_point())
                                                : network->choices;
      const models::NetworkDescription description =
          models::describe_network(network->graph, choices, platform_of_point());
      for (std::size_t n = 0; n < description.queries.size(); ++n) {
        const models::LayerQuery& query = description.queries[n];
        // As predict_network: views cost nothing and are not predicted.
        if (query.op_class != "view" && !predictor_->covers(query))
          throw BadInput(network->graph.nodes[n].describe() + ": the predictor has no model for " + query.op_class +
                         " on " + query.unit + " with knob family " + query.knob);
      }
      coverage_checked.insert(coverage_key);
    } catch (const BadInput& e) {
      std::vector<std::string> assignments;
      for (std::size_t a = 0; a < spec_.axes.size() && a < point.values.size(); ++a)
        assignments.push_back(spec_.axes[a].name + "=" + point.values[a]);
      throw BadInput(spec_.source + ": point " + std::to_string(point.index) + " (" + joined(assignments, ", ") +
                     "): " + e.what());
    }
  }
}

traces::SweepRecord SweepEvaluator::evaluate(const SweepPoint& point) {
  const auto wall_start = std::chrono::steady_clock::now();
  traces::SweepRecord record;
  record.key = key(point);
  record.index = point.index;
  record.point = point_json(point);
  try {
    const PointSetup setup = setup_of(point);
    const sim::Platform platform = sim::Platform::parse(platform_text_, platform_source_, setup.overrides);
    CachedNetwork& cached = network_for(setup.model, setup.config, setup.batch);
    const SweepNetwork& network = cached.network;
    const sim::Placement placement = spec_.placement == "auto" ? sim::Placement::Auto : sim::Placement::Configured;
    sim::SimResult result;
    if (predictor_) {
      const std::vector<OpChoice> choices = placement == sim::Placement::Auto
                                                ? sim::auto_placement(network.graph, network.choices, platform)
                                                : network.choices;
      models::PredictOptions options;
      options.model_name = setup.model;
      options.batch = setup.batch;
      options.with_features = false;
      result = models::predict_network(network.graph, choices, platform, *predictor_, options);
    } else {
      sim::SimOptions options;
      options.model_name = setup.model;
      options.batch = setup.batch;
      options.placement = placement;
      // From the key, not from the order of evaluation: any rank or resumed run draws the same noise.
      options.seed = spec_.seed ^ fnv1a64(record.key);
      options.weight_cache = &cached.weights;
      result = sim::simulate(network.graph, network.choices, platform, options);
    }

    record.latency_s = result.latency_s;
    record.energy_j = result.energy_j;
    record.ops_energy_j = result.ops_energy_j;
    record.idle_energy_j = result.idle_energy_j;
    auto input = result.avg_power_w.find(platform.power.input_rail);
    if (input == result.avg_power_w.end() && !result.rails.empty()) input = result.avg_power_w.find(result.rails.front());
    record.avg_power_w = input == result.avg_power_w.end() ? 0.0 : input->second;
    record.peak_temp_c = result.peak_temp_c;
    record.simulated_cycles = result.simulated_cycles;
    std::map<std::string, double>& unit_energy = record.breakdown["unit_energy_j"];
    std::map<std::string, double>& unit_busy = record.breakdown["unit_busy_s"];
    for (const sim::OpRecord& op : result.ops) {
      unit_energy[op.unit] += op.energy_j;
      unit_busy[op.unit] += op.latency_s;
    }
    record.breakdown["utilisation"] = result.utilisation;
    record.breakdown["component_energy_j"] = result.energy_breakdown_j;
    record.breakdown["rail_energy_j"] = result.rail_energy_j;
    record.breakdown["rail_power_w"] = result.avg_power_w;
    // Kinds with nothing in them (a predictor has no op on some unit) are not stored.
    for (auto it = record.breakdown.begin(); it != record.breakdown.end();)
      it = it->second.empty() ? record.breakdown.erase(it) : std::next(it);
  } catch (const BadInput& e) {
    traces::SweepRecord failed;
    failed.key = record.key;
    failed.index = record.index;
    failed.point = record.point;
    failed.status = "error";
    failed.error = e.what();
    record = std::move(failed);
  }
  record.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return record;
}

}  // namespace coda::tuner
