#include "tuner/pareto.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace coda::tuner {
namespace {

void check_finite(const std::vector<SearchPoint>& points, const char* function) {
  for (const SearchPoint& p : points)
    if (std::isnan(p.qos_loss) || std::isnan(p.gain))
      throw std::invalid_argument(std::string(function) + ": a point has a NaN QoS loss or gain");
}

bool by_gain_then_loss(const SearchPoint& a, const SearchPoint& b) {
  if (a.gain != b.gain) return a.gain < b.gain;
  return a.qos_loss < b.qos_loss;
}

// `count` points of `sorted` (sorted by gain, more than `count` of them) spread evenly along the
// gain axis: for each of `count` evenly spaced gain targets from the lowest to the highest, the
// nearest point not taken yet. With one to keep, the highest gain.
std::vector<SearchPoint> thin_along_gain(const std::vector<SearchPoint>& sorted, std::size_t count) {
  std::vector<bool> taken(sorted.size(), false);
  double low = sorted.front().gain, high = sorted.back().gain;
  for (std::size_t i = 0; i < count; ++i) {
    double target = count == 1 ? high : low + (high - low) * static_cast<double>(i) / static_cast<double>(count - 1);
    std::size_t best = sorted.size();
    for (std::size_t j = 0; j < sorted.size(); ++j) {
      if (taken[j]) continue;
      if (best == sorted.size() || std::abs(sorted[j].gain - target) < std::abs(sorted[best].gain - target)) best = j;
    }
    taken[best] = true;
  }
  std::vector<SearchPoint> kept;
  for (std::size_t j = 0; j < sorted.size(); ++j)
    if (taken[j]) kept.push_back(sorted[j]);
  return kept;
}

}  // namespace

std::vector<SearchPoint> pareto_set(const std::vector<SearchPoint>& points) {
  check_finite(points, "pareto_set");
  std::vector<SearchPoint> sorted = points;
  // Highest gain first; within one gain the lowest loss first.
  std::stable_sort(sorted.begin(), sorted.end(), [](const SearchPoint& a, const SearchPoint& b) {
    if (a.gain != b.gain) return a.gain > b.gain;
    return a.qos_loss < b.qos_loss;
  });
  std::vector<SearchPoint> front;
  // A point survives when no point of higher gain has loss <= its loss and no point of the same
  // gain has a lower loss (equal points do not dominate each other: both stay).
  double lowest_loss_above = std::numeric_limits<double>::infinity();
  for (std::size_t begin = 0; begin < sorted.size();) {
    std::size_t end = begin;
    while (end < sorted.size() && sorted[end].gain == sorted[begin].gain) ++end;
    double group_loss = sorted[begin].qos_loss;
    if (group_loss < lowest_loss_above)
      for (std::size_t i = begin; i < end && sorted[i].qos_loss == group_loss; ++i) front.push_back(sorted[i]);
    lowest_loss_above = std::min(lowest_loss_above, group_loss);
    begin = end;
  }
  std::stable_sort(front.begin(), front.end(), by_gain_then_loss);
  return front;
}

double pareto_distance(const SearchPoint& point, const std::vector<SearchPoint>& pareto) {
  double best_loss = std::numeric_limits<double>::infinity();
  for (const SearchPoint& p : pareto)
    if (p.gain >= point.gain) best_loss = std::min(best_loss, p.qos_loss);
  // No Pareto point reaches its gain: nothing dominates it.
  if (best_loss == std::numeric_limits<double>::infinity()) return 0.0;
  return std::max(0.0, point.qos_loss - best_loss);
}

// A point enters the selection once eps reaches its threshold max(distance, loss - max_loss, 0),
// so the selection only grows with eps and the largest eps keeping at most max_count is found
// exactly on the sorted thresholds (the limit a binary search on eps converges to). When the cap
// binds, the reported eps is the largest threshold kept: the smallest eps giving that selection.
EpsSelection select_ps_eps(const std::vector<SearchPoint>& points, double max_loss, std::size_t max_count,
                           double eps_max) {
  check_finite(points, "select_ps_eps");
  if (max_count == 0) throw std::invalid_argument("select_ps_eps: max_count must be at least 1");
  if (!(eps_max >= 0) || !std::isfinite(eps_max))
    throw std::invalid_argument("select_ps_eps: eps_max must be a finite value >= 0");
  if (std::isnan(max_loss)) throw std::invalid_argument("select_ps_eps: max_loss is NaN");

  std::vector<SearchPoint> front = pareto_set(points);
  std::vector<SearchPoint> feasible_front;
  for (const SearchPoint& p : front)
    if (p.qos_loss <= max_loss) feasible_front.push_back(p);

  std::vector<double> threshold(points.size());
  for (std::size_t i = 0; i < points.size(); ++i)
    threshold[i] = std::max({pareto_distance(points[i], front), points[i].qos_loss - max_loss, 0.0});
  std::vector<double> sorted = threshold;
  std::sort(sorted.begin(), sorted.end());

  EpsSelection selection;
  double limit;  // points with threshold < limit (or <= eps_max) are kept
  bool cap_binds = sorted.size() > max_count && sorted[max_count] <= eps_max;
  if (!cap_binds) {
    selection.eps = eps_max;
    limit = std::nextafter(eps_max, std::numeric_limits<double>::infinity());
  } else {
    limit = sorted[max_count];
    // Everything at eps = 0 already exceeds the cap: keep the feasible Pareto points, and fill
    // the remaining places with the other points at eps = 0 spread evenly along the gain axis.
    // A predicted front can be a few high-gain points that dominate everything (a predictor
    // that sees no loss in them); validation then needs the lower-gain candidates too.
    if (limit <= 0) {
      selection.eps = 0.0;
      if (feasible_front.size() >= max_count) {
        selection.points = thin_along_gain(feasible_front, max_count);
        return selection;
      }
      std::vector<SearchPoint> others;
      for (std::size_t i = 0; i < points.size(); ++i) {
        if (threshold[i] > 0) continue;
        const bool on_front = std::any_of(feasible_front.begin(), feasible_front.end(), [&](const SearchPoint& f) {
          return f.config == points[i].config;
        });
        if (!on_front) others.push_back(points[i]);
      }
      std::stable_sort(others.begin(), others.end(), by_gain_then_loss);
      selection.points = feasible_front;
      if (!others.empty()) {
        const std::size_t room = std::min(others.size(), max_count - feasible_front.size());
        for (SearchPoint& p : thin_along_gain(others, room)) selection.points.push_back(std::move(p));
      }
      std::stable_sort(selection.points.begin(), selection.points.end(), by_gain_then_loss);
      return selection;
    }
    auto first_dropped = std::lower_bound(sorted.begin(), sorted.end(), limit);
    selection.eps = first_dropped == sorted.begin() ? 0.0 : *std::prev(first_dropped);
  }
  for (std::size_t i = 0; i < points.size(); ++i)
    if (threshold[i] < limit) selection.points.push_back(points[i]);
  std::stable_sort(selection.points.begin(), selection.points.end(), by_gain_then_loss);
  return selection;
}

}  // namespace coda::tuner
