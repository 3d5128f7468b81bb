#include "hw/lightnn_timing.h"

#include <array>
#include <utility>

#include "kernels/error.h"

namespace coda::hw {

std::string ArrayGeometry::name() const {
  return std::to_string(rows) + "x" + std::to_string(cols) + " K=" + std::to_string(terms) + " a" +
         std::to_string(act_bits);
}

void ArrayGeometry::validate(const std::string& what) const {
  auto require = [&](bool ok, const std::string& problem) {
    if (!ok) throw BadInput(what + ": LightNN array " + name() + ": " + problem);
  };
  // The RTL addresses rows and buffer steps with $clog2(ROWS), $clog2(KMAX): at least 2 each.
  require(rows >= 2 && cols >= 2, "needs at least 2 rows and 2 columns");
  require(terms == 1 || terms == 2, "terms must be 1 or 2");
  require(act_bits >= 2 && act_bits <= 32, "activation width must be 2..32 bits");
  require(acc_bits > act_bits && acc_bits <= 64, "accumulator width must exceed the activation width, at most 64");
  require(kmax >= 2, "kmax must be at least 2");
}

bool ArrayGeometry::operator==(const ArrayGeometry& other) const {
  return rows == other.rows && cols == other.cols && terms == other.terms && act_bits == other.act_bits &&
         acc_bits == other.acc_bits && kmax == other.kmax;
}

int64_t lightnn_tile_cycles(const ArrayGeometry& g, int64_t k, int rows_used, int cols_used) {
  if (k < 1 || k > g.kmax || rows_used < 1 || rows_used > g.rows || cols_used < 1 || cols_used > g.cols)
    throw BadInput("LightNN array " + g.name() + ": a tile of " + std::to_string(rows_used) + "x" +
                   std::to_string(cols_used) + " outputs and " + std::to_string(k) + " steps does not fit (at most " +
                   std::to_string(g.rows) + "x" + std::to_string(g.cols) + " and " + std::to_string(g.kmax) + ")");
  const int64_t setup = 1;
  const int64_t compute = k + (rows_used - 1) + (cols_used - 1);
  const int64_t drain = rows_used;
  return setup + compute + drain;
}

int64_t lightnn_tile_load_cycles(const ArrayGeometry& g, int64_t k) {
  if (k < 1 || k > g.kmax)
    throw BadInput("LightNN array " + g.name() + ": a tile of " + std::to_string(k) + " steps does not fit (at most " +
                   std::to_string(g.kmax) + ")");
  return k;
}

namespace {

// A dimension of `total` split into pieces of at most `piece`: (size, how many) for the full pieces
// and the remainder (count 0 when there is none).
std::array<std::pair<int64_t, int64_t>, 2> split(int64_t total, int64_t piece) {
  return {{{piece, total / piece}, {total % piece, total % piece > 0 ? 1 : 0}}};
}

void check_gemm(const ArrayGeometry& g, int64_t m, int64_t k, int64_t n) {
  if (m < 1 || k < 1 || n < 1)
    throw BadInput("LightNN array " + g.name() + ": GEMM " + std::to_string(m) + "x" + std::to_string(k) + "x" +
                   std::to_string(n) + " has an empty dimension");
  g.validate("LightNN GEMM");
}

// Sum over the GEMM's tiles of cost(k_chunk, rows_used, cols_used), visiting each distinct tile
// shape once (at most 2 x 2 x 2 of them).
template <class Cost>
int64_t sum_over_tiles(const ArrayGeometry& g, int64_t m, int64_t k, int64_t n, Cost cost) {
  check_gemm(g, m, k, n);
  int64_t total = 0;
  for (const auto& [rows, row_tiles] : split(m, g.rows))
    for (const auto& [cols, col_tiles] : split(n, g.cols))
      for (const auto& [steps, chunks] : split(k, g.kmax)) {
        const int64_t count = row_tiles * col_tiles * chunks;
        if (count > 0) total += count * cost(steps, static_cast<int>(rows), static_cast<int>(cols));
      }
  return total;
}

}  // namespace

int64_t lightnn_gemm_tiles(const ArrayGeometry& g, int64_t m, int64_t k, int64_t n) {
  return sum_over_tiles(g, m, k, n, [](int64_t, int, int) { return int64_t{1}; });
}

int64_t lightnn_gemm_cycles(const ArrayGeometry& g, int64_t m, int64_t k, int64_t n) {
  return sum_over_tiles(g, m, k, n, [&](int64_t steps, int rows, int cols) {
    return lightnn_tile_cycles(g, steps, rows, cols);
  });
}

int64_t lightnn_gemm_load_cycles(const ArrayGeometry& g, int64_t m, int64_t k, int64_t n) {
  return sum_over_tiles(g, m, k, n, [&](int64_t steps, int, int) { return lightnn_tile_load_cycles(g, steps); });
}

}  // namespace coda::hw
