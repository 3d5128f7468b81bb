// The units a timeline shows and each unit's clock over the run, shared by the Chrome trace and the
// VCD so both draw the same thing.
#pragma once

#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace coda::traces {

// result.units in order, then any unit an op ran on or a DVFS event names that result.units does
// not list (ops first, in the order they first name it), so nothing goes undrawn.
std::vector<std::string> timeline_units(const sim::SimResult& result);

struct ClockChange {
  double time_s = 0;
  double freq_mhz = 0;
};

// The clock of `unit` from time 0: a first entry at time 0, then its DVFS events after time 0 in
// time order. The clock at time 0 is the last DVFS event at time 0 when there is one; otherwise
// what the run saw before the unit's first DVFS event -- the clock of the earliest op on the unit,
// else the clock of the earliest power sample -- and, when nothing came before that event, the
// event's own clock (0 for a unit with no ops, samples or events).
std::vector<ClockChange> unit_clock(const sim::SimResult& result, const std::string& unit);

}  // namespace coda::traces
