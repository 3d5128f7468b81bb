// The platform file: the built-in TX2-like platform against REFERENCE.md's published figures, its
// power and thermal calibration against the behaviour REFERENCE.md section 3 reports, `--set`
// overrides and nvpmodel presets, every validation error, and the to_yaml round trip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "sim/platform.h"
#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"

namespace coda::sim {
// The built-in platform's text (sim/platforms/tx2.yaml), generated into coda_sim.
extern const char* const kBuiltinPlatformTx2;
}  // namespace coda::sim

namespace coda::sim {
namespace {

// REFERENCE.md section 3, typed in from the document (not from the platform file).
const std::vector<double> kTx2CpuStepsMhz{345.6, 499.2, 652.8, 806.4, 960, 1113.6,
                                          1267.2, 1420.8, 1574.4, 1728, 1881.6, 2035.2};
const std::vector<double> kTx2GpuStepsMhz{114.75, 216.75, 318.75, 420.75, 522.75, 624.75, 726.75,
                                          854.25, 930.75, 1032.75, 1122.0, 1236.75, 1300.5};
// REFERENCE.md section 2: PROMISE energy per 128-element dot product, swing levels P1..P7 (pJ).
const std::vector<double> kPromiseSwingEnergyPj{30.544, 31.689, 35.042, 47.218, 52.680, 80.035, 106.549};

std::vector<double> frequencies(const DvfsTable& table) {
  std::vector<double> mhz;
  for (const DvfsPoint& point : table.points) mhz.push_back(point.freq_mhz);
  return mhz;
}

// The step of `steps` nearest to `mhz` (REFERENCE.md quotes nvpmodel clocks in rounded GHz).
double nearest_step(const std::vector<double>& steps, double mhz) {
  return *std::min_element(steps.begin(), steps.end(),
                           [mhz](double a, double b) { return std::fabs(a - mhz) < std::fabs(b - mhz); });
}

const NvpModel* find_mode(const Platform& platform, const std::string& name) {
  for (const NvpModel& mode : platform.nvpmodels)
    if (mode.name == name) return &mode;
  return nullptr;
}

// The power model platform.h documents, evaluated from the platform's values: a unit's static
// power scales with V / nominal_v; busy, it adds C_eff * V^2 * f; the input rail is the sub-rails'
// sum over the regulator efficiency plus the board's own draw.
double static_w(const UnitPower& power, double voltage_v) { return power.static_w * voltage_v / power.nominal_v; }
double dynamic_w(const UnitPower& power, double voltage_v, double freq_mhz) {
  return power.c_eff_nf * 1e-9 * voltage_v * voltage_v * freq_mhz * 1e6;
}

struct RailPower {
  std::vector<std::string> rails;
  std::vector<double> watts;
  void add(const std::string& rail, double w) {
    auto it = std::find(rails.begin(), rails.end(), rail);
    ASSERT_NE(it, rails.end()) << rail;
    watts[static_cast<std::size_t>(it - rails.begin())] += w;
  }
  double on(const std::string& rail) const {
    auto it = std::find(rails.begin(), rails.end(), rail);
    return it == rails.end() ? 0 : watts[static_cast<std::size_t>(it - rails.begin())];
  }
  double sum() const {
    double total = 0;
    for (double w : watts) total += w;
    return total;
  }
};

// Every rail with all units idle at their current clocks.
RailPower idle_rails(const Platform& p) {
  RailPower rails{p.power.rails, std::vector<double>(p.power.rails.size(), 0.0)};
  rails.add(p.cpu.power.rail, static_w(p.cpu.power, p.cpu.dvfs.voltage_at(p.cpu.freq_mhz)));
  rails.add(p.gpu.power.rail, static_w(p.gpu.power, p.gpu.dvfs.voltage_at(p.gpu.freq_mhz)));
  rails.add(p.dram.power.rail, static_w(p.dram.power, p.dram.power.nominal_v));
  rails.add(p.promise.power.rail, static_w(p.promise.power, p.promise.power.nominal_v));
  rails.add(p.lightnn.power.rail, static_w(p.lightnn.power, p.lightnn.power.nominal_v));
  for (const auto& [rail, watts] : p.power.rail_static_w) rails.add(rail, watts);
  return rails;
}

double input_rail_w(const Platform& p, const RailPower& rails) {
  return rails.sum() / p.power.regulator_efficiency + p.power.board_static_w;
}

// Heavy GPU load: the GPU busy at its clock while DRAM streams `dram_gbs`.
RailPower heavy_gpu_rails(const Platform& p, double dram_gbs) {
  RailPower rails = idle_rails(p);
  rails.add(p.gpu.power.rail, dynamic_w(p.gpu.power, p.gpu.dvfs.voltage_at(p.gpu.freq_mhz), p.gpu.freq_mhz));
  rails.add(p.dram.power.rail, dram_gbs * 1e9 * 8 * p.dram.energy_pj_per_bit * 1e-12);
  rails.add(p.interconnect.rail, dram_gbs * 1e9 * p.interconnect.energy_pj_per_byte * 1e-12);
  return rails;
}

const ThermalZone& zone_named(const Platform& p, const std::string& name) {
  for (const ThermalZone& zone : p.thermal.zones)
    if (zone.name == name) return zone;
  throw std::runtime_error("no zone " + name);
}

double zone_heat_w(const ThermalZone& zone, const RailPower& rails) {
  double watts = 0;
  for (const std::string& rail : zone.heat_from) watts += rails.on(rail);
  return watts;
}

void expect_same_unit_power(const UnitPower& a, const UnitPower& b, const std::string& unit) {
  SCOPED_TRACE(unit + ".power");
  EXPECT_EQ(a.rail, b.rail);
  EXPECT_EQ(a.static_w, b.static_w);
  EXPECT_EQ(a.nominal_v, b.nominal_v);
  EXPECT_EQ(a.c_eff_nf, b.c_eff_nf);
  EXPECT_EQ(a.stall_activity, b.stall_activity);
}

void expect_same_dvfs(const DvfsTable& a, const DvfsTable& b) {
  ASSERT_EQ(a.points.size(), b.points.size());
  for (std::size_t i = 0; i < a.points.size(); ++i) {
    EXPECT_EQ(a.points[i].freq_mhz, b.points[i].freq_mhz) << "step " << i;
    EXPECT_EQ(a.points[i].voltage_v, b.points[i].voltage_v) << "step " << i;
  }
}

// Field by field (exact: the round trip must not lose a bit of any number).
void expect_same_platform(const Platform& a, const Platform& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.cpu.cores, b.cpu.cores);
  EXPECT_EQ(a.cpu.simd_lanes, b.cpu.simd_lanes);
  EXPECT_EQ(a.cpu.efficiency, b.cpu.efficiency);
  EXPECT_EQ(a.cpu.fp16_arithmetic, b.cpu.fp16_arithmetic);
  EXPECT_EQ(a.cpu.l2_kb, b.cpu.l2_kb);
  EXPECT_EQ(a.cpu.op_overhead_us, b.cpu.op_overhead_us);
  expect_same_dvfs(a.cpu.dvfs, b.cpu.dvfs);
  EXPECT_EQ(a.cpu.freq_mhz, b.cpu.freq_mhz);
  expect_same_unit_power(a.cpu.power, b.cpu.power, "cpu");
  EXPECT_EQ(a.cpu.thermal_zone, b.cpu.thermal_zone);

