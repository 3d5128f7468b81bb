// How well fitted predictors generalize, as `coda fit` reports it: the polynomial predictor and the
// roofline baseline are fitted on training records and scored on held-out ones, per (op class,
// unit) and overall, for the runtime and each rail's power. Two splits: a seeded random share of
// the records, and leave-one-network-out (each network of OpRecord::network held out once, the
// metrics over all held-out predictions).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/predictor_fit.h"
#include "sim/sim_result.h"

namespace coda::models {

struct AccuracyMetrics {
  int count = 0;          // predictions scored
  double rmse = 0;        // in the target's unit (s, W)
  double rmspe = 0;       // sqrt(mean(((pred - true) / true)^2)), over records with true > 0
  double within_5 = 0;    // share of those with |pred - true| <= 5% of true
  double within_10 = 0;
};
AccuracyMetrics accuracy(const std::vector<double>& predicted, const std::vector<double>& measured);

// One held-out record and what both predictors said about it.
struct HeldOutPrediction {
  std::string op_class, unit, network;
  double measured_latency_s = 0, polynomial_latency_s = 0, roofline_latency_s = 0;
  std::map<std::string, double> measured_power_w, polynomial_power_w, roofline_power_w;
};

struct AccuracyRow {
  std::string op_class;  // "all" for the overall row
  std::string unit;      // "all" for the overall row
  std::string target;    // "latency" or a rail name
  AccuracyMetrics polynomial, roofline;
};

struct SplitReport {
  std::string split;                 // "holdout" or "leave-one-network-out"
  std::string note;                  // why a split has no rows ("one network only")
  int train_records = 0;             // summed over the folds for leave-one-network-out
  int test_records = 0;
  int uncovered = 0;                 // held-out records whose group had no training record
  std::vector<std::string> rails;
  std::vector<HeldOutPrediction> predictions;
  std::vector<AccuracyRow> rows;     // per (class, unit) sorted, then all/all; latency, then rails
};

struct EvaluationOptions {
  FitOptions fit;
  double test_share = 0.2;
  std::uint64_t seed = 0;
  // Called with a line saying what is being fitted ("holdout", "without resnet18 (3/12)").
  std::function<void(const std::string&)> progress;
};

SplitReport evaluate_holdout(const std::vector<sim::OpRecord>& records, const EvaluationOptions& options);
SplitReport evaluate_leave_one_network_out(const std::vector<sim::OpRecord>& records, const EvaluationOptions& options);

// The rows of a report from its predictions.
std::vector<AccuracyRow> accuracy_rows(const std::vector<HeldOutPrediction>& predictions,
                                       const std::vector<std::string>& rails);

nlohmann::json report_json(const std::vector<SplitReport>& reports);
// Markdown tables: per split, runtime and power (VDD_IN, or the first rail) per (class, unit).
std::string report_markdown(const std::vector<SplitReport>& reports);
// The same as fixed-width text for a terminal.
std::string report_text(const std::vector<SplitReport>& reports);

}  // namespace coda::models
