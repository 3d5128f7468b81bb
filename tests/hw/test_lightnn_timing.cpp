// The LightNN array's analytical timing (hw/lightnn_timing.h): the GEMM totals against tiles
// enumerated one by one, the tile formula's structure, and bad input. That the formula is the
// RTL's cycle count is checked against the Verilated array (test_rtl_shift_add_array.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "hw/lightnn_timing.h"
#include "tests/support/bad_input.h"

namespace coda::hw {
namespace {

const ArrayGeometry kGeometries[] = {
    {4, 4, 1, 8, 32, 16},
    {16, 16, 2, 16, 48, 256},
    {8, 2, 2, 8, 32, 5},
};

TEST(LightnnTiming, GemmTotalsSumEveryTile) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int64_t> dim(1, 300);
  for (const ArrayGeometry& g : kGeometries)
    for (int trial = 0; trial < 25; ++trial) {
      const int64_t m = dim(rng), k = dim(rng), n = dim(rng);
      int64_t tiles = 0, cycles = 0, loads = 0;
      for (int64_t m0 = 0; m0 < m; m0 += g.rows)
        for (int64_t n0 = 0; n0 < n; n0 += g.cols)
          for (int64_t k0 = 0; k0 < k; k0 += g.kmax) {
            const auto rows = static_cast<int>(std::min<int64_t>(g.rows, m - m0));
            const auto cols = static_cast<int>(std::min<int64_t>(g.cols, n - n0));
            const int64_t steps = std::min<int64_t>(g.kmax, k - k0);
            ++tiles;
            cycles += lightnn_tile_cycles(g, steps, rows, cols);
            loads += lightnn_tile_load_cycles(g, steps);
          }
      ASSERT_EQ(lightnn_gemm_tiles(g, m, k, n), tiles) << g.name() << " " << m << "x" << k << "x" << n;
      ASSERT_EQ(lightnn_gemm_cycles(g, m, k, n), cycles) << g.name() << " " << m << "x" << k << "x" << n;
      ASSERT_EQ(lightnn_gemm_load_cycles(g, m, k, n), loads);
      // Every reduction step is loaded once per output tile.
      ASSERT_EQ(loads, k * ((m + g.rows - 1) / g.rows) * ((n + g.cols - 1) / g.cols));
    }
}

// Fill, compute and drain: one cycle per reduction step, per extra column of skew, and per extra
// row twice (skew and drain).
TEST(LightnnTiming, TileCyclesGrowWithStepsSkewAndDrain) {
  const ArrayGeometry g = kGeometries[1];
  EXPECT_EQ(lightnn_tile_cycles(g, 1, 1, 1), 3);  // start (clear), one compute edge, one drain edge
  for (int64_t k = 1; k < g.kmax; k += 17)
    for (int rows = 1; rows < g.rows; rows += 3)
      for (int cols = 1; cols < g.cols; cols += 4) {
        const int64_t base = lightnn_tile_cycles(g, k, rows, cols);
        EXPECT_EQ(lightnn_tile_cycles(g, k + 1, rows, cols), base + 1);
        EXPECT_EQ(lightnn_tile_cycles(g, k, rows + 1, cols), base + 2);
        EXPECT_EQ(lightnn_tile_cycles(g, k, rows, cols + 1), base + 1);
      }
}

TEST(LightnnTiming, RejectsTilesThatDoNotFit) {
  const ArrayGeometry g = kGeometries[0];
  test::expect_bad_input([&] { lightnn_tile_cycles(g, 0, 1, 1); }, {"4x4 K=1 a8", "0 steps"});
  test::expect_bad_input([&] { lightnn_tile_cycles(g, 17, 1, 1); }, {"17 steps", "16"});
  test::expect_bad_input([&] { lightnn_tile_cycles(g, 3, 5, 1); }, {"5x1"});
  test::expect_bad_input([&] { lightnn_tile_cycles(g, 3, 1, 0); }, {"1x0"});
  test::expect_bad_input([&] { lightnn_tile_load_cycles(g, 99); }, {"99 steps"});
  test::expect_bad_input([&] { lightnn_gemm_cycles(g, 4, 0, 4); }, {"4x0x4", "empty"});
  test::expect_bad_input([&] { lightnn_gemm_tiles(ArrayGeometry{1, 4, 1, 8, 32, 16}, 4, 4, 4); }, {"rows"});
  test::expect_bad_input([&] { lightnn_gemm_tiles(ArrayGeometry{4, 4, 3, 8, 32, 16}, 4, 4, 4); }, {"terms"});
  test::expect_bad_input([&] { lightnn_gemm_tiles(ArrayGeometry{4, 4, 2, 16, 16, 16}, 4, 4, 4); }, {"accumulator"});
}

}  // namespace
}  // namespace coda::hw