  EXPECT_EQ(a.gpu.sms, b.gpu.sms);
  EXPECT_EQ(a.gpu.cores_per_sm, b.gpu.cores_per_sm);
  EXPECT_EQ(a.gpu.fp16_rate, b.gpu.fp16_rate);
  EXPECT_EQ(a.gpu.efficiency, b.gpu.efficiency);
  EXPECT_EQ(a.gpu.l2_kb, b.gpu.l2_kb);
  EXPECT_EQ(a.gpu.tile_m, b.gpu.tile_m);
  EXPECT_EQ(a.gpu.tile_n, b.gpu.tile_n);
  EXPECT_EQ(a.gpu.blocks_per_sm, b.gpu.blocks_per_sm);
  EXPECT_EQ(a.gpu.elementwise_block, b.gpu.elementwise_block);
  EXPECT_EQ(a.gpu.launch_us, b.gpu.launch_us);
  expect_same_dvfs(a.gpu.dvfs, b.gpu.dvfs);
  EXPECT_EQ(a.gpu.freq_mhz, b.gpu.freq_mhz);
  expect_same_unit_power(a.gpu.power, b.gpu.power, "gpu");
  EXPECT_EQ(a.gpu.thermal_zone, b.gpu.thermal_zone);

  EXPECT_EQ(a.dram.bandwidth_gbs, b.dram.bandwidth_gbs);
  EXPECT_EQ(a.dram.efficiency, b.dram.efficiency);
  EXPECT_EQ(a.dram.latency_ns, b.dram.latency_ns);
  EXPECT_EQ(a.dram.energy_pj_per_bit, b.dram.energy_pj_per_bit);
  expect_same_unit_power(a.dram.power, b.dram.power, "dram");
  EXPECT_EQ(a.dram.thermal_zone, b.dram.thermal_zone);

  EXPECT_EQ(a.interconnect.bandwidth_gbs, b.interconnect.bandwidth_gbs);
  EXPECT_EQ(a.interconnect.latency_ns, b.interconnect.latency_ns);
  EXPECT_EQ(a.interconnect.energy_pj_per_byte, b.interconnect.energy_pj_per_byte);
  EXPECT_EQ(a.interconnect.rail, b.interconnect.rail);

  EXPECT_EQ(a.promise.present, b.promise.present);
  EXPECT_EQ(a.promise.banks, b.promise.banks);
  EXPECT_EQ(a.promise.bank_rows, b.promise.bank_rows);
  EXPECT_EQ(a.promise.bank_cols, b.promise.bank_cols);
  EXPECT_EQ(a.promise.freq_mhz, b.promise.freq_mhz);
  EXPECT_EQ(a.promise.row_ns, b.promise.row_ns);
  EXPECT_EQ(a.promise.reduce_ns, b.promise.reduce_ns);
  EXPECT_EQ(a.promise.swing_energy_pj, b.promise.swing_energy_pj);
  EXPECT_EQ(a.promise.sram_pj_per_byte, b.promise.sram_pj_per_byte);
  EXPECT_EQ(a.promise.leakage_mw_per_bank, b.promise.leakage_mw_per_bank);
  expect_same_unit_power(a.promise.power, b.promise.power, "promise");
  EXPECT_EQ(a.promise.thermal_zone, b.promise.thermal_zone);

