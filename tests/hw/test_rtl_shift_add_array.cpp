// The Verilated LightNN array (hw/rtl/shift_add_array.v, C++ flavour) against the golden model
// (shift_add_dot) bit for bit on random full and partial tiles of every build, and its measured
// cycles against the analytical timing (hw/lightnn_timing.h), tile by tile and over a multi-tile
// GEMM with K split into chunks.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "hw/lightnn_timing.h"
#include "hw/rtl_shift_add_array.h"
#include "kernels/approx/shift_add.h"
#include "tests/hw/random_tile.h"
#include "tests/support/bad_input.h"

namespace coda::hw {
namespace {

TileResult run(RtlShiftAddArray& array, const test::RandomTile& tile, bool accumulate = false) {
  return array.run_tile(tile.activations.data(), tile.codes.data(), tile.k, tile.rows, tile.cols, accumulate);
}

TEST(RtlShiftAddArray, EveryBuildConstructsAsItself) {
  const std::vector<ArrayGeometry> built = RtlShiftAddArray::built_geometries();
  ASSERT_FALSE(built.empty());
  for (const ArrayGeometry& g : built) EXPECT_EQ(RtlShiftAddArray(g).geometry(), g) << g.name();
}

// Largest shifts (63), both signs, activations at their extremes: the outputs wrap exactly as the
// golden sum does modulo 2^acc_bits.
TEST(RtlShiftAddArray, MatchesTheGoldenModelOnRandomTiles) {
  std::mt19937_64 rng(2024);
  for (const ArrayGeometry& g : RtlShiftAddArray::built_geometries()) {
    RtlShiftAddArray array(g);
    std::uniform_int_distribution<int64_t> steps(1, g.kmax);
    std::uniform_int_distribution<int> rows(1, g.rows), cols(1, g.cols);
    for (int trial = 0; trial < 12; ++trial) {
      const bool full = trial % 3 == 0;
      const test::RandomTile tile = test::random_tile(rng, full ? g.kmax : steps(rng), full ? g.rows : rows(rng),
                                                      full ? g.cols : cols(rng), g.act_bits, g.terms, 63);
      ASSERT_EQ(run(array, tile).outputs, test::golden_outputs(tile, g.acc_bits))
          << g.name() << " tile " << tile.rows << "x" << tile.cols << " k=" << tile.k;
    }
  }
}

// Shifts small enough that no sum leaves the accumulator: the outputs are the golden sums
// themselves. One-term weights (absent second terms) run on two-term builds too.
TEST(RtlShiftAddArray, ExactWhenTheSumsFit) {
  std::mt19937_64 rng(5);
  for (const ArrayGeometry& g : RtlShiftAddArray::built_geometries()) {
    RtlShiftAddArray array(g);
    for (int terms = 1; terms <= g.terms; ++terms) {
      const test::RandomTile tile = test::random_tile(rng, g.kmax, g.rows, g.cols - 1, g.act_bits, terms, 7);
      const std::vector<int64_t> exact = test::golden_outputs(tile, 64);
      ASSERT_EQ(exact, test::golden_outputs(tile, g.acc_bits)) << "the test's sums must fit " << g.acc_bits << " bits";
      EXPECT_EQ(run(array, tile).outputs, exact) << g.name() << " with " << terms << "-term weights";
    }
  }
}

TEST(RtlShiftAddArray, SixteenBitBuildServesEightBitActivations) {
  RtlShiftAddArray array(ArrayGeometry{16, 16, 2, 8, 0, 0});
  EXPECT_GE(array.geometry().act_bits, 16);
  std::mt19937_64 rng(8);
  const test::RandomTile tile = test::random_tile(rng, 100, 16, 16, 8, 2, 20);
  EXPECT_EQ(run(array, tile).outputs, test::golden_outputs(tile, array.geometry().acc_bits));
}

TEST(RtlShiftAddArray, MeasuredCyclesEqualTheFormula) {
  std::mt19937_64 rng(99);
  for (const ArrayGeometry& g : RtlShiftAddArray::built_geometries()) {
    RtlShiftAddArray array(g);
    struct Shape {
      int64_t k;
      int rows, cols;
    };
    const Shape shapes[] = {{1, 1, 1},
                            {g.kmax, g.rows, g.cols},
                            {1, g.rows, g.cols},
                            {g.kmax, 1, 1},
                            {g.kmax / 2 + 1, 1, g.cols},
                            {3, g.rows, 1},
                            {g.kmax - 1, g.rows / 2 + 1, g.cols - 1}};
    for (const Shape& s : shapes) {
      const test::RandomTile tile = test::random_tile(rng, s.k, s.rows, s.cols, g.act_bits, g.terms, 5);
      const TileResult result = run(array, tile);
      EXPECT_EQ(result.cycles, lightnn_tile_cycles(g, s.k, s.rows, s.cols))
          << g.name() << " tile " << s.rows << "x" << s.cols << " k=" << s.k;
      EXPECT_EQ(result.load_cycles, lightnn_tile_load_cycles(g, s.k));
      EXPECT_EQ(result.outputs, test::golden_outputs(tile, g.acc_bits));
    }
  }
}

// An M x K x N GEMM driven tile by tile, as a LightNN layer runs: every output tile accumulates its
// K chunks in the array's output buffer. Outputs equal the golden GEMM; the measured cycles add
// up to lightnn_gemm_cycles.
void check_gemm(const ArrayGeometry& wanted, int64_t m, int64_t k, int64_t n, std::uint64_t seed) {
  RtlShiftAddArray array(wanted);
  const ArrayGeometry& g = array.geometry();
  std::mt19937_64 rng(seed);
  // The whole layer as one tile-shaped operand set: m rows of activations, n filters.
  const test::RandomTile layer = test::random_tile(rng, k, static_cast<int>(m), static_cast<int>(n), g.act_bits, g.terms, 9);
  const std::vector<int64_t> expected = test::golden_outputs(layer, g.acc_bits);

  int64_t cycles = 0, loads = 0, tiles = 0;
  for (int64_t m0 = 0; m0 < m; m0 += g.rows)
    for (int64_t n0 = 0; n0 < n; n0 += g.cols) {
      const auto rows = static_cast<int>(std::min<int64_t>(g.rows, m - m0));
      const auto cols = static_cast<int>(std::min<int64_t>(g.cols, n - n0));
      TileResult result;
      for (int64_t k0 = 0; k0 < k; k0 += g.kmax) {
        const int64_t steps = std::min<int64_t>(g.kmax, k - k0);
        std::vector<int32_t> activations;
        for (int r = 0; r < rows; ++r)
          for (int64_t s = 0; s < steps; ++s) activations.push_back(layer.activations[static_cast<std::size_t>((m0 + r) * k + k0 + s)]);
        std::vector<ShiftTerm> codes;
        for (int c = 0; c < cols; ++c)
          for (int64_t s = 0; s < steps; ++s)
            for (int t = 0; t < 2; ++t) codes.push_back(layer.codes[static_cast<std::size_t>(((n0 + c) * k + k0 + s) * 2 + t)]);
        result = array.run_tile(activations.data(), codes.data(), steps, rows, cols, /*accumulate=*/k0 > 0);
        cycles += result.cycles;
        loads += result.load_cycles;
        ++tiles;
      }
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
          ASSERT_EQ(result.outputs[static_cast<std::size_t>(r * cols + c)],
                    expected[static_cast<std::size_t>((m0 + r) * n + n0 + c)])
              << g.name() << " output (" << m0 + r << ", " << n0 + c << ")";
    }
  EXPECT_EQ(tiles, lightnn_gemm_tiles(g, m, k, n));
  EXPECT_EQ(cycles, lightnn_gemm_cycles(g, m, k, n)) << g.name() << " GEMM " << m << "x" << k << "x" << n;
  EXPECT_EQ(loads, lightnn_gemm_load_cycles(g, m, k, n));
}

TEST(RtlShiftAddArray, MultiTileGemmMatchesGoldenAndGemmCycles) {
  check_gemm(ArrayGeometry{4, 4, 1, 8, 0, 0}, 10, 37, 7, 1);      // 3 x 2 output tiles, K in 3 chunks
  check_gemm(ArrayGeometry{8, 8, 2, 8, 0, 0}, 20, 150, 8, 2);     // partial rows, K in 3 chunks
  check_gemm(ArrayGeometry{16, 16, 2, 16, 0, 0}, 40, 1100, 20, 3);  // 3 x 2 output tiles, K in 2 chunks
}

TEST(RtlShiftAddArray, RejectsWhatTheBuildCannotRun) {
  test::expect_bad_input([] { RtlShiftAddArray array(ArrayGeometry{16, 8, 2, 16, 0, 0}); },
                         {"no Verilated array for 16x8 K=2 a16", "built:", "16x16 K=2 a16"});
  test::expect_bad_input([] { RtlShiftAddArray array(ArrayGeometry{4, 4, 2, 8, 0, 0}); }, {"4x4 K=2 a8"});

  RtlShiftAddArray small(ArrayGeometry{4, 4, 1, 8, 0, 0});
  std::vector<int32_t> activations(4 * 20, 1);
  std::vector<ShiftTerm> codes(4 * 20 * 2);
  test::expect_bad_input([&] { small.run_tile(activations.data(), codes.data(), 20, 4, 4); }, {"20 steps"});
  test::expect_bad_input([&] { small.run_tile(activations.data(), codes.data(), 2, 5, 4); }, {"5x4"});
  activations[3] = 128;
  test::expect_bad_input([&] { small.run_tile(activations.data(), codes.data(), 2, 4, 4); }, {"128", "8 bits"});
  activations[3] = -128;  // the most negative 8-bit value fits
  codes[1] = ShiftTerm::make(false, 1);
  test::expect_bad_input([&] { small.run_tile(activations.data(), codes.data(), 2, 4, 4); }, {"second shift term"});
  codes[1] = ShiftTerm{};
  EXPECT_NO_THROW(small.run_tile(activations.data(), codes.data(), 2, 4, 4));
}

}  // namespace
}  // namespace coda::hw
