// ApproxCaliper's application-aware error calibration (Zhao et al., MLSys 2023): inject
// parameterised errors into a network's output, find the region of error parameters in which the
// application's own QoS still holds by bisection along directions from the origin, and turn the
// region's boundary into an accuracy budget for the network (budgets.json), which tuning and
// pruning may then spend.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tuner/steering.h"

namespace coda::tuner {

struct ErrorParameter {
  std::string name;     // "sigma_deg", "bias_deg", "outlier_probability"
  std::string meaning;  // one line for reports
  double range = 0;     // the search covers [0, range] along this axis
};

// A family of output errors: e = bias + sigma * z (z standard normal) added to every estimate,
// and for "outlier" additionally, with probability p, the estimate replaced by a uniform draw
// over the estimator's range (a gross misreading). Each corrupted estimate always consumes the
// same draws (z, then two uniforms) whatever the parameters, so that different settings see the
// same random numbers.
class ErrorModel {
 public:
  // "gaussian" (sigma_deg, bias_deg) or "outlier" (sigma_deg, bias_deg, outlier_probability).
  // `view_degrees` bounds the estimates (the range the network was trained on) and the search of
  // sigma and bias. Throws BadInput naming the known models for any other name.
  static ErrorModel make(const std::string& name, double view_degrees);
  static std::vector<std::string> names();

  const std::string& name() const { return name_; }
  const std::vector<ErrorParameter>& parameters() const { return parameters_; }
  // The corruption for one parameter setting (one value per parameter).
  EstimateCorruption corruption(const std::vector<double>& values) const;

 private:
  std::string name_;
  double view_degrees_ = 0;
  std::vector<ErrorParameter> parameters_;
};

// Unit vectors in the non-negative orthant of `dimensions`-space spread evenly: the points of
// the simplex lattice {k / divisions, sum = 1} normalised to length 1 (2-D, 4 divisions: 0, 22.5
// ... 90 degrees... as 5 directions). Throws BadInput for dimensions < 1 or divisions < 1.
std::vector<std::vector<double>> orthant_directions(int dimensions, int divisions);

// Largest t in [0, t_max] with holds(t), by bisection: assumes holds(0) and that QoS is monotone
// along the ray (holds(t) implies holds(s) for s < t). Returns the last t that held, within
// `tolerance` of the first that failed (or t_max when holds(t_max)). `evaluations` counts the calls.
struct BisectionResult {
  double passing = 0;   // largest t known to hold
  double failing = 0;   // smallest t known to fail (infinity when none failed)
  int evaluations = 0;
  bool saturated() const;  // QoS held at t_max: the region extends past the searched range
};
BisectionResult bisect_boundary(const std::function<bool(double t)>& holds, double t_max, double tolerance);

// One direction's boundary of the region: the parameters at the last passing point.
struct BoundaryPoint {
  std::vector<double> direction;   // unit vector in range-normalised parameter space
  BisectionResult bisection;       // along t in [0, 1] of the normalised ray
  std::vector<double> parameters;  // passing * direction, scaled back to parameter units
};

// The region of parameter settings in which `qos_holds` is true, along each direction: parameter
// i at ray position t is t * direction[i] * ranges[i]. `tolerance` is in normalised units.
std::vector<BoundaryPoint> search_error_region(const std::function<bool(const std::vector<double>&)>& qos_holds,
                                               const std::vector<double>& ranges,
                                               const std::vector<std::vector<double>>& directions, double tolerance);

struct CalibrationOptions {
  int divisions = 4;         // orthant_directions(parameters, divisions)
  double tolerance = 1.0 / 64;  // bisection stops at this fraction of each range
};

// What the application tolerates, measured at each boundary point: the mean absolute error of the
// estimates the controller saw there (network + injected error, against the true heading).
struct BudgetDirection {
  BoundaryPoint boundary;
  double l1_deg = 0;          // at the last passing point
  int collisions = 0;         // there (at most max_collisions)
};

struct CalibrationReport {
  std::string error_model;
  std::vector<ErrorParameter> parameters;
  int episodes = 0;
  int max_collisions = 0;
  double exact_l1_deg = 0;    // the network alone in the loop
  int exact_collisions = 0;
  std::vector<BudgetDirection> directions;
  // The budget: the smallest boundary L1 over the directions. Any error of the modelled kinds
  // whose L1 is below it lies inside the region along every direction searched, so the QoS holds
  // whatever mix of noise and bias an approximation adds; the largest boundary L1 would only
  // hold for errors of that one shape.
  double l1_budget_deg = 0;
  double largest_boundary_l1_deg = 0;
  int simulations = 0;
  double seconds = 0;
};

// Calibrates `estimator` (the exact network) in `app`. Throws BadInput when the exact network
// alone already breaks the QoS (nothing to calibrate). `progress`, when given, is told each
// finished direction.
CalibrationReport calibrate_errors(const SteeringApp& app, const HeadingEstimator& estimator, const ErrorModel& model,
                                   const CalibrationOptions& options = {},
                                   const std::function<void(int done, int total)>& progress = {});

// budgets.json: the report with the model and application named, for the tuner.
std::string calibration_report_json(const CalibrationReport& report, const std::string& model_path,
                                    const std::string& app_path);

}  // namespace coda::tuner
