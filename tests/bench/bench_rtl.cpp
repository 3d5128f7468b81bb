// Cycle-accurate RTL against the analytical timing, for one LightNN layer: a ResNet-20 stage-1
// 3x3 convolution (16 -> 16 channels on 32x32, lowered to a GEMM of M = 1024 output pixels,
// K = 16*3*3 = 144, N = 16 filters) on the platform's 16x16 two-term array.
//   rtl/verilated_layer    every tile clocked through the Verilated array (hw/rtl)
//   rtl/analytical_layer   lightnn_gemm_cycles (hw/lightnn_timing.h), what the SoC model uses
// Both report sim_cycles (array cycles for the layer; equal, or the Verilated run stops with an
// error) and sim_cycles_per_s (simulated cycles per wall second): their ratio is how much faster
// the analytical model answers the same question.
//
//   coda_bench --benchmark_filter='^rtl/'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "hw/lightnn_timing.h"
#include "hw/rtl_shift_add_array.h"
#include "kernels/approx/shift_add.h"

namespace {

using coda::ShiftTerm;
using coda::hw::ArrayGeometry;

constexpr int64_t kPixels = 32 * 32;
constexpr int64_t kReduction = 16 * 3 * 3;
constexpr int64_t kFilters = 16;
// The platform's array (sim/platforms/tx2.yaml: 16x16, two terms) with 8-bit activations, the
// shift_add knob's default width (kernels/knobs.yaml).
const ArrayGeometry kPlatformArray{16, 16, 2, 8, 0, 0};

struct TileOperands {
  std::vector<int32_t> activations;
  std::vector<ShiftTerm> codes;
  int64_t k;
  int rows, cols;
  bool accumulate;
};

// The layer's tiles in the order the array runs them, with random 8-bit activations and two-term
// weights (seeded).
std::vector<TileOperands> layer_tiles(const ArrayGeometry& g) {
  std::mt19937_64 rng(20);
  std::uniform_int_distribution<int32_t> activation(-127, 127);
  std::uniform_int_distribution<int> shift(0, 7), coin(0, 3);
  std::vector<int32_t> im2col(static_cast<std::size_t>(kPixels * kReduction));
  for (int32_t& x : im2col) x = activation(rng);
  std::vector<ShiftTerm> weights(static_cast<std::size_t>(kFilters * kReduction * 2));
  for (ShiftTerm& t : weights)
    if (coin(rng) != 0) t = ShiftTerm::make(coin(rng) < 2, shift(rng));

  std::vector<TileOperands> tiles;
  for (int64_t m0 = 0; m0 < kPixels; m0 += g.rows)
    for (int64_t n0 = 0; n0 < kFilters; n0 += g.cols)
      for (int64_t k0 = 0; k0 < kReduction; k0 += g.kmax) {
        TileOperands tile;
        tile.k = std::min<int64_t>(g.kmax, kReduction - k0);
        tile.rows = static_cast<int>(std::min<int64_t>(g.rows, kPixels - m0));
        tile.cols = static_cast<int>(std::min<int64_t>(g.cols, kFilters - n0));
        tile.accumulate = k0 > 0;
        for (int r = 0; r < tile.rows; ++r)
          for (int64_t s = 0; s < tile.k; ++s)
            tile.activations.push_back(im2col[static_cast<std::size_t>((m0 + r) * kReduction + k0 + s)]);
        for (int c = 0; c < tile.cols; ++c)
          for (int64_t s = 0; s < 2 * tile.k; ++s)
            tile.codes.push_back(weights[static_cast<std::size_t>((n0 + c) * kReduction * 2 + 2 * k0 + s)]);
        tiles.push_back(std::move(tile));
      }
  return tiles;
}

void report(benchmark::State& state, int64_t layer_cycles) {
  state.counters["sim_cycles"] = static_cast<double>(layer_cycles);
  state.counters["sim_cycles_per_s"] =
      benchmark::Counter(static_cast<double>(layer_cycles) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

void verilated_layer(benchmark::State& state) {
  coda::hw::RtlShiftAddArray array(kPlatformArray);
  const ArrayGeometry& g = array.geometry();
  const std::vector<TileOperands> tiles = layer_tiles(g);
  int64_t layer_cycles = 0;
  for (auto _ : state) {
    layer_cycles = 0;
    for (const TileOperands& t : tiles)
      layer_cycles += array.run_tile(t.activations.data(), t.codes.data(), t.k, t.rows, t.cols, t.accumulate).cycles;
  }
  if (layer_cycles != coda::hw::lightnn_gemm_cycles(g, kPixels, kReduction, kFilters)) {
    state.SkipWithError("the Verilated array's cycles differ from lightnn_gemm_cycles");
    return;
  }
  report(state, layer_cycles);
}
BENCHMARK(verilated_layer)->Name("rtl/verilated_layer")->Unit(benchmark::kMillisecond);

void analytical_layer(benchmark::State& state) {
  const ArrayGeometry g = coda::hw::RtlShiftAddArray(kPlatformArray).geometry();
  int64_t m = kPixels, k = kReduction, n = kFilters;
  int64_t layer_cycles = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m);
    layer_cycles = coda::hw::lightnn_gemm_cycles(g, m, k, n);
    benchmark::DoNotOptimize(layer_cycles);
  }
  report(state, layer_cycles);
}
BENCHMARK(analytical_layer)->Name("rtl/analytical_layer")->Unit(benchmark::kNanosecond);

}  // namespace
