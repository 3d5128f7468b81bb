// coda sweep as a user runs it: a database equal to an uninterrupted run's after SIGKILLs at random
// moments and resumes, a clean stop on Ctrl-C, shards merged, MPI ranks, CSV export, and bad specs
// refused before any work.
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"
#include "traces/results_store.h"

namespace coda::test {
namespace {

// ResNet-18 on the SoC model: ~8 ms a point on the GPU, ~1 ms on PROMISE, so a run lasts long
// enough to be killed in the middle of its batches.
const char* const kKillSpec = R"(name: kill-test
evaluator: sim
network: zoo:resnet18
seed: 7
batch_points: 8
design: {kind: grid}
axes:
  - set: promise.banks
    values: [64, 128, 256]
  - set: gpu.freq_mhz
    values: dvfs
  - set: dram.bandwidth_gbs
    range: [12.8, 59.7]
    steps: 3
  - config: [exact, knob:3]
)";

// LeNet-5: a small sweep for the tests that need several whole runs.
const char* const kSmallSpec = R"(name: small
evaluator: sim
network: zoo:lenet5
batch_points: 4
design: {kind: lhs, points: 24}
seed: 3
axes:
  - set: [lightnn.rows, lightnn.cols]
    values: [8, 16, 32]
  - set: gpu.freq_mhz
    values: dvfs
  - config: [exact, knob:81, knob:3]
  - batch: [1, 4]
)";

std::vector<traces::SweepRecord> records_of(const std::string& db) {
  return traces::ResultsStore(db, false).read_all();
}

// Polls until a running sweep has committed its first batch to `db` (at most 30 s).
void wait_for_first_batch(const std::string& db) {
  for (int poll = 0; poll < 3000; ++poll) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    try {
      if (std::filesystem::exists(db) && !records_of(db).empty()) return;
    } catch (const std::exception&) {
      // The file exists a moment before its schema does.
    }
  }
}

// Same points, each with the same result, in the same order (by design index).
void expect_same_results(const std::string& expected_db, const std::string& actual_db) {
  const std::vector<traces::SweepRecord> expected = records_of(expected_db), actual = records_of(actual_db);
  ASSERT_EQ(expected.size(), actual.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(expected[i].key, actual[i].key);
    EXPECT_TRUE(expected[i].same_result(actual[i])) << "point " << expected[i].point;
  }
}

ProcessResult sweep(const TempDir& dir, const std::string& spec, const std::string& db,
                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"sweep", "--spec", dir.file(spec), "--db", dir.file(db)};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_process(CODA_BINARY, args, dir.file("run-" + db));
}

TEST(SweepCli, SigkillAtRandomMomentsThenResumeEqualsAnUninterruptedRun) {
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kKillSpec);
  const auto start = std::chrono::steady_clock::now();
  const ProcessResult reference = sweep(dir, "sweep.yaml", "reference.sqlite");
  const double reference_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  ASSERT_EQ(records_of(dir.file("reference.sqlite")).size(), 3u * 13u * 3u * 2u);

  std::mt19937 rng(2026);
  std::uniform_real_distribution<double> moment(0.05 * reference_s, 0.95 * reference_s);
  std::size_t previous = 0;
  for (int kill = 0; kill < 5; ++kill) {
    const BackgroundProcess process =
        start_process(CODA_BINARY, {"sweep", "--spec", dir.file("sweep.yaml"), "--db", dir.file("killed.sqlite")},
                      dir.file("kill" + std::to_string(kill)));
    ASSERT_GT(process.pid, 0);
    std::this_thread::sleep_for(std::chrono::duration<double>(moment(rng)));
    ::kill(process.pid, SIGKILL);
    const ProcessResult killed = wait_process(process);
    // It may have finished its remaining points before the signal came: then it exited normally.
    EXPECT_TRUE(killed.exit_code == 128 + SIGKILL || killed.exit_code == 0) << killed.err;
    const std::size_t stored = std::filesystem::exists(dir.file("killed.sqlite")) ? records_of(dir.file("killed.sqlite")).size() : 0;
    EXPECT_GE(stored, previous) << "a kill lost committed points";
    previous = stored;
  }
  const ProcessResult resumed = sweep(dir, "sweep.yaml", "killed.sqlite");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_results(dir.file("reference.sqlite"), dir.file("killed.sqlite"));
}

