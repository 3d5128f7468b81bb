#include "hw/array_pins.h"

#include <stdexcept>
#include <string>

#include "kernels/error.h"

namespace coda::hw {

void put_bits(PortWords& words, int offset, int width, std::uint64_t value) {
  for (int bit = 0; bit < width; ++bit) {
    const int at = offset + bit;
    const std::uint32_t mask = std::uint32_t{1} << (at % 32);
    if ((value >> bit) & 1u)
      words[static_cast<std::size_t>(at / 32)] |= mask;
    else
      words[static_cast<std::size_t>(at / 32)] &= ~mask;
  }
}

std::uint64_t get_bits(const PortWords& words, int offset, int width) {
  std::uint64_t value = 0;
  for (int bit = 0; bit < width; ++bit) {
    const int at = offset + bit;
    if ((words[static_cast<std::size_t>(at / 32)] >> (at % 32)) & 1u) value |= std::uint64_t{1} << bit;
  }
  return value;
}

void ArrayPins::reset_once() {
  if (reset_) return;
  set_reset(true);
  clock();
  set_reset(false);
  reset_ = true;
}

namespace {

void check_operands(const ArrayGeometry& g, const int32_t* activations, const ShiftTerm* codes, int64_t k,
                    int rows_used, int cols_used) {
  const int64_t limit = (int64_t{1} << (g.act_bits - 1)) - 1;
  for (int64_t i = 0; i < rows_used * k; ++i)
    if (activations[i] < -limit - 1 || activations[i] > limit)
      throw BadInput("LightNN array " + g.name() + ": activation " + std::to_string(activations[i]) +
                     " does not fit " + std::to_string(g.act_bits) + " bits");
  if (g.terms == 1)
    for (int64_t i = 0; i < cols_used * k; ++i)
      if (codes[2 * i + 1].present())
        throw BadInput("LightNN array " + g.name() + ": a weight has a second shift term; the array has one");
}

int64_t sign_extend(std::uint64_t value, int bits) {
  if (bits == 64) return static_cast<int64_t>(value);
  const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
  return static_cast<int64_t>((value ^ sign) - sign);
}

}  // namespace

TileResult run_tile_on(ArrayPins& pins, const ArrayGeometry& g, const int32_t* activations, const ShiftTerm* codes,
                       int64_t k, int rows_used, int cols_used, bool accumulate) {
  const int64_t expected_cycles = lightnn_tile_cycles(g, k, rows_used, cols_used);  // throws on a misfit
  check_operands(g, activations, codes, k, rows_used, cols_used);

  pins.begin();
  pins.reset_once();
  TileResult result;

  PortWords step_activations(static_cast<std::size_t>(port_words(g.rows * g.act_bits)));
  PortWords step_codes(static_cast<std::size_t>(port_words(g.cols * 8 * g.terms)));
  for (int64_t s = 0; s < k; ++s) {
    // Rows and columns beyond the tile keep zeros; the array masks them anyway.
    for (int r = 0; r < rows_used; ++r)
      put_bits(step_activations, r * g.act_bits, g.act_bits,
               static_cast<std::uint64_t>(static_cast<int64_t>(activations[r * k + s])));
    for (int c = 0; c < cols_used; ++c)
      for (int t = 0; t < g.terms; ++t)
        put_bits(step_codes, (c * g.terms + t) * 8, 8, codes[(c * k + s) * 2 + t].code);
    pins.set_load(true, s, step_activations, step_codes);
    pins.clock();
    ++result.load_cycles;
  }
  pins.set_load(false, 0, step_activations, step_codes);

  pins.set_start(true, k, rows_used, cols_used, accumulate);
  pins.clock();
  result.cycles = 1;
  pins.set_start(false, k, rows_used, cols_used, accumulate);
  // A correct array is done after expected_cycles; far beyond that it has hung.
  const int64_t give_up = 2 * expected_cycles + 16;
  while (!pins.done()) {
    pins.clock();
    if (++result.cycles > give_up)
      throw std::logic_error("LightNN array " + g.name() + ": no done after " + std::to_string(give_up) + " cycles");
  }

  result.outputs.resize(static_cast<std::size_t>(rows_used) * static_cast<std::size_t>(cols_used));
  for (int r = 0; r < rows_used; ++r) {
    pins.set_read_row(r);
    pins.settle();
    const PortWords row = pins.read_data();
    for (int c = 0; c < cols_used; ++c)
      result.outputs[static_cast<std::size_t>(r * cols_used + c)] =
          sign_extend(get_bits(row, c * g.acc_bits, g.acc_bits), g.acc_bits);
  }
  return result;
}

}  // namespace coda::hw
