#include "models/lut.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <climits>
#include <cstdint>
#include <map>
#include <tuple>

#include "kernels/approx/knob_catalog.h"
#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "models/profiler.h"
#include "sim/op_workload.h"

namespace coda::models {

namespace {

// The space's points, each with the index of its layer.
std::vector<std::pair<std::size_t, ProfilePoint>> lut_points(const LayerSpace& space, const sim::Platform& platform,
                                                             const std::vector<LayerConfig>& layers, std::uint64_t seed) {
  std::vector<std::pair<std::size_t, ProfilePoint>> points;
  for (std::size_t i = 0; i < layers.size(); ++i)
    for (ProfilePoint& point : expand_points(space, platform, {layers[i]}, seed, Expansion::Exhaustive))
      points.push_back({i, std::move(point)});
  return points;
}

// A row from a point's latency and its power per rail, read on the table's rail.
LutRow lut_row(std::size_t layer_index, const ProfilePoint& point, double latency_s,
               const std::map<std::string, double>& power_w, const std::string& rail) {
  LutRow row;
  row.layer = layer_index;
  row.unit = point.unit;
  row.knob = point.knob;
  row.freq_mhz = point.freq_mhz;
  row.latency_s = latency_s;
  auto power = power_w.find(rail);
  row.power_w = power == power_w.end() ? 0.0 : power->second;
  row.energy_j = row.power_w * row.latency_s;
  return row;
}

}  // namespace

LutTable build_lut(const LayerSpace& space, const sim::Platform& platform, const LayerPredictor& predictor,
                   const std::string& predictor_name, const LutOptions& options) {
  LutTable table;
  table.source = "predictor " + predictor_name + " (" + predictor.kind() + ")";
  table.rail = predictor.rails().empty() ? platform.power.input_rail : predictor.rails().front();
  table.layers = draw_layers(space);
  std::vector<std::pair<std::size_t, ProfilePoint>> points = lut_points(space, platform, table.layers, options.seed);
  table.rows.reserve(points.size());

  std::size_t described_layer = SIZE_MAX;
  int described_knob = -1;
  Graph graph;
  std::vector<NodeReport> reports;
  LayerQuery query;
  int64_t done = 0;
  for (const auto& [layer_index, point] : points) {
    if (layer_index != described_layer) {
      graph = layer_graph(table.layers[layer_index], false, options.seed);
      reports = analyse_graph(graph);
      described_layer = layer_index;
      described_knob = -1;
    }
    if (point.knob != described_knob) {
      const Knob& knob = knob_catalog().require(point.knob);
      sim::OpWorkload workload = sim::describe_op(graph, reports.front(), knob);
      query.op_class = op_class(graph.nodes.front().op_type, workload.features);
      query.knob = knob_key(knob.id);
      query.features = std::move(workload.features);
      add_query_features(knob.id, query.features);
      described_knob = point.knob;
    }
    query.unit = point.unit;
    query.freq_mhz = point.freq_mhz;
    if (!predictor.covers(query)) {
      table.skipped.push_back(table.layers[layer_index].describe() + ": no model for " + query.op_class + " on " +
                              query.unit + " with " + query.knob);
    } else {
      LayerEstimate estimate = predictor.predict(query);
      table.rows.push_back(lut_row(layer_index, point, estimate.latency_s, estimate.power_w, table.rail));
    }
    if (options.progress && (++done % 4096 == 0 || done == static_cast<int64_t>(points.size())))
      options.progress(done, static_cast<int64_t>(points.size()));
  }
  return table;
}

LutTable build_lut(const LayerSpace& space, const sim::Platform& platform, const LutOptions& options) {
  LutTable table;
  table.source = "simulator on " + platform.name;
  table.rail = platform.power.input_rail;
  table.layers = draw_layers(space);
  std::vector<std::pair<std::size_t, ProfilePoint>> points = lut_points(space, platform, table.layers, options.seed);
  int64_t done = 0;
  for (const auto& [layer_index, point] : points) {
    try {
      sim::OpRecord record = simulate_point(point, platform, options.seed);
      table.rows.push_back(lut_row(layer_index, point, record.latency_s, record.avg_power_w, table.rail));
    } catch (const BadInput& e) {
      table.skipped.push_back(table.layers[layer_index].describe() + ": " + e.what());
    }
    if (options.progress) options.progress(++done, static_cast<int64_t>(points.size()));
  }
  return table;
}

void write_lut_csv(const LutTable& table, const std::string& path) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), "# coda lut v1, {}, power on {}\n", table.source, table.rail);
  fmt::format_to(std::back_inserter(out),
                 "layer,network,op_class,op_type,batch,in_channels,in_h,in_w,out_channels,kernel,stride,pad,groups,"
                 "unit,knob,knob_name,freq_mhz,latency_ms,power_w,energy_mj\n");
  // The layer and knob columns repeat on every row: format them once.
  std::vector<std::string> layer_text;
  for (std::size_t i = 0; i < table.layers.size(); ++i) {
    const LayerConfig& l = table.layers[i];
    layer_text.push_back(fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}", i, l.network, l.op_class, l.op_type, l.batch,
                                     l.in_channels, l.in_h, l.in_w, l.out_channels, l.kernel, l.stride, l.pad, l.groups));
  }
  std::map<int, std::string> knob_names;
  for (const LutRow& row : table.rows) {
    auto name = knob_names.find(row.knob);
    if (name == knob_names.end()) name = knob_names.emplace(row.knob, knob_catalog().require(row.knob).name).first;
    fmt::format_to(std::back_inserter(out), "{},{},{},{},{},{:.6g},{:.6g},{:.6g}\n", layer_text[row.layer], row.unit, row.knob,
                   name->second, row.freq_mhz, row.latency_s * 1e3, row.power_w, row.energy_j * 1e3);
  }
  write_file_atomically(path, std::string(out.data(), out.size()));
}

