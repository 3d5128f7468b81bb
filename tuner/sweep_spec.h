// A sweep spec (`coda sweep --spec sweep.yaml`): the axes of a design space -- any platform key by
// the dotted paths of `--set`, networks, approximation configurations or knob policies, DVFS points,
// batch sizes -- a design over them (full grid, seeded random sampling, seeded Latin hypercube) and
// the evaluator that measures each point (the SystemC simulator, or a fitted predictor).
//
//   name: resnet18-codesign
//   evaluator: sim                      # or predictor:tx2-predictor.json
//   platform: my-soc.yaml               # optional; default the built-in tx2.yaml
//   set: [cpu.freq_mhz=2035.2]          # optional overrides applied to every point first
//   network: zoo:resnet18               # defaults for what is not an axis
//   config: exact
//   batch: 1
//   placement: configured               # or auto
//   seed: 1                             # simulator noise and the random/LHS designs
//   batch_points: 16                    # points per database transaction
//   design: {kind: grid}                # or {kind: random, points: 200} / {kind: lhs, points: 200}
//   axes:
//     - set: promise.banks
//       values: [64, 128, 256]
//     - set: [lightnn.rows, lightnn.cols]   # keys moved together; the axis is named "lightnn.rows+lightnn.cols" unless `name:` says otherwise
//       values: [8, 16, 32]
//     - set: dram.bandwidth_gbs
//       range: [12.8, 59.7]             # grid: `steps` values evenly spaced; random/LHS: drawn from the range
//       steps: 4
//       log: false
//       integer: false
//     - set: gpu.freq_mhz
//       values: dvfs                    # every step of the unit's DVFS table
//     - network: [zoo:resnet18, zoo:mobilenet_v1]
//     - config: [exact, knob:3, knob:81, tuned.json, curve.json#conf4]
//     - batch: [1, 8]
//
// Relative file paths (platform, predictor, configurations, curves, ONNX models) are read relative
// to the spec file's directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace coda::tuner {

enum class SweepAxisKind { Platform, Network, Config, Batch };

struct SweepAxis {
  std::string name;                 // column name: "promise.banks", "network", "config", "batch" or `name:`
  SweepAxisKind kind = SweepAxisKind::Platform;
  std::vector<std::string> keys;    // Platform axes: the keys set together
  // Discrete values as text (numbers in shortest round-trip form), `dvfs` expanded into the
  // table's steps and a grid over a `range` expanded into its `steps` values.
  std::vector<std::string> values;
  // A `range:` axis: random and LHS designs draw from [low, high] (log-uniformly with `log`,
  // rounded with `integer`); a grid uses `values`.
  bool continuous = false;
  double low = 0, high = 0;
  bool log_scale = false;
  bool integer = false;
};

enum class SweepDesignKind { Grid, Random, LatinHypercube };

struct SweepSpec {
  std::string source;               // the spec file (or "<text>")
  std::string directory;            // where relative paths are resolved ("" = current directory)
  std::string text;                 // the YAML as read, stored in the database
  std::string name;
  std::string evaluator = "sim";    // "sim" or "predictor:PATH" (PATH resolved)
  std::string platform;             // base platform file, resolved ("" = built-in tx2.yaml)
  std::vector<std::string> fixed_sets;
  std::string network = "zoo:resnet18";  // used when no network axis
  std::string config = "exact";          // used when no config axis
  int batch = 1;                          // used when no batch axis
  std::string placement = "configured";
  std::uint64_t seed = 0;
  int batch_points = 16;
  SweepDesignKind design = SweepDesignKind::Grid;
  int64_t design_points = 0;        // random / LHS sample count
  std::vector<SweepAxis> axes;

  bool uses_predictor() const { return evaluator.rfind("predictor:", 0) == 0; }
  std::string predictor_path() const { return uses_predictor() ? evaluator.substr(10) : std::string(); }
  std::vector<std::string> axis_names() const;

  // Network and configuration values are kept as written (points, keys and exports do not depend
  // on where the spec lies); these resolve their file paths against `directory` for loading.
  // Zoo specs, "exact" and "knob:ID" are returned unchanged; "CURVE.json#confN" keeps its suffix.
  std::string resolved_network(const std::string& value) const;
  std::string resolved_config(const std::string& value) const;

  // Throws BadInput "SOURCE: problem" for malformed YAML, unknown keys (top level, design, axis),
  // empty or duplicate axes, bad values, a design without points, an unknown evaluator, and
  // `values: dvfs` on a key that is not a unit clock. Platform keys themselves are checked by
  // SweepEvaluator::validate against the platform.
  static SweepSpec parse(const std::string& yaml_text, const std::string& source, const std::string& directory);
  static SweepSpec load(const std::string& path);
};

// One point of the design: a value per axis (in axis order), as text.
struct SweepPoint {
  int64_t index = 0;
  std::vector<std::string> values;
};

// The design's points: the full grid (last axis fastest), or `design_points` seeded random or Latin
// hypercube samples (each axis cut into that many strata, one sample per stratum, strata paired at
// random; a discrete axis maps a stratum to its value by position). Same spec, same points.
std::vector<SweepPoint> make_design(const SweepSpec& spec);

}  // namespace coda::tuner
