#include "hw/shift_add_array_module.h"

#include "hw/array_pins.h"
#include "hw/rtl_variants.h"

namespace coda::hw {

ShiftAddArrayModule::ShiftAddArrayModule(sc_core::sc_module_name name, const ArrayGeometry& geometry)
    : ShiftAddArrayModule(name, rtl_variant_for(geometry, /*systemc=*/true)) {}

ShiftAddArrayModule::ShiftAddArrayModule(sc_core::sc_module_name name, const RtlVariant& variant)
    : sc_core::sc_module(name), clk("clk"), geometry_(variant.geometry), pins_(variant.make_sc("rtl", clk)) {}

ShiftAddArrayModule::~ShiftAddArrayModule() = default;

TileResult ShiftAddArrayModule::run_tile(const int32_t* activations, const ShiftTerm* codes, int64_t k,
                                         int rows_used, int cols_used, bool accumulate) {
  return run_tile_on(*pins_, geometry_, activations, codes, k, rows_used, cols_used, accumulate);
}

}  // namespace coda::hw
