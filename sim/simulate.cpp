#include "sim/simulate.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "sim/lightnn_rtl.h"
#include "sim/soc.h"

namespace coda::sim {
namespace {

const Knob& knob_of(int id) {
  static const Knob exact = [] {
    Knob knob;
    knob.id = 11;
    knob.name = "fp32";
    return knob;
  }();
  const Knob* knob = knob_catalog().find(id);
  if (knob == nullptr || knob->family == KnobFamily::Pruning) return exact;  // pruning is in the graph already
  return *knob;
}

// Seconds the unit model predicts for the op alone (compute and traffic not overlapped), for the
// auto placement.
double standalone_seconds(const UnitModel& model, const OpWork& work, const Platform& platform) {
  double bandwidth = platform.dram.bandwidth_gbs * 1e9 * platform.dram.efficiency;
  return work.overhead_s + std::max(work.compute_cycles / (model.freq_mhz(platform) * 1e6),
                                    (work.read_bytes + work.write_bytes) / bandwidth);
}

// Jobs of the run: one per executed node (views are free and fold into their producers), with
// their producers' counts and consumers.
void build_jobs(const Graph& graph, const std::vector<NodeReport>& reports, const std::vector<OpChoice>& choices,
                const Platform& platform, const SimOptions& options, const std::vector<std::string>& unit_names,
                SocRun& run) {
  std::vector<int> producer(graph.values.size(), -1);  // job producing each value
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    const NodeReport& report = reports[n];
    const Knob& knob = knob_of(choices[n].knob);
    OpWorkload workload = describe_op(graph, report, knob);
    std::vector<int> producers;
    for (int input : node.inputs)
      if (input >= 0 && producer[static_cast<std::size_t>(input)] >= 0)
        producers.push_back(producer[static_cast<std::size_t>(input)]);
    std::sort(producers.begin(), producers.end());
    producers.erase(std::unique(producers.begin(), producers.end()), producers.end());
    if (workload.is_view) {
      // A view's output is its input's storage: readers wait for the input's producer.
      int source = producers.empty() ? -1 : producers.front();
      for (int output : node.outputs)
        if (output >= 0) producer[static_cast<std::size_t>(output)] = source;
      continue;
    }
    std::string unit = unit_name(choices[n].unit);
    auto unit_it = std::find(unit_names.begin(), unit_names.end(), unit);
    if (unit_it == unit_names.end()) throw BadInput(node.describe() + ": no unit model '" + unit + "'");
    const UnitModel& model = unit_model(unit);
    if (!model.present(platform))
      throw BadInput(node.describe() + ": placed on " + unit + ", which platform " + platform.name + " does not have");
    UnitContext context{platform, graph, report, knob, options.rtl_fidelity, options.seed, options.weight_cache};
    Job job;
    job.unit = static_cast<int>(unit_it - unit_names.begin());
    job.work = model.work(workload, context);
    job.record.node = static_cast<int>(n);
    job.record.name = node.name;
    job.record.network = options.model_name;
    job.record.op_type = node.op_type;
    job.record.unit = unit;
    job.record.knob = knob.id;
    job.record.knob_name = knob.name;
    job.record.batch = options.batch;
    job.record.features = workload.features;
    job.record.fidelity = job.work.fidelity;
    int index = static_cast<int>(run.jobs.size());
    job.pending = static_cast<int>(producers.size());
    for (int p : producers) run.jobs[static_cast<std::size_t>(p)].consumers.push_back(index);
    run.jobs.push_back(std::move(job));
    for (int output : node.outputs)
      if (output >= 0) producer[static_cast<std::size_t>(output)] = index;
  }
}

int rail_of_component(const std::string& component, const SocRun& run, const UnitState& unit) {
  if (component == "dram") return run.dram_rail;
  if (component == "interconnect") return run.interconnect_rail;
  return unit.rail;
}

void summarise(const SocRun& run, const Platform& platform, SimResult& result) {
  const PowerLedger& ledger = *run.ledger;
  double end = run.end_s;
  result.latency_s = end;
  result.rails.push_back(platform.power.input_rail);
  for (const std::string& rail : ledger.rails()) result.rails.push_back(rail);
  for (const UnitState& unit : run.units) result.units.push_back(unit.name);

  // Static draw per sub-rail (all units at their final clocks, DRAM background, fixed rails), for
  // the ops' "alone" power.
  std::vector<double> static_w(ledger.rails().size(), 0.0);
  for (const UnitState& unit : run.units)
    if (unit.model->present(platform) && unit.rail >= 0) static_w[static_cast<std::size_t>(unit.rail)] += run.static_w(unit);
  if (run.dram_rail >= 0) static_w[static_cast<std::size_t>(run.dram_rail)] += platform.dram.power.static_w;
  for (const auto& [rail, watts] : platform.power.rail_static_w) {
    int index = ledger.rail_index(rail);
    if (index >= 0) static_w[static_cast<std::size_t>(index)] += watts;
  }

  for (const Job& job : run.jobs) {
    OpRecord record = job.record;
    const UnitState& unit = run.units[static_cast<std::size_t>(job.unit)];
    std::vector<double> dynamic(ledger.rails().size(), 0.0);
    record.energy_j = 0;
    for (auto& [component, joules] : record.energy_by_component_j) {
      int rail = rail_of_component(component, run, unit);
      if (rail >= 0) dynamic[static_cast<std::size_t>(rail)] += joules;
      joules = ledger.at_input(joules);
      record.energy_j += joules;
      result.energy_breakdown_j[component] += joules;
    }
    double input = ledger.board_static_w();
    for (std::size_t r = 0; r < dynamic.size(); ++r) {
      double watts = static_w[r] + (record.latency_s > 0 ? dynamic[r] / record.latency_s : 0.0);
      record.avg_power_w[ledger.rails()[r]] = watts;
      input += ledger.at_input(watts);
    }
    record.avg_power_w[platform.power.input_rail] = input;
    result.ops_energy_j += record.energy_j;
    result.ops.push_back(std::move(record));
  }
  std::stable_sort(result.ops.begin(), result.ops.end(),
                   [](const OpRecord& a, const OpRecord& b) { return a.start_s < b.start_s; });

  result.idle_energy_j = ledger.board_static_w() * end;
  for (std::size_t r = 0; r < ledger.rails().size(); ++r)
    result.idle_energy_j += ledger.at_input(ledger.static_energy_j(static_cast<int>(r)));
  result.energy_breakdown_j["static"] = result.idle_energy_j;

  // The reported trace: every window from the complete ledger, temperatures stepped through it.
  ThermalModel thermal(platform.thermal, result.rails);
  result.zones = thermal.zones();
  std::vector<double> rail_energy(result.rails.size(), 0.0);
  auto windows = ledger.windows(end);
  std::vector<DvfsEvent> events = run.dvfs_events;
  std::map<std::string, double> clock;
  for (const UnitState& unit : run.units) clock[unit.name] = unit.start_freq_mhz;
  std::size_t next_event = 0;
  result.peak_temp_c = thermal.max_temperature();
  for (std::size_t w = 0; w < windows.size(); ++w) {
    const auto& window = windows[w];
    PowerSample sample;
    sample.time_s = window.end_s;
    sample.window_s = window.length_s;
    sample.rail_w = window.rail_w;
    for (std::size_t r = 0; r < rail_energy.size(); ++r) rail_energy[r] += window.rail_w[r] * window.length_s;
    thermal.step(window.rail_w, window.length_s);
    sample.zone_c = thermal.temperatures();
    for (std::size_t z = 0; z < sample.zone_c.size(); ++z)
      if (sample.zone_c[z] > result.peak_temp_c) {
        result.peak_temp_c = sample.zone_c[z];
        result.peak_zone = result.zones[z];
      }
    while (next_event < events.size() && events[next_event].time_s <= window.end_s) {
      clock[events[next_event].unit] = events[next_event].freq_mhz;
      ++next_event;
    }
    for (std::size_t u = 0; u < run.units.size(); ++u) {
      sample.unit_busy.push_back(run.busy_share(static_cast<int>(u), window.end_s - window.length_s, window.end_s));
      sample.unit_freq_mhz.push_back(clock[run.units[u].name]);
    }
    result.samples.push_back(std::move(sample));
  }
  if (result.peak_zone.empty() && !result.zones.empty()) result.peak_zone = result.zones.front();
  for (std::size_t r = 0; r < result.rails.size(); ++r) {
    result.rail_energy_j[result.rails[r]] = rail_energy[r];
    result.avg_power_w[result.rails[r]] = end > 0 ? rail_energy[r] / end : 0.0;
  }
  result.energy_j = rail_energy[0];
  std::vector<double> average(result.rails.size());
  for (std::size_t r = 0; r < average.size(); ++r) average[r] = result.avg_power_w[result.rails[r]];
  result.time_to_limit_s = thermal.time_to_limit(average);
  for (const UnitState& unit : run.units) {
    result.utilisation[unit.name] = end > 0 ? unit.busy_s / end : 0.0;
    // Every unit's clock ticks for the whole run, busy or not.
    if (unit.model->present(platform)) result.simulated_cycles += static_cast<int64_t>(end * unit.start_freq_mhz * 1e6);
  }
  result.dvfs_events = run.dvfs_events;
}

}  // namespace

