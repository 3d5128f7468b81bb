#include "traces/unit_clocks.h"

#include <algorithm>
#include <limits>
#include <optional>

namespace coda::traces {

std::vector<std::string> timeline_units(const sim::SimResult& result) {
  std::vector<std::string> units = result.units;
  auto add = [&](const std::string& unit) {
    if (std::find(units.begin(), units.end(), unit) == units.end()) units.push_back(unit);
  };
  for (const sim::OpRecord& op : result.ops) add(op.unit);
  for (const sim::DvfsEvent& event : result.dvfs_events) add(event.unit);
  return units;
}

std::vector<ClockChange> unit_clock(const sim::SimResult& result, const std::string& unit) {
  std::vector<ClockChange> events;
  for (const sim::DvfsEvent& event : result.dvfs_events)
    if (event.unit == unit) events.push_back({event.time_s, event.freq_mhz});
  std::stable_sort(events.begin(), events.end(),
                   [](const ClockChange& a, const ClockChange& b) { return a.time_s < b.time_s; });

  std::optional<double> at_start;
  std::size_t first_later = 0;  // first event after time 0
  while (first_later < events.size() && events[first_later].time_s <= 0) at_start = events[first_later++].freq_mhz;

  const double first_change = events.empty() ? std::numeric_limits<double>::infinity() : events.front().time_s;
  if (!at_start) {
    const sim::OpRecord* earliest_op = nullptr;
    for (const sim::OpRecord& op : result.ops)
      if (op.unit == unit && op.start_s < first_change && (!earliest_op || op.start_s < earliest_op->start_s))
        earliest_op = &op;
    if (earliest_op) at_start = earliest_op->freq_mhz;
  }
  if (!at_start) {
    auto listed = std::find(result.units.begin(), result.units.end(), unit);
    const sim::PowerSample* earliest_sample = nullptr;
    if (listed != result.units.end())
      for (const sim::PowerSample& sample : result.samples)
        if (sample.time_s < first_change && (!earliest_sample || sample.time_s < earliest_sample->time_s))
          earliest_sample = &sample;
    if (earliest_sample)
      at_start = earliest_sample->unit_freq_mhz[static_cast<std::size_t>(listed - result.units.begin())];
  }
  if (!at_start) at_start = events.empty() ? 0.0 : events.front().freq_mhz;

  std::vector<ClockChange> clock{{0.0, *at_start}};
  clock.insert(clock.end(), events.begin() + static_cast<std::ptrdiff_t>(first_later), events.end());
  return clock;
}

}  // namespace coda::traces
