// The knob catalog and configurations: the built-in catalog holds the HPVM/ApproxTuner numbering
// (REFERENCE.md section 1) and coda's own families, and every malformed catalog or configuration
// is rejected with a message naming the file and the problem.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/knob_cost.h"
#include "kernels/executor.h"
#include "kernels/graph_builder.h"
#include "kernels/zoo.h"
#include "tests/support/bad_input.h"
#include "tests/support/graph_runner.h"

namespace coda::test {
namespace {

std::set<int> ids_between(const KnobCatalog& catalog, int low, int high) {
  std::set<int> ids;
  for (const Knob& k : catalog.knobs())
    if (k.id >= low && k.id <= high) ids.insert(k.id);
  return ids;
}

bool is_hpvm_id(int id) {
  return id == 11 || id == 12 || (id >= 121 && id <= 138) || (id >= 151 && id <= 168) || (id >= 231 && id <= 239) ||
         (id >= 261 && id <= 269) || (id >= 41 && id <= 46) || (id >= 1 && id <= 7);
}

TEST(KnobCatalog, BuiltInCatalogFollowsHpvmNumbering) {
  const KnobCatalog& catalog = knob_catalog();
  EXPECT_EQ(ids_between(catalog, 121, 138).size(), 18u);
  EXPECT_EQ(ids_between(catalog, 151, 168).size(), 18u);
  EXPECT_EQ(ids_between(catalog, 231, 239).size(), 9u);
  EXPECT_EQ(ids_between(catalog, 261, 269).size(), 9u);
  EXPECT_EQ(ids_between(catalog, 41, 46).size(), 6u);
  EXPECT_EQ(ids_between(catalog, 1, 7).size(), 7u);
  // REFERENCE.md section 1: per convolution 9*2 + 18*2 + 2 + 7 = 63 HPVM choices, per reduction
  // 3*2 + 2 = 8, other ops 2.
  auto hpvm_count = [&](const std::string& op) {
    int n = 0;
    for (const Knob* k : catalog.applicable(op)) n += is_hpvm_id(k->id);
    return n;
  };
  EXPECT_EQ(hpvm_count("Conv"), 63);
  EXPECT_EQ(hpvm_count("AveragePool"), 8);
  EXPECT_EQ(hpvm_count("Relu"), 2);
  EXPECT_EQ(catalog.require(11).family, KnobFamily::Exact);
  EXPECT_EQ(catalog.require(12).precision, Arithmetic::Fp16);
}

TEST(KnobCatalog, ParametersMatchTheirIds) {
  const KnobCatalog& catalog = knob_catalog();
  // Perforation: 121..129 rows with (k, offset) = (2,0),(2,1),(3,0..2),(4,0..3), then columns.
  std::vector<std::pair<int, int>> settings;
  for (int k = 2; k <= 4; ++k)
    for (int offset = 0; offset < k; ++offset) settings.emplace_back(k, offset);
  for (int base : {121, 151}) {
    for (int axis = 0; axis < 2; ++axis)
      for (std::size_t i = 0; i < settings.size(); ++i) {
        const Knob& knob = catalog.require(base + axis * 9 + static_cast<int>(i));
        EXPECT_EQ(knob.family, KnobFamily::Perforation);
        EXPECT_EQ(knob.axis, axis);
        EXPECT_EQ(knob.k, settings[i].first);
        EXPECT_EQ(knob.offset, settings[i].second);
        EXPECT_EQ(knob.precision, base == 121 ? Arithmetic::Fp32 : Arithmetic::Fp16);
      }
  }
  for (int base : {231, 261})
    for (std::size_t i = 0; i < settings.size(); ++i) {
      const Knob& knob = catalog.require(base + static_cast<int>(i));
      EXPECT_EQ(knob.family, KnobFamily::FilterSampling);
      EXPECT_EQ(knob.k, settings[i].first);
      EXPECT_EQ(knob.offset, settings[i].second);
      // HPVM's proxy speedups (REFERENCE.md section 1): 2.0/1.5/1.33 FP32, 3.0/2.25/2.0 FP16.
      const double fp32[] = {2.0, 1.5, 1.33}, fp16[] = {3.0, 2.25, 2.0};
      EXPECT_DOUBLE_EQ(knob.r_compute, (base == 231 ? fp32 : fp16)[knob.k - 2]);
    }
  // PROMISE sigmas per swing level (REFERENCE.md section 2).
  const double sigma[] = {0.64, 0.336, 0.21, 0.168, 0.14, 0.11, 0.0784};
  for (int s = 1; s <= 7; ++s) {
    const Knob& knob = catalog.require(s);
    EXPECT_EQ(knob.family, KnobFamily::Promise);
    EXPECT_EQ(knob.unit, KnobUnit::Promise);
    EXPECT_EQ(knob.swing, s);
    EXPECT_DOUBLE_EQ(knob.sigma, sigma[s - 1]);
  }
  for (const Knob& k : catalog.knobs()) {
    if (k.family == KnobFamily::ShiftAdd) {
      EXPECT_EQ(k.unit, KnobUnit::LightNN) << k.id;
    }
    if (k.family == KnobFamily::Pruning) {
      EXPECT_TRUE(k.transforms_graph()) << k.id;
    }
    if (!is_hpvm_id(k.id)) {
      EXPECT_TRUE(k.id >= 71 && k.id <= 97) << "coda's ids are 71-97, not " << k.id;
    }
  }
}

TEST(KnobCatalog, RejectsMalformedCatalogsNamingTheFile) {
  const std::string exact = "  - {id: 11, name: fp32, family: exact, applies_to: [all], r_compute: 1, r_memory: 1}\n";
  auto parse = [](const std::string& text) { KnobCatalog::parse(text, "my.yaml"); };
  expect_bad_input([&] { parse("knobs: [unclosed"); }, {"my.yaml", "not valid YAML"});
  expect_bad_input([&] { parse("something: 1"); }, {"my.yaml", "knobs"});
  expect_bad_input([&] { parse("knobs:\n" + exact + exact); }, {"my.yaml", "11", "twice"});
  expect_bad_input(
      [&] {
        parse("knobs:\n" + exact +
              "  - {id: 5, name: x, family: perforation, axis: rows, k: 1, offset: 0, applies_to: [Conv], "
              "r_compute: 2, r_memory: 1}\n");
      },
      {"my.yaml", "knob 5", "k must be at least 2"});
  expect_bad_input(
      [&] {
        parse("knobs:\n" + exact +
              "  - {id: 6, name: x, family: fp16, precision: fp16, applies_to: [Cnv], r_compute: 2, r_memory: 1}\n");
      },
      {"my.yaml", "knob 6", "unknown op type 'Cnv'"});
  expect_bad_input(
      [&] { parse("knobs:\n" + exact + "  - {id: 7, name: x, family: magic, applies_to: [all], r_compute: 1, r_memory: 1}\n"); },
      {"my.yaml", "knob 7", "family", "magic"});
  expect_bad_input([&] { parse("knobs:\n  - {id: 12, name: h, family: fp16, precision: fp16, applies_to: [all], "
                               "r_compute: 1, r_memory: 1}\n"); },
                   {"my.yaml", "knob 11"});
}

// conv1 -> relu1 -> pool1 -> flatten -> fc1.
Graph small_net() {
  GraphBuilder b("small", 3);
  int x = b.input("x", {2, 1, 8, 8});
  ConvSpec spec;
  spec.out_channels = 4;
  spec.kernel = 3;
  spec.pad = 1;
  x = b.conv(x, spec, "conv1");
  x = b.relu(x, "relu1");
  x = b.average_pool(x, 2, 2, 0, "pool1");
  x = b.flatten(x, "flatten");
  b.output(b.gemm(x, 3, "fc1"));
  Graph g = b.finish();
  prepare_graph(g);
  return g;
}

TEST(ApproxConfig, ResolvesDefaultsAndUnits) {
  Graph g = small_net();
  ApproxConfig config = ApproxConfig::parse(
      R"({"default": {"knob": 12, "unit": "cpu"},
          "ops": {"conv1": {"knob": 121}, "fc1": {"knob": 3}, "pool1": {"knob": 41, "unit": "gpu"}}})",
      "c.json");
  std::vector<OpChoice> choices = resolve_config(config, g, knob_catalog());
  ASSERT_EQ(choices.size(), g.nodes.size());
  std::map<std::string, OpChoice> by_name;
  for (std::size_t n = 0; n < g.nodes.size(); ++n) by_name[g.nodes[n].name] = choices[n];
  EXPECT_EQ(by_name["conv1"], (OpChoice{121, Unit::Cpu}));     // unit from the default
  EXPECT_EQ(by_name["fc1"], (OpChoice{3, Unit::Promise}));     // the unit PROMISE knobs need
  EXPECT_EQ(by_name["pool1"], (OpChoice{41, Unit::Gpu}));
  EXPECT_EQ(by_name["relu1"], (OpChoice{12, Unit::Cpu}));      // the default knob applies to all
  // A default that does not apply to an op leaves it exact.
  ApproxConfig perforate = ApproxConfig::parse(R"({"default": {"knob": 41}})", "p.json");
  for (const OpChoice& c : resolve_config(perforate, g, knob_catalog())) EXPECT_TRUE(c.knob == 41 || c.knob == 11);
  // "all" puts a unit-specific knob on every op it applies to; listed ops keep their own.
  ApproxConfig all = ApproxConfig::parse(R"({"all": {"knob": 81}, "ops": {"conv1": {"knob": 121}}})", "a.json");
  std::vector<OpChoice> lightnn = resolve_config(all, g, knob_catalog());
  for (std::size_t n = 0; n < g.nodes.size(); ++n) {
    const std::string& type = g.nodes[n].op_type;
    OpChoice want{11, Unit::Gpu};
    if (g.nodes[n].name == "conv1") want = OpChoice{121, Unit::Gpu};
    else if (type == "Gemm") want = OpChoice{81, Unit::LightNN};
    EXPECT_EQ(lightnn[n], want) << type;
  }
  EXPECT_EQ(resolve_config(ApproxConfig::parse(all.to_json(), "a2.json"), g, knob_catalog()), lightnn);
  // The JSON form round-trips.
  ApproxConfig again = ApproxConfig::parse(config.to_json(), "again.json");
  EXPECT_EQ(resolve_config(again, g, knob_catalog()), choices);
}

