#include "tuner/runtime_adapt.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <random>
#include <stdexcept>

#include "kernels/approx/approx_session.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "sim/simulate.h"

namespace coda::tuner {

namespace {

// Two clocks are the same DVFS step within this many MHz (as DvfsTable::has_step matches them).
constexpr double kClockMatchMhz = 0.01;
// Speedups are ratios of simulated times: a point within this relative rounding of the required
// speedup meets it (10 / 6.25 must meet 1.6).
constexpr double kSpeedupRounding = 1e-9;

std::string clock_list(const sim::DvfsTable& table) {
  std::string list;
  for (const sim::DvfsPoint& point : table.points) list += (list.empty() ? "" : ", ") + fmt::format("{}", point.freq_mhz);
  return list;
}

double scalar_number(const YAML::Node& node, const std::string& where, const std::string& source) {
  try {
    return node.as<double>();
  } catch (const YAML::Exception&) {
    throw BadInput(source + ": " + where + ": '" + node.as<std::string>("?") + "' is not a number");
  }
}

bool same_choice(const Choice& a, const Choice& b) {
  return a.first == b.first && a.second == b.second && a.p_second == b.p_second;
}

}  // namespace

std::vector<ClockStep> parse_clock_schedule(const std::string& yaml_text, const std::string& source,
                                            const sim::Platform& platform) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw BadInput(source + ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap() || !root["steps"]) throw BadInput(source + ": expected a map with \"steps\": [{gpu_mhz: ..., invocations: ...}, ...]");
  for (const auto& entry : root) {
    const std::string key = entry.first.as<std::string>();
    if (key != "steps" && key != "comment") throw BadInput(source + ": unknown field '" + key + "' (expected steps)");
  }
  const YAML::Node steps = root["steps"];
  if (!steps.IsSequence()) throw BadInput(source + ": \"steps\" must be a list of {gpu_mhz: ..., invocations: ...}");
  if (steps.size() == 0) throw BadInput(source + ": the schedule has no steps");
  std::vector<ClockStep> schedule;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const YAML::Node step = steps[i];
    const std::string where = fmt::format("steps[{}]", i);
    if (!step.IsMap()) throw BadInput(source + ": " + where + " must be {gpu_mhz: ..., invocations: ...}");
    for (const auto& entry : step) {
      const std::string key = entry.first.as<std::string>();
      if (key != "gpu_mhz" && key != "invocations")
        throw BadInput(source + ": " + where + ": unknown field '" + key + "' (expected gpu_mhz, invocations)");
    }
    if (!step["gpu_mhz"] || !step["invocations"])
      throw BadInput(source + ": " + where + " needs both gpu_mhz and invocations");
    ClockStep parsed;
    parsed.gpu_mhz = scalar_number(step["gpu_mhz"], where + ".gpu_mhz", source);
    const double invocations = scalar_number(step["invocations"], where + ".invocations", source);
    if (!(invocations >= 1) || invocations != std::floor(invocations) || invocations > 1e9)
      throw BadInput(source + ": " + where + ".invocations must be a whole number >= 1");
    parsed.invocations = static_cast<int>(invocations);
    if (!platform.gpu.dvfs.has_step(parsed.gpu_mhz))
      throw BadInput(fmt::format("{}: {}.gpu_mhz: {} is not a GPU clock of {} (its steps: {})", source, where,
                                 parsed.gpu_mhz, platform.name, clock_list(platform.gpu.dvfs)));
    schedule.push_back(parsed);
  }
  return schedule;
}

std::vector<ClockStep> load_clock_schedule(const std::string& path, const sim::Platform& platform) {
  return parse_clock_schedule(read_file(path), path, platform);
}

std::size_t AdaptTable::clock_index(double mhz) const {
  for (std::size_t i = 0; i < clocks_mhz.size(); ++i)
    if (std::fabs(clocks_mhz[i] - mhz) <= kClockMatchMhz) return i;
  throw std::out_of_range(fmt::format("clock {} MHz is not in the table", mhz));
}

