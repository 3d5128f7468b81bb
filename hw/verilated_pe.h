// Internal to hw/: PeModel over a Verilated shift_add_pe, for any build parameters. Included only
// by the generated variant table (rtl_variants.cpp.in).
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>

#include <verilated.h>

#include "hw/rtl_variants.h"

namespace coda::hw {

template <class Model>
class VerilatedPe final : public PeModel {
 public:
  explicit VerilatedPe(const PeGeometry& geometry)
      : geometry_(geometry), model_(std::make_unique<Model>("pe")) {}  // the thread's context, as CppPins
  ~VerilatedPe() override { model_->final(); }

  RtlShiftAddPe::State clock(const RtlShiftAddPe::Inputs& in) override {
    model_->clear = in.clear;
    model_->drain = in.drain;
    model_->enable = in.enable;
    model_->act_in = static_cast<std::remove_reference_t<decltype(model_->act_in)>>(
        static_cast<std::uint32_t>(in.act) & low_mask(geometry_.act_bits));
    std::uint32_t codes = 0;
    for (int t = 0; t < geometry_.terms; ++t) codes |= std::uint32_t{in.codes[static_cast<std::size_t>(t)].code} << (8 * t);
    model_->codes_in = static_cast<std::remove_reference_t<decltype(model_->codes_in)>>(codes);
    model_->acc_in = static_cast<std::remove_reference_t<decltype(model_->acc_in)>>(
        static_cast<std::uint64_t>(in.acc_in) & low_mask(geometry_.acc_bits));
    model_->clk = 0;
    model_->eval();
    model_->clk = 1;
    model_->eval();

    RtlShiftAddPe::State state;
    state.act_out = static_cast<int32_t>(sign_extend(model_->act_out, geometry_.act_bits));
    for (int t = 0; t < geometry_.terms; ++t)
      state.codes_out[static_cast<std::size_t>(t)].code = static_cast<std::uint8_t>(model_->codes_out >> (8 * t));
    state.acc = sign_extend(model_->acc, geometry_.acc_bits);
    return state;
  }

 private:
  static std::uint64_t low_mask(int bits) { return bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1; }
  static int64_t sign_extend(std::uint64_t value, int bits) {
    if (bits == 64) return static_cast<int64_t>(value);
    const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
    return static_cast<int64_t>(((value & low_mask(bits)) ^ sign) - sign);
  }

  PeGeometry geometry_;
  std::unique_ptr<Model> model_;
};

template <class Model>
std::unique_ptr<PeModel> make_verilated_pe(const PeGeometry& geometry) {
  return std::make_unique<VerilatedPe<Model>>(geometry);
}

}  // namespace coda::hw
