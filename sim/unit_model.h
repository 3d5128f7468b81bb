// A compute unit's timing and energy model: from an op's workload to the cycles it computes, the
// DRAM traffic it needs and the energy it spends. Each unit (cpu, gpu, promise, lightnn) lives
// in its own file and registers itself by name with CODA_REGISTER_UNIT_MODEL, so adding an
// accelerator adds a file (and its platform section), not a switch statement. The SystemC
// ComputeUnit module (compute_unit.h) plays the work out in time against the shared memory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/knob_catalog.h"
#include "sim/op_workload.h"
#include "sim/layer_weight_cache.h"
#include "sim/platform.h"

namespace coda::sim {

struct OpWork {
  double compute_cycles = 0;  // unit clock cycles with every operand on chip
  double overhead_s = 0;      // clock-independent time before the work starts (kernel launch)
  double read_bytes = 0;      // DRAM traffic, after on-chip reuse
  double write_bytes = 0;
  // Clock-independent dynamic energy by component ("promise.dot", "lightnn.shift_add", ...), for
  // units whose energy is counted per operation rather than per switched cycle.
  std::map<std::string, double> energy_j;
  // Static power the op adds while it runs (PROMISE banks leak only while holding weights).
  double active_static_w = 0;
  // Multiplies the unit's C_eff for cycle-energy units: the CPU's C_eff is per core.
  double capacitance_scale = 1;
  double macs = 0;
  std::string fidelity = "model";  // or "rtl" when the cycles came from the Verilated array
};

struct UnitContext {
  const Platform& platform;
  const Graph& graph;
  const NodeReport& report;
  const Knob& knob;
  bool rtl_fidelity = false;  // LightNN: run small layers on the Verilated array
  std::uint64_t seed = 0;
  LayerWeightCache* weight_cache = nullptr;  // SimOptions::weight_cache
};

class UnitModel {
 public:
  virtual ~UnitModel() = default;
  virtual OpWork work(const OpWorkload& workload, const UnitContext& context) const = 0;
  virtual const UnitPower& power(const Platform& platform) const = 0;
  virtual const std::string& thermal_zone(const Platform& platform) const = 0;
  // The unit's clock at the start of a run; its DVFS table, or null for a fixed clock.
  virtual double freq_mhz(const Platform& platform) const = 0;
  virtual const DvfsTable* dvfs(const Platform& platform) const { (void)platform; return nullptr; }
  // Whether the platform has the unit (accelerators can be absent).
  virtual bool present(const Platform& platform) const { (void)platform; return true; }
  // Switched-capacitance energy model (C_eff * V^2 per busy cycle): CPU and GPU.
  virtual bool cycle_energy() const { return false; }
};

void register_unit_model(const std::string& name, std::unique_ptr<UnitModel> model);
// Throws BadInput "unknown unit 'x'".
const UnitModel& unit_model(const std::string& name);
// Registered names in a fixed order: cpu, gpu, then the accelerators alphabetically.
std::vector<std::string> unit_model_names();

template <typename Model>
struct UnitModelRegistrar {
  explicit UnitModelRegistrar(const char* name) { register_unit_model(name, std::make_unique<Model>()); }
};

#define CODA_REGISTER_UNIT_MODEL(NAME, CLASS) \
  static const ::coda::sim::UnitModelRegistrar<CLASS> coda_unit_model_##NAME(#NAME)

// Shared by the GPU and CPU models: DRAM traffic of a lowered GEMM whose activations and weights
// are re-read from DRAM when they do not fit in an on-chip cache of `cache_bytes`.
struct GemmTraffic {
  double read_bytes = 0;
  double write_bytes = 0;
};
GemmTraffic gemm_traffic(const OpWorkload& workload, double cache_bytes, double row_tiles, double column_tiles);

}  // namespace coda::sim
