// The NeuralPower-style predictor on records generated from known polynomials of the features:
// it must reproduce them on new layers, select the true monomials and pick the true degree.
#include <cmath>
#include <functional>
#include <random>

#include <gtest/gtest.h>

#include "kernels/error.h"
#include "models/polynomial_predictor.h"
#include "models/predictor_fit.h"

namespace coda::models {
namespace {

using Truth = std::function<double(const sim::OpRecord&)>;

double f(const sim::OpRecord& r, const char* name) { return r.features.at(name); }
double inv_freq(const sim::OpRecord& r) { return 1000.0 / r.freq_mhz; }

// Fully connected layers of random shape at random GPU clocks, latency and VDD_IN from `truth`.
std::vector<sim::OpRecord> fc_records(int count, std::uint64_t seed, const Truth& latency, const Truth& power) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> batch(1, 8), in(16, 2048), out(10, 1024);
  std::vector<double> clocks = {420.75, 624.75, 854.25, 1122.0, 1300.5};
  std::vector<sim::OpRecord> records;
  for (int i = 0; i < count; ++i) {
    sim::OpRecord r;
    r.op_type = "Gemm";
    r.unit = "gpu";
    r.knob = 11;
    r.freq_mhz = clocks[static_cast<std::size_t>(i) % clocks.size()];
    double b = batch(rng), k = in(rng), n = out(rng);
    r.features = {{"batch", b},           {"in_features", k},       {"out_features", n},
                  {"macs", b * k * n},    {"flops", b * n},         {"input_bytes", 4 * b * k},
                  {"output_bytes", 4 * b * n}, {"weight_bytes", 4 * k * n}};
    r.latency_s = latency(r);
    r.avg_power_w = {{"VDD_IN", power(r)}, {"VDD_SYS_GPU", 0.5 * power(r)}};
    records.push_back(r);
  }
  return records;
}

double relative_error(double predicted, double truth) { return std::abs(predicted - truth) / std::abs(truth); }

bool has_monomial(const TargetModel& model, const std::vector<Variable>& variables,
                  const std::map<std::string, int>& labels) {
  for (const Monomial& m : model.monomials) {
    if (m.size() != labels.size()) continue;
    bool same = true;
    for (const auto& [variable, exponent] : m) {
      auto it = labels.find(variables[static_cast<std::size_t>(variable)].label());
      same = same && it != labels.end() && it->second == exponent;
    }
    if (same) return true;
  }
  return false;
}

const GroupModel& only_group(const LayerPredictor& predictor) {
  const auto& groups = dynamic_cast<const PolynomialPredictor&>(predictor).groups();
  EXPECT_EQ(groups.size(), 1u);
  return groups.front();
}

TEST(PolynomialPredictor, RecoversAKnownPolynomialOfTheFeatures) {
  // Launch overhead, compute time scaling with 1/f, and traffic.
  Truth latency = [](const sim::OpRecord& r) {
    return 8e-6 + 2.5e-12 * f(r, "macs") * inv_freq(r) + 4e-11 * f(r, "weight_bytes");
  };
  Truth power = [](const sim::OpRecord& r) { return 3.0 + 1.5 * r.freq_mhz / 1000 + 0.05 * std::log2(1 + f(r, "macs")); };
  std::vector<sim::OpRecord> train = fc_records(400, 1, latency, power);
  std::vector<sim::OpRecord> test = fc_records(100, 2, latency, power);
  FitOptions options;
  options.folds = 5;
  std::unique_ptr<LayerPredictor> predictor = fit_polynomial(train, options);
  ASSERT_EQ(predictor->rails(), (std::vector<std::string>{"VDD_IN", "VDD_SYS_GPU"}));
  for (const auto& r : test) {
    LayerEstimate e = predictor->predict(query_of(r));
    EXPECT_LT(relative_error(e.latency_s, r.latency_s), 1e-2);
    EXPECT_LT(relative_error(e.power_w.at("VDD_IN"), r.avg_power_w.at("VDD_IN")), 1e-2);
    EXPECT_LT(relative_error(e.power_w.at("VDD_SYS_GPU"), r.avg_power_w.at("VDD_SYS_GPU")), 1e-2);
  }
  const GroupModel& group = only_group(*predictor);
  EXPECT_EQ(group.latency.space, "linear");
  EXPECT_TRUE(has_monomial(group.latency, group.variables, {{"macs", 1}, {"inv_freq", 1}}));
  EXPECT_TRUE(has_monomial(group.latency, group.variables, {{"weight_bytes", 1}}));
  EXPECT_TRUE(has_monomial(group.power[0], group.variables, {{"freq_ghz", 1}}));
  EXPECT_TRUE(has_monomial(group.power[0], group.variables, {{"log2(macs)", 1}}));
}

TEST(PolynomialPredictor, PowerFollowsTheRateOfWork) {
  // Static power plus energy per MAC growing with the clock's voltage, spent over the op's time:
  // no polynomial of the shape and clock alone is this, the work over the predicted latency is.
  Truth latency = [](const sim::OpRecord& r) {
    return 8e-6 + 2.5e-12 * f(r, "macs") * inv_freq(r) + 4e-11 * f(r, "weight_bytes");
  };
  Truth power = [&](const sim::OpRecord& r) {
    double ghz = r.freq_mhz / 1000;
    return 2.5 + 0.4 * ghz + 4e-12 * (0.6 + ghz * ghz) * f(r, "macs") / latency(r);
  };
  FitOptions options;
  options.folds = 5;
  std::unique_ptr<LayerPredictor> predictor = fit_polynomial(fc_records(400, 6, latency, power), options);
  for (const auto& r : fc_records(100, 7, latency, power)) {
    LayerEstimate e = predictor->predict(query_of(r));
    EXPECT_LT(relative_error(e.power_w.at("VDD_IN"), r.avg_power_w.at("VDD_IN")), 1e-2);
  }
  const GroupModel& group = only_group(*predictor);
  const TargetModel& vdd_in = group.power[0];
  bool reads_rates = false;
  for (const auto& monomial : vdd_in.monomials)
    for (const auto& [variable, exponent] : monomial)
      if (group.variables[static_cast<std::size_t>(variable)].transform == Transform::Rate) reads_rates = true;
  EXPECT_TRUE(reads_rates || vdd_in.target == "energy");
}

TEST(PolynomialPredictor, CrossValidationPicksTheTrueDegree) {
  // in_features^2 is of degree 2 and no special term is proportional to it.
  Truth quadratic = [](const sim::OpRecord& r) {
    return 5e-6 + 3e-12 * f(r, "in_features") * f(r, "in_features") + 2e-9 * f(r, "out_features");
  };
  Truth linear = [](const sim::OpRecord& r) { return 5e-6 + 2e-9 * f(r, "in_features") + 4e-9 * f(r, "out_features"); };
  Truth power = [](const sim::OpRecord&) { return 4.0; };
  FitOptions options;
  options.folds = 5;
  auto quadratic_predictor = fit_polynomial(fc_records(300, 3, quadratic, power), options);
  const GroupModel& q = only_group(*quadratic_predictor);
  EXPECT_EQ(q.latency.space, "linear");
  EXPECT_EQ(q.latency.degree, 2);
  EXPECT_TRUE(has_monomial(q.latency, q.variables, {{"in_features", 2}}));
  auto linear_predictor = fit_polynomial(fc_records(300, 4, linear, power), options);
  const GroupModel& l = only_group(*linear_predictor);
  EXPECT_EQ(l.latency.degree, 1);
  // A constant target is the intercept alone.
  EXPECT_EQ(l.power[0].degree, 0);
  EXPECT_TRUE(l.power[0].monomials.empty());
  EXPECT_DOUBLE_EQ(linear_predictor->predict(query_of(fc_records(1, 5, linear, power)[0])).power_w.at("VDD_IN"), 4.0);
}

TEST(PolynomialPredictor, ViewsPredictNothingAndUnknownGroupsAreNamed) {
  Truth latency = [](const sim::OpRecord& r) { return 1e-5 + 1e-12 * f(r, "macs"); };
  Truth power = [](const sim::OpRecord&) { return 4.0; };
  std::vector<sim::OpRecord> records = fc_records(30, 6, latency, power);
  sim::OpRecord view;
  view.op_type = "Flatten";
  view.unit = "gpu";
  records.push_back(view);
  auto predictor = fit_polynomial(records, {});
  LayerQuery q = query_of(view);
  EXPECT_TRUE(predictor->covers(q));
  EXPECT_EQ(predictor->predict(q).latency_s, 0.0);
  LayerQuery other = query_of(records.front());
  other.unit = "promise";
  EXPECT_FALSE(predictor->covers(other));
  try {
    predictor->predict(other);
    FAIL() << "expected BadInput";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("(fc, promise, exact)"), std::string::npos) << e.what();
  }
}

TEST(PolynomialPredictor, SmallGroupsStillGetAPositiveModel) {
  Truth latency = [](const sim::OpRecord& r) { return 1e-5 + 1e-12 * f(r, "macs"); };
  Truth power = [](const sim::OpRecord& r) { return 3.0 + r.freq_mhz / 1000; };
  for (int count : {1, 2, 5, 8}) {
    std::vector<sim::OpRecord> records = fc_records(count, 7, latency, power);
    auto predictor = fit_polynomial(records, {});
    for (const auto& r : fc_records(20, 8, latency, power)) {
      LayerEstimate e = predictor->predict(query_of(r));
      EXPECT_GT(e.latency_s, 0) << count << " records";
      EXPECT_TRUE(std::isfinite(e.power_w.at("VDD_IN")));
    }
  }
  EXPECT_THROW(fit_polynomial({}, {}), BadInput);
}

}  // namespace
}  // namespace coda::models
