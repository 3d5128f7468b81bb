// Curve::points reduced to their front, shared by tuning runs whose curves are merged (pruned
// models tuned beside the unpruned one).
#include <algorithm>

#include "tuner/curve.h"
#include "tuner/pareto.h"

namespace coda::tuner {

void merge_into_front(Curve& curve) {
  const bool energy = curve.objective == "energy";
  std::vector<SearchPoint> points;
  for (std::size_t i = 0; i < curve.points.size(); ++i) {
    const CurvePoint& p = curve.points[i];
    SearchPoint s;
    s.config = {static_cast<int>(i)};  // the point's index rides along as its "configuration"
    s.qos_loss = curve.higher_is_better ? curve.baseline_qos_calibration - p.qos_calibration
                                        : p.qos_calibration - curve.baseline_qos_calibration;
    s.gain = energy ? p.energy_reduction : p.speedup;
    points.push_back(s);
  }
  std::vector<CurvePoint> kept;
  for (const SearchPoint& s : pareto_set(points)) kept.push_back(curve.points[static_cast<std::size_t>(s.config[0])]);
  for (std::size_t i = 0; i < kept.size(); ++i) kept[i].name = "conf" + std::to_string(i + 1);
  curve.points = std::move(kept);
}

}  // namespace coda::tuner