AdaptTable measure_curve_on_clocks(const Curve& curve, const Graph& prepared, const std::string& platform_path,
                                   const std::vector<double>& clocks_mhz, std::uint64_t seed,
                                   const std::function<void(int, int)>& progress) {
  AdaptTable table;
  for (double mhz : clocks_mhz) {
    bool known = false;
    for (double c : table.clocks_mhz) known |= std::fabs(c - mhz) <= kClockMatchMhz;
    if (!known) table.clocks_mhz.push_back(mhz);
  }
  table.names.push_back("baseline");
  table.qos.push_back(curve.baseline_qos_test);
  for (const CurvePoint& point : curve.points) {
    table.names.push_back(point.name);
    table.qos.push_back(point.qos_test);
  }

  // Each point's graph (pruned by its pruning knobs) and choices, checked once.
  struct Prepared {
    Graph graph;
    std::vector<OpChoice> choices;
  };
  std::vector<Prepared> networks;
  networks.push_back({prepared, std::vector<OpChoice>(prepared.nodes.size())});
  for (const CurvePoint& point : curve.points) {
    ApproxConfig config = point.config;
    config.source = "curve point " + point.name;
    ApproxSession session(config, knob_catalog(), seed);
    Prepared network{prepared, {}};
    session.apply_pruning(network.graph);
    network.choices = session.resolve(network.graph);
    networks.push_back(std::move(network));
  }

  table.cost.assign(networks.size(), std::vector<PointCost>(table.clocks_mhz.size()));
  const int total = static_cast<int>(networks.size() * table.clocks_mhz.size());
  int done = 0;
  for (std::size_t c = 0; c < table.clocks_mhz.size(); ++c) {
    sim::Platform platform =
        sim::Platform::from_option(platform_path, {fmt::format("gpu.freq_mhz={}", table.clocks_mhz[c])});
    sim::SimOptions options;
    options.model_name = curve.model;
    options.seed = seed;
    for (std::size_t p = 0; p < networks.size(); ++p) {
      sim::SimResult result = sim::simulate(networks[p].graph, networks[p].choices, platform, options);
      auto power = result.avg_power_w.find(platform.power.input_rail);
      table.cost[p][c] = PointCost{result.latency_s, result.energy_j,
                                   power != result.avg_power_w.end() ? power->second : result.energy_j / result.latency_s};
      if (progress) progress(++done, total);
    }
  }
  return table;
}

AdaptController::AdaptController(const AdaptTable& table, const AdaptOptions& options) : table_(table), options_(options) {}

double AdaptController::speedup(std::size_t point, std::size_t clock) const {
  return table_.cost[0][clock].latency_s / table_.cost[point][clock].latency_s;
}

std::vector<std::size_t> AdaptController::frontier(std::size_t clock) const {
  auto better = [this](double a, double b) { return options_.higher_is_better ? a > b : a < b; };
  std::vector<std::size_t> order(table_.names.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  // Fastest first; among equally fast points the better QoS first.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    double sa = speedup(a, clock), sb = speedup(b, clock);
    if (sa != sb) return sa > sb;
    return better(table_.qos[a], table_.qos[b]);
  });
  std::vector<std::size_t> kept;
  for (std::size_t point : order)
    if (kept.empty() || better(table_.qos[point], table_.qos[kept.back()])) kept.push_back(point);
  std::reverse(kept.begin(), kept.end());
  return kept;
}

// Frontier speedups increase strictly: binary search for the first point that is fast enough.
std::vector<std::size_t>::const_iterator AdaptController::first_fast_enough(const std::vector<std::size_t>& points,
                                                                            std::size_t clock,
                                                                            double required_speedup) const {
  return std::lower_bound(points.begin(), points.end(), required_speedup, [&](std::size_t point, double required) {
    return speedup(point, clock) < required * (1 - kSpeedupRounding);
  });
}

Choice AdaptController::policy1(std::size_t clock, double required_speedup) const {
  const std::vector<std::size_t> points = frontier(clock);
  auto it = first_fast_enough(points, clock, required_speedup);
  Choice choice;
  choice.required_speedup = required_speedup;
  if (it == points.end()) {
    choice.reachable = false;
    it = points.end() - 1;
  }
  choice.first = choice.second = *it;
  return choice;
}

