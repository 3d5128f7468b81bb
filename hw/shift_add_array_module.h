// The Verilated LightNN shift-add array (SystemC flavour) as a module a SystemC testbench or SoC
// model instantiates and clocks:
//
//   sc_core::sc_clock clock("clock", 1, sc_core::SC_NS);
//   coda::hw::ShiftAddArrayModule array("lightnn", geometry);
//   array.clk(clock);
//   ... in an SC_THREAD: TileResult r = array.run_tile(activations, codes, k, rows, cols);
//
// SystemC allows modules to be built only before the first sc_start of a process.
#pragma once

#include <cstdint>
#include <memory>

#include <systemc>

#include "hw/lightnn_timing.h"
#include "hw/tile_result.h"
#include "kernels/approx/shift_add.h"

namespace coda::hw {

class ArrayPins;
struct RtlVariant;

class ShiftAddArrayModule : public sc_core::sc_module {
 public:
  sc_core::sc_in<bool> clk;

  // Picks the build as RtlShiftAddArray does, among those with a SystemC flavour. Throws BadInput
  // "no SystemC-Verilated array for ... (built: ...)".
  ShiftAddArrayModule(sc_core::sc_module_name name, const ArrayGeometry& geometry);
  ~ShiftAddArrayModule() override;

  const ArrayGeometry& geometry() const { return geometry_; }

  // As RtlShiftAddArray::run_tile; blocks on clk, so call it from an SC_THREAD. Cycles are the
  // rising edges of clk from start to done.
  TileResult run_tile(const int32_t* activations, const ShiftTerm* codes, int64_t k, int rows_used, int cols_used,
                      bool accumulate = false);

 private:
  // The variant is looked up before the module registers itself, so a bad geometry throws cleanly.
  ShiftAddArrayModule(sc_core::sc_module_name name, const RtlVariant& variant);

  ArrayGeometry geometry_;
  std::unique_ptr<ArrayPins> pins_;
};

}  // namespace coda::hw
