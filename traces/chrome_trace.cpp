#include "traces/chrome_trace.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <numeric>

#include "kernels/atomic_file.h"
#include "traces/result_checks.h"
#include "traces/unit_clocks.h"

namespace coda::traces {

namespace {

using Json = nlohmann::ordered_json;

// The trace event format counts time in microseconds.
double microseconds(double seconds) { return seconds * 1e6; }

Json metadata_event(const char* name, int pid, int tid, const Json& args) {
  Json event{{"name", name}, {"ph", "M"}, {"pid", pid}};
  if (tid > 0) event["tid"] = tid;
  event["args"] = args;
  return event;
}

Json counter_event(const std::string& name, int pid, double time_s, const char* series, double value) {
  return Json{{"name", name}, {"ph", "C"}, {"ts", microseconds(time_s)}, {"pid", pid}, {"args", {{series, value}}}};
}

// Threads (1, 2, ...) for the ops of one unit so that no two ops on a thread overlap: each op, in
// start order, takes the lowest thread that is free by its start.
std::vector<int> assign_threads(const sim::SimResult& result, const std::string& unit, std::vector<int>& op_thread) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < result.ops.size(); ++i)
    if (result.ops[i].unit == unit) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return result.ops[a].start_s < result.ops[b].start_s; });
  std::vector<double> thread_free_at;
  for (std::size_t i : order) {
    const sim::OpRecord& op = result.ops[i];
    std::size_t thread = 0;
    while (thread < thread_free_at.size() && thread_free_at[thread] > op.start_s) ++thread;
    if (thread == thread_free_at.size()) thread_free_at.push_back(0);
    thread_free_at[thread] = op.start_s + op.latency_s;
    op_thread[i] = static_cast<int>(thread) + 1;
  }
  std::vector<int> threads(std::max<std::size_t>(thread_free_at.size(), 1));
  std::iota(threads.begin(), threads.end(), 1);
  return threads;
}

Json summary(const sim::SimResult& result) {
  return Json{{"schema", "coda-chrome-trace"},
              {"version", 1},
              {"platform", result.platform},
              {"model", result.model},
              {"batch", result.batch},
              {"latency_s", result.latency_s},
              {"energy_j", result.energy_j},
              {"ops_energy_j", result.ops_energy_j},
              {"idle_energy_j", result.idle_energy_j},
              {"rail_energy_j", Json(result.rail_energy_j)},
              {"avg_power_w", Json(result.avg_power_w)},
              {"utilisation", Json(result.utilisation)},
              {"energy_breakdown_j", Json(result.energy_breakdown_j)},
              {"peak_temp_c", result.peak_temp_c},
              {"peak_zone", result.peak_zone},
              {"time_to_limit_s", result.time_to_limit_s},
              {"simulated_cycles", result.simulated_cycles}};
}

}  // namespace

void write_chrome_trace(const std::string& path, const sim::SimResult& result) {
  check_result(path, result);
  Json events = Json::array();
  const std::vector<std::string> units = timeline_units(result);
  std::vector<int> op_thread(result.ops.size(), 1);

  for (std::size_t u = 0; u < units.size(); ++u) {
    const int pid = static_cast<int>(u) + 1;
    events.push_back(metadata_event("process_name", pid, 0, {{"name", units[u]}}));
    events.push_back(metadata_event("process_sort_index", pid, 0, {{"sort_index", pid}}));
    for (int tid : assign_threads(result, units[u], op_thread))
      events.push_back(metadata_event("thread_name", pid, tid, {{"name", tid == 1 ? "ops" : "ops " + std::to_string(tid)}}));
  }
  const int soc_pid = static_cast<int>(units.size()) + 1;
  events.push_back(metadata_event("process_name", soc_pid, 0, {{"name", "soc"}}));
  events.push_back(metadata_event("process_sort_index", soc_pid, 0, {{"sort_index", soc_pid}}));

  auto pid_of = [&](const std::string& unit) {
    return static_cast<int>(std::find(units.begin(), units.end(), unit) - units.begin()) + 1;
  };
  for (std::size_t i = 0; i < result.ops.size(); ++i) {
    const sim::OpRecord& op = result.ops[i];
    events.push_back(Json{{"name", op.name},
                          {"cat", op.op_type},
                          {"ph", "X"},
                          {"ts", microseconds(op.start_s)},
                          {"dur", microseconds(op.latency_s)},
                          {"pid", pid_of(op.unit)},
                          {"tid", op_thread[i]},
                          {"args",
                           {{"knob", op.knob},
                            {"knob_name", op.knob_name},
                            {"energy_j", op.energy_j},
                            {"macs", op.macs},
                            {"dram_bytes", op.dram_bytes},
                            {"freq_mhz", op.freq_mhz},
                            {"node", op.node},
                            {"batch", op.batch}}}});
  }

  // A sample's rail power is its window's average, so it holds from the window's start; its
  // temperatures are readings at the window's end.
  for (const sim::PowerSample& sample : result.samples) {
    const double window_start = std::max(0.0, sample.time_s - sample.window_s);
    for (std::size_t r = 0; r < result.rails.size(); ++r)
      events.push_back(counter_event("power " + result.rails[r], soc_pid, window_start, "W", sample.rail_w[r]));
    for (std::size_t z = 0; z < result.zones.size(); ++z)
      events.push_back(counter_event("temperature " + result.zones[z], soc_pid, sample.time_s, "C", sample.zone_c[z]));
    for (std::size_t u = 0; u < result.units.size(); ++u)
      events.push_back(counter_event("busy", pid_of(result.units[u]), window_start, "share", sample.unit_busy[u]));
  }

  for (const std::string& unit : units)
    for (const ClockChange& change : unit_clock(result, unit))
      events.push_back(counter_event("clock", pid_of(unit), change.time_s, "MHz", change.freq_mhz));
  for (const sim::DvfsEvent& event : result.dvfs_events)
    events.push_back(Json{{"name", "DVFS"},
                          {"ph", "i"},
                          {"s", "p"},
                          {"ts", microseconds(event.time_s)},
                          {"pid", pid_of(event.unit)},
                          {"tid", 1},
                          {"args", {{"freq_mhz", event.freq_mhz}, {"cause", event.cause}}}});

  Json trace{{"traceEvents", std::move(events)}, {"displayTimeUnit", "ns"}, {"metadata", summary(result)}};
  write_file_atomically(path, trace.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n");
}

}  // namespace coda::traces
