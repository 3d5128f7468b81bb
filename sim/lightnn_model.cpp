// LightNN shift-add array (Ding et al., GLSVLSI'17 / TRETS'19; REFERENCE.md section 5): an
// output-stationary rows x cols array of shift-add PEs, the RTL in hw/rtl/shift_add_array.v.
// A GEMM m x k x n maps m output pixels onto rows and n filters onto columns; each tile streams
// k reduction steps through the array with systolic fill and drain. Cycles come from
// hw::lightnn_gemm_cycles (the formula the Verilated array is checked against), or, in rtl
// fidelity, from running the Verilated array itself on small layers. Energy per operation: one
// shift and one add per present weight term (counted on the layer's quantized weights, so
// FLightNN's per-filter K shows), one accumulator add per MAC, buffer reads per streamed byte.
#include <algorithm>
#include <cmath>

#include "hw/lightnn_timing.h"
#include "kernels/approx/shift_add.h"
#include "kernels/error.h"
#include "sim/lightnn_rtl.h"
#include "sim/unit_model.h"

namespace coda::sim {
namespace {

class LightnnModel : public UnitModel {
 public:
  OpWork work(const OpWorkload& w, const UnitContext& context) const override {
    const LightnnParams& p = context.platform.lightnn;
    OpWork work;
    work.macs = w.macs;
    if (w.gemm.groups <= 0)
      throw BadInput("node '" + context.report.node->name + "' (" + w.op_type + ") cannot run on lightnn");
    const GemmShape& g = w.gemm;
    hw::ArrayGeometry geometry = lightnn_geometry(p, context.knob.activation_bits);
    // The array is not double-buffered: each tile loads its buffers, then computes and drains.
    double cycles_per_group = static_cast<double>(hw::lightnn_gemm_cycles(geometry, g.m, g.k, g.n) +
                                                  hw::lightnn_gemm_load_cycles(geometry, g.m, g.k, g.n));
    if (context.rtl_fidelity && lightnn_rtl_eligible(g, p)) {
      cycles_per_group = static_cast<double>(lightnn_rtl_cycles(geometry, g, context));
      work.fidelity = "rtl";
    }
    work.compute_cycles = cycles_per_group * static_cast<double>(g.groups);

    double terms = lightnn_terms_per_weight(context);
    double macs = w.macs;
    work.energy_j["lightnn.shift_add"] = macs * (terms * (p.shift_pj + p.add_pj) + p.add_pj) * 1e-12;
    double row_tiles = std::ceil(static_cast<double>(g.m) / p.rows);
    double column_tiles = std::ceil(static_cast<double>(g.n) / p.cols);
    double activation_bytes = context.knob.activation_bits <= 8 ? 1 : 2;
    // Each tile streams its rows' activations and its columns' weight codes (2 bytes per weight).
    double streamed = static_cast<double>(g.groups) * g.k *
                      (column_tiles * g.m * activation_bytes + row_tiles * g.n * 2.0);
    work.energy_j["lightnn.buffer"] = streamed * p.sram_pj_per_byte * 1e-12;
    // Activations stay in the buffer across column tiles when they fit; weights likewise across
    // row tiles.
    double buffer = p.buffer_kb * 1024 / 2;
    double input_reads = w.input_bytes <= buffer ? 1 : column_tiles;
    double weight_bytes = static_cast<double>(g.groups) * g.k * g.n * 2.0;
    double weight_reads = weight_bytes <= buffer ? 1 : row_tiles;
    work.read_bytes = w.input_bytes * input_reads + weight_bytes * weight_reads;
    work.write_bytes = w.output_bytes;
    return work;
  }
  const UnitPower& power(const Platform& p) const override { return p.lightnn.power; }
  const std::string& thermal_zone(const Platform& p) const override { return p.lightnn.thermal_zone; }
  double freq_mhz(const Platform& p) const override { return p.lightnn.freq_mhz; }
  bool present(const Platform& p) const override { return p.lightnn.present; }
};

}  // namespace

CODA_REGISTER_UNIT_MODEL(lightnn, LightnnModel);

}  // namespace coda::sim
