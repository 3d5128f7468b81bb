// Sweep evaluation: keys that identify a point and everything that shapes its result, validation
// that refuses a point before any work starts, and records that equal a direct simulation or
// prediction of the same platform and network.
//
// Under AddressSanitizer a C++ exception thrown after SystemC's sc_start ran aborts the process,
// so tests that expect BadInput never simulate; ctest runs each test case in a process of its own.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <regex>

#include "kernels/approx/approx_session.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"
#include "models/network_prediction.h"
#include "models/predictor_fit.h"
#include "sim/simulate.h"
#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "tests/tuner/sweep_fixtures.h"
#include "tuner/sweep_evaluator.h"

namespace coda::sim {
extern const char* const kBuiltinPlatformTx2;
}

namespace coda::tuner {
namespace {

SweepSpec spec_from(const std::string& text) { return SweepSpec::parse(text, "spec.yaml", ""); }

std::uint64_t fnv1a64(const std::string& bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

const char* kBanksSpec =
    "network: zoo:lenet5\nseed: 5\naxes:\n  - set: promise.banks\n    values: [64, 256]\n"
    "  - set: gpu.freq_mhz\n    values: [318.75, 1300.5]\n";

TEST(SweepEvaluator, KeysFollowThePointAndItsContext) {
  const SweepSpec spec = spec_from(kBanksSpec);
  SweepEvaluator evaluator(spec, load_zoo);
  const SweepPoint point{0, {"64", "318.75"}};
  EXPECT_EQ(evaluator.point_json(point), R"({"promise.banks":"64","gpu.freq_mhz":"318.75"})");
  const std::string key = evaluator.key(point);
  EXPECT_TRUE(std::regex_match(key, std::regex("[0-9a-f]{16}"))) << key;
  EXPECT_EQ(key, evaluator.key(SweepPoint{9, {"64", "318.75"}}));  // the index is not part of the point
  EXPECT_EQ(key, SweepEvaluator(spec_from(kBanksSpec), load_zoo).key(point));
  // Independent FNV-1a of the sweep id and the point.
  char expected[17];
  std::snprintf(expected, sizeof expected, "%016llx",
                static_cast<unsigned long long>(fnv1a64(evaluator.sweep_id() + "\n" + evaluator.point_json(point))));
  EXPECT_EQ(key, expected);

  EXPECT_NE(key, evaluator.key(SweepPoint{0, {"256", "318.75"}}));
  EXPECT_NE(key, evaluator.key(SweepPoint{0, {"64", "1300.5"}}));
  const std::string other_seed = std::regex_replace(kBanksSpec, std::regex("seed: 5"), "seed: 6");
  EXPECT_NE(key, SweepEvaluator(spec_from(other_seed), load_zoo).key(point));
  EXPECT_NE(key, SweepEvaluator(spec_from("set: [dram.bandwidth_gbs=30]\n" + std::string(kBanksSpec)), load_zoo).key(point));
  const std::string other_network = std::regex_replace(kBanksSpec, std::regex("lenet5"), "resnet20");
  EXPECT_NE(key, SweepEvaluator(spec_from(other_network), load_zoo).key(point));
  EXPECT_NE(key, SweepEvaluator(spec_from("placement: auto\n" + std::string(kBanksSpec)), load_zoo).key(point));
  // A base platform file counts by its text, not by its path: the built-in text in a file is the
  // same sweep, one changed line another.
  test::TempDir dir;
  const std::string builtin_text = sim::kBuiltinPlatformTx2;
  test::write_bytes(dir.file("same.yaml"), builtin_text);
  test::write_bytes(dir.file("other.yaml"), std::regex_replace(builtin_text, std::regex("banks: 256"), "banks: 128"));
  auto id_with = [&](const std::string& file) {
    return SweepEvaluator(SweepSpec::parse("platform: " + file + "\n" + kBanksSpec, "s.yaml", dir.path()), load_zoo)
        .sweep_id();
  };
  EXPECT_EQ(evaluator.sweep_id(), id_with("same.yaml"));
  EXPECT_NE(evaluator.sweep_id(), id_with("other.yaml"));
}

TEST(SweepEvaluator, ValidateRefusesPointsThatCannotBeEvaluated) {
  int loads = 0;
  auto counting = [&](const std::string& m, const std::string& c, int b) {
    ++loads;
    return load_zoo(m, c, b);
  };
  {
    const SweepSpec spec = spec_from(
        "axes:\n  - set: promise.banks\n    values: [64, 128]\n  - network: [zoo:lenet5, zoo:resnet20]\n"
        "  - batch: [1, 2]\n");
    SweepEvaluator evaluator(spec, counting);
    evaluator.validate(make_design(spec));
    EXPECT_EQ(loads, 4);  // each (network, batch) once
  }
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
      {"axes:\n  - set: promise.bankz\n    values: [64]\n",
       {"spec.yaml: point 0 (promise.bankz=64): ", "promise.bankz"}},
      {"axes:\n  - set: gpu.freq_mhz\n    values: [1300.5, 1000]\n",
       {"spec.yaml: point 1 (gpu.freq_mhz=1000): ", "gpu.freq_mhz"}},
      {"axes:\n  - set: promise.banks\n    values: [0]\n", {"spec.yaml: point 0 (promise.banks=0): "}},
      {"axes:\n  - set: promise.banks\n    values: [64]\n  - network: [zoo:lenet5, nowhere.onnx]\n",
       {"spec.yaml: point 1 (promise.banks=64, network=nowhere.onnx): nowhere.onnx: not a zoo model"}},
      {"axes:\n  - config: [exact, knob:999]\n", {"spec.yaml: point 1 (config=knob:999): "}},
      {"network: zoo:lenet5\naxes:\n  - set: promise.present\n    values: [true, false]\n  - config: [exact, knob:3]\n",
       {"spec.yaml: point 3 (promise.present=false, config=knob:3): ", "placed on promise, which the platform does not have"}},
  };
  for (const auto& [text, fragments] : cases) {
    SCOPED_TRACE(text);
    const SweepSpec spec = spec_from(text);
    test::expect_bad_input([&] { SweepEvaluator(spec, load_zoo).validate(make_design(spec)); }, fragments);
  }
  test::expect_bad_input([] { SweepEvaluator(spec_from("set: [gpu.bogus=1]\naxes:\n  - batch: [1]\n"), load_zoo); },
                         {"spec.yaml: ", "gpu.bogus"});
}

// A roofline predictor fitted on made-up costs of lenet5's ops on the GPU in FP32 (no simulation,
// so the test may expect exceptions): latency grows with the work and falls with the clock, a
// roofline exactly. Returns the network's latency (its ops one after another) by clock.
std::map<std::string, double> write_gpu_predictor(const std::string& path) {
  std::map<std::string, double> latency;
  SweepNetwork network = load_zoo("zoo:lenet5", "exact", 1);
  std::vector<sim::OpRecord> records;
  for (double clock : {318.75, 1300.5}) {
    const std::string clock_text = clock == 318.75 ? "318.75" : "1300.5";
    const models::NetworkDescription description =
        models::describe_network(network.graph, network.choices, sim::Platform::builtin({"gpu.freq_mhz=" + clock_text}));
    for (std::size_t n = 0; n < description.queries.size(); ++n) {
      const models::LayerQuery& q = description.queries[n];
      sim::OpRecord record;
      record.op_type = network.graph.nodes[n].op_type;
      record.unit = q.unit;
      record.knob = 11;
      record.freq_mhz = q.freq_mhz;
      record.features = q.features;
      auto feature = [&](const char* name) { return q.features.count(name) ? q.features.at(name) : 0.0; };
      const double flops = 2 * feature("macs") + feature("flops");
      record.latency_s = 2e-6 + flops / (clock * 1e6 * 64);
      record.avg_power_w = {{"VDD_IN", 4.0 + clock / 1000}, {"VDD_SYS_GPU", 1.0 + clock / 1000}};
      if (q.op_class != "view") latency[clock_text] += record.latency_s;
      records.push_back(record);
    }
  }
  models::save_predictor(*models::fit_roofline(records), path);
  return latency;
}

TEST(SweepEvaluator, PredictorPointsMatchADirectPrediction) {
  test::TempDir dir;
  const std::map<std::string, double> expected_latency = write_gpu_predictor(dir.file("gpu.json"));
  const std::string text =
      "evaluator: predictor:gpu.json\nnetwork: zoo:lenet5\naxes:\n  - set: gpu.freq_mhz\n    values: [318.75, 1300.5]\n";
  const SweepSpec spec = SweepSpec::parse(text, "s.yaml", dir.path());
  SweepEvaluator evaluator(spec, load_zoo);
  const std::vector<SweepPoint> points = make_design(spec);
  evaluator.validate(points);

  const std::unique_ptr<models::LayerPredictor> predictor = models::load_predictor(dir.file("gpu.json"));
  SweepNetwork network = load_zoo("zoo:lenet5", "exact", 1);
  std::vector<traces::SweepRecord> records;
  for (const SweepPoint& point : points) {
    const traces::SweepRecord record = evaluator.evaluate(point);
    ASSERT_EQ(record.status, "ok") << record.error;
    const sim::SimResult direct = models::predict_network(
        network.graph, network.choices, sim::Platform::builtin({"gpu.freq_mhz=" + point.values[0]}), *predictor,
        {"zoo:lenet5", 1, false});
    EXPECT_EQ(record.latency_s, direct.latency_s);
    EXPECT_NEAR(record.latency_s, expected_latency.at(point.values[0]), 1e-6 * record.latency_s);
    EXPECT_EQ(record.energy_j, direct.energy_j);
    EXPECT_EQ(record.avg_power_w, direct.avg_power_w.at("VDD_IN"));
    EXPECT_EQ(record.breakdown.at("rail_energy_j"), direct.rail_energy_j);
    EXPECT_TRUE(record.same_result(evaluator.evaluate(point)));
    records.push_back(record);
  }
  EXPECT_GT(records[0].latency_s, records[1].latency_s);

  // Knobs the predictor was not fitted for, and axes it cannot see, are refused up front.
  const SweepSpec fp16 = SweepSpec::parse(
      "evaluator: predictor:gpu.json\nnetwork: zoo:lenet5\naxes:\n  - config: [exact, knob:12]\n", "s.yaml", dir.path());
  test::expect_bad_input([&] { SweepEvaluator(fp16, load_zoo).validate(make_design(fp16)); },
                         {"s.yaml: point 1 (config=knob:12): ", "the predictor has no model for", "fp16"});
  const SweepSpec dram = SweepSpec::parse(
      "evaluator: predictor:gpu.json\naxes:\n  - set: dram.bandwidth_gbs\n    values: [20, 40]\n", "s.yaml", dir.path());
  test::expect_bad_input([&] { SweepEvaluator(dram, load_zoo).validate(make_design(dram)); },
                         {"s.yaml: axis 'dram.bandwidth_gbs' changes nothing a predictor sees (only unit clocks reach "
                          "it); use evaluator: sim"});
}

TEST(SweepEvaluator, SimulatedPointsAreDeterministicAndMatchADirectSimulation) {
  const SweepSpec spec = spec_from(kBanksSpec);
  SweepEvaluator evaluator(spec, load_zoo);
  const std::vector<SweepPoint> points = make_design(spec);
  evaluator.validate(points);
  const SweepPoint& slow = points[0];  // 64 banks, 318.75 MHz
  const traces::SweepRecord record = evaluator.evaluate(slow);
  ASSERT_EQ(record.status, "ok") << record.error;
  EXPECT_EQ(record.key, evaluator.key(slow));
  EXPECT_EQ(record.point, evaluator.point_json(slow));
  EXPECT_TRUE(record.same_result(evaluator.evaluate(slow)));
  EXPECT_TRUE(record.same_result(SweepEvaluator(spec, load_zoo).evaluate(slow)));
  EXPECT_GT(record.wall_s, 0);

  SweepNetwork network = load_zoo("zoo:lenet5", "exact", 1);
  sim::SimOptions options;
  options.model_name = "zoo:lenet5";
  options.seed = spec.seed ^ fnv1a64(record.key);
  const sim::SimResult direct = sim::simulate(
      network.graph, network.choices, sim::Platform::builtin({"promise.banks=64", "gpu.freq_mhz=318.75"}), options);
  EXPECT_EQ(record.latency_s, direct.latency_s);
  EXPECT_EQ(record.energy_j, direct.energy_j);
  EXPECT_EQ(record.ops_energy_j, direct.ops_energy_j);
  EXPECT_EQ(record.idle_energy_j, direct.idle_energy_j);
  EXPECT_EQ(record.avg_power_w, direct.avg_power_w.at("VDD_IN"));
  EXPECT_EQ(record.peak_temp_c, direct.peak_temp_c);
  EXPECT_EQ(record.simulated_cycles, direct.simulated_cycles);
  EXPECT_EQ(record.breakdown.at("component_energy_j"), direct.energy_breakdown_j);
  EXPECT_EQ(record.breakdown.at("utilisation"), direct.utilisation);
  // Every op on the GPU: its energy is the ops' energy and its busy time at most the latency.
  EXPECT_NEAR(record.breakdown.at("unit_energy_j").at("gpu"), record.ops_energy_j, 1e-12 * record.ops_energy_j);
  EXPECT_LE(record.breakdown.at("unit_busy_s").at("gpu"), record.latency_s * (1 + 1e-12));

  // A faster GPU clock shortens a GPU-only network; PROMISE banks it does not use change nothing.
  const traces::SweepRecord fast = evaluator.evaluate(points[1]);
  EXPECT_LT(fast.latency_s, record.latency_s);
  const traces::SweepRecord more_banks = evaluator.evaluate(points[2]);
  EXPECT_EQ(more_banks.latency_s, record.latency_s);
}

TEST(SweepEvaluator, PromiseBankCountShapesPromiseLatency) {
  const SweepSpec spec =
      spec_from("network: zoo:lenet5\nconfig: knob:3\naxes:\n  - set: promise.banks\n    values: [8, 256]\n");
  SweepEvaluator evaluator(spec, load_zoo);
  const std::vector<SweepPoint> points = make_design(spec);
  evaluator.validate(points);
  const traces::SweepRecord few = evaluator.evaluate(points[0]), many = evaluator.evaluate(points[1]);
  ASSERT_EQ(few.status, "ok") << few.error;
  ASSERT_EQ(many.status, "ok") << many.error;
  EXPECT_GT(few.breakdown.at("unit_busy_s").at("promise"), many.breakdown.at("unit_busy_s").at("promise"));
  EXPECT_GT(few.latency_s, many.latency_s);
}

}  // namespace
}  // namespace coda::tuner
