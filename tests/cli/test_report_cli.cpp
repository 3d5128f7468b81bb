// `coda report` end to end: sweep databases written here through the results store with a known
// Pareto front, tuner curves written through Curve::to_json, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"
#include "traces/results_store.h"
#include "tuner/curve.h"

namespace coda {
namespace {

using test::run_process;
using test::TempDir;

struct Design {
  std::string banks, freq, network;
  std::string status = "ok";
  double latency_ms = 0, energy_mj = 0;
};

// Names in a directory; empty when it does not exist.
std::set<std::string> entries_of(const std::string& directory) {
  std::set<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error))
    names.insert(entry.path().filename().string());
  return names;
}

std::string g4(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

// A record whose component breakdown sums to its energy and whose per-unit breakdown plus idle
// energy does not (10% short), so the report must choose the components.
traces::SweepRecord record_of(const Design& d, int64_t index, bool with_network) {
  traces::SweepRecord r;
  char key[32];
  std::snprintf(key, sizeof key, "%016llx", static_cast<unsigned long long>(0x1000 + index));
  r.key = key;
  r.index = index;
  r.point = "{\"promise.banks\": \"" + d.banks + "\", \"gpu.freq_mhz\": \"" + d.freq + "\", \"mode\": \"fixed\"" +
            (with_network ? ", \"network\": \"" + d.network + "\"" : "") + "}";
  r.status = d.status;
  if (d.status != "ok") {
    r.error = "promise.banks=" + d.banks + ": the platform rejects it";
    return r;
  }
  r.latency_s = d.latency_ms * 1e-3;
  r.energy_j = d.energy_mj * 1e-3;
  r.idle_energy_j = 0.2 * r.energy_j;
  r.ops_energy_j = 0.8 * r.energy_j;
  r.avg_power_w = r.energy_j / r.latency_s;
  r.breakdown["component_energy_j"] = {{"gpu.compute", 0.5 * r.energy_j}, {"gpu.leakage", 0.1 * r.energy_j},
                                       {"dram", 0.2 * r.energy_j}, {"static", 0.2 * r.energy_j}};
  r.breakdown["unit_energy_j"] = {{"gpu", 0.5 * r.energy_j}, {"cpu", 0.2 * r.energy_j}};
  return r;
}

void write_db(const std::string& path, const std::vector<Design>& designs, bool with_network) {
  traces::ResultsStore store(path);
  const std::string axes = with_network ? R"(["promise.banks", "gpu.freq_mhz", "mode", "network"])"
                                        : R"(["promise.banks", "gpu.freq_mhz", "mode"])";
  store.set_meta({{"spec_name", "banks-and-clocks"}, {"axes", axes}, {"coda_version", "0.1.0"}, {"evaluator", "sim"}});
  std::vector<traces::SweepRecord> records;
  for (std::size_t i = 0; i < designs.size(); ++i)
    records.push_back(record_of(designs[i], static_cast<int64_t>(i), with_network));
  ASSERT_EQ(store.write_batch(records), static_cast<int64_t>(designs.size()));
}

// The non-dominated ok designs by brute force (both figures minimised; of equal pairs the first).
std::set<std::size_t> brute_force_front(const std::vector<Design>& designs, const std::string& network = "") {
  std::set<std::size_t> front;
  for (std::size_t i = 0; i < designs.size(); ++i) {
    const Design& a = designs[i];
    if (a.status != "ok" || (!network.empty() && a.network != network)) continue;
    bool dominated = false;
    for (std::size_t j = 0; j < designs.size() && !dominated; ++j) {
      const Design& b = designs[j];
      if (j == i || b.status != "ok" || (!network.empty() && b.network != network)) continue;
      const bool no_worse = b.latency_ms <= a.latency_ms && b.energy_mj <= a.energy_mj;
      const bool better = b.latency_ms < a.latency_ms || b.energy_mj < a.energy_mj;
      dominated = no_worse && (better || j < i);
    }
    if (!dominated) front.insert(i);
  }
  return front;
}

std::vector<std::string> split_cells(const std::string& row) {
  std::vector<std::string> cells;
  std::string cell;
  for (std::size_t i = 1; i < row.size(); ++i) {
    if (row[i] == '|') {
      const auto first = cell.find_first_not_of(' '), last = cell.find_last_not_of(' ');
      cells.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
      cell.clear();
    } else {
      cell += row[i];
    }
  }
  return cells;
}

// The table rows (cells) of the markdown section starting at `heading`, header and rule excluded.
std::vector<std::vector<std::string>> section_table(const std::string& markdown, const std::string& heading) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(markdown.substr(markdown.find(heading)));
  std::string line;
  std::getline(lines, line);
  bool in_table = false;
  int seen = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("## ", 0) == 0) break;
    if (line.rfind("|", 0) != 0) {
      if (in_table) break;
      continue;
    }
    in_table = true;
    if (++seen > 2) rows.push_back(split_cells(line));
  }
  return rows;
}