Choice AdaptController::policy2(std::size_t clock, double required_speedup) const {
  const std::vector<std::size_t> points = frontier(clock);
  auto it = first_fast_enough(points, clock, required_speedup);
  Choice choice;
  choice.required_speedup = required_speedup;
  if (it == points.end()) {
    choice.reachable = false;
    choice.first = choice.second = points.back();
    return choice;
  }
  choice.first = choice.second = *it;
  if (it == points.begin() || speedup(*it, clock) <= required_speedup * (1 + kSpeedupRounding)) return choice;
  const std::size_t slower = *(it - 1), faster = *it;
  const double s1 = speedup(slower, clock), s2 = speedup(faster, clock);
  choice.first = slower;
  choice.second = faster;
  // The mix is chosen so that the expected invocation time -- what the controller watches -- meets
  // the target: (1 - p) T1 + p T2 = T_target with T = T_base / S. The paper writes the mix in
  // speedups (p1 S1 + p2 S2 = S_target), which makes the mean *speedup* the target but leaves the
  // mean time above it whenever the neighbours' speedups differ much (measured: 18% slow mixing
  // LeNet-5's GPU baseline with a LightNN configuration 2.2x faster).
  choice.p_second = (1.0 / s1 - 1.0 / required_speedup) / (1.0 / s1 - 1.0 / s2);
  return choice;
}

Choice AdaptController::choose(std::size_t clock, double required_speedup) const {
  return options_.policy == 2 ? policy2(clock, required_speedup) : policy1(clock, required_speedup);
}

AdaptResult run_adaptation(const AdaptTable& table, const std::vector<ClockStep>& schedule, const AdaptOptions& options) {
  if (schedule.empty()) throw BadInput("the DVFS schedule has no steps");
  if (options.window < 1) throw BadInput(fmt::format("--window must be at least 1 (it is {})", options.window));
  if (options.policy != 1 && options.policy != 2)
    throw BadInput(fmt::format("--policy must be 1 or 2 (it is {})", options.policy));
  if (options.target_s < 0 || !std::isfinite(options.target_s))
    throw BadInput("--target-ms must be a positive time");
  if (!(options.tolerance >= 0 && options.tolerance < 1)) throw BadInput("the tolerance must be in [0, 1)");
  if (table.names.empty() || table.cost.size() != table.names.size()) throw BadInput("the adaptation table is empty");
  std::vector<std::size_t> step_clock;
  for (const ClockStep& step : schedule) {
    try {
      step_clock.push_back(table.clock_index(step.gpu_mhz));
    } catch (const std::out_of_range&) {
      throw BadInput(fmt::format("no measurements at {} MHz", step.gpu_mhz));
    }
  }

  AdaptController controller(table, options);
  AdaptResult result;
  result.policy = options.policy;
  result.window = options.window;
  result.tolerance = options.tolerance;
  result.target_s = options.target_s > 0 ? options.target_s : table.cost[0][step_clock[0]].latency_s;
  const double target = result.target_s;
  auto required = [&](std::size_t clock) { return table.cost[0][clock].latency_s / target; };
  auto expected_qos = [&](const Choice& c) {
    return (1 - c.p_second) * table.qos[c.first] + c.p_second * table.qos[c.second];
  };

  std::mt19937_64 rng(options.seed);
  // The configuration at start: what the policy picks for the first clock (the baseline under the
  // default target).
  Choice choice = controller.choose(step_clock[0], required(step_clock[0]));
  std::deque<double> window;
  double window_sum = 0;
  int index = 0;
  for (std::size_t s = 0; s < schedule.size(); ++s) {
    const std::size_t clock = step_clock[s];
    StepSummary summary;
    summary.gpu_mhz = schedule[s].gpu_mhz;
    summary.invocations = schedule[s].invocations;
    summary.target_s = target;
    summary.baseline_time_s = table.cost[0][clock].latency_s;
    double time_sum = 0, energy_sum = 0, qos_sum = 0, loss_sum = 0;
    for (int n = 0; n < schedule[s].invocations; ++n) {
      std::size_t point = choice.first;
      if (choice.p_second > 0 && std::generate_canonical<double, 53>(rng) < choice.p_second) point = choice.second;
      const PointCost& cost = table.cost[point][clock];
      InvocationRecord record;
      record.index = index++;
      record.step = static_cast<int>(s);
      record.gpu_mhz = schedule[s].gpu_mhz;
      record.point = table.names[point];
      record.time_s = cost.latency_s;
      record.qos = expected_qos(choice);
      record.power_w = cost.power_w;
      record.energy_j = cost.energy_j;

      window.push_back(cost.latency_s);
      window_sum += cost.latency_s;
      if (static_cast<int>(window.size()) > options.window) {
        window_sum -= window.front();
        window.pop_front();
      }
      record.window_avg_s = window_sum / static_cast<double>(window.size());
      if (static_cast<int>(window.size()) == options.window &&
          std::fabs(record.window_avg_s - target) > options.tolerance * target) {
        Choice next = controller.choose(clock, required(clock));
        if (!same_choice(next, choice)) {
          choice = next;
          window.clear();
          window_sum = 0;
          record.switched = true;
          ++summary.switches;
        }
      }
      time_sum += record.time_s;
      energy_sum += record.energy_j;
      qos_sum += record.qos;
      // Summed per invocation so that a step on the baseline alone reports a loss of exactly 0.
      loss_sum += options.higher_is_better ? table.qos[0] - record.qos : record.qos - table.qos[0];
      ++summary.used[record.point];
      result.invocations.push_back(std::move(record));
    }
    summary.avg_time_s = time_sum / summary.invocations;
    summary.avg_qos = qos_sum / summary.invocations;
    summary.qos_loss = loss_sum / summary.invocations;
    summary.avg_power_w = energy_sum / time_sum;
    summary.energy_per_invocation_j = energy_sum / summary.invocations;
    result.steps.push_back(std::move(summary));
  }
  return result;
}

