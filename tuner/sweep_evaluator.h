// Evaluating sweep points: each point's platform (the base file, the spec's fixed overrides, then
// the point's platform axes), its network and configuration at its batch size, measured by the
// simulator or a predictor into a results-store record. Networks are loaded through a loader the
// caller provides (the command line's, which knows ONNX files, the zoo and configuration files)
// and kept for the points that share them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/graph.h"
#include "sim/layer_weight_cache.h"
#include "traces/results_store.h"
#include "tuner/sweep_spec.h"

namespace coda::models { class LayerPredictor; }

namespace coda::tuner {

struct SweepNetwork {
  Graph graph;                      // prepared, bound to the batch, pruned by the configuration
  std::vector<OpChoice> choices;    // one per node
};

// (model, config, batch) -> network. `config` is a spec config value with paths already resolved:
// "exact", "knob:ID", a configuration file, or "CURVE.json#confN". Throws BadInput naming the
// file and the problem.
using SweepNetworkLoader = std::function<SweepNetwork(const std::string& model, const std::string& config, int batch)>;

class SweepEvaluator {
 public:
  SweepEvaluator(const SweepSpec& spec, SweepNetworkLoader loader);
  ~SweepEvaluator();

  // Everything that identifies the sweep's results besides the axis values: coda version,
  // evaluator (with a digest of the predictor file), base platform (digest of its text), fixed
  // overrides, placement, seed, defaults, and the axis names. Equal for the shards and ranks of one
  // sweep; a database holding another sweep is refused.
  const std::string& sweep_id() const { return sweep_id_; }
  // 16 hex digits: FNV-1a of the sweep id and the point's canonical JSON.
  std::string key(const SweepPoint& point) const;
  // {"axis": "value", ...} in axis order.
  std::string point_json(const SweepPoint& point) const;

  // Checks, before any evaluation, that every point can be evaluated: its platform overrides apply
  // (unknown keys, values the platform rejects, clocks that are not DVFS steps), its network and
  // configuration load, no op is placed on a unit the platform lacks, the predictor covers every
  // op and no axis changes what the predictor cannot see (only unit clocks reach a predictor).
  // Throws BadInput "SOURCE: point N (axis=value, ...): problem" for the first that cannot (N is
  // the point's index). Simulates nothing: each platform and network is only read once.
  void validate(const std::vector<SweepPoint>& points);

  // "model|config|batch": points with the same one share a loaded network.
  std::string network_key(const SweepPoint& point) const;

  // Loads the networks of the first points (as many as the evaluator keeps) with their weight
  // statistics, so that evaluation starts warm; MPI workers do this while rank 0 validates. Points
  // that cannot be set up are skipped (validation reports them).
  void warm_up(const std::vector<SweepPoint>& points);

  // Evaluates one point. Problems the point itself causes at evaluation time become a record
  // with status "error" (the sweep goes on); simulator seeds derive from the spec seed and the
  // point's key, so a point's result does not depend on which process or rank evaluates it or when.
  traces::SweepRecord evaluate(const SweepPoint& point);

 private:
  struct PointSetup {
    std::vector<std::string> overrides;  // fixed sets, then the point's platform axes
    std::string model, config;           // as written in the spec
    int batch = 1;
  };
  PointSetup setup_of(const SweepPoint& point) const;
  // A loaded network with the weight statistics the simulator keeps for it across points.
  struct CachedNetwork {
    SweepNetwork network;
    sim::LayerWeightCache weights;
  };
  CachedNetwork& network_for(const std::string& model, const std::string& config, int batch);

  SweepSpec spec_;
  SweepNetworkLoader loader_;
  std::string sweep_id_;
  std::string platform_text_;    // the base platform file, read once
  std::string platform_source_;
  std::unique_ptr<models::LayerPredictor> predictor_;
  std::map<std::string, CachedNetwork> networks_;  // "model|config|batch", a few kept
  std::vector<std::string> network_order_;        // networks_ keys, least recently used first
};

}  // namespace coda::tuner
