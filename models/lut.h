// Energy/latency lookup tables over layer configurations x knobs x units x DVFS points, for NAS
// and scheduling tools: answered by a fitted predictor (fast, millions of rows) or by the SoC
// model itself (exact, ~10k rows a second). Rows follow the space's layers in order, then units,
// knobs and clocks, so a table is reproducible and diffable.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "models/layer_predictor.h"
#include "models/layer_space.h"
#include "sim/platform.h"

namespace coda::models {

struct LutRow {
  std::size_t layer = 0;     // index into LutTable::layers
  std::string unit;
  int knob = 11;
  double freq_mhz = 0;
  double latency_s = 0;
  double power_w = 0;        // average power on the main rail (VDD_IN) while the layer runs
  double energy_j = 0;       // power_w * latency_s
};

struct LutTable {
  std::string source;        // "predictor FILE (kind)" or "simulator on PLATFORM"
  std::string rail;          // the rail power_w is read on
  std::vector<LayerConfig> layers;
  std::vector<LutRow> rows;
  std::vector<std::string> skipped;  // "layer: reason", points no model covers or no unit runs
};

struct LutOptions {
  std::uint64_t seed = 1;
  std::function<void(int64_t, int64_t)> progress;  // rows done, total
};

// With a predictor (platform: unit clocks only through the space's DVFS points).
LutTable build_lut(const LayerSpace& space, const sim::Platform& platform, const LayerPredictor& predictor,
                   const std::string& predictor_name, const LutOptions& options);
// Every row simulated on the SoC model.
LutTable build_lut(const LayerSpace& space, const sim::Platform& platform, const LutOptions& options);

// Writers (atomic). CSV: one row per entry with the layer's shape columns. JSON: {"schema":
// "coda-lut", "version": 1, "layers": [...], "rows": [...]}. Single-Path NAS: {"<layer index>":
// {"<choice index>": milliseconds}} with the choices (unit, knob, clock) in a legend file
// PATH.legend.json beside it.
void write_lut_csv(const LutTable& table, const std::string& path);
void write_lut_json(const LutTable& table, const std::string& path);
void write_lut_singlepath(const LutTable& table, const std::string& path);

}  // namespace coda::models
