// A tradeoff curve: what `coda tune` ships -- the validated configurations of a model, each with
// its predicted and measured QoS, speedup and energy reduction over the exact baseline, and the
// configuration itself in the --config JSON form. `coda adapt` and `coda report --curve` read it,
// and it exports to the HPVM/ApproxTuner configuration file format (REFERENCE.md section 9).
#pragma once

#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/graph.h"

namespace coda::tuner {

struct CurvePoint {
  std::string name;              // "conf1", "conf2", ... in increasing speedup
  double predicted_qos = 0.0;    // what the search's QoS model said (measured for empirical tuning)
  double qos_calibration = 0.0;  // measured on the calibration split
  double qos_test = 0.0;         // measured on the test split
  double speedup = 1.0;          // baseline latency / latency, by the curve's cost model
  double energy_reduction = 1.0; // baseline energy / energy (NaN when the cost model has none)
  double latency = 0.0;          // the cost model's figures for the configuration
  double energy = 0.0;
  ApproxConfig config;
  // The model the configuration applies to when it is not the curve's: a pruned model from
  // `coda prune --curve`, combined by `coda tune --pruning-curve` ("" = Curve::model).
  std::string model;
};

struct Curve {
  std::string model;             // model file (or zoo spec) the curve was tuned for
  std::vector<std::string> op_names;  // the prepared graph's node names, to check a model matches
  std::string data;              // data spec the QoS was measured on
  std::string phase = "dev";     // "dev" or "install"
  std::string objective = "speed";  // "speed" or "energy"
  std::string cost_model;        // CostModel::name()
  std::string platform;          // platform name ("" for the op-count model)
  std::string tuning = "p2";     // "p1", "p2" or "empirical"
  std::string qos_metric;        // QosEvaluator::name()
  std::string qos_unit;
  bool higher_is_better = true;
  std::string threshold;         // QosThreshold::to_string()
  double max_loss = 0.0;         // the threshold as a loss against the calibration baseline
  double baseline_qos_calibration = 0.0;
  double baseline_qos_test = 0.0;
  double baseline_latency = 0.0;
  double baseline_energy = 0.0;
  double tuning_seconds = 0.0;
  int evaluations = 0;
  std::vector<CurvePoint> points;  // in increasing speedup (or energy reduction for "energy")

  // JSON {"format": "coda-curve", "version": 1, ...}; configurations under "config".
  std::string to_json() const;
  // Throws BadInput "SOURCE: ..." for malformed JSON, another format or version, or bad fields.
  static Curve parse(const std::string& text, const std::string& source);
  static Curve load(const std::string& path);
  // Throws BadInput "SOURCE: curve was tuned for MODEL, whose ops differ from GRAPH's (...)" when
  // the prepared graph's node names differ from op_names.
  void check_matches(const Graph& prepared, const std::string& source) const;
};

// Keeps the points on the front of (calibration QoS loss, gain by the curve's objective), in
// increasing gain, and renames them conf1, conf2, ...
void merge_into_front(Curve& curve);

// HPVM/ApproxTuner configuration file (REFERENCE.md section 9): the baseline time on the first
// line, then per point "+++++", "confN speedup energy accuracy accuracy_loss", one line per op
// ("N gpu conv perf_fp16 155 add fp16 12 relu fp16 12" style: index, unit, op kind, knob name,
// knob id) and "-----".
std::string to_hpvm_config(const Curve& curve, const Graph& prepared);

}  // namespace coda::tuner
