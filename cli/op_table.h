// Per-op tables shared by `coda inspect` and `coda run --profile`.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/executor.h"

namespace coda::cli {

void print_op_table(const Graph& graph, const std::vector<NodeReport>& reports);
nlohmann::json op_table_json(const Graph& graph, const std::vector<NodeReport>& reports);
// Per-node wall time, then the time per op type, largest first.
void print_profile(const Graph& graph, const std::vector<double>& node_seconds);

}  // namespace coda::cli