TEST(SweepCli, ResumingSkipsStoredPoints) {
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kSmallSpec);
  const ProcessResult first = sweep(dir, "sweep.yaml", "r.sqlite", {"--json"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("\"evaluated\": 24"), std::string::npos) << first.out;
  const ProcessResult again = sweep(dir, "sweep.yaml", "r.sqlite", {"--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("\"already_stored\": 24"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("\"evaluated\": 0"), std::string::npos) << again.out;
  EXPECT_EQ(records_of(dir.file("r.sqlite")).size(), 24u);
}

TEST(SweepCli, CtrlCStopsAfterTheBatchInFlightAndTheRunResumes) {
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kKillSpec);
  const ProcessResult reference = sweep(dir, "sweep.yaml", "reference.sqlite");
  ASSERT_EQ(reference.exit_code, 0) << reference.err;

  const BackgroundProcess process =
      start_process(CODA_BINARY, {"sweep", "--spec", dir.file("sweep.yaml"), "--db", dir.file("stopped.sqlite")},
                    dir.file("stop"));
  ASSERT_GT(process.pid, 0);
  // Wait for the first committed batch, then interrupt as a terminal's Ctrl-C would.
  wait_for_first_batch(dir.file("stopped.sqlite"));
  ::kill(process.pid, SIGINT);
  const ProcessResult stopped = wait_process(process);
  const std::size_t total = records_of(dir.file("reference.sqlite")).size();
  const std::size_t stored = records_of(dir.file("stopped.sqlite")).size();
  // The sweep lasts far longer than a batch, so the stop comes well before its end.
  EXPECT_LT(stored, total);
  EXPECT_EQ(stopped.exit_code, 130) << stopped.err;
  EXPECT_NE(stopped.out.find("run the same command again to resume"), std::string::npos) << stopped.out;
  EXPECT_EQ(stored % 8, 0u) << "a clean stop commits whole batches";
  const ProcessResult resumed = sweep(dir, "sweep.yaml", "stopped.sqlite");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_results(dir.file("reference.sqlite"), dir.file("stopped.sqlite"));
}

TEST(SweepCli, ShardsMergeIntoTheFullSweep) {
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kSmallSpec);
  ASSERT_EQ(sweep(dir, "sweep.yaml", "full.sqlite").exit_code, 0);
  for (int shard = 0; shard < 3; ++shard) {
    const ProcessResult part = sweep(dir, "sweep.yaml", "shard" + std::to_string(shard) + ".sqlite",
                                     {"--shard", std::to_string(shard) + "/3"});
    ASSERT_EQ(part.exit_code, 0) << part.err;
    EXPECT_EQ(records_of(dir.file("shard" + std::to_string(shard) + ".sqlite")).size(), 8u);
  }
  const ProcessResult merged =
      run_process(CODA_BINARY, {"sweep", "merge", "--db", dir.file("merged.sqlite"), dir.file("shard0.sqlite"),
                                dir.file("shard1.sqlite"), dir.file("shard2.sqlite")},
                  dir.file("merge"));
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  expect_same_results(dir.file("full.sqlite"), dir.file("merged.sqlite"));
  // Merging a shard again adds nothing.
  const ProcessResult again =
      run_process(CODA_BINARY, {"sweep", "merge", "--db", dir.file("merged.sqlite"), dir.file("shard1.sqlite")},
                  dir.file("merge2"));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 points added"), std::string::npos) << again.out;
}

