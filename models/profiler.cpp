#include "models/profiler.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "models/layer_predictor.h"
#include "models/predictor_fit.h"
#include "sim/simulate.h"
#include "sim/unit_model.h"

namespace coda::models {

namespace {

// Whether a knob's arithmetic can run on the unit: accelerator knobs on their accelerator,
// the others on the CPU and GPU.
bool knob_runs_on(const Knob& knob, const std::string& unit) {
  switch (knob.unit) {
    case KnobUnit::Promise: return unit == "promise";
    case KnobUnit::LightNN: return unit == "lightnn";
    case KnobUnit::Any: return unit == "cpu" || unit == "gpu";
  }
  return false;
}

std::vector<std::string> space_units(const LayerSpace& space, const sim::Platform& platform) {
  std::vector<std::string> units;
  for (const std::string& unit : sim::unit_model_names()) {
    if (!space.units.empty() && std::find(space.units.begin(), space.units.end(), unit) == space.units.end()) continue;
    if (sim::unit_model(unit).present(platform)) units.push_back(unit);
  }
  return units;
}

// The knobs of one layer on one unit: the listed ones, or every applicable one, or one drawn per
// knob family.
std::vector<int> layer_knobs(const LayerSpace& space, const LayerConfig& layer, const std::string& unit,
                             std::mt19937_64& rng, Expansion expansion) {
  std::map<std::string, std::vector<int>> by_family;
  std::vector<int> all;
  for (const Knob* knob : knob_catalog().applicable(layer.op_type)) {
    if (knob->transforms_graph() || !knob_runs_on(*knob, unit)) continue;
    if (!space.knobs.empty() && std::find(space.knobs.begin(), space.knobs.end(), knob->id) == space.knobs.end())
      continue;
    all.push_back(knob->id);
    by_family[knob_key(knob->id)].push_back(knob->id);
  }
  if (!space.one_knob_per_family || expansion == Expansion::Exhaustive) return all;
  std::vector<int> drawn;
  for (const auto& [family, ids] : by_family) {
    std::uniform_int_distribution<std::size_t> pick(0, ids.size() - 1);
    drawn.push_back(ids[pick(rng)]);
  }
  return drawn;
}

sim::Platform at_clock(const sim::Platform& platform, const std::string& unit, double freq_mhz) {
  sim::Platform clocked = platform;
  if (unit == "cpu") clocked.cpu.freq_mhz = freq_mhz;
  else if (unit == "gpu") clocked.gpu.freq_mhz = freq_mhz;
  return clocked;
}

// VDD_IN first, then the sub-rails.
std::vector<std::string> platform_rails(const sim::Platform& platform) {
  std::vector<std::string> rails{platform.power.input_rail};
  rails.insert(rails.end(), platform.power.rails.begin(), platform.power.rails.end());
  return rails;
}

double relative_error(double predicted, double measured) {
  return measured > 0 ? std::abs(predicted / measured - 1) : 0;
}

}  // namespace

std::vector<ProfilePoint> expand_points(const LayerSpace& space, const sim::Platform& platform,
                                        const std::vector<LayerConfig>& layers, std::uint64_t seed,
                                        Expansion expansion) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> units = space_units(space, platform);
  std::map<std::string, std::vector<double>> clocks;
  for (const std::string& unit : units) clocks[unit] = dvfs_points(space, platform, unit);
  std::vector<ProfilePoint> points;
  for (const LayerConfig& layer : layers) {
    for (const std::string& unit : units) {
      for (int knob : layer_knobs(space, layer, unit, rng, expansion)) {
        std::vector<double> freqs = clocks[unit];
        if (expansion == Expansion::Sampled && space.dvfs_per_layer > 0 && static_cast<std::size_t>(space.dvfs_per_layer) < freqs.size()) {
          std::shuffle(freqs.begin(), freqs.end(), rng);
          freqs.resize(static_cast<std::size_t>(space.dvfs_per_layer));
        }
        for (double f : freqs) points.push_back({layer, unit, knob, f});
      }
    }
  }
  return points;
}