void precompute_weight_stats(const Graph& graph, const std::vector<OpChoice>& choices, const Platform& platform,
                             LayerWeightCache& cache) {
  const std::vector<NodeReport> reports = analyse_graph(graph);
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    if (choices[n].unit != Unit::LightNN) continue;
    const UnitContext context{platform, graph, reports[n], knob_of(choices[n].knob), false, 0, &cache};
    lightnn_terms_per_weight(context);
  }
}

std::vector<OpChoice> auto_placement(const Graph& graph, const std::vector<OpChoice>& choices, const Platform& platform) {
  std::vector<NodeReport> reports = analyse_graph(graph);
  std::vector<OpChoice> placed = choices;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    if (placed[n].unit != Unit::Cpu && placed[n].unit != Unit::Gpu) continue;
    const Knob& knob = knob_of(placed[n].knob);
    OpWorkload workload = describe_op(graph, reports[n], knob);
    double best = -1;
    for (Unit unit : {Unit::Gpu, Unit::Cpu}) {
      const UnitModel& model = unit_model(unit_name(unit));
      UnitContext context{platform, graph, reports[n], knob, false, 0, nullptr};
      double seconds = standalone_seconds(model, model.work(workload, context), platform);
      if (best < 0 || seconds < best) {
        best = seconds;
        placed[n].unit = unit;
      }
    }
  }
  return placed;
}

