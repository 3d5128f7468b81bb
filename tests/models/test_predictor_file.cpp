// Model files: a round trip gives identical predictions for both kinds; bad files are rejected
// with a message naming the file and the problem.
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/error.h"
#include "models/predictor_fit.h"
#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"

namespace coda::models {
namespace {

std::vector<sim::OpRecord> mixed_records(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> channels(4, 256), size(4, 64);
  std::vector<sim::OpRecord> records;
  for (int i = 0; i < 120; ++i) {
    sim::OpRecord r;
    r.op_type = i % 2 ? "Conv" : "MaxPool";
    r.unit = i % 3 ? "gpu" : "cpu";
    r.knob = i % 4 ? 11 : 12;
    r.freq_mhz = 400 + 100 * (i % 7);
    double c = channels(rng), h = size(rng), k = i % 2 ? 3 : 2;
    double oc = i % 2 ? channels(rng) : c;
    r.features = {{"batch", 1.0}, {"in_channels", c}, {"in_h", h}, {"in_w", h}, {"out_channels", oc},
                  {"out_h", h / 2}, {"out_w", h / 2}, {"kernel_h", k}, {"kernel_w", k}, {"stride", 2.0},
                  {"padding", 1.0}, {"groups", 1.0}, {"macs", i % 2 ? c * oc * h * h * 9 / 4 : 0.0},
                  {"flops", c * h * h}, {"input_bytes", 4 * c * h * h}, {"output_bytes", oc * h * h},
                  {"weight_bytes", i % 2 ? 36 * c * oc : 0.0}};
    r.latency_s = 1e-5 + 1e-12 * r.features["macs"] * 1000 / r.freq_mhz + 1e-10 * r.features["input_bytes"] * (1 + 0.1 * (i % 5));
    // VDD_IN with a dynamic share following the rate of work, so that power models reading rates
    // (over the predicted latency) are among those written and read back.
    r.avg_power_w = {{"VDD_IN", 3 + r.freq_mhz / 1000 + 0.01 * (i % 11) + 2e-12 * r.features["macs"] / r.latency_s},
                     {"VDD_SYS_GPU", 1 + 0.02 * (i % 13)}};
    records.push_back(r);
  }
  return records;
}

void expect_same_predictions(const LayerPredictor& a, const LayerPredictor& b, const std::vector<sim::OpRecord>& records) {
  EXPECT_EQ(a.kind(), b.kind());
  EXPECT_EQ(a.rails(), b.rails());
  for (const auto& r : records) {
    LayerQuery q = query_of(r);
    ASSERT_EQ(a.covers(q), b.covers(q));
    if (!a.covers(q)) continue;
    LayerEstimate x = a.predict(q), y = b.predict(q);
    EXPECT_EQ(x.latency_s, y.latency_s);
    EXPECT_EQ(x.power_w, y.power_w);
  }
}

TEST(PredictorFile, RoundTripGivesIdenticalPredictions) {
  test::TempDir dir;
  std::vector<sim::OpRecord> records = mixed_records(1);
  FitOptions options;
  options.folds = 4;
  auto polynomial = fit_polynomial(records, options);
  auto roofline = fit_roofline(records);
  save_predictor(*polynomial, dir.file("p.json"));
  save_predictor(*roofline, dir.file("r.json"));
  auto polynomial_back = load_predictor(dir.file("p.json"));
  auto roofline_back = load_predictor(dir.file("r.json"));
  std::vector<sim::OpRecord> others = mixed_records(2);
  expect_same_predictions(*polynomial, *polynomial_back, others);
  expect_same_predictions(*roofline, *roofline_back, others);
  // Saving what was loaded writes the same document.
  save_predictor(*polynomial_back, dir.file("p2.json"));
  EXPECT_EQ(test::read_bytes(dir.file("p.json")), test::read_bytes(dir.file("p2.json")));
  nlohmann::json document = nlohmann::json::parse(test::read_bytes(dir.file("p.json")));
  EXPECT_EQ(document["schema"], "coda-predictor");
  EXPECT_EQ(document["version"], 1);
  EXPECT_EQ(document["rails"][0], "VDD_IN");
  bool reads_rates = false;
  for (const auto& model : document["models"])
    for (const auto& term : model["power"]["VDD_IN"]["terms"])
      for (const auto& [label, exponent] : term["monomial"].items())
        if (label.rfind("rate(", 0) == 0) reads_rates = true;
  EXPECT_TRUE(reads_rates);
}

TEST(PredictorFile, BadFilesAreRejectedNamingTheFile) {
  test::TempDir dir;
  auto predictor = fit_roofline(mixed_records(3));
  save_predictor(*predictor, dir.file("good.json"));
  nlohmann::json good = nlohmann::json::parse(test::read_bytes(dir.file("good.json")));
  std::string path = dir.file("bad.json");
  auto expect_rejected = [&](const std::string& bytes, const std::string& fragment) {
    test::write_bytes(path, bytes);
    test::expect_bad_input([&] { load_predictor(path); }, {path, fragment});
  };
  test::expect_bad_input([&] { load_predictor(dir.file("missing.json")); }, {"missing.json"});
  expect_rejected("{not json", "not JSON");
  nlohmann::json wrong = good;
  wrong["schema"] = "something-else";
  expect_rejected(wrong.dump(), "schema");
  wrong = good;
  wrong["version"] = 2;
  expect_rejected(wrong.dump(), "unsupported version 2");
  wrong = good;
  wrong["version"] = "1";
  expect_rejected(wrong.dump(), "version");
  wrong = good;
  wrong["kind"] = "forest";
  expect_rejected(wrong.dump(), "unknown predictor kind 'forest'");
  wrong = good;
  wrong["units"][0]["seconds_per_byte"] = "fast";
  expect_rejected(wrong.dump(), "seconds_per_byte");
  wrong = good;
  wrong["models"][0].erase("power_w");
  expect_rejected(wrong.dump(), "power_w");

  auto polynomial = fit_polynomial(mixed_records(4), {});
  save_predictor(*polynomial, dir.file("poly.json"));
  nlohmann::json poly = nlohmann::json::parse(test::read_bytes(dir.file("poly.json")));
  wrong = poly;
  wrong["models"][0]["latency"]["space"] = "cubic";
  expect_rejected(wrong.dump(), "unknown space 'cubic'");
  wrong = poly;
  wrong["models"][0]["latency"]["terms"] = {{{"monomial", {{"warp_size", 1}}}, {"coef", 1.0}, {"mean", 0.0}, {"scale", 1.0}}};
  expect_rejected(wrong.dump(), "unknown variable 'warp_size'");
  wrong = poly;
  wrong["models"][0]["latency"]["target"] = "energy";
  expect_rejected(wrong.dump(), "unexpected target 'energy'");
  wrong = poly;
  wrong["models"][0]["power"]["VDD_IN"]["target"] = "heat";
  expect_rejected(wrong.dump(), "unexpected target 'heat'");
  wrong = poly;
  wrong["models"][0]["records"] = 1.5;
  expect_rejected(wrong.dump(), "records");
}

}  // namespace
}  // namespace coda::models