void expect_png(const std::string& path) {
  const std::string bytes = test::read_bytes(path);
  ASSERT_GT(bytes.size(), 1000u) << path;
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
}

void expect_svg(const std::string& path) {
  const std::string bytes = test::read_bytes(path);
  ASSERT_GT(bytes.size(), 1000u) << path;
  EXPECT_NE(bytes.find("<svg"), std::string::npos) << path;
  EXPECT_NE(bytes.find("</svg>"), std::string::npos) << path;
}

// Front: C (8 ms, 60 mJ), A (10, 50), D (12, 45). B, E and F are dominated (F only by equal
// energy at a higher latency); the error point takes a clock no ok point has.
const std::vector<Design> kDesigns = {
    {"64", "1300.5", "", "ok", 10, 50},   // A
    {"64", "800", "", "ok", 16, 52},      // B: A is faster and cheaper
    {"128", "1300.5", "", "ok", 8, 60},   // C
    {"128", "800", "", "ok", 12, 45},     // D
    {"256", "1300.5", "", "ok", 9, 65},   // E: C is faster and cheaper
    {"256", "800", "", "ok", 14, 45},     // F: D is as cheap and faster
    {"256", "500", "", "error", 0, 0},
};

TEST(ReportCli, SweepReportListsExactlyTheParetoFrontAndPlotsEveryVaryingAxis) {
  TempDir dir;
  write_db(dir.file("results.sqlite"), kDesigns, false);
  const std::string out = dir.file("report");
  test::ProcessResult r = run_process(CODA_BINARY, {"report", "--db", dir.file("results.sqlite"), "--out", out},
                                      dir.file("scratch"));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const std::string md = test::read_bytes(out + "/index.md");
  EXPECT_NE(md.find("# Sweep report: banks-and-clocks"), std::string::npos) << md;
  EXPECT_NE(md.find("points stored: 7; ok: 6; errors: 1"), std::string::npos) << md;
  EXPECT_NE(md.find("coda version: 0.1.0"), std::string::npos);
  EXPECT_NE(md.find("evaluator: sim"), std::string::npos);
  EXPECT_NE(md.find("the platform rejects it"), std::string::npos) << "the error is listed";

  const std::set<std::size_t> expected = brute_force_front(kDesigns);
  ASSERT_EQ(expected, (std::set<std::size_t>{0, 2, 3}));
  const auto front = section_table(md, "## Pareto front");
  ASSERT_EQ(front.size(), expected.size()) << md;
  // Columns: #, promise.banks, gpu.freq_mhz, mode, latency, energy, avg power; increasing latency.
  const std::vector<std::size_t> by_latency = {2, 0, 3};
  for (std::size_t p = 0; p < front.size(); ++p) {
    const Design& d = kDesigns[by_latency[p]];
    ASSERT_EQ(front[p].size(), 7u);
    EXPECT_EQ(front[p][0], "P" + std::to_string(p + 1));
    EXPECT_EQ(front[p][1], d.banks);
    EXPECT_EQ(front[p][2], d.freq);
    EXPECT_EQ(front[p][3], "fixed");
    EXPECT_EQ(front[p][4], g4(d.latency_ms));
    EXPECT_EQ(front[p][5], g4(d.energy_mj));
    EXPECT_EQ(front[p][6], g4(d.energy_mj / d.latency_ms));  // mJ / ms = W
  }

  // Best latency C, best energy D (F ties on energy but is slower), best EDP C (480 vs A's 500).
  const auto best = section_table(md, "## Best points");
  ASSERT_EQ(best.size(), 3u);
  EXPECT_EQ(best[0][0], "best latency");
  EXPECT_EQ(best[0][1], "128");
  EXPECT_EQ(best[0][2], "1300.5");
  EXPECT_EQ(best[1][0], "best energy");
  EXPECT_EQ(best[1][1], "128");
  EXPECT_EQ(best[1][2], "800");
  EXPECT_EQ(best[2][0], "best EDP");
  EXPECT_EQ(best[2][4], g4(8));
  EXPECT_EQ(best[2][7], g4(8 * 60));

  EXPECT_NE(md.find("component_energy_j"), std::string::npos) << "the breakdown that sums to energy_j is chosen";
  EXPECT_NE(md.find("sums to energy_j"), std::string::npos);

  for (const std::string stem : {"pareto", "energy_breakdown", "axis_promise.banks", "axis_gpu.freq_mhz"}) {
    expect_png(out + "/" + stem + ".png");
    expect_svg(out + "/" + stem + ".svg");
    EXPECT_NE(md.find("(" + stem + ".svg)"), std::string::npos) << stem;
    EXPECT_NE(md.find("(" + stem + ".png)"), std::string::npos) << stem;
  }
  // "mode" has one value; the error point's clock 500 is no value of the ok points.
  const std::set<std::string> expected_files = {
      "index.md", "pareto.png", "pareto.svg", "energy_breakdown.png", "energy_breakdown.svg",
      "axis_promise.banks.png", "axis_promise.banks.svg", "axis_gpu.freq_mhz.png", "axis_gpu.freq_mhz.svg"};
  EXPECT_EQ(entries_of(out), expected_files);
}

