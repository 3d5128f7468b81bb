#include "traces/result_checks.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <vector>

#include "traces/number_text.h"

namespace coda::traces {

namespace {

class ResultChecker {
 public:
  explicit ResultChecker(const std::string& path) : path_(path) {}

  void finite(const std::string& where, const std::string& field, double value) const {
    if (!std::isfinite(value)) fail(where, field + " is " + (std::isnan(value) ? "nan" : "infinite"));
  }
  void non_negative(const std::string& where, const std::string& field, double value) const {
    finite(where, field, value);
    if (value < 0) fail(where, field + " is negative (" + number_text(value) + ")");
  }
  void at_least(const std::string& where, const std::string& field, int64_t value, int64_t lowest) const {
    if (value < lowest) fail(where, field + " is " + std::to_string(value) + ", below " + std::to_string(lowest));
  }
  void finite_map(const std::string& where, const std::string& field,
                  const std::map<std::string, double>& values) const {
    for (const auto& [name, value] : values) finite(where, field + "[" + name + "]", value);
  }
  void finite_all(const std::string& where, const std::string& field, const std::vector<double>& values) const {
    for (std::size_t i = 0; i < values.size(); ++i) finite(where, field + "[" + std::to_string(i) + "]", values[i]);
  }
  void length(const std::string& where, const std::string& field, std::size_t size, std::size_t expected,
              const std::string& of) const {
    if (size != expected)
      fail(where, field + " has " + std::to_string(size) + " values for " + std::to_string(expected) + " " + of);
  }

 private:
  [[noreturn]] void fail(const std::string& where, const std::string& problem) const {
    throw std::logic_error("cannot write " + path_ + ": " + where + ": " + problem);
  }
  std::string path_;
};

}  // namespace

void check_result(const std::string& path, const sim::SimResult& result) {
  ResultChecker check(path);
  for (const sim::OpRecord& op : result.ops) {
    std::string where = "op '" + op.name + "' (node " + std::to_string(op.node) + ")";
    check.non_negative(where, "start_s", op.start_s);
    check.non_negative(where, "latency_s", op.latency_s);
    check.non_negative(where, "freq_mhz", op.freq_mhz);
    check.non_negative(where, "compute_s", op.compute_s);
    check.non_negative(where, "memory_s", op.memory_s);
    check.at_least(where, "batch", op.batch, 1);
    check.at_least(where, "cycles", op.cycles, 0);
    check.at_least(where, "macs", op.macs, 0);
    check.at_least(where, "dram_bytes", op.dram_bytes, 0);
    check.finite(where, "energy_j", op.energy_j);
    check.finite_map(where, "energy_by_component_j", op.energy_by_component_j);
    check.finite_map(where, "avg_power_w", op.avg_power_w);
    check.finite_map(where, "features", op.features);
  }
  for (std::size_t i = 0; i < result.samples.size(); ++i) {
    const sim::PowerSample& sample = result.samples[i];
    std::string where = "power sample " + std::to_string(i);
    check.non_negative(where, "time_s", sample.time_s);
    check.non_negative(where, "window_s", sample.window_s);
    check.length(where, "rail_w", sample.rail_w.size(), result.rails.size(), "rails");
    check.length(where, "zone_c", sample.zone_c.size(), result.zones.size(), "zones");
    check.length(where, "unit_busy", sample.unit_busy.size(), result.units.size(), "units");
    check.length(where, "unit_freq_mhz", sample.unit_freq_mhz.size(), result.units.size(), "units");
    check.finite_all(where, "rail_w", sample.rail_w);
    check.finite_all(where, "zone_c", sample.zone_c);
    check.finite_all(where, "unit_busy", sample.unit_busy);
    check.finite_all(where, "unit_freq_mhz", sample.unit_freq_mhz);
  }
  for (std::size_t i = 0; i < result.dvfs_events.size(); ++i) {
    const sim::DvfsEvent& event = result.dvfs_events[i];
    std::string where = "DVFS event " + std::to_string(i) + " (" + event.unit + ")";
    check.non_negative(where, "time_s", event.time_s);
    check.non_negative(where, "freq_mhz", event.freq_mhz);
  }
}

}  // namespace coda::traces
