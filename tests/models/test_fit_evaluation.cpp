// Accuracy metrics against hand-computed values, and the two evaluation splits' bookkeeping.
#include <cmath>

#include <gtest/gtest.h>

#include "models/fit_evaluation.h"

namespace coda::models {
namespace {

TEST(FitEvaluation, MetricsMatchHandComputedValues) {
  // Errors: +10% (1.1 vs 1), -4% (1.92 vs 2), 0 (4 vs 4), +50% (0.6 vs 0.4... measured 0.4, pred 0.6).
  std::vector<double> measured = {1.0, 2.0, 4.0, 0.4};
  std::vector<double> predicted = {1.1, 1.92, 4.0, 0.6};
  AccuracyMetrics m = accuracy(predicted, measured);
  EXPECT_EQ(m.count, 4);
  double rmse = std::sqrt((0.01 + 0.0064 + 0 + 0.04) / 4);
  double rmspe = std::sqrt((0.01 + 0.0016 + 0 + 0.25) / 4);
  EXPECT_NEAR(m.rmse, rmse, 1e-12);
  EXPECT_NEAR(m.rmspe, rmspe, 1e-12);
  EXPECT_DOUBLE_EQ(m.within_5, 0.5);   // -4% and 0
  EXPECT_DOUBLE_EQ(m.within_10, 0.75); // and +10% exactly
  // A zero measurement counts in RMSE but not in the relative metrics.
  AccuracyMetrics z = accuracy({0.5, 1.0}, {0.0, 1.0});
  EXPECT_EQ(z.count, 2);
  EXPECT_NEAR(z.rmse, std::sqrt(0.125), 1e-12);
  EXPECT_DOUBLE_EQ(z.rmspe, 0.0);
  EXPECT_DOUBLE_EQ(z.within_5, 1.0);
}

TEST(FitEvaluation, RowsGroupByClassAndUnitAndOverall) {
  std::vector<HeldOutPrediction> predictions(3);
  predictions[0] = {"conv", "gpu", "a", 1.0, 1.1, 2.0, {{"VDD_IN", 4.0}}, {{"VDD_IN", 4.2}}, {{"VDD_IN", 5.0}}};
  predictions[1] = {"conv", "gpu", "b", 2.0, 2.0, 2.0, {{"VDD_IN", 4.0}}, {{"VDD_IN", 4.0}}, {{"VDD_IN", 4.0}}};
  predictions[2] = {"fc", "cpu", "a", 1.0, 0.5, 1.0, {{"VDD_IN", 2.0}}, {{"VDD_IN", 2.0}}, {{"VDD_IN", 3.0}}};
  std::vector<AccuracyRow> rows = accuracy_rows(predictions, {"VDD_IN"});
  ASSERT_EQ(rows.size(), 6u);  // (conv, gpu), (fc, cpu), (all, all) x latency, VDD_IN
  EXPECT_EQ(rows[0].op_class, "conv");
  EXPECT_EQ(rows[0].target, "latency");
  EXPECT_EQ(rows[0].polynomial.count, 2);
  EXPECT_NEAR(rows[0].polynomial.rmspe, std::sqrt(0.01 / 2), 1e-12);
  EXPECT_NEAR(rows[0].roofline.rmspe, std::sqrt(1.0 / 2), 1e-12);
  EXPECT_EQ(rows[1].target, "VDD_IN");
  EXPECT_NEAR(rows[1].polynomial.rmspe, std::sqrt(0.0025 / 2), 1e-12);
  EXPECT_EQ(rows[4].op_class, "all");
  EXPECT_EQ(rows[4].polynomial.count, 3);
  EXPECT_NEAR(rows[4].polynomial.rmspe, std::sqrt((0.01 + 0 + 0.25) / 3), 1e-12);
}

std::vector<sim::OpRecord> two_networks() {
  std::vector<sim::OpRecord> records;
  for (int i = 0; i < 60; ++i) {
    sim::OpRecord r;
    r.network = i % 2 ? "net_a" : "net_b";
    r.op_type = "Gemm";
    r.unit = "gpu";
    r.knob = 11;
    r.freq_mhz = 500 + 100 * (i % 5);
    double k = 16 + 8 * i, n = 10 + 3 * (i % 7);
    r.features = {{"batch", 1.0}, {"in_features", k}, {"out_features", n}, {"macs", k * n}, {"flops", n},
                  {"input_bytes", 4 * k}, {"output_bytes", 4 * n}, {"weight_bytes", 4 * k * n}};
    r.latency_s = 1e-5 + 1e-11 * k * n * 1000 / r.freq_mhz;
    r.avg_power_w = {{"VDD_IN", 3.0 + r.freq_mhz / 1000}};
    records.push_back(r);
  }
  return records;
}

TEST(FitEvaluation, HoldoutScoresTheRequestedShare) {
  EvaluationOptions options;
  options.fit.folds = 4;
  SplitReport report = evaluate_holdout(two_networks(), options);
  EXPECT_EQ(report.test_records, 12);
  EXPECT_EQ(report.train_records, 48);
  EXPECT_EQ(report.predictions.size(), 12u);
  EXPECT_EQ(report.rows.back().op_class, "all");
  // Data from a polynomial in the model's terms: fitted closely.
  for (const auto& row : report.rows) EXPECT_LT(row.polynomial.rmspe, 0.01) << row.target;
}

TEST(FitEvaluation, LeaveOneNetworkOutHoldsEachNetworkOutOnce) {
  EvaluationOptions options;
  options.fit.folds = 4;
  SplitReport report = evaluate_leave_one_network_out(two_networks(), options);
  EXPECT_EQ(report.test_records, 60);
  EXPECT_EQ(report.train_records, 60);  // 30 + 30
  EXPECT_EQ(report.predictions.size(), 60u);
  std::vector<sim::OpRecord> one = two_networks();
  for (auto& r : one) r.network = "net_a";
  SplitReport single = evaluate_leave_one_network_out(one, options);
  EXPECT_TRUE(single.rows.empty());
  EXPECT_FALSE(single.note.empty());
}

}  // namespace
}  // namespace coda::models