TEST(ApproxConfig, RejectsBadConfigurationsNamingTheProblem) {
  Graph g = small_net();
  auto resolve = [&](const std::string& text) { resolve_config(ApproxConfig::parse(text, "c.json"), g, knob_catalog()); };
  expect_bad_input([&] { resolve("{not json"); }, {"c.json", "not valid JSON"});
  expect_bad_input([&] { resolve(R"({"ops": {"conv9": {"knob": 12}}})"); }, {"c.json", "op 'conv9'", "not in the model"});
  expect_bad_input([&] { resolve(R"({"ops": {"relu1": {"knob": 121}}})"); },
                   {"c.json", "relu1", "knob 121", "does not apply to Relu"});
  expect_bad_input([&] { resolve(R"({"ops": {"conv1": {"knob": 999}}})"); }, {"c.json", "conv1", "knob 999", "catalog"});
  expect_bad_input([&] { resolve(R"({"ops": {"conv1": {"knob": 12, "unit": "tpu"}}})"); },
                   {"c.json", "conv1", "unknown unit 'tpu'"});
  expect_bad_input([&] { resolve(R"({"ops": {"conv1": {"knob": 12, "unit": "promise"}}})"); },
                   {"c.json", "conv1", "cannot run on unit 'promise'"});
  expect_bad_input([&] { resolve(R"({"ops": {"conv1": {"knob": 3, "unit": "gpu"}}})"); },
                   {"c.json", "conv1", "cannot run on unit 'gpu'", "needs promise"});
  expect_bad_input([&] { resolve(R"({"default": {"knob": 3}})"); }, {"c.json", "default knob", "hardware-independent"});
  expect_bad_input([&] { resolve(R"({"default": {"knob": 12, "unit": "lightnn"}})"); }, {"c.json", "default unit"});
  expect_bad_input([&] { resolve(R"({"ops": {"conv1": {"knob": "fast"}}})"); }, {"c.json", "conv1", "integer"});
  expect_bad_input([&] { resolve(R"({"opps": {}})"); }, {"c.json", "unknown field 'opps'"});
  expect_bad_input([&] { resolve(R"({"ranges": {"conv1": {"input": [1, 0], "output": [0, 1]}}})"); },
                   {"c.json", "conv1", "low < high"});
}

