// The platform: a SoC description (units, clocks, DVFS tables, memory, power and thermal
// parameters) read from YAML (sim/platforms/tx2.yaml is the default and is built into coda).
// Every model constant the simulator uses lives here, loaded from the file, never in code.
// Repeated `--set key=value` overrides address any scalar by its dotted path
// (gpu.freq_mhz=624.75, dram.bandwidth_gbs=20, promise.banks=128); `nvpmodel=N` applies a preset.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace coda::sim {

struct DvfsPoint {
  double freq_mhz = 0;
  double voltage_v = 0;
};

// Frequency steps, strictly increasing in frequency and non-decreasing in voltage.
struct DvfsTable {
  std::vector<DvfsPoint> points;

  // The voltage of the step at `freq_mhz` (within 0.01 MHz); throws std::out_of_range when the
  // frequency is not a step.
  double voltage_at(double freq_mhz) const;
  bool has_step(double freq_mhz) const;
  double max_freq_mhz() const { return points.back().freq_mhz; }
  double min_freq_mhz() const { return points.front().freq_mhz; }
  // Index of the step at freq_mhz (-1 if none).
  int step_index(double freq_mhz) const;
};

// Power of one unit: static (leakage) power at the nominal voltage, scaled linearly with voltage,
// plus dynamic power C_eff * V^2 * f while the unit switches. `rail` names the INA3221 rail the
// unit draws from.
struct UnitPower {
  std::string rail;
  double static_w = 0;       // at nominal_v
  double nominal_v = 1.0;
  double c_eff_nf = 0;       // effective switched capacitance per clock cycle when fully busy (nF)
  double stall_activity = 0; // share of c_eff still switching while stalled on memory (0..1)
};

struct CpuParams {
  int cores = 4;
  double simd_lanes = 4;     // fp32 FMA lanes per core per cycle
  double efficiency = 0.5;   // share of peak a tuned kernel reaches
  bool fp16_arithmetic = false;
  double l2_kb = 2048;
  double op_overhead_us = 0; // per-op dispatch cost
  DvfsTable dvfs;
  double freq_mhz = 0;       // current step
  UnitPower power;
  std::string thermal_zone;
};

struct GpuParams {
  int sms = 2;
  int cores_per_sm = 128;    // fp32 FMA per SM per cycle
  double fp16_rate = 2.0;    // fp16 throughput relative to fp32
  double efficiency = 0.7;   // share of peak inside a thread block's main loop
  double l2_kb = 512;
  int tile_m = 64;           // thread-block output tile (implicit GEMM): rows (pixels) x columns (filters)
  int tile_n = 64;
  int blocks_per_sm = 2;     // resident thread blocks per SM
  int elementwise_block = 256;  // threads per block for elementwise/pooling kernels
  double launch_us = 0;      // kernel launch overhead
  DvfsTable dvfs;
  double freq_mhz = 0;
  UnitPower power;
  std::string thermal_zone;
};

struct DramParams {
  double bandwidth_gbs = 0;  // peak
  double efficiency = 0.8;   // share of peak a streaming access reaches
  double latency_ns = 0;
  double energy_pj_per_bit = 0;
  UnitPower power;           // background power (refresh, PHY) as static_w; c_eff unused
  std::string thermal_zone;
};

struct InterconnectParams {
  double bandwidth_gbs = 0;  // per initiator port
  double latency_ns = 0;
  double energy_pj_per_byte = 0;
  std::string rail;
};

struct PromiseParams {
  bool present = true;
  int banks = 256;
  int bank_rows = 128;       // weight vectors per bank
  int bank_cols = 128;       // bytes (8-bit elements) per weight vector: the dot-product length
  double freq_mhz = 1000;
  double row_ns = 14;        // one pipelined dot product (row read)
  double reduce_ns = 10;     // reduction of a bank's partial sums
  std::vector<double> swing_energy_pj;  // per 128-element dot product, swing levels 1..7
  double sram_pj_per_byte = 0;          // bank writes (weights) and input buffer reads
  double leakage_mw_per_bank = 0;
  UnitPower power;           // rail and controller static power; c_eff unused
  std::string thermal_zone;
};

struct LightnnParams {
  bool present = true;
  int rows = 16;             // PE array rows (output pixels in flight)
  int cols = 16;             // PE array columns (filters in flight)
  int terms = 2;             // shift-add terms per PE (K): a K=1 weight uses one of them
  int acc_bits = 48;         // PE accumulator width
  int kmax = 1024;           // reduction steps one tile pass buffers (longer reductions take more passes)
  int rtl_max_macs = 0;      // rtl fidelity: layers up to this many MACs run on the Verilated array
  double freq_mhz = 0;
  double shift_pj = 0;       // one barrel shift (activation width)
  double add_pj = 0;         // one accumulator add
  double sram_pj_per_byte = 0;
  double buffer_kb = 0;      // on-chip activation + weight buffer
  UnitPower power;
  std::string thermal_zone;
};

struct RailModel {
  std::string input_rail = "VDD_IN";
  std::vector<std::string> rails;      // the sub-rails, in report order
  double regulator_efficiency = 0.85;  // VDD_IN = (sum of sub-rails) / efficiency + board_static_w
  double board_static_w = 0;
  std::vector<std::pair<std::string, double>> rail_static_w;  // rails with a fixed draw (VDD_4V0_WIFI)
};

struct ThermalZone {
  std::string name;
  double r_c_per_w = 0;      // junction-to-ambient thermal resistance
  double c_j_per_c = 0;      // heat capacity
  std::vector<std::string> heat_from;  // rails whose power heats this zone
};

struct ThermalParams {
  double ambient_c = 25;
  double initial_c = 35;
  double limit_c = 90;       // reported time-to-limit
  double critical_c = 101;
  std::vector<ThermalZone> zones;
};

struct NvpModel {
  int id = 0;
  std::string name;
  int cpu_cores = 0;
  double cpu_freq_mhz = 0;
  double gpu_freq_mhz = 0;
};

struct SimParams {
  double quantum_ns = 1000;        // temporal-decoupling quantum
  double power_sample_ms = 1.0;    // INA3221 sampling period
  int max_chunks_per_op = 16;      // an op's DRAM traffic is issued in at most this many transactions
};

struct Platform {
  std::string name;
  std::string source;  // file the platform came from ("tx2.yaml (built in)")
  CpuParams cpu;
  GpuParams gpu;
  DramParams dram;
  InterconnectParams interconnect;
  PromiseParams promise;
  LightnnParams lightnn;
  RailModel power;
  ThermalParams thermal;
  std::vector<NvpModel> nvpmodels;
  SimParams sim;

  // Parses platform YAML, applies the overrides (in order, "key=value" with a dotted key path, or
  // "nvpmodel=N"), then validates. Throws BadInput "SOURCE: KEY: problem" for a missing key,
  // an unknown key, a zero or negative rate, an unknown rail or zone, a non-monotone DVFS table or
  // a frequency that is not a DVFS step.
  static Platform parse(const std::string& yaml_text, const std::string& source,
                        const std::vector<std::string>& overrides = {});
  static Platform load(const std::string& path, const std::vector<std::string>& overrides = {});
  // sim/platforms/tx2.yaml as built into coda.
  static Platform builtin(const std::vector<std::string>& overrides = {});
  // `path` empty -> builtin.
  static Platform from_option(const std::string& path, const std::vector<std::string>& overrides);

  // The platform back as YAML (after overrides), so a run can record exactly what it simulated.
  std::string to_yaml() const;
};

}  // namespace coda::sim