std::map<std::string, double> idle_power_w(const Platform& platform) {
  PowerLedger ledger(platform.power, platform.sim.power_sample_ms * 1e-3);
  std::map<std::string, double> sub_rails;
  for (const std::string& rail : ledger.rails()) sub_rails[rail] = 0;
  for (const std::string& name : unit_model_names()) {
    const UnitModel& model = unit_model(name);
    if (!model.present(platform)) continue;
    const UnitPower& power = model.power(platform);
    const DvfsTable* dvfs = model.dvfs(platform);
    double voltage = dvfs ? dvfs->voltage_at(model.freq_mhz(platform)) : power.nominal_v;
    // As SocRun::static_w: static power scales with the supply voltage.
    if (ledger.rail_index(power.rail) >= 0) sub_rails[power.rail] += power.static_w * voltage / power.nominal_v;
  }
  if (ledger.rail_index(platform.dram.power.rail) >= 0) sub_rails[platform.dram.power.rail] += platform.dram.power.static_w;
  for (const auto& [rail, watts] : platform.power.rail_static_w)
    if (ledger.rail_index(rail) >= 0) sub_rails[rail] += watts;
  std::map<std::string, double> rails = sub_rails;
  double input = ledger.board_static_w();
  for (const auto& [rail, watts] : sub_rails) input += ledger.at_input(watts);
  rails[platform.power.input_rail] = input;
  return rails;
}

SimResult simulate(const Graph& graph, const std::vector<OpChoice>& choices, const Platform& platform,
                   const SimOptions& options) {
  auto wall_start = std::chrono::steady_clock::now();
  if (choices.size() != graph.nodes.size()) throw BadInput("simulate: one choice per node expected");
  std::vector<OpChoice> placed = options.placement == Placement::Auto ? auto_placement(graph, choices, platform) : choices;
  Soc& soc = Soc::instance();
  std::vector<NodeReport> reports = analyse_graph(graph);

  SocRun run;
  run.platform = &platform;
  run.dvfs = options.dvfs;
  run.ledger = std::make_unique<PowerLedger>(platform.power, platform.sim.power_sample_ms * 1e-3);
  run.dram = std::make_unique<BandwidthTimeline>(platform.dram.bandwidth_gbs * 1e9 * platform.dram.efficiency,
                                                 platform.sim.quantum_ns * 1e-9);
  std::vector<std::string> thermal_rails{platform.power.input_rail};
  for (const std::string& rail : platform.power.rails) thermal_rails.push_back(rail);
  run.thermal = std::make_unique<ThermalModel>(platform.thermal, thermal_rails);
  run.dram_rail = run.ledger->rail_index(platform.dram.power.rail);
  run.interconnect_rail = run.ledger->rail_index(platform.interconnect.rail);
  for (const std::string& name : soc.unit_names()) {
    UnitState unit;
    unit.name = name;
    unit.model = &unit_model(name);
    unit.rail = run.ledger->rail_index(unit.model->power(platform).rail);
    unit.dvfs = unit.model->dvfs(platform);
    unit.freq_mhz = unit.start_freq_mhz = unit.model->freq_mhz(platform);
    unit.voltage_v = unit.dvfs ? unit.dvfs->voltage_at(unit.freq_mhz) : unit.model->power(platform).nominal_v;
    run.units.push_back(std::move(unit));
  }
  build_jobs(graph, reports, placed, platform, options, soc.unit_names(), run);

  soc.run(run);

  // Close the static segments: units (at their last clock), DRAM background, fixed rails.
  double end = run.end_s;
  for (UnitState& unit : run.units)
    if (unit.model->present(platform)) run.ledger->add_power(unit.rail, unit.static_since_s, end, run.static_w(unit));
  run.ledger->add_power(run.dram_rail, 0, end, platform.dram.power.static_w);
  for (const auto& [rail, watts] : platform.power.rail_static_w) run.ledger->add_power(run.ledger->rail_index(rail), 0, end, watts);

  SimResult result;
  result.platform = platform.name;
  result.model = options.model_name;
  result.batch = options.batch;
  summarise(run, platform, result);
  result.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return result;
}

}  // namespace coda::sim
