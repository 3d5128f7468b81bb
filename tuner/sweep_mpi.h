// Sweeps over MPI ranks (`mpirun -n N coda sweep ...`, OpenMPI through Boost.MPI). Rank 0 is the
// only writer: it owns the results store, hands out small chunks of pending points on demand
// (dynamic distribution: a slow point never idles the other ranks) and evaluates chunks itself
// between serving requests. Workers evaluate and send records back. A point's record does not depend
// on which rank evaluated it, so the database is the same for any number of ranks.
#pragma once

#include <memory>
#include <vector>

#include "tuner/sweep_runner.h"

namespace coda::tuner {

// Whether this process was started by mpirun with more than one rank (OpenMPI's environment).
bool started_by_mpirun();

// MPI for the life of the object (MPI_Init ... MPI_Finalize).
class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const;
  int size() const;
  // Every rank learns rank 0's verdict (true: go on); collective.
  bool agree(bool rank0_ok) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Collective. `store` and `pending` matter on rank 0 only (workers pass null and empty); every
// rank passes the same spec and `design` (the distinct points, from which workers look points up
// by index). The summary is complete on rank 0.
SweepRunSummary run_sweep_mpi(const MpiSession& mpi, const SweepSpec& spec, SweepEvaluator& evaluator,
                              traces::ResultsStore* store, const std::vector<SweepPoint>& design,
                              const std::vector<SweepPoint>& pending, const SweepRunOptions& options);

}  // namespace coda::tuner