TEST(KnobCost, DividesExactCountsByTheCatalogFactors) {
  Graph g = small_net();
  std::vector<NodeReport> reports = analyse_graph(g);
  const KnobCatalog& catalog = knob_catalog();
  for (const NodeReport& r : reports) {
    KnobCost exact = exact_cost(r);
    EXPECT_DOUBLE_EQ(exact.compute, static_cast<double>(r.cost.macs + r.cost.flops));
    EXPECT_DOUBLE_EQ(exact.memory, static_cast<double>(r.cost.bytes_read + r.cost.bytes_written));
    for (const Knob* k : catalog.applicable(r.node->op_type)) {
      KnobCost c = knob_cost(r, *k);
      EXPECT_DOUBLE_EQ(c.compute * k->r_compute, exact.compute);
      EXPECT_DOUBLE_EQ(c.memory * k->r_memory, exact.memory);
    }
  }
  // conv1: 2 images x 4 filters x 8x8 outputs x 9 taps = 4608 MACs plus 512 bias adds.
  const NodeReport& conv = reports.front();
  ASSERT_EQ(conv.node->name, "conv1");
  EXPECT_DOUBLE_EQ(exact_cost(conv).compute, 4608 + 512);
  EXPECT_DOUBLE_EQ(knob_cost(conv, catalog.require(121)).compute, (4608 + 512) / 2.0);
  std::vector<OpChoice> all_exact(g.nodes.size());
  std::vector<OpChoice> perforated = all_exact;
  perforated.front().knob = 121;
  KnobCost a = configuration_cost(reports, all_exact, catalog), b = configuration_cost(reports, perforated, catalog);
  EXPECT_DOUBLE_EQ(a.compute - b.compute, (4608 + 512) / 2.0);
  EXPECT_DOUBLE_EQ(a.memory, b.memory);
}

