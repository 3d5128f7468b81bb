// Internal to hw/: a Verilated shift_add_array seen through its pins, whichever flavour (C++ or
// SystemC) and build parameters, and the tile sequence both flavours drive through it.
#pragma once

#include <cstdint>
#include <vector>

#include "hw/lightnn_timing.h"
#include "hw/tile_result.h"
#include "kernels/approx/shift_add.h"

namespace coda::hw {

// A port's value, least significant 32-bit word first (Verilator's VlWide layout).
using PortWords = std::vector<std::uint32_t>;

inline int port_words(int bits) { return (bits + 31) / 32; }
// Writes the low `width` (<= 64) bits of value at bit `offset`.
void put_bits(PortWords& words, int offset, int width, std::uint64_t value);
// Reads `width` (<= 64) bits at bit `offset`.
std::uint64_t get_bits(const PortWords& words, int offset, int width);

class ArrayPins {
 public:
  virtual ~ArrayPins() = default;

  // Inputs hold their value until set again; a clock() edge samples them.
  virtual void set_reset(bool reset) = 0;
  virtual void set_load(bool enable, int64_t step, const PortWords& activations, const PortWords& codes) = 0;
  virtual void set_start(bool start, int64_t k, int rows_used, int cols_used, bool accumulate) = 0;
  virtual void set_read_row(int row) = 0;
  // Called once before a tile's first input changes (SystemC: align to the clock).
  virtual void begin() = 0;
  // One rising clock edge.
  virtual void clock() = 0;
  // Lets combinational outputs follow the inputs, with no rising edge counted.
  virtual void settle() = 0;
  virtual bool done() = 0;
  virtual PortWords read_data() = 0;

  // Resets the array the first time it is called.
  void reset_once();

 private:
  bool reset_ = false;
};

// One tile: load k steps, start, clock until done, read rows_used rows. Activations are rows_used x k
// (row-major), codes cols_used x k x 2 (two terms per weight, as ShiftAddWeights::codes).
// Throws BadInput when the tile does not fit `g` (the variant behind `pins`), an activation does not
// fit act_bits, or a second term is present on a one-term array.
TileResult run_tile_on(ArrayPins& pins, const ArrayGeometry& g, const int32_t* activations, const ShiftTerm* codes,
                       int64_t k, int rows_used, int cols_used, bool accumulate);

}  // namespace coda::hw
