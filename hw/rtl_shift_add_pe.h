// One Verilated shift_add_pe (hw/rtl/shift_add_pe.v), clocked edge by edge: the PE on its own, for
// unit tests below the array.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/approx/shift_add.h"

namespace coda::hw {

struct PeGeometry {
  int act_bits = 0;
  int acc_bits = 0;
  int terms = 0;
};

class PeModel;

class RtlShiftAddPe {
 public:
  struct Inputs {
    bool clear = false;
    bool drain = false;
    bool enable = false;
    int32_t act = 0;                  // must fit act_bits (signed)
    std::array<ShiftTerm, 2> codes{};  // the first `terms` are wired
    int64_t acc_in = 0;               // the neighbour's accumulator (drain)
  };
  // The registers after an edge; acc sign-extended from acc_bits.
  struct State {
    int32_t act_out = 0;
    std::array<ShiftTerm, 2> codes_out{};
    int64_t acc = 0;
  };

  // Throws BadInput "no Verilated PE for a16 acc32 K=2 (built: ...)" unless built exactly.
  explicit RtlShiftAddPe(const PeGeometry& geometry);
  ~RtlShiftAddPe();

  const PeGeometry& geometry() const { return geometry_; }
  // Applies the inputs and clocks one rising edge.
  State clock(const Inputs& inputs);

  static std::vector<PeGeometry> built_geometries();

 private:
  PeGeometry geometry_;
  std::unique_ptr<PeModel> model_;
};

}  // namespace coda::hw
