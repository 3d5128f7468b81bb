// write_sweep_csv: the export of a sweep's results for spreadsheets and pandas.
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "traces/csv_text.h"
#include "traces/number_text.h"
#include "traces/results_store.h"

namespace coda::traces {
namespace {

// Shortest round-trip text; an empty cell for NaN (a metric an error record does not have), which
// spreadsheets and pandas read as missing.
std::string number_cell(double value) { return std::isnan(value) ? "" : number_text(value); }

std::string axis_cell(const nlohmann::json& point, const std::string& axis) {
  auto value = point.find(axis);
  if (value == point.end() || value->is_null()) return "";
  if (value->is_string()) return value->get<std::string>();
  return value->dump();  // numbers in nlohmann's shortest round-trip form, booleans as true/false
}

}  // namespace

void write_sweep_csv(const std::vector<SweepRecord>& records, const std::vector<std::string>& axes,
                     const std::string& path) {
  std::set<std::string> breakdown_columns;  // "kind.name", sorted
  for (const SweepRecord& record : records)
    for (const auto& [kind, values] : record.breakdown)
      for (const auto& entry : values) breakdown_columns.insert(kind + "." + entry.first);

  std::vector<std::string> header = axes;
  for (const char* column : {"key", "index", "status", "error", "latency_s", "energy_j", "ops_energy_j",
                             "idle_energy_j", "avg_power_w", "peak_temp_c", "simulated_cycles", "edp_js"})
    header.emplace_back(column);
  header.insert(header.end(), breakdown_columns.begin(), breakdown_columns.end());
  std::string text = csv_line(header);

  for (const SweepRecord& record : records) {
    nlohmann::json point = axes.empty() ? nlohmann::json::object()
                                        : nlohmann::json::parse(record.point, nullptr, /*allow_exceptions=*/false);
    if (!point.is_object())
      throw BadInput(path + ": point " + record.key + " is not a JSON object: " + record.point);
    std::vector<std::string> row;
    row.reserve(header.size());
    for (const std::string& axis : axes) row.push_back(axis_cell(point, axis));
    row.push_back(record.key);
    row.push_back(std::to_string(record.index));
    row.push_back(record.status);
    row.push_back(record.error);
    for (double value : {record.latency_s, record.energy_j, record.ops_energy_j, record.idle_energy_j,
                         record.avg_power_w, record.peak_temp_c})
      row.push_back(number_cell(value));
    row.push_back(std::to_string(record.simulated_cycles));
    row.push_back(number_cell(record.energy_j * record.latency_s));
    for (const std::string& column : breakdown_columns) {
      std::size_t dot = column.find('.');
      std::string cell;
      // Split at the first dot: kinds are fixed identifiers without dots, names may have them.
      auto kind = record.breakdown.find(column.substr(0, dot));
      if (kind != record.breakdown.end()) {
        auto value = kind->second.find(column.substr(dot + 1));
        if (value != kind->second.end()) cell = number_cell(value->second);
      }
      row.push_back(cell);
    }
    text += csv_line(row);
  }
  write_file_atomically(path, text);
}

}  // namespace coda::traces
