// The per-op trace as CSV: what predictors are fitted from (`coda fit --traces`) and what a
// spreadsheet opens. Layout, version 1:
//   # coda op trace v1
//   node,name,network,op_type,unit,knob,knob_name,batch,fidelity,freq_mhz,start_s,latency_s,
//   compute_s,memory_s,cycles,macs,dram_bytes,energy_j,power_<RAIL>_w...,energy_<COMPONENT>_j...,
//   feature_<NAME>...
//   one row per op
// network (the model an op belongs to) and fidelity (model, rtl or measured) came later; files
// without those columns still read, as ops of no network at fidelity "model".
// power_ columns follow result.rails (then rails only ops mention, sorted); energy_ and feature_
// columns are the union over the ops, sorted; a cell is empty where an op lacks the entry. Numbers
// are the shortest decimals that read back to the same double.
#pragma once

#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace coda::traces {

inline constexpr const char* kOpTraceCsvVersionLine = "# coda op trace v1";

// Writes `result.ops` to `path` atomically. A result that fails check_result throws
// std::logic_error; a path that cannot be written throws BadInput.
void write_op_trace_csv(const std::string& path, const sim::SimResult& result);

// The records of an op trace written by write_op_trace_csv. Throws BadInput naming the file (and
// the line and column where it applies): a first line other than the version line, a missing,
// repeated or unknown column, a row with the wrong number of fields, a cell that is not a finite
// number (or integer) where one belongs, a negative time or count, a batch below 1, a fidelity
// other than model, rtl or measured. Empty power_, energy_ and feature_ cells leave the entry out
// of the record.
std::vector<sim::OpRecord> read_op_trace_csv(const std::string& path);

}  // namespace coda::traces
