// Cycle counts of the LightNN shift-add array (hw/rtl/shift_add_array.v), as formulas: the
// analytical model the SystemC LightNN unit uses, checked cycle for cycle against the Verilated
// RTL by tests/hw. Pure C++ (no Verilator), so any layer may use it.
#pragma once

#include <cstdint>
#include <string>

namespace coda::hw {

// One build of the array: ROWS x COLS PEs of TERMS shift-add terms each, signed act_bits-bit
// activations, acc_bits-bit accumulators, on-array buffers for tiles of up to kmax reduction steps.
struct ArrayGeometry {
  int rows = 0;
  int cols = 0;
  int terms = 0;
  int act_bits = 0;
  int acc_bits = 0;
  int kmax = 0;

  // "16x16 K=2 a16".
  std::string name() const;
  // Throws BadInput "WHAT: ..." when a field is outside what the RTL supports.
  void validate(const std::string& what) const;
  bool operator==(const ArrayGeometry& other) const;
  bool operator!=(const ArrayGeometry& other) const { return !(*this == other); }
};

// Rising clock edges from the one that accepts `start` to the one that raises `done`, both counted,
// for a tile of k reduction steps (1..kmax) on rows_used x cols_used PEs:
//   setup 1 (latch the tile, clear the PEs)
//   + compute k + (rows_used - 1) + (cols_used - 1) (the skewed wavefront reaches the last PE,
//     PE(rows_used - 1, cols_used - 1), at step k - 1 + rows_used - 1 + cols_used - 1)
//   + drain rows_used (one row of results per edge into the output buffer)
//   = k + 2 * rows_used + cols_used - 1.
// Throws BadInput when the tile does not fit the geometry.
int64_t lightnn_tile_cycles(const ArrayGeometry& g, int64_t k, int rows_used, int cols_used);

// Edges of the buffer load port before `start`: one reduction step (all rows' activations and all
// columns' term codes) per edge. Not part of lightnn_tile_cycles: that traffic is the memory
// system's, timed by the SoC model.
int64_t lightnn_tile_load_cycles(const ArrayGeometry& g, int64_t k);

// An M x K x N GEMM (M output pixels on the rows, N filters on the columns, reduction K) in tiles of
// at most rows x cols outputs, K split into chunks of at most kmax steps that accumulate in the
// output buffer. Tiles run one after another; the last tile of a dimension is partial.
// Throws BadInput when a dimension is not positive.
int64_t lightnn_gemm_tiles(const ArrayGeometry& g, int64_t m, int64_t k, int64_t n);
// Sum of lightnn_tile_cycles over those tiles.
int64_t lightnn_gemm_cycles(const ArrayGeometry& g, int64_t m, int64_t k, int64_t n);
// Sum of lightnn_tile_load_cycles over those tiles.
int64_t lightnn_gemm_load_cycles(const ArrayGeometry& g, int64_t m, int64_t k, int64_t n);

}  // namespace coda::hw
