#include "tuner/qos_predictor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "kernels/error.h"

namespace coda::tuner {

namespace {

constexpr double kAlphaLow = 0.0;   // see the file comment of qos_predictor.h for the range
constexpr double kAlphaHigh = 4.0;
constexpr double kScanStep = 0.05;
constexpr int kGoldenIterations = 40;  // shrinks the bracket by 0.618^40 ~ 4e-9 of one scan step

void check_config(const OpProfiles& profiles, const Configuration& config) {
  if (config.size() != profiles.choice_counts.size())
    throw std::invalid_argument("QoS predictor: configuration has " + std::to_string(config.size()) +
                                " choices, the profiles cover " + std::to_string(profiles.choice_counts.size()) + " ops");
  for (std::size_t i = 0; i < config.size(); ++i)
    if (config[i] < 0 || config[i] >= profiles.choice_counts[i])
      throw std::invalid_argument("QoS predictor: choice " + std::to_string(config[i]) + " of op '" +
                                  profiles.op_names[i] + "' is out of range");
}

// Sum over the configuration's approximated ops of dT, accumulated in double in op order.
std::vector<double> summed_delta(const OpProfiles& profiles, const Configuration& config) {
  std::vector<double> sum(static_cast<std::size_t>(profiles.base_outputs.size()), 0.0);
  for (std::size_t i = 0; i < config.size(); ++i) {
    if (config[i] == 0) continue;
    const Tensor& delta = profiles.delta_outputs[i][static_cast<std::size_t>(config[i])];
    const float* d = delta.f32();
    for (std::size_t e = 0; e < sum.size(); ++e) sum[e] += d[e];
  }
  return sum;
}

// QoS of T_base + alpha * sum, computed in double and rounded to float once. With alpha = 1 and
// one op this gives back the measured outputs up to the float rounding of the stored dT (half an
// ulp of dT per element), which leaves top-1 classes and so accuracy and agreement unchanged but
// for exact ties.
double composed_qos(const OpProfiles& profiles, const QosEvaluator& evaluator, const std::vector<double>& sum,
                    double alpha, Tensor& scratch) {
  const float* base = profiles.base_outputs.f32();
  float* out = scratch.f32();
  for (std::size_t e = 0; e < sum.size(); ++e) out[e] = static_cast<float>(static_cast<double>(base[e]) + alpha * sum[e]);
  return evaluator.evaluate(scratch);
}

}  // namespace

const char* predictor_name(PredictorKind kind) { return kind == PredictorKind::P1 ? "p1" : "p2"; }

PredictorKind parse_predictor_kind(const std::string& text) {
  if (text == "p1") return PredictorKind::P1;
  if (text == "p2") return PredictorKind::P2;
  throw BadInput("unknown QoS predictor '" + text + "' (expected p1 or p2)");
}

QosPredictor::QosPredictor(PredictorKind kind, const OpProfiles& profiles, const QosEvaluator& evaluator)
    : kind_(kind), profiles_(profiles), evaluator_(evaluator),
      exact_qos_(profiles.base_outputs.empty() ? profiles.base_qos : evaluator.evaluate(profiles.base_outputs)) {}

double QosPredictor::predict(const Configuration& config) const {
  check_config(profiles_, config);
  if (kind_ == PredictorKind::P2) return profiles_.base_qos + alpha_ * unscaled_delta(config);
  Tensor scratch(profiles_.base_outputs.shape());
  const double qos = composed_qos(profiles_, evaluator_, summed_delta(profiles_, config), alpha_, scratch);
  // No configuration is predicted to beat the exact network (see the header).
  return evaluator_.higher_is_better() ? std::min(qos, exact_qos_) : std::max(qos, exact_qos_);
}

double QosPredictor::unscaled_delta(const Configuration& config) const {
  check_config(profiles_, config);
  if (kind_ == PredictorKind::P2) {
    double sum = 0.0;
    // Apparent improvements are counted as none (see the header).
    const bool higher_is_better = evaluator_.higher_is_better();
    for (std::size_t i = 0; i < config.size(); ++i) {
      const double dq = profiles_.delta_qos[i][static_cast<std::size_t>(config[i])];
      sum += higher_is_better ? std::min(dq, 0.0) : std::max(dq, 0.0);
    }
    return sum;
  }
  Tensor scratch(profiles_.base_outputs.shape());
  return composed_qos(profiles_, evaluator_, summed_delta(profiles_, config), 1.0, scratch) - profiles_.base_qos;
}

double QosPredictor::calibrate(const std::vector<Configuration>& configs, const std::vector<double>& measured_qos) {
  if (configs.size() != measured_qos.size())
    throw std::invalid_argument("QoS predictor: " + std::to_string(configs.size()) + " configurations, " +
                                std::to_string(measured_qos.size()) + " measured values");
  const std::size_t n = configs.size();
  std::vector<double> unscaled(n);
  for (std::size_t j = 0; j < n; ++j) unscaled[j] = unscaled_delta(configs[j]);
  bool all_zero = true;
  for (double x : unscaled) all_zero &= x == 0.0;

  if (!all_zero && kind_ == PredictorKind::P2) {
    double xy = 0.0, xx = 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      xy += unscaled[j] * (measured_qos[j] - profiles_.base_qos);
      xx += unscaled[j] * unscaled[j];
    }
    alpha_ = xy / xx;
  } else if (!all_zero) {
    std::vector<std::vector<double>> sums;
    sums.reserve(n);
    for (const Configuration& config : configs) sums.push_back(summed_delta(profiles_, config));
    Tensor scratch(profiles_.base_outputs.shape());
    auto squared_error = [&](double alpha) {
      double sse = 0.0;
      for (std::size_t j = 0; j < n; ++j) {
        double residual = measured_qos[j] - composed_qos(profiles_, evaluator_, sums[j], alpha, scratch);
        sse += residual * residual;
      }
      return sse;
    };
    const int steps = static_cast<int>(std::lround((kAlphaHigh - kAlphaLow) / kScanStep));
    double best_alpha = 1.0;
    double best_error = squared_error(1.0);
    for (int s = 0; s <= steps; ++s) {
      double alpha = kAlphaLow + kScanStep * s;
      double error = squared_error(alpha);
      // Ties (flat stretches of a step-shaped error) go to the alpha closest to 1.
      if (error < best_error || (error == best_error && std::fabs(alpha - 1.0) < std::fabs(best_alpha - 1.0))) {
        best_error = error;
        best_alpha = alpha;
      }
    }
    // Golden-section refinement inside the scan cell around the best point.
    const double inverse_phi = (std::sqrt(5.0) - 1.0) / 2.0;
    double low = std::max(kAlphaLow, best_alpha - kScanStep), high = std::min(kAlphaHigh, best_alpha + kScanStep);
    double left = high - inverse_phi * (high - low), right = low + inverse_phi * (high - low);
    double left_error = squared_error(left), right_error = squared_error(right);
    for (int it = 0; it < kGoldenIterations; ++it) {
      if (left_error <= right_error) {
        high = right;
        right = left;
        right_error = left_error;
        left = high - inverse_phi * (high - low);
        left_error = squared_error(left);
      } else {
        low = left;
        left = right;
        left_error = right_error;
        right = low + inverse_phi * (high - low);
        right_error = squared_error(right);
      }
    }
    double refined = (low + high) / 2.0;
    double refined_error = squared_error(refined);
    if (refined_error < best_error) {
      best_alpha = refined;
      best_error = refined_error;
    }
    alpha_ = best_alpha;
  } else {
    alpha_ = 1.0;
  }

  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  double mean = 0.0;
  for (double y : measured_qos) mean += y / static_cast<double>(n);
  double sse = 0.0, sst = 0.0;
  for (std::size_t j = 0; j < n; ++j) {
    double residual = measured_qos[j] - predict(configs[j]);
    sse += residual * residual;
    sst += (measured_qos[j] - mean) * (measured_qos[j] - mean);
  }
  if (sst == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return 1.0 - sse / sst;
}

}  // namespace coda::tuner
