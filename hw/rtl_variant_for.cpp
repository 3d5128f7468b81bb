#include "kernels/error.h"
#include "hw/rtl_variants.h"

namespace coda::hw {

namespace {

bool covers(const ArrayGeometry& built, const ArrayGeometry& wanted) {
  return built.rows == wanted.rows && built.cols == wanted.cols && built.terms >= wanted.terms &&
         built.act_bits >= wanted.act_bits && built.acc_bits >= wanted.acc_bits && built.kmax >= wanted.kmax;
}

}  // namespace

const RtlVariant& rtl_variant_for(const ArrayGeometry& wanted, bool systemc) {
  std::string built;
  for (const RtlVariant& variant : rtl_variants()) {
    if (systemc && variant.make_sc == nullptr) continue;
    if (covers(variant.geometry, wanted)) return variant;
    built += (built.empty() ? "" : ", ") + variant.geometry.name();
  }
  throw BadInput(std::string("no ") + (systemc ? "SystemC-" : "") + "Verilated array for " + wanted.name() +
                 " (built: " + built + ")");
}

}  // namespace coda::hw