  EXPECT_EQ(a.lightnn.present, b.lightnn.present);
  EXPECT_EQ(a.lightnn.rows, b.lightnn.rows);
  EXPECT_EQ(a.lightnn.cols, b.lightnn.cols);
  EXPECT_EQ(a.lightnn.terms, b.lightnn.terms);
  EXPECT_EQ(a.lightnn.freq_mhz, b.lightnn.freq_mhz);
  EXPECT_EQ(a.lightnn.shift_pj, b.lightnn.shift_pj);
  EXPECT_EQ(a.lightnn.add_pj, b.lightnn.add_pj);
  EXPECT_EQ(a.lightnn.sram_pj_per_byte, b.lightnn.sram_pj_per_byte);
  EXPECT_EQ(a.lightnn.buffer_kb, b.lightnn.buffer_kb);
  expect_same_unit_power(a.lightnn.power, b.lightnn.power, "lightnn");
  EXPECT_EQ(a.lightnn.thermal_zone, b.lightnn.thermal_zone);

  EXPECT_EQ(a.power.input_rail, b.power.input_rail);
  EXPECT_EQ(a.power.rails, b.power.rails);
  EXPECT_EQ(a.power.regulator_efficiency, b.power.regulator_efficiency);
  EXPECT_EQ(a.power.board_static_w, b.power.board_static_w);
  EXPECT_EQ(a.power.rail_static_w, b.power.rail_static_w);

  EXPECT_EQ(a.thermal.ambient_c, b.thermal.ambient_c);
  EXPECT_EQ(a.thermal.initial_c, b.thermal.initial_c);
  EXPECT_EQ(a.thermal.limit_c, b.thermal.limit_c);
  EXPECT_EQ(a.thermal.critical_c, b.thermal.critical_c);
  ASSERT_EQ(a.thermal.zones.size(), b.thermal.zones.size());
  for (std::size_t i = 0; i < a.thermal.zones.size(); ++i) {
    EXPECT_EQ(a.thermal.zones[i].name, b.thermal.zones[i].name);
    EXPECT_EQ(a.thermal.zones[i].r_c_per_w, b.thermal.zones[i].r_c_per_w);
    EXPECT_EQ(a.thermal.zones[i].c_j_per_c, b.thermal.zones[i].c_j_per_c);
    EXPECT_EQ(a.thermal.zones[i].heat_from, b.thermal.zones[i].heat_from);
  }

  ASSERT_EQ(a.nvpmodels.size(), b.nvpmodels.size());
  for (std::size_t i = 0; i < a.nvpmodels.size(); ++i) {
    EXPECT_EQ(a.nvpmodels[i].id, b.nvpmodels[i].id);
    EXPECT_EQ(a.nvpmodels[i].name, b.nvpmodels[i].name);
    EXPECT_EQ(a.nvpmodels[i].cpu_cores, b.nvpmodels[i].cpu_cores);
    EXPECT_EQ(a.nvpmodels[i].cpu_freq_mhz, b.nvpmodels[i].cpu_freq_mhz);
    EXPECT_EQ(a.nvpmodels[i].gpu_freq_mhz, b.nvpmodels[i].gpu_freq_mhz);
  }

  EXPECT_EQ(a.sim.quantum_ns, b.sim.quantum_ns);
  EXPECT_EQ(a.sim.power_sample_ms, b.sim.power_sample_ms);
  EXPECT_EQ(a.sim.max_chunks_per_op, b.sim.max_chunks_per_op);
}

// The built-in text with one line changed: the line starting with `prefix` becomes `line`
// (removed when `line` is empty).
std::string builtin_with_line(const std::string& prefix, const std::string& line) {
  std::string text = kBuiltinPlatformTx2;
  std::size_t at = text.find("\n" + prefix);
  EXPECT_NE(at, std::string::npos) << prefix;
  if (at == std::string::npos) return text;
  EXPECT_EQ(text.find("\n" + prefix, at + 1), std::string::npos) << prefix << " is not unique";
  std::size_t end = text.find('\n', at + 1);
  return text.substr(0, at + 1) + line + (line.empty() ? "" : "\n") + text.substr(end + 1);
}

// BadInput naming every fragment, in one line.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& fragments) {
  test::expect_bad_input(action, fragments);
  try {
    action();
  } catch (const BadInput& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
  }
}

void expect_override_error(const std::vector<std::string>& overrides, const std::vector<std::string>& fragments) {
  SCOPED_TRACE(overrides.back());
  std::vector<std::string> with_source = fragments;
  with_source.insert(with_source.begin(), "tx2.yaml (built in): ");
  expect_error([&] { Platform::builtin(overrides); }, with_source);
}

void expect_text_error(const std::string& text, const std::vector<std::string>& fragments) {
  std::vector<std::string> with_source = fragments;
  with_source.insert(with_source.begin(), "edited.yaml: ");
  expect_error([&] { Platform::parse(text, "edited.yaml"); }, with_source);
}

