#include "sim/memory_system.h"

namespace coda::sim {

MemorySystem::MemorySystem(sc_core::sc_module_name name) : sc_core::sc_module(name), socket("socket") {
  socket.register_b_transport(this, &MemorySystem::b_transport);
}

void MemorySystem::b_transport(int port, tlm::tlm_generic_payload& transaction, sc_core::sc_time& delay) {
  (void)port;
  const Platform& platform = *run_->platform;
  double now = run_->elapsed_s();
  double start = now + delay.to_seconds();
  double latency = (platform.dram.latency_ns + platform.interconnect.latency_ns) * 1e-9;
  double done = run_->dram->transfer(start + latency, static_cast<double>(transaction.get_data_length()),
                                     platform.interconnect.bandwidth_gbs * 1e9);
  delay = sc_core::sc_time(done - now, sc_core::SC_SEC);
  transaction.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace coda::sim
