// The tuning space (tuner/tuning_space.h): which ops are tunable and with which choices in the
// software and hardware scopes, and configurations to and from the --config JSON form, checked
// against resolve_config (what `coda eval/simulate --config` run).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <stdexcept>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"
#include "kernels/op.h"
#include "kernels/zoo.h"
#include "tests/support/bad_input.h"
#include "tuner/tuning_space.h"

namespace coda::tuner {
namespace {

Graph prepared_lenet() {
  ZooOptions options;
  options.batch = 2;
  options.shapes_only = true;
  Graph g = build_zoo_model("lenet5", options);
  prepare_graph(g);
  return g;
}

const TunableOp* find_op(const TuningSpace& space, const std::string& name) {
  for (const TunableOp& op : space.ops)
    if (op.name == name) return &op;
  return nullptr;
}

bool offers(const TunableOp& op, int knob, Unit unit) {
  return std::find(op.choices.begin(), op.choices.end(), OpChoice{knob, unit}) != op.choices.end();
}

Configuration random_configuration(const TuningSpace& space, std::mt19937_64& rng) {
  Configuration config;
  for (const TunableOp& op : space.ops)
    config.push_back(static_cast<int>(rng() % op.choices.size()));
  return config;
}

TEST(TuningSpace, SoftwareScopeHasGeneralPurposeKnobsOnEveryArithmeticNode) {
  Graph g = prepared_lenet();
  const KnobCatalog& catalog = knob_catalog();
  TuningSpace space = build_tuning_space(g, catalog, KnobScope::Software);
  EXPECT_EQ(space.node_count, g.nodes.size());
  // LeNet-5: every node but the Flatten view carries arithmetic, and FP16 applies to all of them.
  std::set<std::string> names;
  for (const TunableOp& op : space.ops) names.insert(op.name);
  EXPECT_EQ(names, (std::set<std::string>{"conv1", "conv1.relu", "pool1", "conv2", "conv2.relu", "pool2", "fc1",
                                          "fc1.relu", "fc2", "fc2.relu", "fc3"}));
  for (const TunableOp& op : space.ops) {
    EXPECT_EQ(g.nodes[op.node].name, op.name);
    EXPECT_EQ(op.op_type, g.nodes[op.node].op_type);
    ASSERT_GE(op.choices.size(), 2u);
    EXPECT_EQ(op.choices.front(), (OpChoice{11, Unit::Gpu}));
    std::set<int> seen;
    for (const OpChoice& choice : op.choices) {
      const Knob& knob = catalog.require(choice.knob);
      EXPECT_TRUE(knob.applies_to_op(op.op_type)) << op.name << " " << knob.name;
      EXPECT_EQ(knob.unit, KnobUnit::Any) << knob.name;
      EXPECT_FALSE(knob.transforms_graph()) << knob.name;
      EXPECT_EQ(choice.unit, Unit::Gpu);
      EXPECT_TRUE(seen.insert(choice.knob).second) << "knob " << choice.knob << " offered twice on " << op.name;
    }
  }
  const TunableOp* conv = find_op(space, "conv1");
  ASSERT_NE(conv, nullptr);
  // FP16, perforation, filter sampling and fixed point on the convolution; no pruning, no PROMISE.
  for (int knob : {12, 71, 121, 151, 168, 231, 269, 72, 73}) EXPECT_TRUE(offers(*conv, knob, Unit::Gpu)) << knob;
  for (int knob : {91, 1, 81, 41}) EXPECT_FALSE(std::any_of(conv->choices.begin(), conv->choices.end(),
                                                            [&](const OpChoice& c) { return c.knob == knob; }))
      << knob;
  // Exact first, then the applicable knobs in catalog order.
  std::vector<int> expected{11};
  for (const Knob& knob : catalog.knobs())
    if (knob.id != 11 && knob.applies_to_op("Conv") && knob.unit == KnobUnit::Any && !knob.transforms_graph())
      expected.push_back(knob.id);
  std::vector<int> actual;
  for (const OpChoice& choice : conv->choices) actual.push_back(choice.knob);
  EXPECT_EQ(actual, expected);
  const TunableOp* pool = find_op(space, "pool1");
  ASSERT_NE(pool, nullptr);
  EXPECT_TRUE(offers(*pool, 41, Unit::Gpu));
  EXPECT_FALSE(offers(*pool, 121, Unit::Gpu));
}

TEST(TuningSpace, HardwareScopeAddsPromiseAndShiftAddOnTheirUnits) {
  Graph g = prepared_lenet();
  const KnobCatalog& catalog = knob_catalog();
  TuningSpace software = build_tuning_space(g, catalog, KnobScope::Software);
  TuningSpace hardware = build_tuning_space(g, catalog, KnobScope::Hardware);
  ASSERT_EQ(software.ops.size(), hardware.ops.size());
  for (std::size_t i = 0; i < hardware.ops.size(); ++i) {
    const TunableOp& hw = hardware.ops[i];
    for (const OpChoice& choice : software.ops[i].choices) EXPECT_TRUE(offers(hw, choice.knob, choice.unit));
    bool matrix_op = hw.op_type == "Conv" || hw.op_type == "Gemm";
    EXPECT_EQ(offers(hw, 3, Unit::Promise), matrix_op) << hw.name;
    EXPECT_EQ(offers(hw, 81, Unit::LightNN), matrix_op) << hw.name;
    for (const OpChoice& choice : hw.choices) {
      const Knob& knob = catalog.require(choice.knob);
      if (knob.family == KnobFamily::Promise) {
        EXPECT_EQ(choice.unit, Unit::Promise);
      }
      if (knob.family == KnobFamily::ShiftAdd) {
        EXPECT_EQ(choice.unit, Unit::LightNN);
      }
      EXPECT_FALSE(knob.transforms_graph());
    }
    // 7 PROMISE swings and 6 shift-add variants (kernels/knobs.yaml) on Conv and Gemm.
    EXPECT_EQ(hw.choices.size(), software.ops[i].choices.size() + (matrix_op ? 13u : 0u)) << hw.name;
  }
}

TEST(TuningSpace, AllowedKnobsAndBaselineUnit) {
  Graph g = prepared_lenet();
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Cpu, {12, 121});
  for (const TunableOp& op : space.ops) {
    if (op.op_type == "Conv") {
      EXPECT_EQ(op.choices, (std::vector<OpChoice>{{11, Unit::Cpu}, {12, Unit::Cpu}, {121, Unit::Cpu}}));
    } else {
      EXPECT_EQ(op.choices, (std::vector<OpChoice>{{11, Unit::Cpu}, {12, Unit::Cpu}}));
    }
  }
  EXPECT_DOUBLE_EQ(space.size(), 9.0 * std::pow(2.0, 9));
  EXPECT_EQ(space.choice_counts(), (std::vector<int>{3, 2, 2, 3, 2, 2, 2, 2, 2, 2, 2}));
  // Only knob 41 (reduction sampling) allowed: ops it does not apply to are exact-only and dropped.
  TuningSpace pools = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {41});
  ASSERT_EQ(pools.ops.size(), 2u);
  EXPECT_EQ(pools.ops[0].name, "pool1");
  EXPECT_EQ(pools.ops[1].name, "pool2");
  test::expect_bad_input([&] { build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Promise); },
                         {"baseline unit", "promise"});
  test::expect_bad_input([&] { build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {9999}); },
                         {"9999"});
}

