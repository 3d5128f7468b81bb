// PROMISE analog in-memory accelerator (Srivastava et al., ISCA 2018; REFERENCE.md section 2).
// C = A x B with the weights B in the SRAM banks: B (k x n, 8-bit) is cut into tiles of
// bank_cols reduction elements x bank_rows weight vectors, one tile per bank; ceil(k/bank_cols)
// x ceil(n/bank_rows) banks hold one copy. When a copy leaves banks free they hold more copies
// and that many rows of A stream in parallel; when one copy needs more banks than exist, B is
// loaded in passes and A streams once per pass. Convolutions are lowered im2col-style: rows_A =
// N*H_out*W_out, cols_A = rows_B = C_in/groups*k_h*k_w, cols_B = C_out/groups (HPVM's simulator
// used rows_A where rows_B belongs; not copied). A bank computes one dot product of up to
// bank_cols elements per row_ns, pipelined, plus reduce_ns to reduce a row's partial sums.
// Energy: per dot product by swing level, SRAM bytes written (weights) and read (inputs),
// leakage of the active banks; DRAM traffic at 8 bits per element.
#include <algorithm>
#include <cmath>

#include "kernels/error.h"
#include "sim/unit_model.h"

namespace coda::sim {
namespace {

class PromiseModel : public UnitModel {
 public:
  OpWork work(const OpWorkload& w, const UnitContext& context) const override {
    const PromiseParams& p = context.platform.promise;
    OpWork work;
    work.macs = w.macs;
    if (w.gemm.groups <= 0)
      throw BadInput("node '" + context.report.node->name + "' (" + w.op_type + ") cannot run on promise");
    const GemmShape& g = w.gemm;
    double k_tiles = std::ceil(static_cast<double>(g.k) / p.bank_cols);
    double n_tiles = std::ceil(static_cast<double>(g.n) / p.bank_rows);
    double banks_per_copy = k_tiles * n_tiles;
    double passes = std::ceil(banks_per_copy / p.banks);
    double copies = passes > 1 ? 1.0 : std::floor(p.banks / banks_per_copy);
    double active_banks = std::min<double>(p.banks, banks_per_copy * copies);
    double vectors_per_bank = std::min<double>(static_cast<double>(g.n), p.bank_rows);
    double row_step_ns = vectors_per_bank * p.row_ns + p.reduce_ns;
    double row_batches = std::ceil(static_cast<double>(g.m) / copies);
    // Loading a bank writes its weight vectors one row per row_ns; all banks load in parallel.
    double load_ns = passes * p.bank_rows * p.row_ns;
    double compute_ns = static_cast<double>(g.groups) * (load_ns + passes * row_batches * row_step_ns);
    work.compute_cycles = compute_ns * 1e-9 * p.freq_mhz * 1e6;

    double dot_products = static_cast<double>(g.groups) * g.m * k_tiles * g.n;
    int swing = std::clamp(context.knob.swing, 1, static_cast<int>(p.swing_energy_pj.size()));
    work.energy_j["promise.dot"] = dot_products * p.swing_energy_pj[static_cast<std::size_t>(swing - 1)] * 1e-12;
    double weight_bytes = static_cast<double>(g.groups) * g.k * g.n * copies;
    double input_bytes = static_cast<double>(g.groups) * g.m * g.k * n_tiles;
    work.energy_j["promise.sram"] = (weight_bytes + input_bytes) * p.sram_pj_per_byte * 1e-12;
    work.active_static_w = active_banks * p.leakage_mw_per_bank * 1e-3;
    // Activations and outputs at 8 bits; weights once per pass (each pass loads other tiles).
    work.read_bytes = w.input_bytes * passes + static_cast<double>(g.groups) * g.k * g.n;
    work.write_bytes = static_cast<double>(g.groups) * g.m * g.n;
    return work;
  }
  const UnitPower& power(const Platform& p) const override { return p.promise.power; }
  const std::string& thermal_zone(const Platform& p) const override { return p.promise.thermal_zone; }
  double freq_mhz(const Platform& p) const override { return p.promise.freq_mhz; }
  bool present(const Platform& p) const override { return p.promise.present; }
};

}  // namespace

CODA_REGISTER_UNIT_MODEL(promise, PromiseModel);

}  // namespace coda::sim
