#include "sim/soc.h"

#include <cmath>
#include <cstdlib>

namespace coda::sim {

Soc& Soc::instance() {
  static Soc* soc = [] {
    // The kernel prints its banner on stdout, which `coda simulate --json` keeps for JSON.
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 0);
    sc_core::sc_report_handler::set_actions(sc_core::SC_INFO, sc_core::SC_DO_NOTHING);
    return new Soc("soc");
  }();
  return *soc;
}

Soc::Soc(sc_core::sc_module_name name) : sc_core::sc_module(name), memory_("memory") {
  names_ = unit_model_names();
  for (std::size_t i = 0; i < names_.size(); ++i) {
    units_.push_back(std::make_unique<ComputeUnit>(names_[i].c_str(), static_cast<int>(i)));
    units_.back()->socket.bind(memory_.socket);
  }
  SC_HAS_PROCESS(Soc);
  SC_THREAD(scheduler_thread);
  SC_THREAD(monitor_thread);
  SC_THREAD(dvfs_thread);
}

double Soc::now() const { return run_->elapsed_s(); }

void Soc::run(SocRun& run) {
  run_ = &run;
  run.origin_ticks = sc_core::sc_time_stamp().value();
  memory_.bind_run(&run);
  for (auto& unit : units_) unit->bind_run(&run, &job_done_);
  tlm_utils::tlm_quantumkeeper::set_global_quantum(sc_core::sc_time(run.platform->sim.quantum_ns, sc_core::SC_NS));
  // The first sc_start elaborates and initialises: every process then waits for start_.
  if (!initialised_) {
    sc_core::sc_start(sc_core::SC_ZERO_TIME);
    initialised_ = true;
  }
  start_.notify(sc_core::SC_ZERO_TIME);
  sc_core::sc_start();
  run_ = nullptr;
}

void Soc::scheduler_thread() {
  for (;;) {
    wait(start_);
    SocRun& run = *run_;
    run.done = false;
    run.finished = 0;
    auto dispatch = [&](int job) {
      units_[static_cast<std::size_t>(run.jobs[static_cast<std::size_t>(job)].unit)]->enqueue(job);
    };
    for (std::size_t j = 0; j < run.jobs.size(); ++j)
      if (run.jobs[j].pending == 0) dispatch(static_cast<int>(j));
    while (run.finished < static_cast<int>(run.jobs.size())) {
      wait(job_done_);
      std::vector<int> finished;
      finished.swap(run.finished_jobs);
      for (int job : finished) {
        ++run.finished;
        for (int consumer : run.jobs[static_cast<std::size_t>(job)].consumers)
          if (--run.jobs[static_cast<std::size_t>(consumer)].pending == 0) dispatch(consumer);
      }
    }
    run.end_s = now();
    run.done = true;
    run_done_.notify();
  }
}

void Soc::monitor_thread() {
  for (;;) {
    wait(start_);
    SocRun& run = *run_;
    double window = run.ledger->window_s();
    for (std::size_t w = 0;; ++w) {
      double target = static_cast<double>(w + 1) * window;
      wait(sc_core::sc_time(std::max(0.0, target - now()), sc_core::SC_SEC), run_done_);
      if (run.done) break;
      // Temperatures evolve online so that the thermal governor sees them; the reported trace
      // is recomputed from the complete ledger after the run.
      PowerLedger::Window sample = run.ledger->window(w, target);
      std::vector<double> rails = sample.rail_w;
      run.thermal->step(rails, sample.length_s);
      if (!run.dvfs.governor) continue;
      const Governor& governor = *run.dvfs.governor;
      for (std::size_t u = 0; u < run.units.size(); ++u) {
        UnitState& unit = run.units[u];
        if (unit.name != governor.unit || unit.dvfs == nullptr) continue;
        double busy = run.busy_share(static_cast<int>(u), target - window, target);
        double next = governor.next_freq(*unit.dvfs, unit.freq_mhz, unit.start_freq_mhz, busy, run.thermal->max_temperature());
        run.change_clock(static_cast<int>(u), target, next, "governor");
      }
    }
  }
}

void Soc::dvfs_thread() {
  for (;;) {
    wait(start_);
    SocRun& run = *run_;
    for (const DvfsStep& step : run.dvfs.schedule) {
      if (step.time_s > now()) wait(sc_core::sc_time(step.time_s - now(), sc_core::SC_SEC), run_done_);
      if (run.done) break;
      for (std::size_t u = 0; u < run.units.size(); ++u)
        if (run.units[u].name == step.unit) run.change_clock(static_cast<int>(u), now(), step.freq_mhz, "schedule");
    }
  }
}

}  // namespace coda::sim
