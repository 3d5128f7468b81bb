// What one tile on the Verilated LightNN array returns (both flavours: RtlShiftAddArray,
// ShiftAddArrayModule).
#pragma once

#include <cstdint>
#include <vector>

namespace coda::hw {

struct TileResult {
  // rows_used x cols_used accumulators, row-major: output (pixel r, filter c) at r * cols_used + c;
  // each is the acc_bits-bit two's complement value sign-extended, i.e. the exact sum whenever it
  // fits in acc_bits (shift_add_dot modulo 2^acc_bits otherwise).
  std::vector<int64_t> outputs;
  int64_t cycles = 0;       // rising clock edges from start to done, both counted
  int64_t load_cycles = 0;  // buffer load edges before start
};

}  // namespace coda::hw
