// ApproxTuner's tuning pipeline (Sharif et al., PPoPP 2021; REFERENCE.md section 7), from data to a
// shipped tradeoff curve:
//   1. the exact network's outputs and QoS on the calibration and test splits;
//   2. predictive tuning: per-(op, knob) profiles with prefix caching, a P1 or P2 QoS predictor
//      whose alpha is fitted on measured random configurations -- or empirical tuning, which
//      measures every candidate (the comparison baseline, same search);
//   3. the ensemble search over the tuning space, gains from a cost model (op counts, fitted
//      predictors or the simulator), speed or energy as the objective;
//   4. PS_eps selection of at most max_configs candidates, measured on the calibration split,
//      kept when within the threshold, then measured on the test split and kept when within the
//      threshold there too; the curve is the Pareto set of what passed.
// The install-time phase re-measures a shipped curve with the target's cost model and adds a
// fresh predictive search over the hardware knobs (PROMISE swing levels, LightNN placement).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/knob_catalog.h"
#include "kernels/graph.h"
#include "kernels/tensor.h"
#include "tuner/cost_model.h"
#include "tuner/curve.h"
#include "tuner/op_profile.h"
#include "tuner/qos.h"
#include "tuner/tuning_space.h"

namespace coda::tuner {

// A data split ready for the model: inputs already preprocessed (N x C x H x W, or N x F for
// flat-input models) and what the QoS metric compares against (labels or targets; the exact
// outputs are computed by the tuner).
struct TuningSplit {
  std::string name;   // "calibration" or "test", in messages
  Tensor inputs;
  QosReference reference;
};

enum class TuningMethod { P1, P2, Empirical };
const char* method_name(TuningMethod method);
// "p1", "p2" or "empirical"; throws BadInput otherwise.
TuningMethod parse_method(const std::string& text);

struct TuneOptions {
  std::string metric = "accuracy";
  QosThreshold threshold;
  TuningMethod method = TuningMethod::P1;
  KnobScope scope = KnobScope::Software;
  Unit baseline_unit = Unit::Gpu;
  std::vector<int> allowed_knobs;     // empty: every knob in scope
  bool energy_objective = false;      // gains as energy reduction instead of speedup
  int budget = 30000;                 // search evaluations (ApproxTuner: 30k)
  int patience = 1000;                // no-improvement stop (ApproxTuner: 1k)
  int alpha_samples = 50;             // measured configurations alpha is fitted on (ApproxTuner: ~50)
  std::size_t max_configs = 50;       // PS_eps keeps at most this many (ApproxTuner: 50)
  int64_t batch = 100;                // inputs per executor run
  std::uint64_t seed = 1;
  // Baseline of another network -- the unpruned one when tuning a pruned model -- that losses
  // and gains are taken against instead of this model's exact figures, so pruned and unpruned
  // configurations share one curve.
  struct Reference {
    double qos_calibration = 0.0, qos_test = 0.0, latency = 0.0, energy = 0.0;
  };
  const Reference* reference = nullptr;
  // Profiles collected beforehand (e.g. on several workers and merged); collected when null.
  const OpProfiles* profiles = nullptr;
};

struct TuneStats {
  double exact_seconds = 0.0;         // exact outputs on both splits
  double profile_seconds = 0.0;
  double alpha_seconds = 0.0;
  double search_seconds = 0.0;
  double validation_seconds = 0.0;
  double total_seconds = 0.0;
  double alpha = 1.0;
  double alpha_r2 = 0.0;
  int evaluations = 0;
  int candidates = 0;                 // PS_eps selection
  int passed_calibration = 0;
  int passed_test = 0;
  double space_size = 0.0;
  std::size_t tunable_ops = 0;
};

// Stage ("exact", "profile", "alpha", "search", "validate"), units done and total.
using TuneProgress = std::function<void(const std::string& stage, int64_t done, int64_t total)>;

// A graph prepared for running `batch` inputs shaped like one sample of `inputs`.
Graph prepare_for_batch(const Graph& model, const Tensor& inputs, int64_t batch);

// Runs the prepared graph with per-node choices over all inputs (in batches of the graph's batch
// size, the last one zero-padded) and returns its first output, one row per input.
Tensor run_configuration(const Graph& prepared, const std::vector<OpChoice>& choices, const KnobCatalog& catalog,
                         const Tensor& inputs, const std::map<std::string, OpRanges>& ranges, std::uint64_t seed);

class Tuner {
 public:
  // `model` unprepared (as loaded); `cost_graph` is the model prepared for one input, which the
  // cost model was made for. Throws BadInput for empty splits or a metric the data cannot serve.
  Tuner(const Graph& model, const Graph& cost_graph, const CostModel& cost, const KnobCatalog& catalog,
        TuningSplit calibration, TuningSplit test, TuneOptions options);
  ~Tuner();
  Tuner(const Tuner&) = delete;
  Tuner& operator=(const Tuner&) = delete;

  void set_progress(TuneProgress progress) { progress_ = std::move(progress); }

  // Development-time tuning (or the fresh search of install time, with options.scope Hardware).
  Curve tune();
  // Install time: the shipped curve's configurations re-measured with this cost model (QoS
  // re-measured too, since hardware knobs' noise may differ), merged with a fresh predictive
  // search over options.scope, validated as in tune(). Throws BadInput when `shipped` does not
  // match the model.
  Curve install(const Curve& shipped);

  // Profiles of the calibration split alone (or a slice [begin, end) of it), for splitting the
  // collection across workers.
  OpProfiles collect_profiles(int64_t begin, int64_t end);

  const TuneStats& stats() const { return stats_; }
  const TuningSpace& space() const;
  double baseline_qos_calibration() const;
  double baseline_qos_test() const;
  // Activation ranges of the quantizing knobs, calibrated on the first calibration inputs.
  const std::map<std::string, OpRanges>& ranges() const;

 private:
  Curve install_or_tune(const Curve* shipped);

  struct Impl;
  std::unique_ptr<Impl> impl_;
  TuneStats stats_;
  TuneProgress progress_;
};

}  // namespace coda::tuner