TEST(Calibration, PercentileInterpolatesLikeNumpy) {
  std::vector<float> v{5, 1, 4, 2, 3};
  EXPECT_FLOAT_EQ(percentile(v, 0), 1);
  EXPECT_FLOAT_EQ(percentile(v, 100), 5);
  EXPECT_FLOAT_EQ(percentile(v, 50), 3);
  EXPECT_FLOAT_EQ(percentile(v, 10), 1.4f);    // numpy.percentile([1..5], 10) = 1.4
  EXPECT_FLOAT_EQ(percentile(v, 99.9), 4.996f);
}

TEST(Calibration, RangesArePercentilesOfActivationsAndFullRangeAtTheInput) {
  Graph g = small_net();
  std::vector<std::vector<Tensor>> batches{{seeded_input({2, 1, 8, 8}, 1)}, {seeded_input({2, 1, 8, 8}, 2)}};
  std::size_t conv = 0, fc = g.nodes.size() - 1;
  ASSERT_EQ(g.nodes[fc].name, "fc1");
  std::map<std::string, OpRanges> ranges = calibrate_ranges(g, batches, {conv, fc});
  // conv1 reads the graph input: its full range.
  float lo = 1e30f, hi = -1e30f;
  for (const auto& b : batches)
    for (int64_t i = 0; i < b[0].size(); ++i) {
      lo = std::min(lo, b[0].f32()[i]);
      hi = std::max(hi, b[0].f32()[i]);
    }
  EXPECT_FLOAT_EQ(ranges["conv1"].input.low, lo);
  EXPECT_FLOAT_EQ(ranges["conv1"].input.high, hi);
  // fc1's output percentiles, from the outputs computed independently.
  std::vector<float> outputs;
  Executor executor(g);
  for (const auto& b : batches) {
    Tensor y = executor.run(b).front();
    outputs.insert(outputs.end(), y.f32(), y.f32() + y.size());
  }
  std::vector<float> copy = outputs;
  EXPECT_FLOAT_EQ(ranges["fc1"].output.low, percentile(copy, 0.1));
  EXPECT_FLOAT_EQ(ranges["fc1"].output.high, percentile(outputs, 99.9));
  EXPECT_LT(ranges["fc1"].input.low, ranges["fc1"].input.high);
}

}  // namespace
}  // namespace coda::test
