// What one simulation produces: a record per executed op, the power rails sampled every
// sim.power_sample_ms (as the TX2's INA3221 monitors are read), zone temperatures, DVFS changes,
// and the summary totals. traces/ writes these as CSV, Chrome trace JSON and VCD.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace coda::sim {

struct OpRecord {
  int node = -1;                 // index in graph.nodes
  std::string network;           // the model the op belongs to (leave-one-network-out splits)
  std::string name;
  std::string op_type;
  std::string unit;              // cpu, gpu, promise, lightnn
  int knob = 11;
  std::string knob_name;
  int batch = 1;
  std::string fidelity = "model"; // "rtl" when the cycles came from the Verilated array
  double freq_mhz = 0;           // unit clock when the op started
  double start_s = 0;            // from the start of the run
  double latency_s = 0;
  double compute_s = 0;          // time the unit would take with data always on chip
  double memory_s = 0;           // time its DRAM traffic takes alone at full bandwidth
  int64_t cycles = 0;            // unit clock cycles from start to end
  int64_t macs = 0;              // after the knob (perforated/sampled work removed)
  int64_t dram_bytes = 0;        // read + written
  // Dynamic energy of the op at the board input (VDD_IN, regulator loss included), by component
  // ("gpu.compute", "dram", "promise.dot", "promise.sram", "promise.leakage", ...).
  double energy_j = 0;
  std::map<std::string, double> energy_by_component_j;
  // Power a monitor would read if the op ran alone: each rail's static power plus the op's own
  // dynamic energy on that rail over its latency; VDD_IN included.
  std::map<std::string, double> avg_power_w;
  // Shape features for predictors: N, C_in, H_in, W_in, C_out, H_out, W_out, kernel, stride, ...
  std::map<std::string, double> features;
};

struct PowerSample {
  double time_s = 0;                 // end of the sampling window
  double window_s = 0;               // its length (the last window may be shorter)
  std::vector<double> rail_w;        // average power per rail over the window, in rails order
  std::vector<double> zone_c;        // temperatures at the end of the window, in zones order
  std::vector<double> unit_busy;     // busy share per unit over the window, in units order
  std::vector<double> unit_freq_mhz; // clock per unit at the end of the window
};

struct DvfsEvent {
  double time_s = 0;
  std::string unit;
  double freq_mhz = 0;
  std::string cause;  // "schedule" or "governor"
};

struct SimResult {
  std::string platform;
  std::string model;
  int batch = 1;
  std::vector<OpRecord> ops;           // in start order
  std::vector<std::string> rails;      // VDD_IN first, then the sub-rails
  std::vector<std::string> zones;
  std::vector<std::string> units;      // cpu, gpu, promise, lightnn
  std::vector<PowerSample> samples;
  std::vector<DvfsEvent> dvfs_events;

  double latency_s = 0;
  double energy_j = 0;                 // integral of VDD_IN
  double ops_energy_j = 0;             // sum of the ops' dynamic energy
  double idle_energy_j = 0;            // static energy of all rails over the run (at VDD_IN)
  std::map<std::string, double> rail_energy_j;
  std::map<std::string, double> avg_power_w;      // per rail, VDD_IN included
  std::map<std::string, double> utilisation;      // per unit: busy time / latency
  std::map<std::string, double> energy_breakdown_j;  // per component, "static" included
  double peak_temp_c = 0;
  std::string peak_zone;
  double time_to_limit_s = -1;         // sustained repetition reaching thermal.limit_c; -1 never
  int64_t simulated_cycles = 0;        // sum over units of their clock cycles over the run
  double wall_s = 0;                   // host time the simulation took
};

}  // namespace coda::sim