TEST(TuningSpace, NodeChoicesPlaceTheConfigurationOnItsNodes) {
  Graph g = prepared_lenet();
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {12, 121});
  Configuration config(space.ops.size(), 0);
  config[0] = 2;  // conv1: perforation
  config[3] = 1;  // conv2: fp16
  std::vector<OpChoice> choices = node_choices(space, config);
  ASSERT_EQ(choices.size(), g.nodes.size());
  for (std::size_t n = 0; n < g.nodes.size(); ++n) {
    OpChoice expected{11, Unit::Gpu};
    if (g.nodes[n].name == "conv1") expected = {121, Unit::Gpu};
    if (g.nodes[n].name == "conv2") expected = {12, Unit::Gpu};
    EXPECT_EQ(choices[n], expected) << g.nodes[n].name;
  }
  EXPECT_EQ(describe(space, config, knob_catalog()), "conv1=perf_fp32_rows_k2_o0 conv2=fp16");
  EXPECT_EQ(describe(space, Configuration(space.ops.size(), 0), knob_catalog()), "exact");
  EXPECT_THROW(node_choices(space, Configuration(3, 0)), std::invalid_argument);
  config[1] = 2;  // conv1.relu has two choices
  EXPECT_THROW(node_choices(space, config), std::invalid_argument);
  config[1] = -1;
  EXPECT_THROW(node_choices(space, config), std::invalid_argument);
}

