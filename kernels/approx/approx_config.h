// Approximation configurations: which knob each op runs and on which unit. A configuration is a
// JSON file:
//   {"default": {"knob": 12, "unit": "gpu"},
//    "ops": {"conv1": {"knob": 121}, "fc1": {"knob": 3, "unit": "promise"}},
//    "ranges": {"fc1": {"input": [-1.2, 4.0], "output": [-8.5, 9.1]}}}
// "default" applies to every op not listed for which its knob applies (others run exactly);
// a listed op without a unit runs on the unit its knob needs (promise, lightnn) or the default's.
// "all": {"knob": 1} puts one knob on every op it applies to (any knob, PROMISE and shift-add
// included, on the unit it needs); listed ops still take precedence.
// "ranges" are calibrated activation ranges for PROMISE and fixed-point knobs (coda calibrates
// them on data when absent).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/graph.h"

namespace coda {

enum class Unit { Cpu, Gpu, Promise, LightNN };
const char* unit_name(Unit unit);
// Throws BadInput "unknown unit 'x' (expected cpu, gpu, promise or lightnn)".
Unit parse_unit(const std::string& text);

struct OpChoice {
  int knob = 11;
  Unit unit = Unit::Gpu;
  bool operator==(const OpChoice& other) const { return knob == other.knob && unit == other.unit; }
};

struct ApproxConfig {
  OpChoice defaults;
  bool default_unit_given = false;
  bool has_all = false;
  OpChoice all;
  bool all_unit_given = false;
  std::map<std::string, OpChoice> ops;
  std::map<std::string, bool> unit_given;  // per listed op: whether "unit" was written
  std::map<std::string, OpRanges> ranges;
  std::string source = "configuration";

  static ApproxConfig parse(const std::string& json_text, const std::string& source);
  static ApproxConfig load(const std::string& path);
  // The JSON form parse() reads.
  std::string to_json() const;
};

// One checked choice per node of a prepared graph (same order as graph.nodes). Throws BadInput
// "C.json: ..." for an op name the graph lacks, a knob the catalog lacks or that does not apply
// to the op, or a unit the knob cannot run on.
std::vector<OpChoice> resolve_config(const ApproxConfig& config, const Graph& graph, const KnobCatalog& catalog);

}  // namespace coda
