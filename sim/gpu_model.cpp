// GPU timing: implicit-GEMM thread blocks in waves over the SMs (tile and wave quantization, as
// in Paleo / the "GPU waves" analyses of cuDNN kernels), elementwise and pooling kernels as one
// thread per element, both behind a kernel-launch overhead; DRAM traffic after L2 reuse. The
// ComputeUnit overlaps compute with traffic (a memory roofline per op). Energy: C_eff * V^2 per
// busy cycle on VDD_SYS_GPU (sim/platforms/tx2.yaml, gpu.power).
#include <algorithm>
#include <cmath>

#include "sim/unit_model.h"

namespace coda::sim {
namespace {

class GpuModel : public UnitModel {
 public:
  OpWork work(const OpWorkload& w, const UnitContext& context) const override {
    const GpuParams& gpu = context.platform.gpu;
    OpWork work;
    work.macs = w.macs;
    if (w.is_view) return work;
    work.overhead_s = gpu.launch_us * 1e-6;
    double rate = w.half_arithmetic ? gpu.fp16_rate : 1.0;
    double resident = static_cast<double>(gpu.sms) * gpu.blocks_per_sm;
    double cores = static_cast<double>(gpu.sms) * gpu.cores_per_sm;
    if (w.gemm.groups > 0 && !w.gemm.depthwise) {
      const GemmShape& g = w.gemm;
      double row_tiles = std::ceil(static_cast<double>(g.m) / gpu.tile_m);
      double column_tiles = std::ceil(static_cast<double>(g.n) / gpu.tile_n);
      double blocks = row_tiles * column_tiles * static_cast<double>(g.groups);
      // A block computes its whole tile even when the GEMM edge leaves part of it empty.
      double block_macs = static_cast<double>(gpu.tile_m) * gpu.tile_n * static_cast<double>(g.k);
      double block_cycles = block_macs / (gpu.cores_per_sm * gpu.efficiency * rate / gpu.blocks_per_sm);
      double waves = std::ceil(blocks / resident);
      work.compute_cycles = waves * block_cycles + w.flops / (cores * gpu.efficiency * rate);
      GemmTraffic traffic = gemm_traffic(w, gpu.l2_kb * 1024, row_tiles, column_tiles);
      work.read_bytes = traffic.read_bytes;
      work.write_bytes = traffic.write_bytes;
    } else {
      // One thread per output element in blocks of elementwise_block threads; the work per
      // element is the op's arithmetic spread evenly.
      double elements = std::max(1.0, w.output_bytes / w.element_bytes);
      double blocks = std::ceil(elements / gpu.elementwise_block);
      double waves = std::ceil(blocks / resident);
      double per_element = (w.macs + w.flops) / elements;
      double wave_cycles = std::max(1.0, per_element) * gpu.elementwise_block * gpu.blocks_per_sm /
                           (gpu.cores_per_sm * gpu.efficiency * rate);
      work.compute_cycles = waves * wave_cycles;
      work.read_bytes = w.input_bytes + w.weight_bytes;
      work.write_bytes = w.output_bytes;
    }
    return work;
  }
  const UnitPower& power(const Platform& p) const override { return p.gpu.power; }
  const std::string& thermal_zone(const Platform& p) const override { return p.gpu.thermal_zone; }
  double freq_mhz(const Platform& p) const override { return p.gpu.freq_mhz; }
  const DvfsTable* dvfs(const Platform& p) const override { return &p.gpu.dvfs; }
  bool cycle_energy() const override { return true; }
};

}  // namespace

CODA_REGISTER_UNIT_MODEL(gpu, GpuModel);

}  // namespace coda::sim
