// Fitting predictors from trace records, and loading/saving their model files.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/layer_predictor.h"
#include "sim/sim_result.h"

namespace coda::models {

struct FitOptions {
  int folds = 10;               // k-fold cross-validation for the Lasso penalty and the degree
  int max_latency_degree = 3;   // NeuralPower's K_T
  int max_power_degree = 2;     // NeuralPower's K_P
  std::uint64_t seed = 0;       // fold assignment
  // Called after each (op class, unit, knob) group is fitted: done, total.
  std::function<void(int, int)> progress;
};

// NeuralPower-style polynomial + Lasso models, one per (op class, unit, knob) group in `records`
// and per target (latency, power of each rail). Records of views are ignored. Throws BadInput
// when `records` has no usable record.
std::unique_ptr<LayerPredictor> fit_polynomial(const std::vector<sim::OpRecord>& records, const FitOptions& options);

// The Paleo-style roofline baseline fitted on the same records.
std::unique_ptr<LayerPredictor> fit_roofline(const std::vector<sim::OpRecord>& records);

// The JSON model file (schema "coda-predictor", versioned, human-readable); written atomically.
void save_predictor(const LayerPredictor& predictor, const std::string& path);
// Throws BadInput naming the file for unreadable, malformed or unsupported-version files.
std::unique_ptr<LayerPredictor> load_predictor(const std::string& path);

}  // namespace coda::models
