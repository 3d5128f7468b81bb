// Internal to hw/: the shift_add_array and shift_add_pe builds Verilated into coda_hw
// (hw/CMakeLists.txt) and how to make each one.
#pragma once

#include <memory>
#include <vector>

#include <systemc>

#include "hw/array_pins.h"
#include "hw/lightnn_timing.h"
#include "hw/rtl_shift_add_pe.h"

namespace coda::hw {

struct RtlVariant {
  ArrayGeometry geometry;
  std::unique_ptr<ArrayPins> (*make_cpp)();
  // Null when the variant has no SystemC build.
  std::unique_ptr<ArrayPins> (*make_sc)(const char* name, sc_core::sc_in<bool>& clk);
};

// A Verilated PE build behind one interface.
class PeModel {
 public:
  virtual ~PeModel() = default;
  virtual RtlShiftAddPe::State clock(const RtlShiftAddPe::Inputs& inputs) = 0;
};

struct RtlPeVariant {
  PeGeometry geometry;
  std::unique_ptr<PeModel> (*make)(const PeGeometry& geometry);
};

// Generated from CODA_HW_VARIANTS and CODA_HW_PE_VARIANTS (rtl_variants.cpp.in).
const std::vector<RtlVariant>& rtl_variants();
const std::vector<RtlPeVariant>& rtl_pe_variants();

// The first variant with wanted's rows and columns and at least its terms, activation and
// accumulator widths and kmax (a zero field asks for nothing), with a SystemC build when `systemc`.
// Throws BadInput "no Verilated array for 16x8 K=2 a16 (built: ...)".
const RtlVariant& rtl_variant_for(const ArrayGeometry& wanted, bool systemc);

}  // namespace coda::hw
