// The per-op table and the summary `coda simulate` and `coda predict` print for a result.
#pragma once

#include <string>

#include "sim/sim_result.h"

namespace coda::cli {

std::string si_seconds(double seconds);  // "27.193 ms", "12.40 us"
std::string si_joules(double joules);

void print_op_table(const sim::SimResult& result);

// Simulated results also have temperatures, DVFS events and simulation speed; predicted ones
// only latency, energy, power and utilisation.
enum class ResultKind { Simulated, Predicted };
void print_result_summary(const sim::SimResult& result, ResultKind kind);

}  // namespace coda::cli