TEST(ReportCli, SeveralNetworksGetOneFrontEach) {
  // Every lenet point beats every resnet point, so one overall front would hold no resnet point.
  const std::vector<Design> designs = {
      {"64", "1300.5", "zoo:lenet5", "ok", 1, 5},    {"128", "1300.5", "zoo:lenet5", "ok", 2, 4},
      {"256", "1300.5", "zoo:lenet5", "ok", 3, 4.5}, {"64", "1300.5", "zoo:resnet18", "ok", 20, 80},
      {"128", "1300.5", "zoo:resnet18", "ok", 25, 70}, {"256", "1300.5", "zoo:resnet18", "ok", 30, 75},
  };
  TempDir dir;
  write_db(dir.file("results.sqlite"), designs, true);
  test::ProcessResult r = run_process(CODA_BINARY, {"report", "--db", dir.file("results.sqlite"), "--out", dir.file("out")},
                                      dir.file("scratch"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = test::read_bytes(dir.file("out/index.md"));
  std::set<std::pair<std::string, std::string>> listed;
  for (const auto& row : section_table(md, "## Pareto front")) listed.insert({row.at(4), row.at(1)});
  std::set<std::pair<std::string, std::string>> expected;
  for (const std::string network : {"zoo:lenet5", "zoo:resnet18"})
    for (std::size_t i : brute_force_front(designs, network)) expected.insert({designs[i].network, designs[i].banks});
  EXPECT_EQ(expected.size(), 4u);
  EXPECT_EQ(listed, expected) << md;
  expect_png(dir.file("out/axis_network.png"));
  expect_svg(dir.file("out/axis_network.svg"));
  EXPECT_TRUE(test::read_bytes(dir.file("out/axis_gpu.freq_mhz.png")).empty()) << "one clock: no plot";
}

TEST(ReportCli, LongFrontShowsTwentyBarsAndFallsBackToUnitEnergy) {
  // 30 front points (energy 300/latency) and 30 dominated ones (10% above the front); only a
  // per-unit breakdown, which with the idle energy sums to the board energy.
  std::vector<traces::SweepRecord> records;
  for (int i = 0; i < 60; ++i) {
    Design d{std::to_string(i), "1300.5", "", "ok", 1.0 + i % 30, 300.0 / (1.0 + i % 30) * (i < 30 ? 1.0 : 1.1)};
    traces::SweepRecord r = record_of(d, i, false);
    r.breakdown.erase("component_energy_j");
    r.breakdown["unit_energy_j"] = {{"gpu", 0.6 * r.energy_j}, {"dram", 0.2 * r.energy_j}};
    records.push_back(r);
  }
  TempDir dir;
  {
    traces::ResultsStore store(dir.file("results.sqlite"));
    store.set_meta({{"axes", R"(["promise.banks", "gpu.freq_mhz", "mode"])"}});
    store.write_batch(records);
  }
  test::ProcessResult r = run_process(CODA_BINARY, {"report", "--db", dir.file("results.sqlite"), "--out", dir.file("out")},
                                      dir.file("scratch"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = test::read_bytes(dir.file("out/index.md"));
  const auto front = section_table(md, "## Pareto front");
  ASSERT_EQ(front.size(), 30u);
  for (std::size_t p = 0; p < front.size(); ++p) EXPECT_EQ(front[p][1], std::to_string(p)) << "in increasing latency";
  EXPECT_NE(md.find("unit_energy_j"), std::string::npos);
  EXPECT_EQ(md.find("component_energy_j"), std::string::npos);
  // Bars at evenly spread front positions round(k * 29 / 19): P1, P3, P4, ..., P30.
  const std::string svg = test::read_bytes(dir.file("out/energy_breakdown.svg"));
  std::set<int> bars;
  for (int k = 0; k < 20; ++k) bars.insert(static_cast<int>(std::lround(k * 29.0 / 19.0)) + 1);
  ASSERT_EQ(bars.size(), 20u);
  for (int label = 1; label <= 30; ++label)
    EXPECT_EQ(svg.find(">P" + std::to_string(label) + "<") != std::string::npos, bars.count(label) == 1) << label;
  expect_png(dir.file("out/axis_promise.banks.png"));
}

tuner::Curve make_curve(bool with_energy) {
  tuner::Curve curve;
  curve.model = "kernels/zoo/lenet5-fashion-mnist.onnx";
  curve.op_names = {"conv1", "conv2", "fc1"};
  curve.data = "fashion-mnist:test";
  curve.cost_model = "sim";
  curve.platform = "tx2";
  curve.qos_metric = "accuracy";
  curve.qos_unit = "%";
  curve.threshold = "2 points";
  curve.max_loss = 2;
  curve.baseline_qos_calibration = 90.56;
  curve.baseline_qos_test = 90.31;
  curve.baseline_latency = 1.76e-4;
  curve.baseline_energy = with_energy ? 2.5e-3 : std::numeric_limits<double>::quiet_NaN();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::tuple<double, double, double, double, double, int>> figures = {
      {90.5, 90.49, 90.12, 1.2234, 1.111, 1}, {89.7, 89.61, 89.02, 1.56789, nan, 2}, {88.9, 88.7, 88.45, 2.0, 1.87, 3}};
  int n = 0;
  for (const auto& [predicted, calibration, test_qos, speedup, energy, ops] : figures) {
    tuner::CurvePoint p;
    p.name = "conf" + std::to_string(++n);
    p.predicted_qos = predicted;
    p.qos_calibration = calibration;
    p.qos_test = test_qos;
    p.speedup = speedup;
    p.energy_reduction = with_energy ? energy : nan;
    p.latency = curve.baseline_latency / speedup;
    p.energy = with_energy && std::isfinite(energy) ? curve.baseline_energy / energy : nan;
    for (int k = 0; k < ops; ++k) p.config.ops[curve.op_names[static_cast<std::size_t>(k)]].knob = 12;
    curve.points.push_back(p);
  }
  return curve;
}

TEST(ReportCli, CurveReportTablesEveryPointAndPlotsBothTradeoffs) {
  TempDir dir;
  const tuner::Curve curve = make_curve(true);
  test::write_bytes(dir.file("curve.json"), curve.to_json());
  test::ProcessResult r = run_process(CODA_BINARY, {"report", "--curve", dir.file("curve.json"), "--out", dir.file("out")},
                                      dir.file("scratch"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = test::read_bytes(dir.file("out/index.md"));
  EXPECT_NE(md.find("accuracy (%)"), std::string::npos) << md;
  EXPECT_NE(md.find("2 points"), std::string::npos);
  EXPECT_NE(md.find(g4(90.56)), std::string::npos);
  EXPECT_NE(md.find("QoS >= " + g4(90.56 - 2)), std::string::npos) << "threshold below the baseline: higher is better";
  const auto rows = section_table(md, "## Configurations");
  ASSERT_EQ(rows.size(), curve.points.size()) << md;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const tuner::CurvePoint& p = curve.points[i];
    ASSERT_EQ(rows[i].size(), 7u);
    EXPECT_EQ(rows[i][0], p.name);
    EXPECT_EQ(rows[i][1], g4(p.predicted_qos));
    EXPECT_EQ(rows[i][2], g4(p.qos_calibration));
    EXPECT_EQ(rows[i][3], g4(p.qos_test));
    EXPECT_EQ(rows[i][4], g4(p.speedup));
    EXPECT_EQ(rows[i][5], std::isfinite(p.energy_reduction) ? g4(p.energy_reduction) : "–");
    const std::size_t ops = p.config.ops.size();
    EXPECT_EQ(rows[i][6], "default 11 + " + std::to_string(ops) + (ops == 1 ? " op" : " ops"));
  }
  for (const std::string stem : {"qos_speedup", "qos_energy"}) {
    expect_png(dir.file("out/" + stem + ".png"));
    expect_svg(dir.file("out/" + stem + ".svg"));
    EXPECT_NE(md.find("(" + stem + ".svg)"), std::string::npos);
  }
}

TEST(ReportCli, CurveWithoutEnergyGetsNoEnergyPlot) {
  TempDir dir;
  test::write_bytes(dir.file("curve.json"), make_curve(false).to_json());
  test::ProcessResult r = run_process(CODA_BINARY, {"report", "--curve", dir.file("curve.json"), "--out", dir.file("out")},
                                      dir.file("scratch"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(entries_of(dir.file("out")),
            (std::set<std::string>{"index.md", "qos_speedup.png", "qos_speedup.svg"}));
}

TEST(ReportCli, BadInputExitsTwoWithOneLineAndWritesNothing) {
  TempDir dir;
  test::write_bytes(dir.file("notes.txt"), "not a database, just text that is long enough to be a file\n");
  write_db(dir.file("errors.sqlite"), {{"64", "800", "", "error", 0, 0}}, false);
  test::write_bytes(dir.file("curve.json"), make_curve(true).to_json());
  test::write_bytes(dir.file("broken.json"), "{\"format\": \"coda-curve\", ");
  test::write_bytes(dir.file("taken"), "a file where the report directory should go");
  const std::string out = dir.file("out");
  const std::vector<std::vector<std::string>> cases = {
      {"--db", dir.file("missing.sqlite")},
      {"--db", dir.file("notes.txt")},
      {"--db", dir.file("errors.sqlite")},  // nothing evaluated successfully
      {"--curve", dir.file("missing.json")},
      {"--curve", dir.file("broken.json")},
      {"--db", dir.file("errors.sqlite"), "--curve", dir.file("curve.json")},
      {},
  };
  for (const auto& extra : cases) {
    std::vector<std::string> args = {"report", "--out", out};
    args.insert(args.end(), extra.begin(), extra.end());
    test::ProcessResult r = run_process(CODA_BINARY, args, dir.file("scratch"));
    const std::string what = extra.empty() ? "neither --db nor --curve" : extra.back();
    EXPECT_EQ(r.exit_code, 2) << what << ": " << r.err;
    EXPECT_EQ(r.err_lines().size(), 1u) << what << ": " << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << what;
  }
  test::ProcessResult taken = run_process(
      CODA_BINARY, {"report", "--curve", dir.file("curve.json"), "--out", dir.file("taken")}, dir.file("scratch"));
  EXPECT_EQ(taken.exit_code, 2) << taken.err;
  EXPECT_NE(taken.err.find("not a directory"), std::string::npos) << taken.err;
  EXPECT_EQ(test::read_bytes(dir.file("taken")), "a file where the report directory should go");
  EXPECT_EQ(test::read_bytes(dir.file("notes.txt")), "not a database, just text that is long enough to be a file\n")
      << "a file that is not a database is left alone";
}

}  // namespace
}  // namespace coda
