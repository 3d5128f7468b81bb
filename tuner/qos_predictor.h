// ApproxTuner's QoS predictors (Sharif et al., PPoPP 2021, section 4.2; REFERENCE.md section 7):
//   P1: QoS(T_base + alpha * sum over approximated ops of dT(op, knob)) -- errors composed on the
//       output tensor, then scored by the real metric;
//   P2: QoS_base + alpha * sum dQ(op, knob) -- QoS changes added directly.
// One departure from the paper: no op is predicted to improve QoS. On a calibration set of a few
// hundred inputs many knobs show small apparent gains (an image or two flipping the right way)
// that are sampling noise; P2 summed over the tens of ops of a ResNet then predicts gains of
// several points the network does not have, and those configurations dominate the predicted
// front and fail validation (measured on ResNet-20: predicted -6 points, measured +17). So P2
// sums only the losses (min(dQ, 0) for higher-is-better metrics), and P1's composed QoS is
// capped at the exact network's.
// alpha is calibrated by a least-squares fit of measured against predicted QoS on a sample of
// configurations (about 50). For P2 the prediction is linear in alpha, so the fit is the
// closed-form regression through the origin of measured - base on sum dQ. For P1 the metric is
// applied after scaling, so QoS is nonlinear in alpha (a step function for accuracy): alpha
// minimises the squared error over [0, 4] by a scan at steps of 0.05 (the best point, ties broken
// towards alpha = 1, i.e. the unscaled composition) refined by golden-section search within one
// step on either side. The range [0, 4] is coda's choice, not the paper's: an alpha beyond it
// would say the composed profile errors are off by more than a factor of four, where the
// predictor is too poor to steer a search anyway; the scan makes a step-shaped error safe.
#pragma once

#include <string>
#include <vector>

#include "tuner/op_profile.h"
#include "tuner/qos.h"
#include "tuner/tuning_space.h"

namespace coda::tuner {

enum class PredictorKind { P1, P2 };
const char* predictor_name(PredictorKind kind);
// "p1" or "p2"; throws BadInput otherwise.
PredictorKind parse_predictor_kind(const std::string& text);

class QosPredictor {
 public:
  // Keeps references: profiles and evaluator must outlive the predictor.
  QosPredictor(PredictorKind kind, const OpProfiles& profiles, const QosEvaluator& evaluator);

  PredictorKind kind() const { return kind_; }
  double alpha() const { return alpha_; }
  void set_alpha(double alpha) { alpha_ = alpha; }
  // Predicted QoS of a configuration with the current alpha.
  double predict(const Configuration& config) const;
  // Predicted QoS change with alpha = 1 (what calibration regresses against).
  double unscaled_delta(const Configuration& config) const;

  // Fits alpha to measured QoS values of configurations (see the file comment: closed form for
  // P2, scan and golden section for P1); keeps alpha = 1 when every unscaled delta is zero.
  // Returns the fit's R^2 (1 - SSE/SST of measured against predicted QoS; NaN with fewer than two
  // configurations or when every measured value is the same). Throws std::invalid_argument when
  // the two lists differ in length.
  double calibrate(const std::vector<Configuration>& configs, const std::vector<double>& measured_qos);

 private:
  PredictorKind kind_;
  const OpProfiles& profiles_;
  const QosEvaluator& evaluator_;
  double alpha_ = 1.0;
  double exact_qos_;  // the evaluator's QoS of the exact outputs (P1's cap)
};

}  // namespace coda::tuner
