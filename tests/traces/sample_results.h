// SimResults built by hand for the trace writer tests: a short run of a few ops on two units with
// power samples every millisecond, DVFS changes, names that need quoting or escaping, and numbers
// with every digit significant.
#pragma once

#include <cmath>
#include <string>

#include "sim/sim_result.h"

namespace coda::test {

inline sim::OpRecord sample_op(int node, const std::string& name, const std::string& op_type, const std::string& unit,
                               double start_s, double latency_s, double freq_mhz) {
  sim::OpRecord op;
  op.node = node;
  op.name = name;
  op.op_type = op_type;
  op.unit = unit;
  op.knob = 11 + node % 3;
  op.knob_name = op.knob == 11 ? "exact" : "perforation_" + std::to_string(op.knob);
  op.batch = 2;
  op.freq_mhz = freq_mhz;
  op.start_s = start_s;
  op.latency_s = latency_s;
  op.compute_s = latency_s * 0.7;
  op.memory_s = latency_s / 3.0;
  op.cycles = std::llround(latency_s * freq_mhz * 1e6);
  op.macs = 123456789LL * (node + 1);
  op.dram_bytes = 9876543210LL + node;
  op.energy_j = latency_s * 2.345678901234567;
  op.energy_by_component_j = {{unit + ".compute", op.energy_j * 0.6}, {"dram", op.energy_j * 0.4}};
  op.avg_power_w = {{"VDD_IN", 3.1 + node / 7.0}, {"VDD_GPU", 1.0 / (node + 3)}, {"VDD_DDR", 0.45}};
  op.features = {{"C_in", 16.0 * (node + 1)}, {"H_in", 32}, {"kernel", 3}};
  return op;
}

// Two units: gpu runs conv1, relu1 back to back, then fc1 after a gap; promise runs conv2 while
// relu1 runs. The run lasts 4.5 ms, sampled every 1 ms (the last window 0.5 ms).
inline sim::SimResult two_unit_result() {
  sim::SimResult result;
  result.platform = "tx2-test";
  result.model = "tiny, \"quoted\" model";
  result.batch = 2;
  result.rails = {"VDD_IN", "VDD_GPU", "VDD_DDR"};
  result.zones = {"GPU-therm", "CPU therm"};
  result.units = {"gpu", "promise"};

  result.ops.push_back(sample_op(0, "conv1", "Conv", "gpu", 0.0, 1.0 / 3.0 * 1e-3, 1300.5));
  result.ops.push_back(sample_op(1, "relu,\"1\"", "Relu", "gpu", 1.0 / 3.0 * 1e-3, 0.4e-3 + 1e-12, 1300.5));
  result.ops.push_back(sample_op(2, "conv2", "Conv", "promise", 0.5e-3, 1.25e-3, 1000));
  result.ops.push_back(sample_op(3, "fc1", "Gemm", "gpu", 2.5e-3, 1.7e-3, 900));
  result.ops[1].features.erase("kernel");           // a ReLU has no kernel
  result.ops[3].features["units_out"] = 10;          // a feature only one op has
  result.ops[2].avg_power_w.erase("VDD_GPU");        // PROMISE draws nothing on the GPU rail

  const double run_s = 4.5e-3;
  for (int i = 0; i * 1e-3 < run_s; ++i) {
    sim::PowerSample sample;
    sample.time_s = std::min((i + 1) * 1e-3, run_s);
    sample.window_s = sample.time_s - i * 1e-3;
    sample.rail_w = {3.5 + 0.25 * std::sin(i), 1.2 + 0.1 * i, 0.45};
    sample.zone_c = {40.0 + 0.031 * i, 38.5 + 0.017 * i};
    sample.unit_busy = {i < 2 ? 0.9 : 0.5, i == 0 ? 0.5 : (i == 1 ? 0.75 : 0.0)};
    sample.unit_freq_mhz = {i < 2 ? 1300.5 : 900.0, 1000.0};
    result.samples.push_back(sample);
  }
  result.dvfs_events = {{0.0, "gpu", 1300.5, "schedule"}, {2.1e-3, "gpu", 900.0, "governor"}};

  result.latency_s = run_s;
  result.energy_j = 0.0159;
  result.ops_energy_j = 0.009;
  result.idle_energy_j = 0.0069;
  result.peak_temp_c = 40.124;
  result.peak_zone = "GPU-therm";
  result.simulated_cycles = 5600000;
  return result;
}

}  // namespace coda::test
