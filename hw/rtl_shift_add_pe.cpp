#include "hw/rtl_shift_add_pe.h"

#include <string>

#include "hw/rtl_variants.h"
#include "kernels/error.h"

namespace coda::hw {

namespace {

std::string pe_name(const PeGeometry& g) {
  return "a" + std::to_string(g.act_bits) + " acc" + std::to_string(g.acc_bits) + " K=" + std::to_string(g.terms);
}

}  // namespace

RtlShiftAddPe::RtlShiftAddPe(const PeGeometry& geometry) : geometry_(geometry) {
  std::string built;
  for (const RtlPeVariant& variant : rtl_pe_variants()) {
    const PeGeometry& g = variant.geometry;
    if (g.act_bits == geometry.act_bits && g.acc_bits == geometry.acc_bits && g.terms == geometry.terms) {
      model_ = variant.make(g);
      return;
    }
    built += (built.empty() ? "" : ", ") + pe_name(g);
  }
  throw BadInput("no Verilated PE for " + pe_name(geometry) + " (built: " + built + ")");
}

RtlShiftAddPe::~RtlShiftAddPe() = default;

RtlShiftAddPe::State RtlShiftAddPe::clock(const Inputs& inputs) { return model_->clock(inputs); }

std::vector<PeGeometry> RtlShiftAddPe::built_geometries() {
  std::vector<PeGeometry> geometries;
  for (const RtlPeVariant& variant : rtl_pe_variants()) geometries.push_back(variant.geometry);
  return geometries;
}

}  // namespace coda::hw