TEST(SweepCli, TwoMpiRanksGiveTheSameDatabase) {
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun is not installed";
  // OpenMPI keeps some allocations until the process ends; LeakSanitizer would report them as leaks
  // in ASan builds. This test's process (ctest runs each test alone) and its children skip that check.
  setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);
  // Containers often forbid the cross-memory attach OpenMPI's shared-memory transport uses for
  // large messages; the sweep's messages are small, so plain copies lose nothing.
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kSmallSpec);
  ASSERT_EQ(sweep(dir, "sweep.yaml", "one.sqlite").exit_code, 0);
  const ProcessResult two = run_process(
      "/usr/bin/env", {"mpirun", "-n", "2", "--allow-run-as-root", "--oversubscribe", CODA_BINARY, "sweep", "--spec",
                       dir.file("sweep.yaml"), "--db", dir.file("two.sqlite"), "--json"},
      dir.file("mpi"));
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(two.out.find("\"ranks\": 2"), std::string::npos) << two.out;
  expect_same_results(dir.file("one.sqlite"), dir.file("two.sqlite"));
  // Both ranks evaluated points.
  std::set<int> ranks;
  for (const traces::SweepRecord& record : records_of(dir.file("two.sqlite"))) ranks.insert(record.rank);
  EXPECT_EQ(ranks, (std::set<int>{0, 1}));
}

// A sweep point is the simulation `coda simulate` runs for the same settings (the LightNN model's
// energy follows the quantized weights, so weights are loaded where they matter).
TEST(SweepCli, PointsEqualCodaSimulate) {
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), R"(name: same
network: zoo:lenet5
axes:
  - config: [exact, knob:81, knob:3]
  - set: promise.banks
    values: [8]
  - set: [lightnn.rows, lightnn.cols]
    values: [4]
)");
  ASSERT_EQ(sweep(dir, "sweep.yaml", "r.sqlite").exit_code, 0);
  const std::vector<traces::SweepRecord> records = records_of(dir.file("r.sqlite"));
  ASSERT_EQ(records.size(), 3u);
  const std::vector<std::vector<std::string>> knob_args{{}, {"--knob", "81"}, {"--knob", "3"}};
  for (std::size_t i = 0; i < records.size(); ++i) {
    std::vector<std::string> args{"simulate", "--model", "zoo:lenet5", "--set", "promise.banks=8", "--set",
                                  "lightnn.rows=4", "--set", "lightnn.cols=4", "--json"};
    args.insert(args.end(), knob_args[i].begin(), knob_args[i].end());
    const ProcessResult simulated = run_process(CODA_BINARY, args, dir.file("sim" + std::to_string(i)));
    ASSERT_EQ(simulated.exit_code, 0) << simulated.err;
    const nlohmann::json result = nlohmann::json::parse(simulated.out);
    EXPECT_EQ(records[i].latency_s, result["latency_s"].get<double>()) << records[i].point;
    EXPECT_EQ(records[i].energy_j, result["energy_j"].get<double>()) << records[i].point;
  }
}