TEST(TuningSpace, ApproxConfigRoundTripsAndResolvesToTheSameChoices) {
  Graph g = prepared_lenet();
  const KnobCatalog& catalog = knob_catalog();
  TuningSpace space = build_tuning_space(g, catalog, KnobScope::Hardware);
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    Configuration config = random_configuration(space, rng);
    ApproxConfig written = to_approx_config(space, config);
    ApproxConfig read = ApproxConfig::parse(written.to_json(), "tuned.json");
    EXPECT_EQ(from_approx_config(space, read), config);
    EXPECT_EQ(from_approx_config(space, written), config);
    // `coda eval --config` resolves the file to exactly the nodes' choices.
    EXPECT_EQ(resolve_config(read, g, catalog), node_choices(space, config));
  }
  Configuration exact(space.ops.size(), 0);
  EXPECT_TRUE(to_approx_config(space, exact).ops.empty());
}

TEST(TuningSpace, FromApproxConfigReadsHandWrittenFiles) {
  Graph g = prepared_lenet();
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Hardware);
  // No units written: each knob takes its own unit; "all" spreads FP16 over every op offering it.
  ApproxConfig config = ApproxConfig::parse(R"({"all": {"knob": 12}, "ops": {"conv1": {"knob": 3}}})", "hand.json");
  Configuration result = from_approx_config(space, config);
  std::vector<OpChoice> choices = node_choices(space, result);
  std::vector<OpChoice> resolved = resolve_config(config, g, knob_catalog());
  // resolve_config also puts FP16 on the Flatten view, which has no arithmetic and no choice here.
  for (const TunableOp& op : space.ops) EXPECT_EQ(choices[op.node], resolved[op.node]) << op.name;
  EXPECT_EQ(choices[space.ops[0].node], (OpChoice{3, Unit::Promise}));
  EXPECT_EQ(choices[space.ops[1].node], (OpChoice{12, Unit::Gpu}));
}

TEST(TuningSpace, FromApproxConfigRejectsWhatTheSpaceLacks) {
  Graph g = prepared_lenet();
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Software);
  test::expect_bad_input(
      [&] { from_approx_config(space, ApproxConfig::parse(R"({"ops": {"flatten": {"knob": 12}}})", "a.json")); },
      {"a.json", "flatten", "not tunable"});
  test::expect_bad_input(
      [&] { from_approx_config(space, ApproxConfig::parse(R"({"ops": {"nope": {"knob": 12}}})", "b.json")); },
      {"b.json", "nope"});
  // PROMISE is outside the software space.
  test::expect_bad_input(
      [&] { from_approx_config(space, ApproxConfig::parse(R"({"ops": {"conv1": {"knob": 3}}})", "c.json")); },
      {"c.json", "conv1", "knob 3"});
  test::expect_bad_input(
      [&] {
        from_approx_config(space, ApproxConfig::parse(R"({"ops": {"conv1": {"knob": 12, "unit": "cpu"}}})", "d.json"));
      },
      {"d.json", "conv1", "cpu"});
  test::expect_bad_input(
      [&] { from_approx_config(space, ApproxConfig::parse(R"({"default": {"knob": 11, "unit": "cpu"}})", "e.json")); },
      {"e.json", "default unit"});
}

}  // namespace
}  // namespace coda::tuner
