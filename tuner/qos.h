// Quality of service of a network's outputs on a data split, and the thresholds tuning keeps.
// Metrics (ApproxTuner and ApproxCaliper): top-1 accuracy against labels, agreement of the top-1
// class with the exact network, mean squared error and PSNR against the exact outputs, and the
// L1 error of regression outputs against their targets. Application-level evaluators implement
// the same interface.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/tensor.h"

namespace coda::tuner {

class QosEvaluator {
 public:
  virtual ~QosEvaluator() = default;
  // "accuracy", "agreement", "mse", "psnr", "l1", or an application's name.
  virtual std::string name() const = 0;
  // Unit of the value for reports ("%", "dB", "", "deg" ...).
  virtual std::string unit() const = 0;
  virtual bool higher_is_better() const = 0;
  // QoS of the network's first output on the split: N x K float32, one row per sample, rows in
  // the split's order.
  virtual double evaluate(const Tensor& outputs) const = 0;
  // How much worse `value` is than `baseline`, in the metric's unit (positive = worse).
  double loss(double baseline, double value) const { return higher_is_better() ? baseline - value : value - baseline; }
};

// What a split provides to metrics: labels (classification), targets (regression, N x K) and the
// exact network's outputs on it (agreement, MSE, PSNR).
struct QosReference {
  std::vector<int> labels;
  Tensor targets;        // empty unless the data has regression targets
  Tensor exact_outputs;  // N x K
};

// Names accepted by make_metric_evaluator, for --help and errors.
std::vector<std::string> metric_names();
// Throws BadInput "unknown QoS metric 'x' (expected ...)" or when the reference lacks what the
// metric needs (labels for accuracy, targets for l1 ...). Accuracy and agreement are in percent.
std::unique_ptr<QosEvaluator> make_metric_evaluator(const std::string& metric, const QosReference& reference);

// A QoS threshold: a loss relative to the exact baseline in the metric's unit ("1" = one point
// of accuracy), a loss in percent of the baseline ("1%"), or an absolute bound on the value
// ("=88.5": accuracy at least 88.5, or L1 at most 88.5 for lower-is-better metrics).
struct QosThreshold {
  enum class Kind { Loss, RelativeLoss, Absolute };
  Kind kind = Kind::Loss;
  double value = 1.0;

  // Parses the forms above; throws BadInput "--qos-loss 'x': ..." when malformed, negative,
  // not finite, or a relative loss of 100% or more.
  static QosThreshold parse(const std::string& text);
  std::string to_string() const;
  // The largest loss (QosEvaluator::loss) allowed against `baseline`. Throws BadInput when an
  // absolute bound is already worse than the baseline, or a threshold out of the metric's range
  // (accuracy/agreement losses of 100 points or more).
  double max_loss(const QosEvaluator& metric, double baseline) const;
};

}  // namespace coda::tuner