// Under mpirun, Ctrl-C makes mpirun end the job; SIGUSR1, which mpirun forwards to every rank,
// stops it cleanly after the chunks in flight.
TEST(SweepCli, SigusrOneStopsAnMpiRunCleanlyAndItResumes) {
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun is not installed";
  setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);  // as in TwoMpiRanksGiveTheSameDatabase
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kKillSpec);
  ASSERT_EQ(sweep(dir, "sweep.yaml", "reference.sqlite").exit_code, 0);
  const std::vector<std::string> mpirun{"mpirun", "-n", "2", "--allow-run-as-root", "--oversubscribe", CODA_BINARY,
                                        "sweep", "--spec", dir.file("sweep.yaml"), "--db", dir.file("stopped.sqlite")};
  const BackgroundProcess process = start_process("/usr/bin/env", mpirun, dir.file("stop"));
  ASSERT_GT(process.pid, 0);
  wait_for_first_batch(dir.file("stopped.sqlite"));
  ::kill(process.pid, SIGUSR1);
  const ProcessResult stopped = wait_process(process);
  EXPECT_EQ(stopped.exit_code, 130) << stopped.err;
  EXPECT_NE(stopped.out.find("run the same command again to resume"), std::string::npos) << stopped.out;
  EXPECT_LT(records_of(dir.file("stopped.sqlite")).size(), records_of(dir.file("reference.sqlite")).size());
  const ProcessResult resumed = run_process("/usr/bin/env", mpirun, dir.file("resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_results(dir.file("reference.sqlite"), dir.file("stopped.sqlite"));
}

TEST(SweepCli, BadSpecUnderMpiExitsTwoOnEveryRank) {
  if (std::system("command -v mpirun > /dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun is not installed";
  setenv("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=1", 1);  // as in TwoMpiRanksGiveTheSameDatabase
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 1);
  TempDir dir;
  write_bytes(dir.file("bad.yaml"), "name: x\naxes:\n  - set: promise.bankz\n    values: [64]\n");
  const ProcessResult r = run_process("/usr/bin/env", {"mpirun", "-n", "2", "--allow-run-as-root", "--oversubscribe",
                                                       CODA_BINARY, "sweep", "--spec", dir.file("bad.yaml"), "--db",
                                                       dir.file("r.sqlite")},
                                      dir.file("mpi"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("coda: error: " + dir.file("bad.yaml")), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("MPI_ABORT"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("r.sqlite")));
}

TEST(SweepCli, ExportWritesOneCsvRowPerPointWithTheAxes) {
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kSmallSpec);
  ASSERT_EQ(sweep(dir, "sweep.yaml", "r.sqlite").exit_code, 0);
  const ProcessResult exported =
      run_process(CODA_BINARY, {"sweep", "export", "--db", dir.file("r.sqlite"), "--csv", dir.file("r.csv")}, dir.file("x"));
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::istringstream csv(read_bytes(dir.file("r.csv")));
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("lightnn.rows+lightnn.cols,gpu.freq_mhz,config,batch,", 0), 0u) << header;
  EXPECT_NE(header.find("latency_s"), std::string::npos);
  EXPECT_NE(header.find("unit_energy_j.gpu"), std::string::npos);
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 24);
}

TEST(SweepCli, DryRunCountsWithoutEvaluating) {
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kKillSpec);
  const ProcessResult dry = sweep(dir, "sweep.yaml", "r.sqlite", {"--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("234 design points"), std::string::npos) << dry.out;
  EXPECT_FALSE(std::filesystem::exists(dir.file("r.sqlite")));
}

// Each bad spec: exit 2, one line naming the spec, no database created.
void expect_refused(const std::string& spec_text, const std::string& expected) {
  TempDir dir;
  write_bytes(dir.file("bad.yaml"), spec_text);
  const ProcessResult r = sweep(dir, "bad.yaml", "r.sqlite");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("bad.yaml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("r.sqlite")));
}

TEST(SweepCli, BadSpecsExitTwoBeforeAnyWork) {
  expect_refused("name: x\naxes:\n  - set: promise.banks\n    values: [64]\n    colour: red\n", "colour");
  expect_refused("name: x\naxes:\n  - set: promise.banks\n    values: []\n", "promise.banks");
  expect_refused("name: x\naxes:\n  - set: promise.bankz\n    values: [64]\n", "promise.bankz");
  expect_refused("name: x\nfrobnicate: 1\naxes:\n  - batch: [1]\n", "frobnicate");
  expect_refused("name: x\ndesign: {kind: lhs}\naxes:\n  - batch: [1, 2]\n", "points");
  expect_refused("name: x\nevaluator: oracle\naxes:\n  - batch: [1, 2]\n", "oracle");
  expect_refused("name: x\naxes:\n  - set: gpu.freq_mhz\n    values: [1000]\n", "gpu.freq_mhz");
  expect_refused("name: x\nnetwork: zoo:lenet5\naxes:\n  - config: [knob:99999]\n", "99999");
}

TEST(SweepCli, AnotherSweepInTheSameDatabaseIsRefused) {
  TempDir dir;
  write_bytes(dir.file("sweep.yaml"), kSmallSpec);
  ASSERT_EQ(sweep(dir, "sweep.yaml", "r.sqlite").exit_code, 0);
  std::string other = kSmallSpec;
  other.replace(other.find("seed: 3"), 7, "seed: 4");
  write_bytes(dir.file("other.yaml"), other);
  const ProcessResult r = sweep(dir, "other.yaml", "r.sqlite");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("another sweep"), std::string::npos) << r.err;
  EXPECT_EQ(records_of(dir.file("r.sqlite")).size(), 24u);
}

}  // namespace
}  // namespace coda::test
