// Random tiles for the LightNN array tests and their golden outputs (shift_add_dot, the integer
// model in kernels/approx/shift_add.h), wrapped to the accumulator width as the RTL's modulo
// arithmetic does.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "kernels/approx/shift_add.h"

namespace coda::test {

struct RandomTile {
  int64_t k = 0;
  int rows = 0;
  int cols = 0;
  std::vector<int32_t> activations;  // rows x k
  std::vector<ShiftTerm> codes;      // cols x k x 2
};

// Activations uniform over the signed act_bits range, a quarter of them at its ends; each term
// present with probability 3/4 (second terms only when terms == 2), either sign, shift 0..max_shift.
inline RandomTile random_tile(std::mt19937_64& rng, int64_t k, int rows, int cols, int act_bits, int terms,
                              int max_shift) {
  RandomTile tile{k, rows, cols, {}, {}};
  const int32_t high = (int32_t{1} << (act_bits - 1)) - 1;
  std::uniform_int_distribution<int32_t> value(-high - 1, high);
  std::uniform_int_distribution<int> quarter(0, 3), shift(0, max_shift);
  tile.activations.resize(static_cast<std::size_t>(rows * k));
  for (int32_t& x : tile.activations) {
    const int pick = quarter(rng);
    x = pick == 0 ? (quarter(rng) < 2 ? -high - 1 : high) : value(rng);
  }
  tile.codes.resize(static_cast<std::size_t>(cols * k * 2));
  for (std::size_t i = 0; i < tile.codes.size(); ++i) {
    const bool second = i % 2 == 1;
    if ((second && terms < 2) || quarter(rng) == 0) continue;
    tile.codes[i] = ShiftTerm::make(quarter(rng) < 2, shift(rng));
  }
  return tile;
}

// The low `bits` of value, sign-extended.
inline int64_t wrap_to(int64_t value, int bits) {
  if (bits >= 64) return value;
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
  return static_cast<int64_t>(((static_cast<std::uint64_t>(value) & mask) ^ sign) - sign);
}

// Output (r, c) = shift_add_dot(row r of the activations, filter c's codes, k), wrapped to acc_bits.
inline std::vector<int64_t> golden_outputs(const RandomTile& tile, int acc_bits) {
  std::vector<int64_t> out;
  for (int r = 0; r < tile.rows; ++r)
    for (int c = 0; c < tile.cols; ++c)
      out.push_back(wrap_to(shift_add_dot(tile.activations.data() + r * tile.k, tile.codes.data() + c * tile.k * 2, tile.k),
                            acc_bits));
  return out;
}

}  // namespace coda::test