std::string adapt_result_json(const AdaptResult& result, const AdaptTable& table, const Curve& curve) {
  using nlohmann::json;
  json root;
  root["format"] = "coda-adapt";
  root["version"] = 1;
  root["model"] = curve.model;
  root["qos_metric"] = curve.qos_metric;
  root["qos_unit"] = curve.qos_unit;
  root["baseline_qos"] = table.qos.empty() ? 0.0 : table.qos[0];
  root["policy"] = result.policy;
  root["window"] = result.window;
  root["tolerance"] = result.tolerance;
  root["target_ms"] = result.target_s * 1e3;
  json points = json::array();
  for (std::size_t p = 0; p < table.names.size(); ++p) {
    json costs = json::array();
    for (std::size_t c = 0; c < table.clocks_mhz.size(); ++c)
      costs.push_back({{"gpu_mhz", table.clocks_mhz[c]},
                       {"time_ms", table.cost[p][c].latency_s * 1e3},
                       {"speedup", table.cost[0][c].latency_s / table.cost[p][c].latency_s},
                       {"power_w", table.cost[p][c].power_w},
                       {"energy_mj", table.cost[p][c].energy_j * 1e3}});
    points.push_back({{"name", table.names[p]}, {"qos", table.qos[p]}, {"by_clock", costs}});
  }
  root["points"] = points;
  json steps = json::array();
  for (const StepSummary& s : result.steps) {
    json used = json::object();
    for (const auto& [name, count] : s.used) used[name] = count;
    steps.push_back({{"gpu_mhz", s.gpu_mhz},
                     {"invocations", s.invocations},
                     {"avg_time_ms", s.avg_time_s * 1e3},
                     {"target_ms", s.target_s * 1e3},
                     {"deviation", s.avg_time_s / s.target_s - 1},
                     {"baseline_time_ms", s.baseline_time_s * 1e3},
                     {"used", used},
                     {"qos", s.avg_qos},
                     {"qos_loss", s.qos_loss},
                     {"avg_power_w", s.avg_power_w},
                     {"energy_per_invocation_mj", s.energy_per_invocation_j * 1e3},
                     {"switches", s.switches}});
  }
  root["steps"] = steps;
  json series = json::array();
  for (const InvocationRecord& r : result.invocations)
    series.push_back({{"i", r.index},
                      {"step", r.step},
                      {"gpu_mhz", r.gpu_mhz},
                      {"point", r.point},
                      {"time_ms", r.time_s * 1e3},
                      {"window_avg_ms", r.window_avg_s * 1e3},
                      {"qos", r.qos},
                      {"power_w", r.power_w},
                      {"energy_mj", r.energy_j * 1e3},
                      {"switched", r.switched}});
  root["invocations"] = series;
  return root.dump(2) + "\n";
}

}  // namespace coda::tuner
