// The SoC top: one ComputeUnit per registered unit model, all bound to the shared MemorySystem,
// plus three processes: the scheduler (runs the graph in dependency order, each op on its unit,
// units concurrently), the power monitor (every sampling window: temperatures and the DVFS
// governor) and the DVFS schedule. SystemC elaborates a design once per process, so the SoC is
// built once and replays runs: each run() binds new state and lets the kernel run to starvation.
#pragma once

#include <memory>
#include <vector>

#include <systemc>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "sim/compute_unit.h"
#include "sim/memory_system.h"
#include "sim/soc_run.h"

namespace coda::sim {

class Soc : public sc_core::sc_module {
 public:
  // The process's SoC (built on first use; not thread-safe: SystemC has one kernel per process).
  static Soc& instance();

  // Unit names in ComputeUnit order (unit_model_names()).
  const std::vector<std::string>& unit_names() const { return names_; }
  // Runs the jobs of `run` to completion; run.end_s is the time the last op finished.
  void run(SocRun& run);

 private:
  explicit Soc(sc_core::sc_module_name name);
  void scheduler_thread();
  void monitor_thread();
  void dvfs_thread();
  double now() const;

  std::vector<std::string> names_;
  std::vector<std::unique_ptr<ComputeUnit>> units_;
  MemorySystem memory_;
  sc_core::sc_event start_, job_done_, run_done_;
  SocRun* run_ = nullptr;
  bool initialised_ = false;
};

}  // namespace coda::sim
