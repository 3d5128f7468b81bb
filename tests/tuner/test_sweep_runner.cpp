// Sweep bookkeeping: shard slices that partition the design, duplicates of random designs kept
// once, a store that refuses another sweep but accepts more values of the same axes, and a run
// that stops between batches and resumes where it stopped.
//
// Tests that expect BadInput never simulate (see test_sweep_evaluator.cpp on ASan and SystemC).
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "kernels/error.h"
#include "tests/support/temp_files.h"
#include "tests/tuner/sweep_fixtures.h"
#include "tuner/sweep_runner.h"

namespace coda::tuner {
namespace {

const char* const kGridSpec = R"(name: runner
network: zoo:lenet5
batch_points: 4
axes:
  - config: [exact, knob:12]
  - batch: [1, 2, 4]
  - set: gpu.freq_mhz
    values: [522.75, 854.25, 1300.5]
)";

SweepSpec spec_from(const std::string& text) { return SweepSpec::parse(text, "runner.yaml", ""); }

TEST(SweepShard, ParsesIOverNAndRefusesTheRest) {
  int index = -1, count = -1;
  parse_shard("2/4", index, count);
  EXPECT_EQ(index, 2);
  EXPECT_EQ(count, 4);
  for (const char* bad : {"4/4", "-1/2", "a/b", "3", "1/0", "1/2x"}) {
    try {
      parse_shard(bad, index, count);
      ADD_FAILURE() << bad << " accepted";
    } catch (const BadInput& e) {
      EXPECT_NE(std::string(e.what()).find("--shard " + std::string(bad)), std::string::npos) << e.what();
    }
  }
}

TEST(SweepShard, SlicesPartitionTheDesign) {
  const SweepSpec spec = spec_from(kGridSpec);
  SweepEvaluator evaluator(spec, load_zoo);
  const std::vector<SweepPoint> points = distinct_points(make_design(spec), evaluator);
  ASSERT_EQ(points.size(), 18u);
  test::TempDir dir;
  traces::ResultsStore store(dir.file("r.sqlite"));
  std::multiset<std::string> seen;
  int64_t total_in_shards = 0;
  for (int shard = 0; shard < 4; ++shard) {
    int64_t in_shard = 0;
    for (const SweepPoint& point : pending_points(points, evaluator, &store, shard, 4, &in_shard))
      seen.insert(evaluator.key(point));
    total_in_shards += in_shard;
  }
  EXPECT_EQ(total_in_shards, 18);
  std::set<std::string> all;
  for (const SweepPoint& point : points) all.insert(evaluator.key(point));
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), all);
  EXPECT_EQ(seen.size(), all.size()) << "a point in two shards";
}

TEST(SweepDesign, DuplicatesOfARandomDesignAreKeptOnce) {
  const SweepSpec spec = spec_from("name: dup\nnetwork: zoo:lenet5\ndesign: {kind: random, points: 40}\nseed: 9\n"
                                   "axes:\n  - batch: [1, 2]\n  - config: [exact, knob:12]\n");
  SweepEvaluator evaluator(spec, load_zoo);
  const std::vector<SweepPoint> design = make_design(spec);
  ASSERT_EQ(design.size(), 40u);
  const std::vector<SweepPoint> points = distinct_points(design, evaluator);
  EXPECT_EQ(points.size(), 4u);  // 40 draws over 4 combinations: all of them, once each
  std::set<std::string> keys;
  for (std::size_t i = 0; i < points.size(); ++i) {
    keys.insert(evaluator.key(points[i]));
    if (i > 0) {
      EXPECT_LT(points[i - 1].index, points[i].index) << "first occurrences, in design order";
    }
  }
  EXPECT_EQ(keys.size(), points.size());
}

TEST(SweepStore, RefusesAnotherSweepButTakesMoreValuesOfTheSameAxes) {
  test::TempDir dir;
  const SweepSpec spec = spec_from(kGridSpec);
  SweepEvaluator evaluator(spec, load_zoo);
  {
    traces::ResultsStore store(dir.file("r.sqlite"));
    prepare_store(store, spec, evaluator, 18);
    EXPECT_EQ(store.meta("sweep_id"), evaluator.sweep_id());
    EXPECT_EQ(store.meta("axes"), R"(["config","batch","gpu.freq_mhz"])");
  }
  std::string more = kGridSpec;
  more.replace(more.find("[1, 2, 4]"), 9, "[1, 2, 4, 8]");
  const SweepSpec extended = spec_from(more);
  SweepEvaluator extended_evaluator(extended, load_zoo);
  EXPECT_EQ(extended_evaluator.sweep_id(), evaluator.sweep_id());
  traces::ResultsStore store(dir.file("r.sqlite"));
  prepare_store(store, extended, extended_evaluator, 24);
  EXPECT_EQ(store.meta("design_points"), "24");

  std::string other = kGridSpec;
  other += "seed: 5\n";
  const SweepSpec reseeded = spec_from(other);
  SweepEvaluator reseeded_evaluator(reseeded, load_zoo);
  EXPECT_THROW(prepare_store(store, reseeded, reseeded_evaluator, 18), BadInput);
}

TEST(SweepRun, StopsBetweenBatchesAndResumesWhereItStopped) {
  test::TempDir dir;
  const SweepSpec spec = spec_from(kGridSpec);
  SweepEvaluator evaluator(spec, load_zoo);
  const std::vector<SweepPoint> points = distinct_points(make_design(spec), evaluator);
  traces::ResultsStore store(dir.file("r.sqlite"));
  prepare_store(store, spec, evaluator, static_cast<int64_t>(points.size()));

  std::atomic<bool> stop{false};
  SweepRunOptions options;
  options.stop = &stop;
  int progress_calls = 0;
  options.progress = [&](const SweepProgress& progress) {
    ++progress_calls;
    EXPECT_EQ(progress.total, 18);
    if (progress.done >= 8) stop = true;  // as a SIGINT during the second batch would
  };
  const SweepRunSummary stopped = run_sweep(spec, evaluator, store, pending_points(points, evaluator, &store, 0, 1), options);
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(stopped.evaluated, 8);
  EXPECT_EQ(store.count(), 8);
  EXPECT_EQ(progress_calls, 2);

  stop = false;
  options.progress = nullptr;
  const std::vector<SweepPoint> rest = pending_points(points, evaluator, &store, 0, 1);
  EXPECT_EQ(rest.size(), 10u);
  const SweepRunSummary resumed = run_sweep(spec, evaluator, store, rest, options);
  EXPECT_FALSE(resumed.interrupted);
  EXPECT_EQ(resumed.evaluated, 10);
  EXPECT_EQ(resumed.errors, 0);
  EXPECT_EQ(store.count(), 18);
  EXPECT_TRUE(pending_points(points, evaluator, &store, 0, 1).empty());
}

}  // namespace
}  // namespace coda::tuner
