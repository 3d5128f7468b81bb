// The run's power, temperatures, clocks and unit activity as a Value Change Dump (IEEE 1364-2005
// section 18) that GTKWave opens. One scope, `module soc`, holding:
//   real power_<RAIL>_W     each rail's average power, from the start of each sampling window
//   real temp_<ZONE>_C      each zone's temperature, at the end of each sampling window
//   real clock_<UNIT>_MHz   each unit's clock, at time 0 and at its DVFS events (see unit_clock)
//   wire busy_<UNIT>        1 while at least one op runs on the unit (from the op records)
// Names are reduced to Verilog identifier characters (others become '_'; clashes get _2, _3, ...).
// The timescale is 1 ns: ops on the fast units last a few microseconds, which a 1 us grid would
// distort or lose. Times are rounded to it; changes at the same time are merged, unchanged values
// are left out, and a signal holds its first value from time 0. Rail and zone signals exist only
// when the result has power samples. A last bare timestamp marks the end of the run.
#pragma once

#include <string>

#include "sim/sim_result.h"

namespace coda::traces {

// Writes the dump to `path` atomically. A result that fails check_result throws std::logic_error;
// a path that cannot be written throws BadInput.
void write_power_vcd(const std::string& path, const sim::SimResult& result);

}  // namespace coda::traces
