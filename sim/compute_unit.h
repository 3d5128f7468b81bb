// One compute unit of the SoC (CPU cluster, GPU, PROMISE, LightNN array) as a TLM-2.0 initiator
// in loosely-timed style: it takes the ops the scheduler queues for it in order, plays each one
// out as at most sim.max_chunks_per_op double-buffered chunks (fetch chunk i+1 while computing
// chunk i, write results behind), annotates time locally and synchronises only when its local
// time runs a quantum ahead and at the end of each op (temporal decoupling; no wait() per cycle).
// Its clock is read at every chunk, so DVFS changes take effect during an op.
#pragma once

#include <deque>
#include <string>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/tlm_quantumkeeper.h>

#include "sim/soc_run.h"

namespace coda::sim {

class ComputeUnit : public sc_core::sc_module {
 public:
  tlm_utils::simple_initiator_socket<ComputeUnit> socket;

  ComputeUnit(sc_core::sc_module_name name, int index);
  void bind_run(SocRun* run, sc_core::sc_event* job_done);
  void enqueue(int job);

 private:
  void main_thread();
  void execute(int job);
  // Issues a DRAM transfer at `start_s` (run time, possibly ahead of the kernel's time) and
  // returns when its last byte arrives; records its DRAM and interconnect energy.
  double transfer(double start_s, double bytes, bool write, Job& job);
  double now() const;

  int index_;
  SocRun* run_ = nullptr;
  sc_core::sc_event* job_done_ = nullptr;
  std::deque<int> queue_;
  sc_core::sc_event queued_;
  tlm_utils::tlm_quantumkeeper quantum_keeper_;
  tlm::tlm_generic_payload transaction_;
  unsigned char no_data_ = 0;
};

}  // namespace coda::sim
