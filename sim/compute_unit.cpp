#include "sim/compute_unit.h"

#include <algorithm>
#include <cmath>

namespace coda::sim {

ComputeUnit::ComputeUnit(sc_core::sc_module_name name, int index)
    : sc_core::sc_module(name), socket("socket"), index_(index) {
  SC_HAS_PROCESS(ComputeUnit);
  SC_THREAD(main_thread);
}

void ComputeUnit::bind_run(SocRun* run, sc_core::sc_event* job_done) {
  run_ = run;
  job_done_ = job_done;
  queue_.clear();
}

void ComputeUnit::enqueue(int job) {
  queue_.push_back(job);
  queued_.notify(sc_core::SC_ZERO_TIME);
}

double ComputeUnit::now() const { return run_->elapsed_s(); }

void ComputeUnit::main_thread() {
  for (;;) {
    while (queue_.empty()) wait(queued_);
    int job = queue_.front();
    queue_.pop_front();
    execute(job);
  }
}

double ComputeUnit::transfer(double start_s, double bytes, bool write, Job& job) {
  if (bytes <= 0) return start_s;
  const Platform& platform = *run_->platform;
  transaction_.set_command(write ? tlm::TLM_WRITE_COMMAND : tlm::TLM_READ_COMMAND);
  transaction_.set_address(0);
  transaction_.set_data_ptr(&no_data_);
  transaction_.set_data_length(static_cast<unsigned int>(std::ceil(bytes)));
  transaction_.set_streaming_width(transaction_.get_data_length());
  transaction_.set_byte_enable_ptr(nullptr);
  transaction_.set_dmi_allowed(false);
  transaction_.set_response_status(tlm::TLM_INCOMPLETE_RESPONSE);
  double base = now();
  sc_core::sc_time delay(std::max(0.0, start_s - base), sc_core::SC_SEC);
  socket->b_transport(transaction_, delay);
  double done = base + delay.to_seconds();
  double dram_j = bytes * 8 * platform.dram.energy_pj_per_bit * 1e-12;
  double noc_j = bytes * platform.interconnect.energy_pj_per_byte * 1e-12;
  run_->ledger->add(run_->dram_rail, start_s, done, dram_j, false);
  run_->ledger->add(run_->interconnect_rail, start_s, done, noc_j, false);
  job.record.energy_by_component_j["dram"] += dram_j;
  job.record.energy_by_component_j["interconnect"] += noc_j;
  return done;
}

void ComputeUnit::execute(int job_index) {
  Job& job = run_->jobs[static_cast<std::size_t>(job_index)];
  UnitState& unit = run_->units[static_cast<std::size_t>(index_)];
  const Platform& platform = *run_->platform;
  const OpWork& work = job.work;
  const UnitPower& power = unit.model->power(platform);

  double start = now();
  job.record.start_s = start;
  job.record.freq_mhz = unit.freq_mhz;
  double bytes = work.read_bytes + work.write_bytes;
  // Chunks of at least 64 KiB (a DMA burst sequence), at most max_chunks_per_op of them.
  int chunks = static_cast<int>(std::clamp(std::ceil(bytes / 65536.0), 1.0, static_cast<double>(platform.sim.max_chunks_per_op)));
  double chunk_cycles = work.compute_cycles / chunks;
  double chunk_read = work.read_bytes / chunks;
  double chunk_write = work.write_bytes / chunks;
  std::string compute_component = unit.name + ".compute";

  double t = start + work.overhead_s;
  double read_done = t, compute_start = t, compute_end = t, last_write = t;
  double busy_cycles = 0;
  for (int c = 0; c < chunks; ++c) {
    // Double buffering: chunk c is fetched once chunk c-1's fetch is done and its compute began.
    double issue = c == 0 ? t : std::max(read_done, compute_start);
    read_done = transfer(issue, chunk_read, false, job);
    double previous_end = compute_end;
    compute_start = std::max(read_done, previous_end);
    double hz = unit.freq_mhz * 1e6;
    compute_end = compute_start + chunk_cycles / hz;
    busy_cycles += (compute_end - previous_end) * hz;
    if (unit.model->cycle_energy()) {
      double stall_cycles = (compute_start - previous_end) * hz;
      double joules = power.c_eff_nf * 1e-9 * unit.voltage_v * unit.voltage_v * work.capacitance_scale *
                      (chunk_cycles + power.stall_activity * stall_cycles);
      run_->ledger->add(unit.rail, previous_end, compute_end, joules, false);
      job.record.energy_by_component_j[compute_component] += joules;
    } else {
      for (const auto& [component, joules] : work.energy_j) {
        run_->ledger->add(unit.rail, compute_start, compute_end, joules / chunks, false);
        job.record.energy_by_component_j[component] += joules / chunks;
      }
    }
    last_write = std::max(last_write, transfer(compute_end, chunk_write, true, job));
    // The unit has played the op out to compute_end; it yields only once a quantum ahead.
    quantum_keeper_.set(sc_core::sc_time(std::max(0.0, compute_end - now()), sc_core::SC_SEC));
    if (quantum_keeper_.need_sync()) quantum_keeper_.sync();
  }
  double end = std::max(compute_end, last_write);
  if (work.active_static_w > 0) {
    double joules = work.active_static_w * (end - start);
    run_->ledger->add(unit.rail, start, end, joules, false);
    job.record.energy_by_component_j[unit.name + ".leakage"] += joules;
  }
  // Ops end synchronised, so that the scheduler sees the completion at its true time.
  quantum_keeper_.set(sc_core::sc_time(std::max(0.0, end - now()), sc_core::SC_SEC));
  quantum_keeper_.sync();

  double latency = end - start;
  job.record.latency_s = latency;
  job.record.compute_s = work.overhead_s + work.compute_cycles / (job.record.freq_mhz * 1e6);
  job.record.memory_s = bytes / (platform.dram.bandwidth_gbs * 1e9 * platform.dram.efficiency);
  job.record.cycles = static_cast<int64_t>(std::llround(latency * job.record.freq_mhz * 1e6));
  job.record.macs = static_cast<int64_t>(std::llround(work.macs));
  job.record.dram_bytes = static_cast<int64_t>(std::llround(bytes));
  unit.busy_s += latency;
  unit.busy_cycles += busy_cycles;
  unit.busy.emplace_back(start, end);
  run_->finished_jobs.push_back(job_index);
  job_done_->notify(sc_core::SC_ZERO_TIME);
}

}  // namespace coda::sim
