// QoS metrics and thresholds (tuner/qos.h) against hand-computed values, and the user errors they
// report.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/error.h"
#include "tests/support/bad_input.h"
#include "tuner/qos.h"

namespace coda::tuner {
namespace {

// Four samples, three scores each.
Tensor scores() {
  return Tensor::from_floats({4, 3}, {0.1f, 0.7f, 0.2f,    // class 1
                                      2.0f, 2.0f, -1.0f,   // tie: the first maximum, class 0
                                      -3.0f, -2.0f, -1.0f, // class 2
                                      0.0f, 0.5f, 0.4f});  // class 1
}

TEST(Qos, AccuracyCountsTopOneHitsWithFirstMaximumOnTies) {
  QosReference reference;
  reference.labels = {1, 1, 2, 0};
  auto accuracy = make_metric_evaluator("accuracy", reference);
  EXPECT_EQ(accuracy->name(), "accuracy");
  EXPECT_EQ(accuracy->unit(), "%");
  EXPECT_TRUE(accuracy->higher_is_better());
  EXPECT_DOUBLE_EQ(accuracy->evaluate(scores()), 50.0);  // samples 0 and 2
  reference.labels = {1, 0, 2, 1};
  EXPECT_DOUBLE_EQ(make_metric_evaluator("accuracy", reference)->evaluate(scores()), 100.0);
  EXPECT_DOUBLE_EQ(accuracy->loss(90.0, 88.5), 1.5);
  test::expect_bad_input([&] { accuracy->evaluate(Tensor::zeros({3, 3})); }, {"accuracy", "3 rows", "4 labels"});
}

TEST(Qos, AgreementComparesWithTheExactNetworksClasses) {
  QosReference reference;
  reference.exact_outputs = scores();  // classes 1, 0, 2, 1
  auto agreement = make_metric_evaluator("agreement", reference);
  EXPECT_DOUBLE_EQ(agreement->evaluate(scores()), 100.0);
  Tensor changed = Tensor::from_floats({4, 3}, {1, 0, 0,  // 0: differs
                                                1, 0, 0,  // 0: agrees
                                                0, 0, 1,  // 2: agrees
                                                0, 0, 1}); // 2: differs
  EXPECT_DOUBLE_EQ(agreement->evaluate(changed), 50.0);
  test::expect_bad_input([&] { agreement->evaluate(Tensor::zeros({4, 2})); }, {"agreement", "4x2", "4x3"});
}

TEST(Qos, MsePsnrAndL1AgainstHandComputedValues) {
  QosReference reference;
  reference.exact_outputs = Tensor::from_floats({2, 2}, {1.0f, -2.0f, 0.5f, 0.0f});
  reference.targets = Tensor::from_floats({2, 2}, {0.0f, 0.0f, 1.0f, 1.0f});
  Tensor outputs = Tensor::from_floats({2, 2}, {1.5f, -2.0f, 0.5f, 1.0f});
  // Errors against the exact outputs: 0.5, 0, 0, 1 -> MSE = (0.25 + 1) / 4 = 0.3125.
  auto mse = make_metric_evaluator("mse", reference);
  EXPECT_FALSE(mse->higher_is_better());
  EXPECT_DOUBLE_EQ(mse->evaluate(outputs), 0.3125);
  EXPECT_DOUBLE_EQ(mse->evaluate(reference.exact_outputs), 0.0);
  EXPECT_DOUBLE_EQ(mse->loss(0.1, 0.3125), 0.2125);
  // Peak = max |exact| = 2: PSNR = 10 log10(4 / 0.3125) = 11.0721 dB.
  auto psnr = make_metric_evaluator("psnr", reference);
  EXPECT_TRUE(psnr->higher_is_better());
  EXPECT_EQ(psnr->unit(), "dB");
  EXPECT_NEAR(psnr->evaluate(outputs), 11.072099696478685, 1e-12);
  // Identical outputs: the float32 resolution limit 20 log10(2^24) instead of infinity.
  EXPECT_NEAR(psnr->evaluate(reference.exact_outputs), 144.49439791871097, 1e-9);
  // L1 against the targets: |1.5| + |-2| + |-0.5| + |0| = 4 over 4 elements.
  auto l1 = make_metric_evaluator("l1", reference);
  EXPECT_FALSE(l1->higher_is_better());
  EXPECT_DOUBLE_EQ(l1->evaluate(outputs), 1.0);
  EXPECT_DOUBLE_EQ(l1->evaluate(reference.targets), 0.0);
}

TEST(Qos, MetricsRefuseWhatTheReferenceLacks) {
  QosReference empty;
  test::expect_bad_input([&] { make_metric_evaluator("top5", empty); },
                         {"unknown QoS metric 'top5'", "accuracy, agreement, mse, psnr or l1"});
  test::expect_bad_input([&] { make_metric_evaluator("accuracy", empty); }, {"accuracy", "labels"});
  test::expect_bad_input([&] { make_metric_evaluator("agreement", empty); }, {"agreement", "exact"});
  test::expect_bad_input([&] { make_metric_evaluator("mse", empty); }, {"mse", "exact"});
  test::expect_bad_input([&] { make_metric_evaluator("l1", empty); }, {"l1", "targets"});
  QosReference zeros;
  zeros.exact_outputs = Tensor::zeros({2, 2});
  test::expect_bad_input([&] { make_metric_evaluator("psnr", zeros); }, {"psnr", "peak"});
  EXPECT_EQ(metric_names(), (std::vector<std::string>{"accuracy", "agreement", "mse", "psnr", "l1"}));
}

TEST(QosThreshold, ParsesTheThreeForms) {
  QosThreshold loss = QosThreshold::parse("1");
  EXPECT_EQ(loss.kind, QosThreshold::Kind::Loss);
  EXPECT_DOUBLE_EQ(loss.value, 1.0);
  QosThreshold relative = QosThreshold::parse("2.5%");
  EXPECT_EQ(relative.kind, QosThreshold::Kind::RelativeLoss);
  EXPECT_DOUBLE_EQ(relative.value, 2.5);
  QosThreshold absolute = QosThreshold::parse("=88.5");
  EXPECT_EQ(absolute.kind, QosThreshold::Kind::Absolute);
  EXPECT_DOUBLE_EQ(absolute.value, 88.5);
  EXPECT_EQ(QosThreshold::parse("0").value, 0.0);
  for (const char* text : {"1", "2.5%", "=88.5", "0.1", "3e-05%"})
    EXPECT_EQ(QosThreshold::parse(QosThreshold::parse(text).to_string()).to_string(), QosThreshold::parse(text).to_string());
  EXPECT_EQ(QosThreshold::parse("2.5%").to_string(), "2.5%");
  EXPECT_EQ(QosThreshold::parse("=88.5").to_string(), "=88.5");
  EXPECT_EQ(QosThreshold::parse("0.1").to_string(), "0.1");
}

TEST(QosThreshold, RejectsMalformedValues) {
  for (const char* text : {"", "abc", "1x", "=", "%", " 1", "1 %", "=%"})
    test::expect_bad_input([&] { QosThreshold::parse(text); }, {"--qos-loss '" + std::string(text) + "'", "expected"});
  test::expect_bad_input([] { QosThreshold::parse("-1"); }, {"--qos-loss '-1'", "negative"});
  test::expect_bad_input([] { QosThreshold::parse("=-3"); }, {"negative"});
  test::expect_bad_input([] { QosThreshold::parse("nan"); }, {"finite"});
  test::expect_bad_input([] { QosThreshold::parse("inf%"); }, {"finite"});
  test::expect_bad_input([] { QosThreshold::parse("100%"); }, {"--qos-loss '100%'", "below 100%"});
  EXPECT_NO_THROW(QosThreshold::parse("99.9%"));
}

TEST(QosThreshold, MaxLossPerKindAndOrientation) {
  QosReference reference;
  reference.labels = {0};
  reference.targets = Tensor::zeros({1, 1});
  auto accuracy = make_metric_evaluator("accuracy", reference);
  auto l1 = make_metric_evaluator("l1", reference);
  EXPECT_DOUBLE_EQ(QosThreshold::parse("1").max_loss(*accuracy, 90.0), 1.0);
  EXPECT_DOUBLE_EQ(QosThreshold::parse("10%").max_loss(*accuracy, 90.0), 9.0);
  EXPECT_DOUBLE_EQ(QosThreshold::parse("=88.5").max_loss(*accuracy, 90.0), 1.5);
  EXPECT_DOUBLE_EQ(QosThreshold::parse("=2.5").max_loss(*l1, 2.0), 0.5);
  EXPECT_DOUBLE_EQ(QosThreshold::parse("50%").max_loss(*l1, 2.0), 1.0);
  EXPECT_DOUBLE_EQ(QosThreshold::parse("100").max_loss(*l1, 2.0), 100.0);  // L1 has no upper range
  test::expect_bad_input([&] { QosThreshold::parse("=95").max_loss(*accuracy, 90.0); },
                         {"--qos-loss '=95'", "accuracy is 90%", "below"});
  test::expect_bad_input([&] { QosThreshold::parse("=1.5").max_loss(*l1, 2.0); }, {"l1 is 2", "above"});
  test::expect_bad_input([&] { QosThreshold::parse("100").max_loss(*accuracy, 90.0); },
                         {"--qos-loss '100'", "out of range"});
  test::expect_bad_input([&] { QosThreshold::parse("1").max_loss(*accuracy, std::nan("")); }, {"not finite"});
}

}  // namespace
}  // namespace coda::tuner
