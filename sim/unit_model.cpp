#include "sim/unit_model.h"

#include <algorithm>
#include <map>

#include "kernels/error.h"

namespace coda::sim {
namespace {

std::map<std::string, std::unique_ptr<UnitModel>>& registry() {
  static std::map<std::string, std::unique_ptr<UnitModel>> models;
  return models;
}

}  // namespace

void register_unit_model(const std::string& name, std::unique_ptr<UnitModel> model) {
  registry()[name] = std::move(model);
}

const UnitModel& unit_model(const std::string& name) {
  auto it = registry().find(name);
  if (it == registry().end()) throw BadInput("unknown unit '" + name + "'");
  return *it->second;
}

std::vector<std::string> unit_model_names() {
  std::vector<std::string> names;
  for (const char* general : {"cpu", "gpu"})
    if (registry().count(general)) names.push_back(general);
  for (const auto& [name, model] : registry())
    if (name != "cpu" && name != "gpu") names.push_back(name);
  return names;
}

GemmTraffic gemm_traffic(const OpWorkload& workload, double cache_bytes, double row_tiles, double column_tiles) {
  GemmTraffic traffic;
  // Half the cache for each operand: a tile of the other one streams through the rest.
  double share = cache_bytes / 2;
  double input_reads = workload.input_bytes <= share ? 1.0 : std::max(1.0, column_tiles);
  double weight_reads = workload.weight_bytes <= share ? 1.0 : std::max(1.0, row_tiles);
  traffic.read_bytes = workload.input_bytes * input_reads + workload.weight_bytes * weight_reads;
  traffic.write_bytes = workload.output_bytes;
  return traffic;
}

}  // namespace coda::sim
