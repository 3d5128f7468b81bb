#include "hw/rtl_shift_add_array.h"

#include "hw/array_pins.h"
#include "hw/rtl_variants.h"

namespace coda::hw {

RtlShiftAddArray::RtlShiftAddArray(const ArrayGeometry& geometry) {
  const RtlVariant& variant = rtl_variant_for(geometry, /*systemc=*/false);
  geometry_ = variant.geometry;
  pins_ = variant.make_cpp();
}

RtlShiftAddArray::~RtlShiftAddArray() = default;
RtlShiftAddArray::RtlShiftAddArray(RtlShiftAddArray&&) noexcept = default;
RtlShiftAddArray& RtlShiftAddArray::operator=(RtlShiftAddArray&&) noexcept = default;

TileResult RtlShiftAddArray::run_tile(const int32_t* activations, const ShiftTerm* codes, int64_t k, int rows_used,
                                      int cols_used, bool accumulate) {
  return run_tile_on(*pins_, geometry_, activations, codes, k, rows_used, cols_used, accumulate);
}

std::vector<ArrayGeometry> RtlShiftAddArray::built_geometries() {
  std::vector<ArrayGeometry> geometries;
  for (const RtlVariant& variant : rtl_variants()) geometries.push_back(variant.geometry);
  return geometries;
}

}  // namespace coda::hw
