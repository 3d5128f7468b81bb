// The Verilated LightNN shift-add array (hw/rtl/shift_add_array.v, C++ flavour) behind a tile API:
// bit-exact outputs and measured cycle counts, for co-simulation against the golden model
// (shift_add_dot) and the analytical timing (lightnn_timing.h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "hw/lightnn_timing.h"
#include "hw/tile_result.h"
#include "kernels/approx/shift_add.h"

namespace coda::hw {

class ArrayPins;

class RtlShiftAddArray {
 public:
  // The first built variant with the geometry's rows and columns and at least its terms, widths and
  // kmax (zero fields ask for nothing): a 16x16 K=2 a16 build serves 8-bit activations and K=1
  // weights too. Throws BadInput "no Verilated array for 16x8 K=2 a16 (built: ...)".
  explicit RtlShiftAddArray(const ArrayGeometry& geometry);
  ~RtlShiftAddArray();
  RtlShiftAddArray(RtlShiftAddArray&&) noexcept;
  RtlShiftAddArray& operator=(RtlShiftAddArray&&) noexcept;

  // The build that runs (which may exceed the one asked for).
  const ArrayGeometry& geometry() const { return geometry_; }

  // One tile: output (r, c) = sum over steps s < k of the shift-add product of activation
  // activations[r * k + s] and weight codes[(c * k + s) * 2 .. + 1], for r < rows_used,
  // c < cols_used; with accumulate, added to the previous tile's outputs (K split into chunks).
  // Cycles are counted by clocking the model. Throws BadInput when the tile does not fit the build,
  // an activation does not fit act_bits, or a one-term build gets a second term.
  TileResult run_tile(const int32_t* activations, const ShiftTerm* codes, int64_t k, int rows_used, int cols_used,
                      bool accumulate = false);

  static std::vector<ArrayGeometry> built_geometries();

 private:
  ArrayGeometry geometry_;
  std::unique_ptr<ArrayPins> pins_;
};

}  // namespace coda::hw
