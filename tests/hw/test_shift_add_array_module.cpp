// The SystemC flavour of the Verilated LightNN array (ShiftAddArrayModule) clocked by an
// sc_clock: the same outputs as the golden model and the C++ flavour, and the same cycle counts as
// the formula. SystemC builds modules only before the first sc_start, so one testbench holds every
// module for the whole process and runs each test's work in its thread.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include <systemc>

#include "hw/lightnn_timing.h"
#include "hw/rtl_shift_add_array.h"
#include "hw/shift_add_array_module.h"
#include "tests/hw/random_tile.h"
#include "tests/support/bad_input.h"

namespace coda::hw {
namespace {

class Testbench : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(Testbench);

  explicit Testbench(sc_core::sc_module_name name)
      : sc_core::sc_module(name),
        clock("clock", 1, sc_core::SC_NS),
        small("small", ArrayGeometry{4, 4, 1, 8, 0, 0}),
        platform("platform", ArrayGeometry{16, 16, 2, 16, 0, 0}) {
    small.clk(clock);
    platform.clk(clock);
    SC_THREAD(serve);
  }

  // Runs `job` in the testbench thread (where run_tile may wait on the clock) and returns when it
  // is finished. The kernel runs on a thread of its own: SystemC's coroutines tell AddressSanitizer
  // that the stack of the thread calling sc_start has no bounds (its main coroutine has none), and
  // ASan then misreports the next exception thrown on that thread (google/sanitizers#189).
  void run(std::function<void()> job) {
    job_ = std::move(job);
    std::thread kernel([] { sc_core::sc_start(); });
    kernel.join();
  }

  sc_core::sc_clock clock;
  ShiftAddArrayModule small;
  ShiftAddArrayModule platform;

 private:
  void serve() {
    while (true) {
      sc_core::wait(clock.negedge_event());
      if (!job_) continue;
      job_();
      job_ = nullptr;
      sc_core::sc_pause();
    }
  }

  std::function<void()> job_;
};

// Built on first use, before the process's first sc_start; never destroyed (SystemC's kernel
// outlives no static).
Testbench& testbench() {
  static Testbench* bench = new Testbench("testbench");
  return *bench;
}

TEST(ShiftAddArrayModule, SameOutputsAndCyclesAsTheCppFlavour) {
  Testbench& bench = testbench();
  std::mt19937_64 rng(31);
  for (ShiftAddArrayModule* array : {&bench.small, &bench.platform}) {
    const ArrayGeometry& g = array->geometry();
    RtlShiftAddArray reference(g);
    const test::RandomTile tiles[] = {
        test::random_tile(rng, 1, 1, 1, g.act_bits, g.terms, 63),
        test::random_tile(rng, g.kmax, g.rows, g.cols, g.act_bits, g.terms, 63),
        test::random_tile(rng, g.kmax / 3, g.rows - 1, 2, g.act_bits, g.terms, 63),
        test::random_tile(rng, 5, 2, g.cols, g.act_bits, g.terms, 63)};
    for (const test::RandomTile& tile : tiles) {
      TileResult result;
      bench.run([&] {
        result = array->run_tile(tile.activations.data(), tile.codes.data(), tile.k, tile.rows, tile.cols);
      });
      const TileResult cpp = reference.run_tile(tile.activations.data(), tile.codes.data(), tile.k, tile.rows, tile.cols);
      EXPECT_EQ(result.outputs, test::golden_outputs(tile, g.acc_bits)) << g.name() << " k=" << tile.k;
      EXPECT_EQ(result.outputs, cpp.outputs);
      EXPECT_EQ(result.cycles, lightnn_tile_cycles(g, tile.k, tile.rows, tile.cols));
      EXPECT_EQ(result.cycles, cpp.cycles);
      EXPECT_EQ(result.load_cycles, cpp.load_cycles);
    }
  }
}

// Two K chunks accumulate in the output buffer, and simulated time advances one clock period per
// counted cycle (plus the load, alignment and read-out edges the driver spends around them).
TEST(ShiftAddArrayModule, AccumulatesChunksInSimulatedTime) {
  Testbench& bench = testbench();
  const ArrayGeometry& g = bench.platform.geometry();
  std::mt19937_64 rng(32);
  const test::RandomTile whole = test::random_tile(rng, 2 * g.kmax - 7, g.rows, g.cols, g.act_bits, g.terms, 12);
  std::vector<int64_t> outputs;
  int64_t cycles = 0;
  const sc_core::sc_time before = sc_core::sc_time_stamp();
  bench.run([&] {
    for (int64_t k0 = 0; k0 < whole.k; k0 += g.kmax) {
      const int64_t steps = std::min<int64_t>(g.kmax, whole.k - k0);
      std::vector<int32_t> activations;
      for (int r = 0; r < whole.rows; ++r)
        for (int64_t s = 0; s < steps; ++s) activations.push_back(whole.activations[static_cast<std::size_t>(r * whole.k + k0 + s)]);
      std::vector<ShiftTerm> codes;
      for (int c = 0; c < whole.cols; ++c)
        for (int64_t s = 0; s < 2 * steps; ++s) codes.push_back(whole.codes[static_cast<std::size_t>(c * whole.k * 2 + 2 * k0 + s)]);
      const TileResult result =
          bench.platform.run_tile(activations.data(), codes.data(), steps, whole.rows, whole.cols, k0 > 0);
      outputs = result.outputs;
      cycles += result.cycles + result.load_cycles;
    }
  });
  EXPECT_EQ(outputs, test::golden_outputs(whole, g.acc_bits));
  const double periods = (sc_core::sc_time_stamp() - before) / bench.clock.period();
  EXPECT_GE(periods, static_cast<double>(cycles));
  EXPECT_LE(periods, static_cast<double>(cycles + 2 * (2 + g.rows) + 2));
}

TEST(ShiftAddArrayModule, RejectsGeometriesWithoutASystemCBuild) {
  test::expect_bad_input([] { ShiftAddArrayModule array("no_such_array", ArrayGeometry{8, 8, 2, 8, 0, 0}); },
                         {"no SystemC-Verilated array for 8x8 K=2 a8", "built:"});
}

}  // namespace
}  // namespace coda::hw