TEST(Platform, BuiltinMatchesReferenceSection3Tx2) {
  Platform p = Platform::builtin();
  EXPECT_FALSE(p.name.empty());
  EXPECT_NE(p.source.find("tx2.yaml"), std::string::npos);

  EXPECT_EQ(frequencies(p.cpu.dvfs), kTx2CpuStepsMhz);
  EXPECT_EQ(frequencies(p.gpu.dvfs), kTx2GpuStepsMhz);
  EXPECT_EQ(p.cpu.cores, 6);  // 2 Denver2 + 4 A57
  EXPECT_FALSE(p.cpu.fp16_arithmetic);
  EXPECT_EQ(p.cpu.l2_kb, 2048);
  EXPECT_EQ(p.gpu.sms * p.gpu.cores_per_sm, 256);
  EXPECT_EQ(p.gpu.l2_kb, 512);
  EXPECT_EQ(p.gpu.fp16_rate, 2.0);
  // Default clocks: MAXN.
  EXPECT_DOUBLE_EQ(p.cpu.freq_mhz, 2035.2);
  EXPECT_DOUBLE_EQ(p.gpu.freq_mhz, 1300.5);

  // 128-bit bus, 1866 MHz, double data rate: 58-60 GB/s.
  EXPECT_GE(p.dram.bandwidth_gbs, 58);
  EXPECT_LE(p.dram.bandwidth_gbs, 60);
  EXPECT_NEAR(p.dram.bandwidth_gbs, 128.0 / 8 * 1866 * 2 / 1000, 0.1);
  // Horowitz: a 32-bit DRAM read costs 640 pJ.
  EXPECT_DOUBLE_EQ(p.dram.energy_pj_per_bit, 640.0 / 32);

  EXPECT_EQ(p.power.input_rail, "VDD_IN");
  EXPECT_EQ(p.power.rails,
            (std::vector<std::string>{"VDD_SYS_CPU", "VDD_SYS_GPU", "VDD_SYS_SOC", "VDD_SYS_DDR", "VDD_4V0_WIFI"}));
  EXPECT_EQ(p.cpu.power.rail, "VDD_SYS_CPU");
  EXPECT_EQ(p.gpu.power.rail, "VDD_SYS_GPU");
  EXPECT_EQ(p.dram.power.rail, "VDD_SYS_DDR");
  EXPECT_EQ(p.promise.power.rail, "VDD_SYS_SOC");
  EXPECT_EQ(p.lightnn.power.rail, "VDD_SYS_SOC");
  EXPECT_EQ(p.interconnect.rail, "VDD_SYS_SOC");

  std::vector<std::string> zones;
  for (const ThermalZone& zone : p.thermal.zones) zones.push_back(zone.name);
  for (const char* name : {"BCPU", "MCPU", "GPU", "PLL", "Tboard"})
    EXPECT_NE(std::find(zones.begin(), zones.end(), name), zones.end()) << name;
  EXPECT_EQ(p.thermal.limit_c, 90);
  EXPECT_EQ(p.thermal.critical_c, 101);
  EXPECT_EQ(p.sim.power_sample_ms, 1.0);  // profilers read the INA3221 monitors at 1 kHz
}

TEST(Platform, BuiltinNvpmodelsAreTheFiveModesAtTheNearestSteps) {
  Platform p = Platform::builtin();
  struct Quoted {
    int id;
    const char* name;
    int cores;
    double cpu_ghz;
    double gpu_ghz;
  };
  // REFERENCE.md section 3, clocks as quoted there.
  const Quoted quoted[] = {{0, "MAXN", 6, 2.0, 1.30},
                           {1, "MAXQ", 4, 1.2, 0.85},
                           {2, "MAXP_CORE_ALL", 6, 1.4, 1.12},
                           {3, "MAXP_CORE_ARM", 4, 2.0, 1.12},
                           {4, "MAXP_CORE_DENVER", 2, 2.0, 1.12}};
  ASSERT_EQ(p.nvpmodels.size(), 5u);
  for (const Quoted& q : quoted) {
    SCOPED_TRACE(q.name);
    const NvpModel* mode = find_mode(p, q.name);
    ASSERT_NE(mode, nullptr);
    EXPECT_EQ(mode->id, q.id);
    EXPECT_EQ(mode->cpu_cores, q.cores);
    EXPECT_DOUBLE_EQ(mode->cpu_freq_mhz, nearest_step(kTx2CpuStepsMhz, q.cpu_ghz * 1000));
    EXPECT_DOUBLE_EQ(mode->gpu_freq_mhz, nearest_step(kTx2GpuStepsMhz, q.gpu_ghz * 1000));
  }
}

TEST(Platform, BuiltinPromiseMatchesReferenceSection2) {
  const PromiseParams p = Platform::builtin().promise;
  EXPECT_TRUE(p.present);
  EXPECT_EQ(p.banks, 256);
  EXPECT_EQ(p.bank_rows, 128);
  EXPECT_EQ(p.bank_cols, 128);
  EXPECT_EQ(static_cast<long>(p.banks) * p.bank_rows * p.bank_cols, 4L << 20);  // 4 MB in all
  EXPECT_EQ(p.freq_mhz, 1000);
  EXPECT_EQ(p.row_ns, 14);
  EXPECT_EQ(p.reduce_ns, 10);
  EXPECT_EQ(p.swing_energy_pj, kPromiseSwingEnergyPj);
  EXPECT_EQ(p.sram_pj_per_byte, 0.1875);
  EXPECT_EQ(p.leakage_mw_per_bank, 6);
}

