// Turns a checked configuration into running kernels: one approximate kernel per node whose knob
// changes its arithmetic, installed into an Executor. Graph-transforming knobs (pruning) are
// applied to the graph before the plan is built (kernels/approx/pruning.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/executor.h"

namespace coda {

class ApproxPlan {
 public:
  // `choices` comes from resolve_config on the same (prepared) graph. Nodes whose knob needs
  // calibrated ranges take them from `ranges` (by node name); see missing_ranges().
  ApproxPlan(const Graph& graph, std::vector<OpChoice> choices, const KnobCatalog& catalog, std::uint64_t seed,
             std::map<std::string, OpRanges> ranges = {});
  ~ApproxPlan();
  ApproxPlan(const ApproxPlan&) = delete;
  ApproxPlan& operator=(const ApproxPlan&) = delete;

  // Node indices whose knob needs ranges that were not given. The kernels are built lazily by
  // install(), so calibrate (calibrate_ranges) and set_ranges() first.
  std::vector<std::size_t> missing_ranges() const;
  void set_ranges(std::map<std::string, OpRanges> ranges);
  const std::map<std::string, OpRanges>& ranges() const { return ranges_; }

  // Builds the kernels (once) and makes the executor run them. Throws BadInput if ranges are missing.
  void install(Executor& executor);
  const std::vector<OpChoice>& choices() const { return choices_; }
  const Knob& knob(std::size_t node_index) const;
  // Number of nodes whose knob is not the exact one.
  std::size_t approximated_count() const;

 private:
  const Graph& graph_;
  std::vector<OpChoice> choices_;
  const KnobCatalog& catalog_;
  std::uint64_t seed_;
  std::map<std::string, OpRanges> ranges_;
  std::vector<std::unique_ptr<OpKernel>> kernels_;  // by node index; null = exact
  bool built_ = false;
};

// Activation ranges of the given nodes measured by running the exact graph on `batches` (each
// one input list for Executor::run): the `low_percentile` and `high_percentile` (in %) of the
// node's first input and first output, or the full range for an input that is a graph input
// (PROMISE's calibration, Srivastava et al. 2018 as used by HPVM: 0.1 and 99.9).
std::map<std::string, OpRanges> calibrate_ranges(const Graph& graph, const std::vector<std::vector<Tensor>>& batches,
                                                 const std::vector<std::size_t>& nodes, double low_percentile = 0.1,
                                                 double high_percentile = 99.9);

// The p-th percentile (0..100) of values, by linear interpolation between order statistics
// (numpy's default); reorders `values`.
float percentile(std::vector<float>& values, double p);

}  // namespace coda
