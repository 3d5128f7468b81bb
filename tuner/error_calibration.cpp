// ApproxCaliper's error calibration (see error_calibration.h).
#include "tuner/error_calibration.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "kernels/error.h"

namespace coda::tuner {

namespace {

// Outliers are gross misreadings; beyond one in two frames the estimator is simply broken, so
// the search needs to go no further.
constexpr double kOutlierProbabilityRange = 0.5;

// All non-negative integer vectors of `dimensions` entries summing to `total`.
void lattice_points(int dimensions, int total, std::vector<int>& prefix, std::vector<std::vector<int>>& out) {
  if (static_cast<int>(prefix.size()) == dimensions - 1) {
    prefix.push_back(total);
    out.push_back(prefix);
    prefix.pop_back();
    return;
  }
  for (int k = total; k >= 0; --k) {
    prefix.push_back(k);
    lattice_points(dimensions, total - k, prefix, out);
    prefix.pop_back();
  }
}

}  // namespace

ErrorModel ErrorModel::make(const std::string& name, double view_degrees) {
  if (!(view_degrees > 0) || !std::isfinite(view_degrees))
    throw BadInput("error model '" + name + "': the estimator's range must be a positive number of degrees");
  ErrorModel model;
  model.name_ = name;
  model.view_degrees_ = view_degrees;
  // Sigma and bias are searched up to the estimator's whole range: an error that large means the
  // estimate carries no information, so the boundary of any useful region lies inside.
  const ErrorParameter sigma{"sigma_deg", "standard deviation of Gaussian noise added to each estimate (degrees)",
                             view_degrees};
  const ErrorParameter bias{"bias_deg", "constant offset added to each estimate (degrees)", view_degrees};
  if (name == "gaussian") {
    model.parameters_ = {sigma, bias};
  } else if (name == "outlier") {
    model.parameters_ = {sigma, bias,
                         {"outlier_probability", "probability that an estimate is replaced by a uniform draw over "
                                                 "the estimator's range", kOutlierProbabilityRange}};
  } else {
    std::string known;
    for (const std::string& n : names()) known += (known.empty() ? "" : ", ") + n;
    throw BadInput("--error-model: unknown error model '" + name + "' (known: " + known + ")");
  }
  return model;
}

std::vector<std::string> ErrorModel::names() { return {"gaussian", "outlier"}; }

EstimateCorruption ErrorModel::corruption(const std::vector<double>& values) const {
  if (values.size() != parameters_.size())
    throw BadInput("error model '" + name_ + "' takes " + std::to_string(parameters_.size()) + " parameters, got " +
                   std::to_string(values.size()));
  const double sigma = values[0], bias = values[1];
  const double outlier = values.size() > 2 ? values[2] : 0.0;
  const double view = view_degrees_;
  return [sigma, bias, outlier, view](float estimate, std::mt19937_64& rng) {
    // Always the same three draws, so settings differ only in how they use them.
    const double z = standard_normal(rng);
    const double pick = uniform01(rng), replacement = uniform01(rng);
    if (pick < outlier) return static_cast<float>(view * (2.0 * replacement - 1.0));
    return static_cast<float>(static_cast<double>(estimate) + bias + sigma * z);
  };
}

std::vector<std::vector<double>> orthant_directions(int dimensions, int divisions) {
  if (dimensions < 1) throw BadInput("error region search needs at least one parameter");
  if (divisions < 1) throw BadInput("error region search needs at least one division per axis, got " +
                                    std::to_string(divisions));
  std::vector<std::vector<int>> points;
  std::vector<int> prefix;
  lattice_points(dimensions, dimensions == 1 ? 1 : divisions, prefix, points);
  std::vector<std::vector<double>> directions;
  for (const std::vector<int>& point : points) {
    double norm = 0;
    for (int k : point) norm += static_cast<double>(k) * k;
    norm = std::sqrt(norm);
    std::vector<double> unit;
    for (int k : point) unit.push_back(static_cast<double>(k) / norm);
    directions.push_back(unit);
  }
  return directions;
}

bool BisectionResult::saturated() const { return std::isinf(failing); }

BisectionResult bisect_boundary(const std::function<bool(double t)>& holds, double t_max, double tolerance) {
  if (!(t_max > 0) || !(tolerance > 0)) throw BadInput("bisection needs a positive range and tolerance");
  BisectionResult result;
  result.passing = 0;
  result.failing = std::numeric_limits<double>::infinity();
  ++result.evaluations;
  if (holds(t_max)) {
    result.passing = t_max;
    return result;
  }
  result.failing = t_max;
  while (result.failing - result.passing > tolerance) {
    const double middle = 0.5 * (result.passing + result.failing);
    ++result.evaluations;
    if (holds(middle)) result.passing = middle;
    else result.failing = middle;
  }
  return result;
}

std::vector<BoundaryPoint> search_error_region(const std::function<bool(const std::vector<double>&)>& qos_holds,
                                               const std::vector<double>& ranges,
                                               const std::vector<std::vector<double>>& directions, double tolerance) {
  std::vector<BoundaryPoint> boundary;
  auto at = [&](const std::vector<double>& direction, double t) {
    std::vector<double> parameters(ranges.size());
    for (std::size_t i = 0; i < ranges.size(); ++i) parameters[i] = t * direction[i] * ranges[i];
    return parameters;
  };
  for (const std::vector<double>& direction : directions) {
    if (direction.size() != ranges.size())
      throw BadInput("error region search: a direction has " + std::to_string(direction.size()) +
                     " components for " + std::to_string(ranges.size()) + " parameters");
    BoundaryPoint point;
    point.direction = direction;
    point.bisection = bisect_boundary([&](double t) { return qos_holds(at(direction, t)); }, 1.0, tolerance);
    point.parameters = at(direction, point.bisection.passing);
    boundary.push_back(point);
  }
  return boundary;
}

CalibrationReport calibrate_errors(const SteeringApp& app, const HeadingEstimator& estimator, const ErrorModel& model,
                                   const CalibrationOptions& options,
                                   const std::function<void(int done, int total)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  CalibrationReport report;
  report.error_model = model.name();
  report.parameters = model.parameters();
  report.episodes = app.params.episodes;
  report.max_collisions = app.params.max_collisions;

  const SteeringResult exact = run_steering(app, estimator);
  ++report.simulations;
  report.exact_l1_deg = exact.mean_abs_error_deg;
  report.exact_collisions = exact.collisions;
  if (!exact.qos_holds(app.params.max_collisions))
    throw BadInput(app.source + ": the exact network alone collides in " + std::to_string(exact.collisions) + " of " +
                   std::to_string(exact.episodes) + " episodes (at most " +
                   std::to_string(app.params.max_collisions) + " allowed); there is no error budget to calibrate");

  std::vector<double> ranges;
  for (const ErrorParameter& p : model.parameters()) ranges.push_back(p.range);
  const std::vector<std::vector<double>> directions =
      orthant_directions(static_cast<int>(ranges.size()), options.divisions);

  int done = 0;
  for (const std::vector<double>& direction : directions) {
    // The run at the last passing point, kept for its L1; failing runs stop at the first
    // collision beyond the allowance, since their verdict is known then.
    SteeringResult best = exact;
    double best_t = 0;
    auto parameters_at = [&](double t) {
      std::vector<double> parameters(ranges.size());
      for (std::size_t i = 0; i < ranges.size(); ++i) parameters[i] = t * direction[i] * ranges[i];
      return parameters;
    };
    auto holds = [&](double t) {
      SteeringOptions run;
      run.corruption = model.corruption(parameters_at(t));
      run.stop_after_collisions = app.params.max_collisions + 1;
      SteeringResult result = run_steering(app, estimator, run);
      ++report.simulations;
      const bool ok = result.qos_holds(app.params.max_collisions);
      if (ok && t >= best_t) {
        best = result;
        best_t = t;
      }
      return ok;
    };
    BoundaryPoint found;
    found.direction = direction;
    found.bisection = bisect_boundary(holds, 1.0, options.tolerance);
    found.parameters = parameters_at(found.bisection.passing);
    BudgetDirection entry;
    entry.boundary = found;
    entry.l1_deg = best.mean_abs_error_deg;
    entry.collisions = best.collisions;
    report.directions.push_back(entry);
    if (progress) progress(++done, static_cast<int>(directions.size()));
  }

  report.l1_budget_deg = std::numeric_limits<double>::infinity();
  for (const BudgetDirection& d : report.directions) {
    report.l1_budget_deg = std::min(report.l1_budget_deg, d.l1_deg);
    report.largest_boundary_l1_deg = std::max(report.largest_boundary_l1_deg, d.l1_deg);
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

std::string calibration_report_json(const CalibrationReport& report, const std::string& model_path,
                                    const std::string& app_path) {
  using nlohmann::json;
  json parameters = json::array();
  for (const ErrorParameter& p : report.parameters)
    parameters.push_back({{"name", p.name}, {"meaning", p.meaning}, {"searched_up_to", p.range}});
  json directions = json::array();
  for (const BudgetDirection& d : report.directions) {
    json at = json::object();
    for (std::size_t i = 0; i < report.parameters.size(); ++i)
      at[report.parameters[i].name] = d.boundary.parameters[i];
    directions.push_back({{"direction", d.boundary.direction},
                          {"boundary", at},
                          {"ray_passing", d.boundary.bisection.passing},
                          {"ray_failing", d.boundary.bisection.saturated() ? json(nullptr)
                                                                           : json(d.boundary.bisection.failing)},
                          {"beyond_searched_range", d.boundary.bisection.saturated()},
                          {"evaluations", d.boundary.bisection.evaluations},
                          {"l1_deg", d.l1_deg},
                          {"collisions", d.collisions}});
  }
  json out = {
      {"model", model_path},
      {"application", app_path},
      {"qos", {{"metric", "collisions"}, {"episodes", report.episodes}, {"max_collisions", report.max_collisions}}},
      {"error_model", report.error_model},
      {"parameters", parameters},
      {"exact", {{"l1_deg", report.exact_l1_deg}, {"collisions", report.exact_collisions}}},
      {"region", directions},
      {"budget",
       {{"metric", "l1"},
        {"unit", "deg"},
        {"max_l1", report.l1_budget_deg},
        {"rule", "smallest L1 (network + injected error vs. true heading) at the region's boundary over all "
                 "searched directions, so the QoS holds for any searched mix of the modelled errors"},
        {"largest_boundary_l1", report.largest_boundary_l1_deg},
        {"headroom_over_exact_l1", report.l1_budget_deg - report.exact_l1_deg}}},
      {"simulations", report.simulations},
      {"seconds", report.seconds},
  };
  return out.dump(2) + "\n";
}

}  // namespace coda::tuner
