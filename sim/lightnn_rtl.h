// The LightNN array's geometry for a knob, and the `rtl` fidelity mode: a layer small enough
// (lightnn.rtl_max_macs) runs tile by tile on the Verilated shift_add_array with the layer's real
// quantized weight codes and seeded random activations, and its measured cycles replace the
// formula's.
#pragma once

#include <cstdint>
#include <optional>

#include "hw/lightnn_timing.h"
#include "kernels/approx/shift_add.h"
#include "sim/unit_model.h"

namespace coda::sim {

// The op's weight operand quantized by its shift-add knob, or nothing when the graph holds no
// weight data (a shapes-only graph).
std::optional<ShiftAddWeights> layer_shift_add_weights(const UnitContext& context);

// Present shift terms per weight, averaged over the op's quantized weights (the knob's nominal K
// for a shapes-only graph), through the context's weight cache when it has one.
double lightnn_terms_per_weight(const UnitContext& context);

hw::ArrayGeometry lightnn_geometry(const LightnnParams& params, int activation_bits);
bool lightnn_rtl_eligible(const GemmShape& gemm, const LightnnParams& params);
// Cycles of one group of the GEMM measured on the Verilated array.
int64_t lightnn_rtl_cycles(const hw::ArrayGeometry& geometry, const GemmShape& gemm, const UnitContext& context);

}  // namespace coda::sim
