// The shared DRAM behind the SoC interconnect, a TLM-2.0 target: every unit's transfers go
// through b_transport and come back with the delay until their last byte arrives, after the
// DRAM and interconnect latencies and the bandwidth left by the other units (bandwidth_timeline.h).
// Transactions carry no data: the simulator times traffic, kernels/ computes values.
#pragma once

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "sim/soc_run.h"

namespace coda::sim {

class MemorySystem : public sc_core::sc_module {
 public:
  tlm_utils::multi_passthrough_target_socket<MemorySystem> socket;

  explicit MemorySystem(sc_core::sc_module_name name);
  void bind_run(SocRun* run) { run_ = run; }

 private:
  void b_transport(int port, tlm::tlm_generic_payload& transaction, sc_core::sc_time& delay);

  SocRun* run_ = nullptr;
};

}  // namespace coda::sim
