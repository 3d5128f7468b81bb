// Sweep specs and designs: the spec format of tuner/sweep_spec.h read strictly (every mistake one
// line naming the spec), and the grid, random and Latin hypercube designs over its axes:
// ordering, reproducibility for a seed and the stratification a Latin hypercube promises.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "kernels/error.h"
#include "sim/platform.h"
#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "tuner/sweep_spec.h"

namespace coda::sim {
extern const char* const kBuiltinPlatformTx2;
}

namespace coda::tuner {
namespace {

// The example of the header comment, with files it names made in `dir`.
std::string header_example() {
  return R"(name: resnet18-codesign
evaluator: sim
platform: my-soc.yaml
set: [cpu.freq_mhz=2035.2]
network: zoo:resnet18
config: exact
batch: 1
placement: configured
seed: 1
batch_points: 16
design: {kind: grid}
axes:
  - set: promise.banks
    values: [64, 128, 256]
  - set: [lightnn.rows, lightnn.cols]
    values: [8, 16, 32]
  - set: dram.bandwidth_gbs
    range: [12.8, 59.7]
    steps: 4
    log: false
    integer: false
  - set: gpu.freq_mhz
    values: dvfs
  - network: [zoo:resnet18, zoo:mobilenet_v1]
  - config: [exact, knob:3, knob:81, tuned.json, curve.json#conf4]
  - batch: [1, 8]
)";
}

SweepSpec parse(const std::string& text) { return SweepSpec::parse(text, "sweep.yaml", ""); }

double number(const std::string& text) { return std::stod(text); }

TEST(SweepSpec, ReadsTheHeaderExample) {
  test::TempDir dir;
  test::write_bytes(dir.file("my-soc.yaml"), sim::kBuiltinPlatformTx2);
  test::write_bytes(dir.file("sweep.yaml"), header_example());
  const SweepSpec spec = SweepSpec::load(dir.file("sweep.yaml"));

  EXPECT_EQ(spec.source, dir.file("sweep.yaml"));
  EXPECT_EQ(spec.directory, dir.path());
  EXPECT_EQ(spec.text, header_example());
  EXPECT_EQ(spec.name, "resnet18-codesign");
  EXPECT_EQ(spec.evaluator, "sim");
  EXPECT_FALSE(spec.uses_predictor());
  EXPECT_EQ(spec.platform, dir.file("my-soc.yaml"));
  EXPECT_EQ(spec.fixed_sets, std::vector<std::string>{"cpu.freq_mhz=2035.2"});
  EXPECT_EQ(spec.network, "zoo:resnet18");
  EXPECT_EQ(spec.config, "exact");
  EXPECT_EQ(spec.batch, 1);
  EXPECT_EQ(spec.placement, "configured");
  EXPECT_EQ(spec.seed, 1u);
  EXPECT_EQ(spec.batch_points, 16);
  EXPECT_EQ(spec.design, SweepDesignKind::Grid);

  ASSERT_EQ(spec.axes.size(), 7u);
  EXPECT_EQ(spec.axis_names(),
            (std::vector<std::string>{"promise.banks", "lightnn.rows+lightnn.cols", "dram.bandwidth_gbs", "gpu.freq_mhz",
                                      "network", "config", "batch"}));
  EXPECT_EQ(spec.axes[0].kind, SweepAxisKind::Platform);
  EXPECT_EQ(spec.axes[0].values, (std::vector<std::string>{"64", "128", "256"}));
  EXPECT_EQ(spec.axes[1].keys, (std::vector<std::string>{"lightnn.rows", "lightnn.cols"}));

  // Four values evenly spaced from 12.8 to 59.7, the ends exact.
  const SweepAxis& dram = spec.axes[2];
  EXPECT_TRUE(dram.continuous);
  EXPECT_EQ(dram.low, 12.8);
  EXPECT_EQ(dram.high, 59.7);
  ASSERT_EQ(dram.values.size(), 4u);
  EXPECT_EQ(dram.values.front(), "12.8");
  EXPECT_EQ(dram.values.back(), "59.7");
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(number(dram.values[i]), 12.8 + i * (59.7 - 12.8) / 3, 1e-12);

  // `dvfs` is the GPU's table of the base platform, step for step, each value reading back exactly.
  const sim::Platform platform = sim::Platform::load(dir.file("my-soc.yaml"));
  const SweepAxis& gpu = spec.axes[3];
  ASSERT_EQ(gpu.values.size(), platform.gpu.dvfs.points.size());
  for (std::size_t i = 0; i < gpu.values.size(); ++i) EXPECT_EQ(number(gpu.values[i]), platform.gpu.dvfs.points[i].freq_mhz);
  EXPECT_EQ(gpu.values.front(), "114.75");

  EXPECT_EQ(spec.axes[4].kind, SweepAxisKind::Network);
  EXPECT_EQ(spec.axes[4].values, (std::vector<std::string>{"zoo:resnet18", "zoo:mobilenet_v1"}));
  EXPECT_EQ(spec.axes[5].kind, SweepAxisKind::Config);
  EXPECT_EQ(spec.axes[5].values.size(), 5u);
  EXPECT_EQ(spec.axes[6].kind, SweepAxisKind::Batch);
  EXPECT_EQ(spec.axes[6].values, (std::vector<std::string>{"1", "8"}));

  // Values stay as written; loading resolves files against the spec's directory.
  EXPECT_EQ(spec.resolved_config("tuned.json"), dir.file("tuned.json"));
  EXPECT_EQ(spec.resolved_config("curve.json#conf4"), dir.file("curve.json") + "#conf4");
  EXPECT_EQ(spec.resolved_config("knob:3"), "knob:3");
  EXPECT_EQ(spec.resolved_config("exact"), "exact");
  EXPECT_EQ(spec.resolved_network("zoo:resnet18"), "zoo:resnet18");
  EXPECT_EQ(spec.resolved_network("net.onnx"), dir.file("net.onnx"));
  EXPECT_EQ(spec.resolved_network("/abs/net.onnx"), "/abs/net.onnx");

  // The grid is the product of the axes.
  EXPECT_EQ(make_design(spec).size(), 3u * 3 * 4 * gpu.values.size() * 2 * 5 * 2);
}

TEST(SweepSpec, ReadsTheShippedExample) {
  const SweepSpec spec = SweepSpec::load(std::string(CODA_SOURCE_DIR) + "/tuner/examples/resnet18_codesign.yaml");
  EXPECT_EQ(spec.axis_names(), (std::vector<std::string>{"config", "promise.banks", "lightnn.array",
                                                         "dram.bandwidth_gbs", "gpu.freq_mhz"}));
  EXPECT_EQ(spec.axes[2].keys, (std::vector<std::string>{"lightnn.rows", "lightnn.cols"}));
  EXPECT_EQ(make_design(spec).size(), 3u * 4 * 3 * 3 * 3);
}

TEST(SweepSpec, DefaultsAndNumberForms) {
  const SweepSpec spec = parse("axes:\n  - set: promise.banks\n    values: [64.0, 1.28e2, '256']\n");
  EXPECT_EQ(spec.name, "sweep");
  EXPECT_EQ(spec.evaluator, "sim");
  EXPECT_EQ(spec.platform, "");
  EXPECT_EQ(spec.network, "zoo:resnet18");
  EXPECT_EQ(spec.config, "exact");
  EXPECT_EQ(spec.batch, 1);
  EXPECT_EQ(spec.placement, "configured");
  EXPECT_EQ(spec.seed, 0u);
  EXPECT_EQ(spec.design, SweepDesignKind::Grid);
  // One point has one spelling: numbers in shortest round-trip form.
  EXPECT_EQ(spec.axes[0].values, (std::vector<std::string>{"64", "128", "256"}));
  // A named axis, a predictor that exists, relative to the spec's directory.
  test::TempDir dir;
  test::write_bytes(dir.file("p.json"), "{}");
  const SweepSpec named = SweepSpec::parse(
      "evaluator: predictor:p.json\naxes:\n  - set: [cpu.freq_mhz]\n    name: clock\n    values: [345.6]\n", "s.yaml",
      dir.path());
  EXPECT_EQ(named.axis_names(), std::vector<std::string>{"clock"});
  EXPECT_TRUE(named.uses_predictor());
  EXPECT_EQ(named.predictor_path(), dir.file("p.json"));
}

TEST(SweepSpec, RangeGridsOnLogAndIntegerScales) {
  const SweepSpec spec = parse(
      "axes:\n"
      "  - set: promise.banks\n    range: [16, 256]\n    steps: 5\n    log: true\n    integer: true\n"
      "  - set: lightnn.rows\n    range: [1, 3]\n    steps: 5\n    integer: true\n");
  EXPECT_EQ(spec.axes[0].values, (std::vector<std::string>{"16", "32", "64", "128", "256"}));
  // Rounding repeats values: each appears once.
  EXPECT_EQ(spec.axes[1].values, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(SweepSpec, BadSpecsNameTheFileAndTheProblem) {
  const std::string axis = "axes:\n  - set: promise.banks\n    values: [64]\n";
  struct Case {
    std::string text;
    std::string fragment;
  };
  const std::vector<Case> cases{
      {"bogus: 1\n" + axis, "unknown key 'bogus' (expected one of"},
      {"design: {kind: lhs, pts: 3}\n" + axis, "unknown key 'pts' in design (expected one of kind, points)"},
      {"axes:\n  - set: promise.banks\n    value: [64]\n", "unknown key 'value' in axis 1 (expected one of"},
      {axis + "  - network: [zoo:lenet5]\n    values: [1]\n", "unknown key 'values' in axis 2 (expected one of name, network)"},
      {"axes:\n  - set: promise.banks\n    network: [zoo:lenet5]\n", "axis 1: needs exactly one of set, network, config, batch"},
      {"axes:\n  - name: x\n", "axis 1: needs exactly one of"},
      {"axes:\n  - set: promise.banks\n    values: []\n", "axis 1 (promise.banks): values: empty list"},
      {"axes:\n  - network: []\n", "axis 1: network: empty list"},
      {"axes:\n  - set: promise.banks\n", "needs exactly one of values and range"},
      {"axes: []\n", "no axes"},
      {"name: x\n", "no axes"},
      {axis + "  - set: promise.banks\n    values: [128]\n", "axis 2 (promise.banks): another axis has the same name"},
      {axis + "  - set: [lightnn.rows, promise.banks]\n    values: [8]\n", "key 'promise.banks' is already set by another axis"},
      {axis + "  - network: [zoo:lenet5]\n  - network: [zoo:resnet20]\n", "another axis has the same name"},
      {axis + "  - network: [zoo:lenet5]\n  - network: [zoo:resnet20]\n    name: nets\n", "another axis already varies the same thing"},
      {axis + "  - batch: [1, 0]\n", "batch: '0' is not a positive batch size"},
      {"batch: 0\n" + axis, "batch: must be at least 1"},
      {"design: {kind: random}\n" + axis, "design: a random design needs points"},
      {"design: {kind: lhs, points: 0}\n" + axis, "design: points: must be at least 1"},
      {"design: {kind: grid, points: 4}\n" + axis, "design: points:"},
      {"design: {kind: sobol}\n" + axis, "design: kind: 'sobol' is not a design (grid, random, lhs)"},
      {"evaluator: oracle\n" + axis, "evaluator: 'oracle' is not an evaluator"},
      {"evaluator: predictor:missing.json\n" + axis, "evaluator: predictor file 'missing.json' not found"},
      {"platform: missing.yaml\n" + axis, "platform: file 'missing.yaml' not found"},
      {"placement: everywhere\n" + axis, "placement: 'everywhere' is not a placement"},
      {"seed: -1\n" + axis, "seed: '-1' is not a non-negative integer"},
      {"set: gpu.freq_mhz\n" + axis, "set: 'gpu.freq_mhz' is not KEY=VALUE"},
      {"axes:\n  - set: promise.freq_mhz\n    values: dvfs\n", "values: dvfs expands the DVFS table of one unit clock"},
      {"axes:\n  - set: [cpu.freq_mhz, gpu.freq_mhz]\n    values: dvfs\n", "values: dvfs expands"},
      {"axes:\n  - set: dram.bandwidth_gbs\n    range: [10, 20]\n", "a grid design needs 'steps' for a range"},
      {"axes:\n  - set: dram.bandwidth_gbs\n    range: [20, 10]\n    steps: 2\n", "range: low 20 is not below high 10"},
      {"axes:\n  - set: dram.bandwidth_gbs\n    range: [0, 10]\n    steps: 3\n    log: true\n", "a log range needs low > 0"},
      {"axes:\n  - set: dram.bandwidth_gbs\n    range: [10, 20]\n    steps: 1\n", "steps: must be at least 2"},
      {"axes:\n  - set: dram.bandwidth_gbs\n    values: [10]\n    steps: 3\n", "'steps' only applies to a range"},
      {"axes:\n  - set: promise.banks\n    values: [64, 64.0]\n", "value '64' appears twice"},
      {"axes:\n  - set: promise.banks=64\n    values: [64]\n", "'promise.banks=64' is not a platform key"},
      {"axes: [\n", "not valid YAML"},
      {"- 1\n- 2\n", "expected a mapping"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    test::expect_bad_input([&] { parse(c.text); }, {"sweep.yaml: ", c.fragment});
  }
  test::expect_bad_input([] { SweepSpec::load("/nonexistent/sweep.yaml"); }, {"/nonexistent/sweep.yaml: cannot read"});
}

SweepSpec design_spec(const std::string& design, std::uint64_t seed) {
  return parse("seed: " + std::to_string(seed) + "\ndesign: " + design +
               "\naxes:\n"
               "  - set: promise.banks\n    values: [32, 64, 128, 256]\n"
               "  - set: dram.bandwidth_gbs\n    range: [10, 50]\n"
               "  - set: lightnn.freq_mhz\n    range: [100, 1600]\n    log: true\n"
               "  - set: lightnn.rows\n    range: [4, 64]\n    integer: true\n");
}

TEST(SweepDesign, GridRunsTheLastAxisFastest) {
  const SweepSpec spec = parse(
      "axes:\n  - set: promise.banks\n    values: [64, 128, 256]\n  - network: [zoo:lenet5, zoo:resnet20]\n");
  const std::vector<SweepPoint> points = make_design(spec);
  ASSERT_EQ(points.size(), 6u);
  for (std::size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(points[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(points[i].values, (std::vector<std::string>{spec.axes[0].values[i / 2], spec.axes[1].values[i % 2]}));
  }
}

TEST(SweepDesign, RandomIsReproducibleForASeedAndStaysInItsAxes) {
  const std::vector<SweepPoint> a = make_design(design_spec("{kind: random, points: 50}", 7));
  const std::vector<SweepPoint> b = make_design(design_spec("{kind: random, points: 50}", 7));
  const std::vector<SweepPoint> other = make_design(design_spec("{kind: random, points: 50}", 8));
  ASSERT_EQ(a.size(), 50u);
  std::set<std::string> banks;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, static_cast<int64_t>(i));
    EXPECT_EQ(a[i].values, b[i].values);
    banks.insert(a[i].values[0]);
    EXPECT_TRUE(std::set<std::string>({"32", "64", "128", "256"}).count(a[i].values[0])) << a[i].values[0];
    const double bandwidth = number(a[i].values[1]), clock = number(a[i].values[2]), rows = number(a[i].values[3]);
    EXPECT_GE(bandwidth, 10);
    EXPECT_LE(bandwidth, 50);
    EXPECT_GE(clock, 100);
    EXPECT_LE(clock, 1600);
    EXPECT_GE(rows, 4);
    EXPECT_LE(rows, 64);
    EXPECT_EQ(rows, std::round(rows));
  }
  EXPECT_EQ(banks.size(), 4u);  // 50 draws from 4 values: all of them (fails with probability ~1e-6)
  int same = 0;
  for (std::size_t i = 0; i < a.size(); ++i) same += a[i].values == other[i].values;
  EXPECT_LT(same, 3);
}

TEST(SweepDesign, LatinHypercubePutsOneSampleInEachStratum) {
  const int n = 20;
  const SweepSpec spec = design_spec("{kind: lhs, points: 20}", 3);
  const std::vector<SweepPoint> points = make_design(spec);
  ASSERT_EQ(points.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(make_design(spec)[7].values, points[7].values);
  EXPECT_NE(make_design(design_spec("{kind: lhs, points: 20}", 4))[7].values, points[7].values);

  // Discrete axis with 4 values and 20 = 5 x 4 points: each value exactly 5 times.
  std::map<std::string, int> banks;
  for (const SweepPoint& p : points) ++banks[p.values[0]];
  EXPECT_EQ(banks, (std::map<std::string, int>{{"32", 5}, {"64", 5}, {"128", 5}, {"256", 5}}));
  // Continuous axes: one sample per stratum, on the log scale for a log axis.
  std::set<int> bandwidth_strata, clock_strata;
  for (const SweepPoint& p : points) {
    bandwidth_strata.insert(static_cast<int>(std::floor((number(p.values[1]) - 10) / 40 * n)));
    clock_strata.insert(static_cast<int>(std::floor(std::log(number(p.values[2]) / 100) / std::log(16.0) * n)));
  }
  EXPECT_EQ(bandwidth_strata.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(*bandwidth_strata.begin(), 0);
  EXPECT_EQ(*bandwidth_strata.rbegin(), n - 1);
  EXPECT_EQ(clock_strata.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(*clock_strata.rbegin(), n - 1);

  // Fewer points than values: each stratum spans several values and they are all distinct.
  const std::vector<SweepPoint> few = make_design(design_spec("{kind: lhs, points: 2}", 3));
  ASSERT_EQ(few.size(), 2u);
  std::set<std::string> halves;
  for (const SweepPoint& p : few) halves.insert(number(p.values[0]) <= 64 ? "low" : "high");
  EXPECT_EQ(halves.size(), 2u);
}

}  // namespace
}  // namespace coda::tuner
