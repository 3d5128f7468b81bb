// CPU cluster timing: the op's arithmetic over cores x SIMD lanes at the cluster clock and the
// efficiency a tuned kernel reaches, behind a per-op dispatch overhead; DRAM traffic after L2
// reuse (GEMMs are blocked by cores x SIMD width). FP16 runs at the FP32 rate when the cores lack
// half arithmetic (the Cortex-A57, REFERENCE.md section 3), with half the bytes. Energy: C_eff *
// V^2 per busy cycle on VDD_SYS_CPU.
#include <algorithm>
#include <cmath>

#include "sim/unit_model.h"

namespace coda::sim {
namespace {

class CpuModel : public UnitModel {
 public:
  OpWork work(const OpWorkload& w, const UnitContext& context) const override {
    const CpuParams& cpu = context.platform.cpu;
    OpWork work;
    work.macs = w.macs;
    if (w.is_view) return work;
    work.overhead_s = cpu.op_overhead_us * 1e-6;
    work.capacitance_scale = cpu.cores;
    double rate = w.half_arithmetic && cpu.fp16_arithmetic ? 2.0 : 1.0;
    double lanes = cpu.cores * cpu.simd_lanes * cpu.efficiency * rate;
    work.compute_cycles = (w.macs + w.flops) / lanes;
    if (w.gemm.groups > 0 && !w.gemm.depthwise) {
      double row_tiles = std::ceil(static_cast<double>(w.gemm.m) / (cpu.cores * cpu.simd_lanes));
      double column_tiles = std::ceil(static_cast<double>(w.gemm.n) / cpu.simd_lanes);
      GemmTraffic traffic = gemm_traffic(w, cpu.l2_kb * 1024, row_tiles, column_tiles);
      work.read_bytes = traffic.read_bytes;
      work.write_bytes = traffic.write_bytes;
    } else {
      work.read_bytes = w.input_bytes + w.weight_bytes;
      work.write_bytes = w.output_bytes;
    }
    return work;
  }
  const UnitPower& power(const Platform& p) const override { return p.cpu.power; }
  const std::string& thermal_zone(const Platform& p) const override { return p.cpu.thermal_zone; }
  double freq_mhz(const Platform& p) const override { return p.cpu.freq_mhz; }
  const DvfsTable* dvfs(const Platform& p) const override { return &p.cpu.dvfs; }
  bool cycle_energy() const override { return true; }
};

}  // namespace

CODA_REGISTER_UNIT_MODEL(cpu, CpuModel);

}  // namespace coda::sim
