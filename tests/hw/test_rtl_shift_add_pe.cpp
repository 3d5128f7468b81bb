// The shift-add PE on its own (hw/rtl/shift_add_pe.v, Verilated): its accumulator against the
// golden model (shift_add_dot) over random operand streams, including negative activations and
// the largest shifts; clear, drain and hold; the systolic operand registers.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "hw/rtl_shift_add_pe.h"
#include "kernels/approx/shift_add.h"
#include "tests/hw/random_tile.h"
#include "tests/support/bad_input.h"

namespace coda::hw {
namespace {

TEST(RtlShiftAddPe, AccumulatesLikeTheGoldenModel) {
  std::mt19937_64 rng(11);
  for (const PeGeometry& g : RtlShiftAddPe::built_geometries()) {
    RtlShiftAddPe pe(g);
    for (int trial = 0; trial < 20; ++trial) {
      // A one-row, one-column tile is one PE's operand stream.
      const test::RandomTile stream = test::random_tile(rng, 1 + trial * 7, 1, 1, g.act_bits, g.terms, 63);
      RtlShiftAddPe::Inputs in;
      in.clear = true;
      pe.clock(in);
      in.clear = false;
      in.enable = true;
      RtlShiftAddPe::State state;
      for (int64_t s = 0; s < stream.k; ++s) {
        in.act = stream.activations[static_cast<std::size_t>(s)];
        in.codes = {stream.codes[static_cast<std::size_t>(2 * s)], stream.codes[static_cast<std::size_t>(2 * s + 1)]};
        state = pe.clock(in);
        ASSERT_EQ(state.acc, test::wrap_to(shift_add_dot(stream.activations.data(), stream.codes.data(), s + 1),
                                           g.acc_bits))
            << "a" << g.act_bits << " acc" << g.acc_bits << " step " << s;
        // The operands move on to the next PE unchanged.
        ASSERT_EQ(state.act_out, in.act);
        for (int t = 0; t < g.terms; ++t)
          ASSERT_EQ(state.codes_out[static_cast<std::size_t>(t)].code, in.codes[static_cast<std::size_t>(t)].code);
      }
    }
  }
}

TEST(RtlShiftAddPe, ClearDrainAndHold) {
  for (const PeGeometry& g : RtlShiftAddPe::built_geometries()) {
    RtlShiftAddPe pe(g);
    RtlShiftAddPe::Inputs in;
    in.clear = true;
    pe.clock(in);
    in = {};
    in.enable = true;
    in.act = -3;
    in.codes = {ShiftTerm::make(false, 2), ShiftTerm{}};
    const RtlShiftAddPe::State after_add = pe.clock(in);
    EXPECT_EQ(after_add.acc, -12);

    // Disabled: everything holds, whatever the operands.
    RtlShiftAddPe::Inputs idle;
    idle.act = 55;
    idle.codes = {ShiftTerm::make(true, 1), ShiftTerm::make(false, 1)};
    const RtlShiftAddPe::State held = pe.clock(idle);
    EXPECT_EQ(held.acc, -12);
    EXPECT_EQ(held.act_out, -3);

    // Drain loads the neighbour's accumulator and wins over enable; operands hold.
    RtlShiftAddPe::Inputs drain = in;
    drain.drain = true;
    drain.acc_in = -1000;
    const RtlShiftAddPe::State drained = pe.clock(drain);
    EXPECT_EQ(drained.acc, -1000);
    EXPECT_EQ(drained.act_out, -3);

    // Clear wins over both and zeroes the operand registers too.
    RtlShiftAddPe::Inputs clear = drain;
    clear.clear = true;
    const RtlShiftAddPe::State cleared = pe.clock(clear);
    EXPECT_EQ(cleared.acc, 0);
    EXPECT_EQ(cleared.act_out, 0);
    EXPECT_EQ(cleared.codes_out[0].code, 0);
  }
}

TEST(RtlShiftAddPe, ShiftsAtOrBeyondTheAccumulatorWidthAddNothing) {
  for (const PeGeometry& g : RtlShiftAddPe::built_geometries()) {
    if (g.acc_bits > 63) continue;
    RtlShiftAddPe pe(g);
    RtlShiftAddPe::Inputs in;
    in.clear = true;
    pe.clock(in);
    in.clear = false;
    in.enable = true;
    in.act = 1;
    in.codes = {ShiftTerm::make(false, g.acc_bits), ShiftTerm{}};
    EXPECT_EQ(pe.clock(in).acc, 0);
    in.codes = {ShiftTerm::make(false, g.acc_bits - 1), ShiftTerm{}};
    EXPECT_EQ(pe.clock(in).acc, test::wrap_to(int64_t{1} << (g.acc_bits - 1), g.acc_bits));  // the most negative value
  }
}

TEST(RtlShiftAddPe, RejectsUnbuiltGeometry) {
  test::expect_bad_input([] { RtlShiftAddPe pe(PeGeometry{16, 32, 2}); }, {"no Verilated PE for a16 acc32 K=2", "built:"});
}

}  // namespace
}  // namespace coda::hw
