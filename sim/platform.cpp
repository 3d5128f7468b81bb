#include "sim/platform.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "sim/platform_overrides.h"
#include "sim/platform_schema.h"

namespace coda::sim {

// Generated at build time from sim/platforms/tx2.yaml (sim/CMakeLists.txt).
extern const char* const kBuiltinPlatformTx2;

namespace {

using schema::Field;
using schema::Range;
using schema::Schema;
using schema::Where;

// How close a frequency must be to a DVFS step to be that step (platform.h: within 0.01 MHz), so
// that "1300.5" and a value computed as 1300.4999999 name the same step.
constexpr double kStepToleranceMhz = 0.01;

std::string format_number(double value) { return schema::format_number(value); }

// --- The schema of every struct: the YAML keys, in the order to_yaml writes them. ---

const Schema<DvfsPoint>& dvfs_point_schema() {
  static const Schema<DvfsPoint> fields{
      schema::number("freq_mhz", &DvfsPoint::freq_mhz, Range::Positive),
      schema::number("voltage_v", &DvfsPoint::voltage_v, Range::Positive),
  };
  return fields;
}

// A DVFS table: a non-empty list of steps, frequency strictly increasing, voltage non-decreasing.
template <typename S>
Field<S> dvfs_table(const char* key, DvfsTable S::*member) {
  return {key,
          [member](const YAML::Node& node, S& into, const Where& where) {
            std::vector<DvfsPoint> points = schema::read_list(node, where, dvfs_point_schema());
            if (points.empty()) where.fail("empty: a DVFS table needs at least one step");
            for (std::size_t i = 1; i < points.size(); ++i) {
              const DvfsPoint& before = points[i - 1];
              const DvfsPoint& step = points[i];
              if (step.freq_mhz <= before.freq_mhz || step.voltage_v < before.voltage_v)
                where.fail("not monotone at step " + std::to_string(i) + ": " + format_number(step.freq_mhz) + " MHz at " +
                           format_number(step.voltage_v) + " V follows " + format_number(before.freq_mhz) + " MHz at " +
                           format_number(before.voltage_v) + " V (frequency must rise, voltage must not fall)");
            }
            (into.*member).points = points;
          },
          [member](YAML::Emitter& out, const S& from) {
            schema::write_list(out, (from.*member).points, dvfs_point_schema());
          }};
}

const Schema<UnitPower>& unit_power_schema() {
  static const Schema<UnitPower> fields{
      schema::text("rail", &UnitPower::rail),
      schema::number("static_w", &UnitPower::static_w, Range::NonNegative),
      schema::number("nominal_v", &UnitPower::nominal_v, Range::Positive),
      schema::number("c_eff_nf", &UnitPower::c_eff_nf, Range::NonNegative),
      schema::number("stall_activity", &UnitPower::stall_activity, Range::Share),
  };
  return fields;
}

const Schema<CpuParams>& cpu_schema() {
  static const Schema<CpuParams> fields{
      schema::integer("cores", &CpuParams::cores, 1),
      schema::number("simd_lanes", &CpuParams::simd_lanes, Range::Positive),
      schema::number("efficiency", &CpuParams::efficiency, Range::Efficiency),
      schema::flag("fp16_arithmetic", &CpuParams::fp16_arithmetic),
      schema::number("l2_kb", &CpuParams::l2_kb, Range::Positive),
      schema::number("op_overhead_us", &CpuParams::op_overhead_us, Range::NonNegative),
      dvfs_table("dvfs", &CpuParams::dvfs),
      schema::number("freq_mhz", &CpuParams::freq_mhz, Range::Positive),
      schema::nested("power", &CpuParams::power, unit_power_schema()),
      schema::text("thermal_zone", &CpuParams::thermal_zone),
  };
  return fields;
}

const Schema<GpuParams>& gpu_schema() {
  static const Schema<GpuParams> fields{
      schema::integer("sms", &GpuParams::sms, 1),
      schema::integer("cores_per_sm", &GpuParams::cores_per_sm, 1),
      schema::number("fp16_rate", &GpuParams::fp16_rate, Range::Positive),
      schema::number("efficiency", &GpuParams::efficiency, Range::Efficiency),
      schema::number("l2_kb", &GpuParams::l2_kb, Range::Positive),
      schema::integer("tile_m", &GpuParams::tile_m, 1),
      schema::integer("tile_n", &GpuParams::tile_n, 1),
      schema::integer("blocks_per_sm", &GpuParams::blocks_per_sm, 1),
      schema::integer("elementwise_block", &GpuParams::elementwise_block, 1),
      schema::number("launch_us", &GpuParams::launch_us, Range::NonNegative),
      dvfs_table("dvfs", &GpuParams::dvfs),
      schema::number("freq_mhz", &GpuParams::freq_mhz, Range::Positive),
      schema::nested("power", &GpuParams::power, unit_power_schema()),
      schema::text("thermal_zone", &GpuParams::thermal_zone),
  };
  return fields;
}

const Schema<DramParams>& dram_schema() {
  static const Schema<DramParams> fields{
      schema::number("bandwidth_gbs", &DramParams::bandwidth_gbs, Range::Positive),
      schema::number("efficiency", &DramParams::efficiency, Range::Efficiency),
      schema::number("latency_ns", &DramParams::latency_ns, Range::Positive),
      schema::number("energy_pj_per_bit", &DramParams::energy_pj_per_bit, Range::Positive),
      schema::nested("power", &DramParams::power, unit_power_schema()),
      schema::text("thermal_zone", &DramParams::thermal_zone),
  };
  return fields;
}

const Schema<InterconnectParams>& interconnect_schema() {
  static const Schema<InterconnectParams> fields{
      schema::number("bandwidth_gbs", &InterconnectParams::bandwidth_gbs, Range::Positive),
      schema::number("latency_ns", &InterconnectParams::latency_ns, Range::NonNegative),
      schema::number("energy_pj_per_byte", &InterconnectParams::energy_pj_per_byte, Range::NonNegative),
      schema::text("rail", &InterconnectParams::rail),
  };
  return fields;
}

const Schema<PromiseParams>& promise_schema() {
  static const Schema<PromiseParams> fields{
      schema::flag("present", &PromiseParams::present),
      schema::integer("banks", &PromiseParams::banks, 1),
      schema::integer("bank_rows", &PromiseParams::bank_rows, 1),
      schema::integer("bank_cols", &PromiseParams::bank_cols, 1),
      schema::number("freq_mhz", &PromiseParams::freq_mhz, Range::Positive),
      schema::number("row_ns", &PromiseParams::row_ns, Range::Positive),
      schema::number("reduce_ns", &PromiseParams::reduce_ns, Range::Positive),
      schema::numbers("swing_energy_pj", &PromiseParams::swing_energy_pj, Range::Positive),
      schema::number("sram_pj_per_byte", &PromiseParams::sram_pj_per_byte, Range::Positive),
      schema::number("leakage_mw_per_bank", &PromiseParams::leakage_mw_per_bank, Range::NonNegative),
      schema::nested("power", &PromiseParams::power, unit_power_schema()),
      schema::text("thermal_zone", &PromiseParams::thermal_zone),
  };
  return fields;
}

const Schema<LightnnParams>& lightnn_schema() {
  static const Schema<LightnnParams> fields{
      schema::flag("present", &LightnnParams::present),
      schema::integer("rows", &LightnnParams::rows, 1),
      schema::integer("cols", &LightnnParams::cols, 1),
      // REFERENCE.md section 5: a weight is at most K in {1, 2} shifts.
      schema::integer("terms", &LightnnParams::terms, 1, 2),
      // The accumulator must hold the widest activation shifted by the largest exponent (hw/).
      schema::integer("acc_bits", &LightnnParams::acc_bits, 16, 64),
      schema::integer("kmax", &LightnnParams::kmax, 1),
      schema::integer("rtl_max_macs", &LightnnParams::rtl_max_macs, 0),
      schema::number("freq_mhz", &LightnnParams::freq_mhz, Range::Positive),
      schema::number("shift_pj", &LightnnParams::shift_pj, Range::Positive),
      schema::number("add_pj", &LightnnParams::add_pj, Range::Positive),
      schema::number("sram_pj_per_byte", &LightnnParams::sram_pj_per_byte, Range::Positive),
      schema::number("buffer_kb", &LightnnParams::buffer_kb, Range::Positive),
      schema::nested("power", &LightnnParams::power, unit_power_schema()),
      schema::text("thermal_zone", &LightnnParams::thermal_zone),
  };
  return fields;
}

// rail_static_w: a mapping from rail name to its fixed draw in W, kept in file order.
Field<RailModel> rail_static_field() {
  return {"rail_static_w",
          [](const YAML::Node& node, RailModel& into, const Where& where) {
            schema::expect_mapping(node, where, nullptr);
            into.rail_static_w.clear();
            for (const auto& entry : node) {
              const std::string rail = entry.first.Scalar();
              into.rail_static_w.emplace_back(rail, schema::read_number(entry.second, where / rail, Range::NonNegative));
            }
          },
          [](YAML::Emitter& out, const RailModel& from) {
            out << YAML::BeginMap;
            for (const auto& [rail, watts] : from.rail_static_w) {
              out << YAML::Key << rail << YAML::Value;
              schema::emit_number(out, watts);
            }
            out << YAML::EndMap;
          }};
}

const Schema<RailModel>& rail_model_schema() {
  static const Schema<RailModel> fields{
      schema::text("input_rail", &RailModel::input_rail),
      schema::names("rails", &RailModel::rails),
      schema::number("regulator_efficiency", &RailModel::regulator_efficiency, Range::Efficiency),
      schema::number("board_static_w", &RailModel::board_static_w, Range::NonNegative),
      rail_static_field(),
  };
  return fields;
}

const Schema<ThermalZone>& thermal_zone_schema() {
  static const Schema<ThermalZone> fields{
      schema::text("name", &ThermalZone::name),
      schema::number("r_c_per_w", &ThermalZone::r_c_per_w, Range::Positive),
      schema::number("c_j_per_c", &ThermalZone::c_j_per_c, Range::Positive),
      schema::names("heat_from", &ThermalZone::heat_from),
  };
  return fields;
}

const Schema<ThermalParams>& thermal_schema() {
  static const Schema<ThermalParams> fields{
      schema::number("ambient_c", &ThermalParams::ambient_c, Range::Any),
      schema::number("initial_c", &ThermalParams::initial_c, Range::Any),
      schema::number("limit_c", &ThermalParams::limit_c, Range::Any),
      schema::number("critical_c", &ThermalParams::critical_c, Range::Any),
      schema::list("zones", &ThermalParams::zones, thermal_zone_schema()),
  };
  return fields;
}

const Schema<NvpModel>& nvpmodel_schema() {
  static const Schema<NvpModel> fields{
      schema::integer("id", &NvpModel::id, 0),
      schema::text("name", &NvpModel::name),
      schema::integer("cpu_cores", &NvpModel::cpu_cores, 1),
      schema::number("cpu_freq_mhz", &NvpModel::cpu_freq_mhz, Range::Positive),
      schema::number("gpu_freq_mhz", &NvpModel::gpu_freq_mhz, Range::Positive),
  };
  return fields;
}

const Schema<SimParams>& sim_schema() {
  static const Schema<SimParams> fields{
      schema::number("quantum_ns", &SimParams::quantum_ns, Range::Positive),
      schema::number("power_sample_ms", &SimParams::power_sample_ms, Range::Positive),
      schema::integer("max_chunks_per_op", &SimParams::max_chunks_per_op, 1),
  };
  return fields;
}

const Schema<Platform>& platform_schema() {
  static const Schema<Platform> fields{
      schema::text("name", &Platform::name),
      schema::nested("cpu", &Platform::cpu, cpu_schema()),
      schema::nested("gpu", &Platform::gpu, gpu_schema()),
      schema::nested("dram", &Platform::dram, dram_schema()),
      schema::nested("interconnect", &Platform::interconnect, interconnect_schema()),
      schema::nested("promise", &Platform::promise, promise_schema()),
      schema::nested("lightnn", &Platform::lightnn, lightnn_schema()),
      schema::nested("power", &Platform::power, rail_model_schema()),
      schema::nested("thermal", &Platform::thermal, thermal_schema()),
      schema::list("nvpmodel", &Platform::nvpmodels, nvpmodel_schema()),
      schema::nested("sim", &Platform::sim, sim_schema()),
  };
  return fields;
}

// --- Checks that relate one part of the platform to another. ---

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

void check_step(const DvfsTable& table, const std::string& table_key, double freq_mhz, const Where& where) {
  if (table.has_step(freq_mhz)) return;
  std::vector<std::string> steps;
  for (const DvfsPoint& point : table.points) steps.push_back(format_number(point.freq_mhz));
  where.fail(format_number(freq_mhz) + " MHz is not a step of " + table_key + " (" + joined(steps) + ")");
}

void check_one_of(const std::string& name, const std::vector<std::string>& names, const std::string& list_key,
                  const Where& where) {
  if (std::find(names.begin(), names.end(), name) == names.end())
    where.fail("'" + name + "' is not one of " + list_key + " (" + joined(names) + ")");
}

void check_unique(const std::vector<std::string>& names, const Where& where) {
  std::set<std::string> seen;
  for (const std::string& name : names)
    if (!seen.insert(name).second) where.fail("'" + name + "' appears twice");
}

void validate(const Platform& platform, const std::string& source) {
  const Where root(source, "");

  const RailModel& power = platform.power;
  if (power.rails.empty()) (root / "power" / "rails").fail("empty: name at least one sub-rail");
  check_unique(power.rails, root / "power" / "rails");
  if (std::find(power.rails.begin(), power.rails.end(), power.input_rail) != power.rails.end())
    (root / "power" / "input_rail").fail("'" + power.input_rail + "' is also one of power.rails; it is their sum");
  for (const auto& [rail, watts] : power.rail_static_w)
    check_one_of(rail, power.rails, "power.rails", root / "power" / "rail_static_w" / rail);

  const ThermalParams& thermal = platform.thermal;
  if (!(thermal.limit_c > thermal.ambient_c))
    (root / "thermal" / "limit_c").fail("must be above thermal.ambient_c (" + format_number(thermal.ambient_c) + "), got " +
                                        format_number(thermal.limit_c));
  if (!(thermal.critical_c >= thermal.limit_c))
    (root / "thermal" / "critical_c").fail("must be at least thermal.limit_c (" + format_number(thermal.limit_c) +
                                           "), got " + format_number(thermal.critical_c));
  std::vector<std::string> zone_names;
  for (std::size_t i = 0; i < thermal.zones.size(); ++i) {
    const ThermalZone& zone = thermal.zones[i];
    const Where where = root / "thermal" / "zones" / std::to_string(i) / "heat_from";
    if (zone.heat_from.empty()) where.fail("empty: name the rails whose power heats zone " + zone.name);
    for (const std::string& rail : zone.heat_from) check_one_of(rail, power.rails, "power.rails", where);
    zone_names.push_back(zone.name);
  }
  check_unique(zone_names, root / "thermal" / "zones");

  struct UnitPlace {
    const char* unit;
    const UnitPower& power;
    const std::string& zone;
  };
  const UnitPlace units[] = {
      {"cpu", platform.cpu.power, platform.cpu.thermal_zone},
      {"gpu", platform.gpu.power, platform.gpu.thermal_zone},
      {"dram", platform.dram.power, platform.dram.thermal_zone},
      {"promise", platform.promise.power, platform.promise.thermal_zone},
      {"lightnn", platform.lightnn.power, platform.lightnn.thermal_zone},
  };
  for (const UnitPlace& place : units) {
    check_one_of(place.power.rail, power.rails, "power.rails", root / place.unit / "power" / "rail");
    check_one_of(place.zone, zone_names, "thermal.zones", root / place.unit / "thermal_zone");
  }
  check_one_of(platform.interconnect.rail, power.rails, "power.rails", root / "interconnect" / "rail");

  check_step(platform.cpu.dvfs, "cpu.dvfs", platform.cpu.freq_mhz, root / "cpu" / "freq_mhz");
  check_step(platform.gpu.dvfs, "gpu.dvfs", platform.gpu.freq_mhz, root / "gpu" / "freq_mhz");

  // REFERENCE.md section 2: PROMISE has swing levels P1..P7.
  constexpr std::size_t kSwingLevels = 7;
  if (platform.promise.swing_energy_pj.size() != kSwingLevels)
    (root / "promise" / "swing_energy_pj")
        .fail("expected " + std::to_string(kSwingLevels) + " values (swing levels P1..P7), got " +
              std::to_string(platform.promise.swing_energy_pj.size()));

  std::set<int> ids;
  std::vector<std::string> mode_names;
  for (std::size_t i = 0; i < platform.nvpmodels.size(); ++i) {
    const NvpModel& mode = platform.nvpmodels[i];
    const Where where = root / "nvpmodel" / std::to_string(i);
    if (!ids.insert(mode.id).second) (where / "id").fail("id " + std::to_string(mode.id) + " appears twice");
    mode_names.push_back(mode.name);
    check_step(platform.cpu.dvfs, "cpu.dvfs", mode.cpu_freq_mhz, where / "cpu_freq_mhz");
    check_step(platform.gpu.dvfs, "gpu.dvfs", mode.gpu_freq_mhz, where / "gpu_freq_mhz");
  }
  check_unique(mode_names, root / "nvpmodel");
}

}  // namespace

int DvfsTable::step_index(double freq_mhz) const {
  for (std::size_t i = 0; i < points.size(); ++i)
    if (std::fabs(points[i].freq_mhz - freq_mhz) <= kStepToleranceMhz) return static_cast<int>(i);
  return -1;
}

bool DvfsTable::has_step(double freq_mhz) const { return step_index(freq_mhz) >= 0; }

double DvfsTable::voltage_at(double freq_mhz) const {
  int index = step_index(freq_mhz);
  if (index < 0) throw std::out_of_range("no DVFS step at " + format_number(freq_mhz) + " MHz");
  return points[static_cast<std::size_t>(index)].voltage_v;
}

Platform Platform::parse(const std::string& yaml_text, const std::string& source,
                         const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw BadInput(source + ": not valid YAML: " + e.msg + " at line " + std::to_string(e.mark.line + 1));
  }
  try {
    apply_overrides(root, overrides, source);
    Platform platform = schema::read_struct(root, Where(source, ""), platform_schema());
    platform.source = source;
    validate(platform, source);
    return platform;
  } catch (const YAML::Exception& e) {
    // The checks above read only what they have verified; this is a safety net, not a path.
    throw BadInput(source + ": malformed platform: " + e.msg);
  }
}

Platform Platform::load(const std::string& path, const std::vector<std::string>& overrides) {
  return parse(read_file(path), path, overrides);
}

Platform Platform::builtin(const std::vector<std::string>& overrides) {
  return parse(kBuiltinPlatformTx2, "tx2.yaml (built in)", overrides);
}

Platform Platform::from_option(const std::string& path, const std::vector<std::string>& overrides) {
  return path.empty() ? builtin(overrides) : load(path, overrides);
}

std::string Platform::to_yaml() const {
  std::string origin = "platform " + name + ", read from " + source + " (overrides applied)";
  std::replace(origin.begin(), origin.end(), '\n', ' ');  // a comment is one line
  YAML::Emitter out;
  out << YAML::Comment(origin);
  out << YAML::Newline;
  schema::write_struct(out, *this, platform_schema());
  return std::string(out.c_str()) + "\n";
}

}  // namespace coda::sim