namespace {

nlohmann::json layer_json(const LayerConfig& l) {
  return {{"network", l.network}, {"op_class", l.op_class}, {"op_type", l.op_type}, {"batch", l.batch},
          {"in_channels", l.in_channels}, {"in_h", l.in_h}, {"in_w", l.in_w}, {"out_channels", l.out_channels},
          {"kernel", l.kernel}, {"stride", l.stride}, {"pad", l.pad}, {"groups", l.groups}, {"describe", l.describe()}};
}

}  // namespace

void write_lut_json(const LutTable& table, const std::string& path) {
  nlohmann::json doc{{"schema", "coda-lut"}, {"version", 1}, {"source", table.source}, {"rail", table.rail}};
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerConfig& l : table.layers) layers.push_back(layer_json(l));
  doc["layers"] = layers;
  nlohmann::json rows = nlohmann::json::array();
  for (const LutRow& row : table.rows)
    rows.push_back({{"layer", row.layer}, {"unit", row.unit}, {"knob", row.knob}, {"freq_mhz", row.freq_mhz},
                    {"latency_ms", row.latency_s * 1e3}, {"power_w", row.power_w}, {"energy_mj", row.energy_j * 1e3}});
  doc["rows"] = rows;
  doc["skipped"] = table.skipped;
  write_file_atomically(path, doc.dump(1) + "\n");
}

void write_lut_singlepath(const LutTable& table, const std::string& path) {
  // A choice is (unit, knob, clock); its index is the order of first appearance, the same for
  // every layer that offers it.
  std::map<std::tuple<std::string, int, double>, std::size_t> choice_index;
  nlohmann::json choices = nlohmann::json::array();
  nlohmann::json lut = nlohmann::json::object();
  for (const LutRow& row : table.rows) {
    auto key = std::make_tuple(row.unit, row.knob, row.freq_mhz);
    auto it = choice_index.find(key);
    if (it == choice_index.end()) {
      it = choice_index.emplace(key, choice_index.size()).first;
      choices.push_back({{"choice", it->second}, {"unit", row.unit}, {"knob", row.knob},
                         {"knob_name", knob_catalog().require(row.knob).name}, {"freq_mhz", row.freq_mhz}});
    }
    lut[std::to_string(row.layer)][std::to_string(it->second)] = row.latency_s * 1e3;
  }
  nlohmann::json legend{{"schema", "coda-lut-legend"}, {"version", 1}, {"source", table.source}, {"choices", choices}};
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerConfig& l : table.layers) layers.push_back(layer_json(l));
  legend["layers"] = layers;
  write_file_atomically(path + ".legend.json", legend.dump(1) + "\n");
  write_file_atomically(path, lut.dump(1) + "\n");
}

}  // namespace coda::models
