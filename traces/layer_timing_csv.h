// Per-layer timing logs: when each layer of a network started and how long it ran on the board,
// as a CUDA-event harness or a TensorRT profiler (IProfiler) run writes it, for aligning with a
// power log (power_alignment.h). CSV with a header row, after any '#' comment lines:
//   name,op_type,start_ms,latency_ms,unit,knob,freq_mhz,batch,network,feature_in_channels,...
//   conv1,Conv,0.000,0.512,gpu,11,1300.5,1,resnet18,3,...
// Required: name, op_type, start_s or start_ms, latency_s or latency_ms. Optional: unit (default
// gpu), knob (a knob id of the catalog, default 11), freq_mhz (the unit clock; absent: the power
// log's, see align_layers), batch (default 1), network, and feature_<NAME> shape features (as
// sim/op_workload.h names them: in_channels, out_h, macs, ...). An empty optional cell takes the
// default; an empty feature cell leaves the feature out. Rows may repeat a layer (repetitions of
// one run); each row is one record. Start times are on the timing log's own clock, any origin.
#pragma once

#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace coda::traces {

// One record per row: name, op_type, unit, knob, knob_name (from the knob catalog), batch,
// network, freq_mhz (0 where not given), start_s, latency_s, features (and macs from
// feature_macs), fidelity "measured"; node numbers the distinct (network, name) pairs in order of
// first appearance, so repetitions share it. Throws BadInput "FILE:LINE: column: problem" (or
// "FILE: problem"): no header, a missing, repeated or unknown column, both start_s and start_ms
// (or latency_s and latency_ms), a row with the wrong number of cells, an empty name or op_type, a
// time that is not a finite number, a zero or negative latency, a knob the catalog lacks, a clock
// that is not positive, a batch below 1, a feature that is not a finite number.
std::vector<sim::OpRecord> read_layer_timing_csv(const std::string& path);

}  // namespace coda::traces
