// The roofline baseline recovers the parameters of data generated from an exact roofline, and its
// non-negative least squares respects the sign constraint against an unconstrained reference.
#include <random>

#include <gtest/gtest.h>

#include "models/roofline_predictor.h"
#include "models/predictor_fit.h"

namespace coda::models {
namespace {

std::vector<sim::OpRecord> roofline_records(const std::string& unit, double s_op, double s_byte, double overhead,
                                            int count, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> macs(1e5, 1e9), bytes(1e4, 1e7);
  std::vector<double> clocks = {345.6, 806.4, 1267.2, 2035.2};
  std::vector<sim::OpRecord> records;
  for (int i = 0; i < count; ++i) {
    sim::OpRecord r;
    r.op_type = "Conv";
    r.unit = unit;
    r.knob = 11;
    r.freq_mhz = clocks[static_cast<std::size_t>(i) % clocks.size()];
    double m = macs(rng), in = bytes(rng), out = bytes(rng), w = bytes(rng);
    r.features = {{"macs", m}, {"flops", 0.0}, {"input_bytes", in}, {"output_bytes", out}, {"weight_bytes", w},
                  {"groups", 1.0}, {"in_channels", 16.0}};
    r.latency_s = 2 * m * (1000 / r.freq_mhz) * s_op + (in + out + w) * s_byte + overhead;
    r.avg_power_w = {{"VDD_IN", 4.0 + i % 5}, {"VDD_SYS_CPU", 1.0}};
    records.push_back(r);
  }
  return records;
}

TEST(RooflinePredictor, RecoversTheParametersOfAnExactRoofline) {
  std::vector<sim::OpRecord> records = roofline_records("cpu", 1.0 / 12e9, 1.0 / 20e9, 5e-6, 200, 1);
  std::vector<sim::OpRecord> gpu = roofline_records("gpu", 1.0 / 300e9, 1.0 / 40e9, 10e-6, 200, 2);
  records.insert(records.end(), gpu.begin(), gpu.end());
  auto predictor = fit_roofline(records);
  const auto& units = dynamic_cast<const RooflinePredictor&>(*predictor).units();
  ASSERT_EQ(units.size(), 2u);
  EXPECT_NEAR(units.at("cpu").seconds_per_op_at_1ghz * 12e9, 1.0, 1e-6);
  EXPECT_NEAR(units.at("cpu").seconds_per_byte * 20e9, 1.0, 1e-6);
  EXPECT_NEAR(units.at("cpu").overhead_s / 5e-6, 1.0, 1e-6);
  EXPECT_NEAR(units.at("gpu").seconds_per_op_at_1ghz * 300e9, 1.0, 1e-6);
  EXPECT_NEAR(units.at("gpu").overhead_s / 10e-6, 1.0, 1e-6);
  // Power: the median per group and rail (4, 5, 6, 7, 8 equally often: 6).
  LayerEstimate e = predictor->predict(query_of(records.front()));
  EXPECT_DOUBLE_EQ(e.power_w.at("VDD_IN"), 6.0);
  EXPECT_DOUBLE_EQ(e.power_w.at("VDD_SYS_CPU"), 1.0);
  EXPECT_NEAR(e.latency_s / records.front().latency_s, 1.0, 1e-6);
}

TEST(RooflinePredictor, NonNegativeLeastSquaresClampsANegativeCoefficient) {
  // y = 2 a - 0.5 b + noise-free: the unconstrained fit has a negative coefficient on b, so the
  // constrained one drops b and fits y on a alone (relative least squares: c = sum(a/y) / sum((a/y)^2)).
  std::vector<double> a, b, y;
  for (int i = 1; i <= 20; ++i) {
    a.push_back(i);
    b.push_back(i % 3 + 1);
    y.push_back(2.0 * i - 0.5 * (i % 3 + 1) + 1.0);
  }
  std::vector<double> c = nonnegative_relative_least_squares({a, b}, y);
  EXPECT_EQ(c[1], 0.0);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    num += a[i] / y[i];
    den += (a[i] / y[i]) * (a[i] / y[i]);
  }
  EXPECT_NEAR(c[0], num / den, 1e-9);
}

}  // namespace
}  // namespace coda::models
