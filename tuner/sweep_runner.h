// Running a sweep into a results store: the design's points minus those already stored (so
// re-running the same command resumes), evaluated in batches, each batch committed in one
// transaction (a killed run loses at most the batch in flight), with a cooperative stop (Ctrl-C)
// honoured between batches. `--shard i/N` runs a deterministic slice of the points; MPI runs
// (tuner/sweep_mpi.h) share the same preparation and bookkeeping.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "traces/results_store.h"
#include "tuner/sweep_evaluator.h"
#include "tuner/sweep_spec.h"

namespace coda::tuner {

struct SweepProgress {
  int64_t done = 0;       // points evaluated in this run
  int64_t total = 0;      // points this run has to evaluate
  int64_t errors = 0;     // of `done`, points stored with status "error"
};

struct SweepRunOptions {
  int shard_index = 0;    // --shard i/N: this run takes the i-th of N slices
  int shard_count = 1;
  std::function<void(const SweepProgress&)> progress;  // after each committed batch (and each point under MPI)
  const std::atomic<bool>* stop = nullptr;             // set asynchronously (SIGINT): finish the batch and return
};

struct SweepRunSummary {
  int64_t design_points = 0;   // distinct points of the design (duplicates of random designs counted once)
  int64_t in_shard = 0;        // of those, in this run's slice
  int64_t already_stored = 0;  // of those, found in the store and skipped
  int64_t evaluated = 0;
  int64_t errors = 0;
  bool interrupted = false;
  int ranks = 1;
  double wall_s = 0;
};

// "i/N" with 0 <= i < N; throws BadInput "--shard VALUE: problem".
void parse_shard(const std::string& text, int& index, int& count);

// The design's distinct points (first occurrence of each key kept), in design order.
std::vector<SweepPoint> distinct_points(const std::vector<SweepPoint>& design, const SweepEvaluator& evaluator);

// Checks the store holds this sweep (or nothing yet) and records the sweep's description in its
// meta table. Throws BadInput "DB: holds another sweep (...)" when its sweep id differs.
void prepare_store(traces::ResultsStore& store, const SweepSpec& spec, const SweepEvaluator& evaluator,
                   int64_t design_points);

// The points of `points` in shard `index` of `count` (by position) that `store` lacks (all of
// them without a store: a dry run on a database not yet created).
std::vector<SweepPoint> pending_points(const std::vector<SweepPoint>& points, const SweepEvaluator& evaluator,
                                       const traces::ResultsStore* store, int shard_index, int shard_count,
                                       int64_t* in_shard = nullptr);

// One process: evaluates `pending` in batches of spec.batch_points, one transaction each.
SweepRunSummary run_sweep(const SweepSpec& spec, SweepEvaluator& evaluator, traces::ResultsStore& store,
                          const std::vector<SweepPoint>& pending, const SweepRunOptions& options);

}  // namespace coda::tuner
