// A configuration applied to the graphs one command runs: checks it against each prepared graph,
// prunes for pruning knobs, calibrates activation ranges once when a knob needs them and the
// configuration has none, and installs the approximate kernels into executors. `coda run`,
// `coda eval` and the classifier evaluation share it, so every path applies a configuration the
// same way.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_plan.h"

namespace coda {

class ApproxSession {
 public:
  ApproxSession(ApproxConfig config, const KnobCatalog& catalog, std::uint64_t seed);
  ~ApproxSession();
  ApproxSession(const ApproxSession&) = delete;
  ApproxSession& operator=(const ApproxSession&) = delete;

  // Calibration inputs (a list of input lists for Executor::run on the given prepared graph),
  // asked for once, when a knob needs activation ranges that the configuration lacks.
  using CalibrationSource = std::function<std::vector<std::vector<Tensor>>(const Graph& prepared)>;
  void set_calibration_source(CalibrationSource source) { calibration_ = std::move(source); }

  // The checked per-node choices for a prepared graph (BadInput naming the configuration file).
  std::vector<OpChoice> resolve(const Graph& prepared) const;
  // Applies the pruning knobs of the configuration to a prepared graph; false if it has none.
  bool apply_pruning(Graph& prepared) const;
  // Makes `executor` (running `prepared`) compute the configured knobs. The kernels live as long
  // as the session.
  void install(const Graph& prepared, Executor& executor);

  const ApproxConfig& config() const { return config_; }
  // Calibrated or configured activation ranges by node name.
  const std::map<std::string, OpRanges>& ranges() const { return ranges_; }
  // Whether calibration ran (ranges then come from data, not from the configuration).
  bool calibrated() const { return calibrated_; }

 private:
  ApproxConfig config_;
  const KnobCatalog& catalog_;
  std::uint64_t seed_;
  CalibrationSource calibration_;
  std::map<std::string, OpRanges> ranges_;
  bool calibrated_ = false;
  std::vector<std::unique_ptr<ApproxPlan>> plans_;
};

}  // namespace coda