TEST(Platform, BuiltinLightnnUsesHorowitzEnergies) {
  const LightnnParams l = Platform::builtin().lightnn;
  EXPECT_TRUE(l.present);
  EXPECT_EQ(l.rows, 16);
  EXPECT_EQ(l.cols, 16);
  EXPECT_EQ(l.terms, 2);  // LightNN: K <= 2
  // Horowitz (45 nm): int adds cost 0.03 (8b) to 0.1 pJ (32b); a shift about an add.
  EXPECT_GE(l.shift_pj, 0.03);
  EXPECT_LE(l.shift_pj, 0.1);
  EXPECT_GE(l.add_pj, 0.03);
  EXPECT_LE(l.add_pj, 0.1);
  EXPECT_DOUBLE_EQ(l.sram_pj_per_byte, 5.0 / 4);  // 32b SRAM read (8 KB): 5 pJ
}

TEST(Platform, IdlePowerIsInTheReportedRangeAtEveryClock) {
  // REFERENCE.md section 3: 1.6-3.2 W at VDD_IN idle. Checked at MAXN and at the lowest clocks.
  for (const std::vector<std::string>& clocks :
       {std::vector<std::string>{}, std::vector<std::string>{"cpu.freq_mhz=345.6", "gpu.freq_mhz=114.75"}}) {
    Platform p = Platform::builtin(clocks);
    double vdd_in = input_rail_w(p, idle_rails(p));
    EXPECT_GE(vdd_in, 1.6) << p.cpu.freq_mhz;
    EXPECT_LE(vdd_in, 3.2) << p.cpu.freq_mhz;
  }
}

TEST(Platform, HeavyGpuLoadDrawsNineToTenWatts) {
  // REFERENCE.md section 3: about 9-10 W at VDD_IN under heavy GPU load. The load: the GPU busy at
  // MAXN while DRAM streams 8 GB/s (a convolution-heavy network's traffic, about a quarter of
  // the DRAM's effective bandwidth).
  Platform p = Platform::builtin();
  double vdd_in = input_rail_w(p, heavy_gpu_rails(p, 8));
  EXPECT_GE(vdd_in, 9.0);
  EXPECT_LE(vdd_in, 10.0);
}

TEST(Platform, SustainedHeavyLoadHeatsTheDieTo80To95CWithinMinutes) {
  Platform p = Platform::builtin();
  RailPower rails = heavy_gpu_rails(p, 8);
  const ThermalZone& gpu = zone_named(p, p.gpu.thermal_zone);
  double steady_c = p.thermal.ambient_c + gpu.r_c_per_w * zone_heat_w(gpu, rails);
  EXPECT_GE(steady_c, 80);
  EXPECT_LE(steady_c, 95);
  // Within minutes: 95% of the way after three time constants.
  for (const ThermalZone& zone : p.thermal.zones) {
    double tau_s = zone.r_c_per_w * zone.c_j_per_c;
    EXPECT_GE(tau_s, 10) << zone.name;
    EXPECT_LE(3 * tau_s, 5 * 60) << zone.name;
  }
}

TEST(Platform, DvfsTableLooksUpStepsWithinTolerance) {
  const DvfsTable& gpu = Platform::builtin().gpu.dvfs;
  EXPECT_EQ(gpu.step_index(114.75), 0);
  EXPECT_EQ(gpu.step_index(1300.5), 12);
  EXPECT_EQ(gpu.step_index(1300.505), 12);
  EXPECT_EQ(gpu.step_index(1300.52), -1);
  EXPECT_TRUE(gpu.has_step(624.75));
  EXPECT_FALSE(gpu.has_step(625));
  EXPECT_EQ(gpu.voltage_at(854.25), gpu.points[7].voltage_v);
  EXPECT_THROW(gpu.voltage_at(1000), std::out_of_range);
  EXPECT_EQ(gpu.min_freq_mhz(), 114.75);
  EXPECT_EQ(gpu.max_freq_mhz(), 1300.5);
}

