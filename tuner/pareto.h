// Pareto sets over (QoS loss: lower is better, gain: higher is better) and ApproxTuner's PS_eps
// selection (PPoPP 2021, section 4.3): keep the configurations within eps of the Pareto set, eps
// chosen as the largest value that keeps at most a given number of configurations, so that
// empirical validation has enough candidates near the front without measuring everything.
#pragma once

#include <cstddef>
#include <vector>

#include "tuner/search.h"

namespace coda::tuner {

// The non-dominated points, sorted by increasing gain (ties: lower loss first). A point is
// dominated when another has loss <= and gain >= with one strictly better.
std::vector<SearchPoint> pareto_set(const std::vector<SearchPoint>& points);

// Distance in QoS loss from a point to the Pareto set: how much more loss it has than the best
// Pareto point with at least its gain (0 for Pareto points).
double pareto_distance(const SearchPoint& point, const std::vector<SearchPoint>& pareto);

struct EpsSelection {
  std::vector<SearchPoint> points;  // sorted by increasing gain
  double eps = 0.0;
};

// Points with loss <= max_loss + eps and pareto_distance <= eps, with eps the largest value in
// [0, eps_max] that keeps at most `max_count` (binary search on eps); the Pareto points within
// max_loss are always kept (thinned evenly along the gain axis if they alone exceed max_count).
// When even eps = 0 keeps more than max_count, the places the Pareto points leave go to the
// other points at eps = 0, spread evenly along the gain axis.
EpsSelection select_ps_eps(const std::vector<SearchPoint>& points, double max_loss, std::size_t max_count,
                           double eps_max);

}  // namespace coda::tuner
