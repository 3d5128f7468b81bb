// A simulation result as JSON: the document `coda simulate --json` prints and `coda predict`
// mirrors ({"latency_s", "energy_j", "avg_power_w": {rail: W}, "ops": [...], ...}).
#pragma once

#include <nlohmann/json.hpp>

#include "sim/sim_result.h"

namespace coda::traces {

nlohmann::json op_record_json(const sim::OpRecord& op);
// Summary and per-op records; the power samples only when `with_samples`.
nlohmann::json sim_result_json(const sim::SimResult& result, bool with_samples = false);

}  // namespace coda::traces