TEST(Platform, SetOverridesScalarsListItemsAndLists) {
  Platform p = Platform::builtin({"gpu.freq_mhz=624.75", "dram.bandwidth_gbs=20", "promise.banks=128",
                                  "gpu.dvfs.3.voltage_v=0.805", "promise.swing_energy_pj=[1, 2, 3, 4, 5, 6, 7]",
                                  "promise.present=false", "power.rail_static_w.VDD_4V0_WIFI=0.25",
                                  "thermal.zones.0.heat_from=[VDD_SYS_CPU]"});
  EXPECT_EQ(p.gpu.freq_mhz, 624.75);
  EXPECT_EQ(p.dram.bandwidth_gbs, 20);
  EXPECT_EQ(p.promise.banks, 128);
  EXPECT_EQ(p.gpu.dvfs.points[3].voltage_v, 0.805);
  EXPECT_EQ(p.gpu.dvfs.points[3].freq_mhz, kTx2GpuStepsMhz[3]);
  EXPECT_EQ(p.promise.swing_energy_pj, (std::vector<double>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_FALSE(p.promise.present);
  EXPECT_EQ(p.thermal.zones[0].heat_from, std::vector<std::string>{"VDD_SYS_CPU"});
  bool found = false;
  for (const auto& [rail, watts] : p.power.rail_static_w)
    if (rail == "VDD_4V0_WIFI") found = (watts == 0.25);
  EXPECT_TRUE(found);
  // Everything else as built in.
  Platform builtin = Platform::builtin();
  EXPECT_EQ(p.cpu.freq_mhz, builtin.cpu.freq_mhz);
  EXPECT_EQ(p.gpu.dvfs.points[4].voltage_v, builtin.gpu.dvfs.points[4].voltage_v);
}

TEST(Platform, NvpmodelPresetsByIdOrNameAndLaterOverridesWin) {
  Platform builtin = Platform::builtin();
  for (const NvpModel& mode : builtin.nvpmodels) {
    for (const std::string& selector : {std::to_string(mode.id), mode.name}) {
      SCOPED_TRACE("nvpmodel=" + selector);
      Platform p = Platform::builtin({"nvpmodel=" + selector});
      EXPECT_EQ(p.cpu.cores, mode.cpu_cores);
      EXPECT_EQ(p.cpu.freq_mhz, mode.cpu_freq_mhz);
      EXPECT_EQ(p.gpu.freq_mhz, mode.gpu_freq_mhz);
    }
  }
  // MAXQ by its name in lower case, against REFERENCE.md's 4 A57 cores, 1.2 GHz, GPU 0.85 GHz.
  Platform maxq = Platform::builtin({"nvpmodel=maxq"});
  EXPECT_EQ(maxq.cpu.cores, 4);
  EXPECT_EQ(maxq.cpu.freq_mhz, nearest_step(kTx2CpuStepsMhz, 1200));
  EXPECT_EQ(maxq.gpu.freq_mhz, nearest_step(kTx2GpuStepsMhz, 850));

  Platform set_after = Platform::builtin({"nvpmodel=MAXQ", "gpu.freq_mhz=1300.5"});
  EXPECT_EQ(set_after.gpu.freq_mhz, 1300.5);
  EXPECT_EQ(set_after.cpu.freq_mhz, maxq.cpu.freq_mhz);
  Platform preset_after = Platform::builtin({"gpu.freq_mhz=114.75", "cpu.cores=1", "nvpmodel=MAXQ"});
  EXPECT_EQ(preset_after.gpu.freq_mhz, maxq.gpu.freq_mhz);
  EXPECT_EQ(preset_after.cpu.cores, 4);
  // A preset copies values: overriding the clock afterwards leaves the preset list alone.
  Platform copied = Platform::builtin({"nvpmodel=1", "cpu.freq_mhz=345.6"});
  EXPECT_EQ(find_mode(copied, "MAXQ")->cpu_freq_mhz, maxq.cpu.freq_mhz);
  // Presets read the document as overridden so far.
  Platform edited_preset = Platform::builtin({"nvpmodel.1.gpu_freq_mhz=114.75", "nvpmodel=1"});
  EXPECT_EQ(edited_preset.gpu.freq_mhz, 114.75);
}

TEST(Platform, BadOverridesNameTheOverride) {
  expect_override_error({"gpu.smz=2"}, {"--set gpu.smz", "unknown platform key"});
  expect_override_error({"gpux.sms=2"}, {"--set gpux.sms", "unknown platform key"});
  expect_override_error({"gpu.sms.x=2"}, {"--set gpu.sms.x", "unknown platform key"});
  expect_override_error({"gpu.dvfs.13.voltage_v=1"}, {"--set gpu.dvfs.13.voltage_v", "unknown platform key"});
  expect_override_error({"gpu.dvfs.x.voltage_v=1"}, {"--set gpu.dvfs.x.voltage_v", "unknown platform key"});
  expect_override_error({"gpu.sms"}, {"--set gpu.sms", "expected KEY=VALUE"});
  expect_override_error({"=3"}, {"expected KEY=VALUE"});
  expect_override_error({"gpu.sms=[1,"}, {"--set gpu.sms", "not valid YAML"});
  expect_override_error({"gpu.sms={a: 1}"}, {"--set gpu.sms", "scalar or a list"});
  expect_override_error({"nvpmodel=9"}, {"--set nvpmodel=9", "no nvpmodel", "MAXN"});
  // Values are checked as if written in the file.
  expect_override_error({"gpu.sms=two"}, {"gpu.sms: expected an integer, got 'two'"});
}

TEST(Platform, MissingAndUnknownKeysAreNamed) {
  expect_text_error(builtin_with_line("  sms:", ""), {"gpu.sms: missing"});
  expect_text_error(builtin_with_line("  sms:", "  smz: 2"), {"gpu.smz: unknown key"});
  expect_text_error(builtin_with_line("sim:", "simulation:"), {"simulation: unknown key"});
  expect_text_error(builtin_with_line("    static_w: 0.15", ""), {"gpu.power.static_w: missing"});
  expect_text_error(std::string(kBuiltinPlatformTx2) + "extra: 1\n", {"extra: unknown key"});
  expect_text_error(std::string(kBuiltinPlatformTx2) + "name: again\n", {"name: appears twice"});
  expect_text_error("just a string", {"expected a mapping"});
  expect_text_error("cpu: [", {"not valid YAML"});
}

TEST(Platform, WrongTypesAreNamed) {
  expect_override_error({"gpu.sms=2.5"}, {"gpu.sms: expected an integer, got '2.5'"});
  expect_override_error({"cpu.fp16_arithmetic=maybe"}, {"cpu.fp16_arithmetic: expected true or false, got 'maybe'"});
  expect_override_error({"dram.latency_ns=slow"}, {"dram.latency_ns: expected a number, got 'slow'"});
  expect_override_error({"dram.latency_ns=[1]"}, {"dram.latency_ns: expected a number, got a list"});
  expect_override_error({"gpu.dvfs=5"}, {"gpu.dvfs: expected a list, got '5'"});
  expect_override_error({"gpu.power=3"}, {"gpu.power: expected a mapping, got '3'"});
  expect_override_error({"gpu.power.rail=[a, b]"}, {"gpu.power.rail: expected a name, got a list"});
  expect_override_error({"dram.bandwidth_gbs=.inf"}, {"dram.bandwidth_gbs: expected a number"});
}

TEST(Platform, NonPositiveRatesSizesClocksAndEnergiesAreRefused) {
  expect_override_error({"dram.bandwidth_gbs=-3"}, {"dram.bandwidth_gbs: must be > 0, got -3"});
  expect_override_error({"promise.row_ns=0"}, {"promise.row_ns: must be > 0, got 0"});
  expect_override_error({"dram.energy_pj_per_bit=0"}, {"dram.energy_pj_per_bit: must be > 0"});
  expect_override_error({"lightnn.shift_pj=-1"}, {"lightnn.shift_pj: must be > 0"});
  expect_override_error({"promise.banks=0"}, {"promise.banks: must be > 0, got 0"});
  expect_override_error({"cpu.cores=-2"}, {"cpu.cores: must be > 0"});
  expect_override_error({"gpu.freq_mhz=0"}, {"gpu.freq_mhz: must be > 0"});
  expect_override_error({"gpu.dvfs.0.voltage_v=0"}, {"gpu.dvfs.0.voltage_v: must be > 0"});
  expect_override_error({"sim.quantum_ns=0"}, {"sim.quantum_ns: must be > 0"});
  expect_override_error({"sim.max_chunks_per_op=0"}, {"sim.max_chunks_per_op: must be > 0"});
  expect_override_error({"thermal.zones.1.c_j_per_c=0"}, {"thermal.zones.1.c_j_per_c: must be > 0"});
  expect_override_error({"gpu.power.static_w=-0.1"}, {"gpu.power.static_w: must be >= 0"});
  expect_override_error({"lightnn.terms=3"}, {"lightnn.terms: must be in 1..2, got 3"});
  expect_override_error({"promise.swing_energy_pj.3=-1"}, {"promise.swing_energy_pj.3: must be > 0, got -1"});
  expect_override_error({"power.rail_static_w.VDD_4V0_WIFI=-1"}, {"power.rail_static_w.VDD_4V0_WIFI: must be >= 0"});
}

TEST(Platform, EfficienciesMustLieInZeroToOne) {
  expect_override_error({"gpu.efficiency=1.5"}, {"gpu.efficiency: must be in (0, 1], got 1.5"});
  expect_override_error({"dram.efficiency=0"}, {"dram.efficiency: must be in (0, 1]"});
  expect_override_error({"cpu.efficiency=-0.5"}, {"cpu.efficiency: must be in (0, 1]"});
  expect_override_error({"power.regulator_efficiency=2"}, {"power.regulator_efficiency: must be in (0, 1]"});
  expect_override_error({"cpu.power.stall_activity=1.2"}, {"cpu.power.stall_activity: must be in [0, 1]"});
  EXPECT_EQ(Platform::builtin({"gpu.efficiency=1"}).gpu.efficiency, 1.0);
}

TEST(Platform, DvfsTablesMustBeMonotoneAndClocksMustBeSteps) {
  expect_override_error({"gpu.dvfs.4.freq_mhz=400"}, {"gpu.dvfs: not monotone at step 4"});
  expect_override_error({"gpu.dvfs.4.freq_mhz=420.75"}, {"gpu.dvfs: not monotone at step 4"});
  expect_override_error({"cpu.dvfs.5.voltage_v=0.5"}, {"cpu.dvfs: not monotone at step 5"});
  expect_override_error({"gpu.dvfs=[]"}, {"gpu.dvfs: empty"});
  expect_override_error({"gpu.freq_mhz=1000"}, {"gpu.freq_mhz: 1000 MHz is not a step of gpu.dvfs"});
  expect_override_error({"cpu.freq_mhz=2035.25"}, {"cpu.freq_mhz: 2035.25 MHz is not a step of cpu.dvfs"});
  expect_override_error({"nvpmodel.1.gpu_freq_mhz=850"}, {"nvpmodel.1.gpu_freq_mhz: 850 MHz is not a step"});
  expect_override_error({"nvpmodel.2.cpu_freq_mhz=1400"}, {"nvpmodel.2.cpu_freq_mhz: 1400 MHz is not a step"});
  // Within 0.01 MHz of a step is that step.
  EXPECT_EQ(Platform::builtin({"gpu.freq_mhz=1300.505"}).gpu.freq_mhz, 1300.505);
  // Equal voltages on neighbouring steps are allowed (the voltage floor).
  EXPECT_NO_THROW(Platform::builtin({"gpu.dvfs.5.voltage_v=0.81"}));
}

TEST(Platform, RailsZonesAndSwingLevelsMustBeConsistent) {
  expect_override_error({"gpu.power.rail=VDD_FOO"}, {"gpu.power.rail: 'VDD_FOO' is not one of power.rails"});
  expect_override_error({"promise.power.rail=VDD_IN"}, {"promise.power.rail: 'VDD_IN' is not one of power.rails"});
  expect_override_error({"interconnect.rail=VDD_BUS"}, {"interconnect.rail: 'VDD_BUS' is not one of power.rails"});
  expect_override_error({"power.rails=[VDD_SYS_CPU, VDD_SYS_GPU, VDD_SYS_SOC, VDD_SYS_DDR]"},
                        {"power.rail_static_w.VDD_4V0_WIFI: 'VDD_4V0_WIFI' is not one of power.rails"});
  expect_override_error({"power.rails=[VDD_SYS_CPU, VDD_SYS_CPU]"}, {"power.rails: 'VDD_SYS_CPU' appears twice"});
  expect_override_error({"gpu.thermal_zone=GPUX"}, {"gpu.thermal_zone: 'GPUX' is not one of thermal.zones"});
  expect_override_error({"lightnn.thermal_zone=Tdiode"}, {"lightnn.thermal_zone: 'Tdiode' is not one of thermal.zones"});
  expect_override_error({"thermal.zones.2.heat_from=[VDD_NOPE]"},
                        {"thermal.zones.2.heat_from: 'VDD_NOPE' is not one of power.rails"});
  expect_override_error({"thermal.zones.1.name=BCPU"}, {"thermal.zones: 'BCPU' appears twice"});
  expect_override_error({"thermal.critical_c=80"}, {"thermal.critical_c: must be at least thermal.limit_c"});
  expect_override_error({"promise.swing_energy_pj=[1, 2, 3]"},
                        {"promise.swing_energy_pj: expected 7 values (swing levels P1..P7), got 3"});
  expect_override_error({"nvpmodel.1.id=0"}, {"nvpmodel.1.id: id 0 appears twice"});
  expect_text_error(builtin_with_line("    VDD_4V0_WIFI: 0.0", "    VDD_BOGUS: 0.0"),
                    {"power.rail_static_w.VDD_BOGUS: 'VDD_BOGUS' is not one of power.rails"});
}

TEST(Platform, ToYamlReadsBackToTheSamePlatform) {
  for (const std::vector<std::string>& overrides :
       {std::vector<std::string>{},
        std::vector<std::string>{"nvpmodel=MAXP_CORE_DENVER", "dram.bandwidth_gbs=0.1", "promise.present=false",
                                 "gpu.dvfs.0.voltage_v=0.123456789012345678", "thermal.ambient_c=-5.5",
                                 "power.rail_static_w.VDD_4V0_WIFI=1e-7", "name='a: name # needing quotes'",
                                 "interconnect.energy_pj_per_byte=0"}}) {
    SCOPED_TRACE(overrides.empty() ? "built in" : overrides.front());
    Platform original = Platform::builtin(overrides);
    std::string yaml = original.to_yaml();
    Platform again = Platform::parse(yaml, "roundtrip.yaml");
    expect_same_platform(original, again);
    EXPECT_EQ(again.source, "roundtrip.yaml");
    // The text is a fixed point too, apart from the comment naming the source.
    std::string twice = again.to_yaml();
    EXPECT_EQ(yaml.substr(yaml.find('\n')), twice.substr(twice.find('\n')));
  }
}

TEST(Platform, ToYamlRecordsTheOverriddenValues) {
  Platform p = Platform::builtin({"gpu.freq_mhz=624.75"});
  EXPECT_EQ(Platform::parse(p.to_yaml(), "run.yaml").gpu.freq_mhz, 624.75);
}

TEST(Platform, LoadReadsAFileAndNamesAMissingOne) {
  test::TempDir dir;
  const std::string path = dir.file("board.yaml");
  test::write_bytes(path, kBuiltinPlatformTx2);
  Platform loaded = Platform::load(path, {"nvpmodel=MAXQ"});
  EXPECT_EQ(loaded.source, path);
  EXPECT_EQ(loaded.cpu.cores, 4);
  expect_same_platform(Platform::from_option(path, {}), Platform::builtin());
  EXPECT_EQ(Platform::from_option("", {}).source, Platform::builtin().source);

  const std::string missing = dir.file("no_such_platform.yaml");
  expect_error([&] { Platform::load(missing); }, {missing});
  expect_error([&] { Platform::from_option(missing, {}); }, {missing});
  // Errors inside a loaded file name the file.
  test::write_bytes(path, std::string(kBuiltinPlatformTx2) + "bogus: 1\n");
  expect_error([&] { Platform::load(path); }, {path + ": bogus: unknown key"});
}

}  // namespace
}  // namespace coda::sim