sim::OpRecord simulate_point(const ProfilePoint& point, const sim::Platform& platform, std::uint64_t seed) {
  // The LightNN model counts shift terms on the layer's quantized weights; elsewhere the weights'
  // values do not matter and shape-only weights keep large layers free.
  const Knob& knob = knob_catalog().require(point.knob);
  if (!knob_runs_on(knob, point.unit) || !knob.applies_to_op(point.layer.op_type))
    throw BadInput("profile: knob " + knob.name + " does not run " + point.layer.op_type + " on " + point.unit);
  bool with_weights = knob.family == KnobFamily::ShiftAdd;
  Graph graph = layer_graph(point.layer, with_weights, seed);
  std::vector<OpChoice> choices(graph.nodes.size(), OpChoice{point.knob, parse_unit(point.unit)});
  sim::SimOptions options;
  options.model_name = point.layer.network;
  options.batch = static_cast<int>(point.layer.batch);
  options.seed = seed;
  sim::SimResult result = sim::simulate(graph, choices, at_clock(platform, point.unit, point.freq_mhz), options);
  if (result.ops.size() != 1)
    throw std::logic_error("profile: layer " + point.layer.describe() + " ran as " + std::to_string(result.ops.size()) +
                           " ops");
  sim::OpRecord record = result.ops.front();
  record.name = point.layer.describe();
  return record;
}

ProfileResult profile(const LayerSpace& space, const sim::Platform& platform, const ProfileOptions& options) {
  ProfileResult result;
  std::mt19937_64 rng(options.seed ^ space.seed);
  auto run = [&](const std::vector<ProfilePoint>& points, const std::string& phase) {
    int64_t done = 0;
    int added = 0;
    for (const ProfilePoint& point : points) {
      try {
        result.records.push_back(simulate_point(point, platform, rng()));
        result.points.push_back(point);
        ++added;
      } catch (const BadInput& e) {
        ++result.skipped[point.unit + " cannot run " + knob_catalog().require(point.knob).name + " " +
                         point.layer.op_type];
      }
      if (options.progress) options.progress(phase, ++done, static_cast<int64_t>(points.size()));
    }
    return added;
  };

  std::vector<LayerConfig> layers = draw_layers(space);
  // Every layer must build before anything is simulated, so a bad space fails at once.
  for (const LayerConfig& layer : layers) layer_graph(layer, false, 0);
  std::vector<ProfilePoint> initial = expand_points(space, platform, layers, rng());
  if (initial.empty()) throw BadInput(space.source + ": the space has no point the platform's units can run");
  ProfileRound first;
  first.added = run(initial, "initial");
  first.points = static_cast<int>(result.records.size());
  result.rounds.push_back(first);

  for (int r = 1; r <= space.adaptive.rounds; ++r) {
    // Hold out a fifth, fit on the rest, and look for the points the fit misses.
    std::vector<std::size_t> order(result.records.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    std::size_t held = order.size() / 5;
    std::vector<sim::OpRecord> train;
    for (std::size_t i = held; i < order.size(); ++i) train.push_back(result.records[order[i]]);
    FitOptions fit;
    fit.folds = 5;
    fit.seed = rng();
    std::unique_ptr<LayerPredictor> predictor = fit_polynomial(train, fit);
    std::vector<std::pair<double, std::size_t>> misses;
    ProfileRound round;
    for (std::size_t i = 0; i < held; ++i) {
      const sim::OpRecord& record = result.records[order[i]];
      LayerQuery query = query_of(record);
      if (query.op_class == "view" || !predictor->covers(query)) continue;
      ++round.checked;
      LayerEstimate estimate = predictor->predict(query);
      double error = relative_error(estimate.latency_s, record.latency_s);
      auto rail = record.avg_power_w.find("VDD_IN");
      auto predicted_rail = estimate.power_w.find("VDD_IN");
      if (rail != record.avg_power_w.end() && predicted_rail != estimate.power_w.end())
        error = std::max(error, relative_error(predicted_rail->second, rail->second));
      if (error > space.adaptive.threshold) misses.push_back({error, order[i]});
    }
    round.over_threshold = static_cast<int>(misses.size());
    std::sort(misses.begin(), misses.end(), std::greater<>());
    if (misses.size() > static_cast<std::size_t>(space.adaptive.per_round))
      misses.resize(static_cast<std::size_t>(space.adaptive.per_round));
    std::vector<ProfilePoint> around;
    for (const auto& [error, index] : misses) {
      ProfilePoint point = result.points[index];
      point.layer = jitter_layer(point.layer, space.jitter / 2, rng());
      around.push_back(point);
    }
    if (!around.empty()) round.added = run(around, "round " + std::to_string(r));
    round.points = static_cast<int>(result.records.size());
    result.rounds.push_back(round);
    if (misses.empty()) break;
  }
  result.rails = platform_rails(platform);
  return result;
}

sim::SimResult profile_as_result(const ProfileResult& result, const sim::Platform& platform) {
  sim::SimResult out;
  out.platform = platform.name;
  out.model = "profile";
  out.rails = platform_rails(platform);
  out.units = sim::unit_model_names();
  out.ops = result.records;
  for (std::size_t i = 0; i < out.ops.size(); ++i) out.ops[i].node = static_cast<int>(i);
  return out;
}

}  // namespace coda::models
