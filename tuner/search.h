// The configuration search (ApproxTuner, PPoPP 2021, section 4.3; REFERENCE.md section 7): an
// ensemble of heuristics -- random sampling, hill climbing and NSGA-II (Deb et al. 2002) -- that
// share one budget of objective evaluations and one archive of every configuration evaluated.
// Each round gives the next batch of evaluations to a technique chosen in proportion to how
// often it recently improved the archive (an AUC-bandit as in OpenTuner, which ApproxTuner builds
// on). The search stops at the budget or after `patience` evaluations that neither raised the
// best gain among configurations within the QoS bound nor changed the Pareto set.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tuner/tuning_space.h"

namespace coda::tuner {

// One evaluated configuration: its QoS loss (QosEvaluator::loss against the exact baseline,
// lower is better) and its gain (speedup or energy reduction over the baseline, higher is
// better), both as the objective reported them (predicted or measured).
struct SearchPoint {
  Configuration config;
  double qos_loss = 0.0;
  double gain = 1.0;
  std::string found_by;  // technique that first evaluated it ("seed", "random", "hill", "nsga2")
};

// Evaluates a configuration. Called once per distinct configuration (the archive caches).
using SearchObjective = std::function<SearchPoint(const Configuration&)>;

struct SearchOptions {
  int budget = 30000;        // distinct configurations evaluated at most (ApproxTuner: 30k)
  int patience = 1000;       // stop after this many without improvement (ApproxTuner: 1k)
  double max_loss = 1.0;     // QoS bound the search aims at (points within it count as feasible)
  int population = 32;       // NSGA-II population
  std::uint64_t seed = 1;
};

struct SearchResult {
  std::vector<SearchPoint> evaluated;         // every distinct configuration, in evaluation order
  int evaluations = 0;
  bool stopped_by_patience = false;
  std::map<std::string, int> evaluations_by_technique;
  std::map<std::string, int> improvements_by_technique;
};

// Called after each evaluation: evaluations so far, the budget, the best feasible gain so far.
using SearchProgress = std::function<void(int done, int budget, double best_gain)>;

// The all-zero (exact) configuration is always evaluated first. Throws std::invalid_argument for
// an empty space or options out of range.
SearchResult ensemble_search(const std::vector<int>& choice_counts, const SearchObjective& objective,
                             const SearchOptions& options, const SearchProgress& progress = {});

}  // namespace coda::tuner
