#include "sim/lightnn_rtl.h"

#include <algorithm>
#include <map>
#include <memory>
#include <random>

#include "hw/rtl_shift_add_array.h"
#include "kernels/approx/shift_add.h"

namespace coda::sim {
namespace {

// Weight codes of filters [0, n) of group 0, k elements each (two codes per weight): the layer's
// own quantized weights when the graph has them, seeded random codes otherwise.
std::vector<ShiftTerm> weight_codes(const GemmShape& gemm, const UnitContext& context, std::mt19937_64& rng) {
  std::vector<ShiftTerm> codes(static_cast<std::size_t>(gemm.n * gemm.k * 2));
  std::optional<ShiftAddWeights> q = layer_shift_add_weights(context);
  if (q && q->filter_size == gemm.k && q->filters >= gemm.n) {
    for (int64_t f = 0; f < gemm.n; ++f) std::copy(q->filter(f), q->filter(f) + gemm.k * 2, codes.begin() + f * gemm.k * 2);
    return codes;
  }
  std::uniform_int_distribution<int> shift(0, 7), coin(0, 1);
  for (std::size_t i = 0; i < codes.size(); ++i)
    if (i % 2 == 0 || context.knob.terms > 1) codes[i] = ShiftTerm::make(coin(rng) == 1, shift(rng));
  return codes;
}

hw::RtlShiftAddArray& array_for(const hw::ArrayGeometry& geometry) {
  // Built once per process and never destroyed: Verilator's global context may be gone before
  // static destructors would run.
  static auto* arrays = new std::map<std::string, std::unique_ptr<hw::RtlShiftAddArray>>();
  auto& slot = (*arrays)[geometry.name() + " kmax " + std::to_string(geometry.kmax)];
  if (!slot) slot = std::make_unique<hw::RtlShiftAddArray>(geometry);
  return *slot;
}

}  // namespace

std::optional<ShiftAddWeights> layer_shift_add_weights(const UnitContext& context) {
  const Node& node = *context.report.node;
  if (node.inputs.size() < 2 || node.inputs[1] < 0) return std::nullopt;
  const Value& weights = context.graph.values[static_cast<std::size_t>(node.inputs[1])];
  if (!weights.constant.has_value() || weights.constant->size() == 0 || weights.constant->raw() == nullptr)
    return std::nullopt;
  bool transpose_b = node.op_type == "Gemm" && node.attrs.get_int("transB", 0) != 0;
  FilterLayout layout = shift_add_layout(node.op_type, weights.constant->shape(), transpose_b);
  return quantize_shift_add(weights.constant->f32(), layout, ShiftAddParams::from_knob(context.knob));
}

namespace {

double quantized_terms_per_weight(const UnitContext& context) {
  std::optional<ShiftAddWeights> q = layer_shift_add_weights(context);
  if (!q || q->codes.empty()) return context.knob.terms;
  double present = 0;
  for (ShiftTerm term : q->codes) present += term.present() ? 1 : 0;
  return present / static_cast<double>(q->filters * q->filter_size);
}

}  // namespace

double lightnn_terms_per_weight(const UnitContext& context) {
  if (context.weight_cache == nullptr) return quantized_terms_per_weight(context);
  const int node = static_cast<int>(context.report.node - context.graph.nodes.data());
  if (std::optional<double> known = context.weight_cache->find(node, context.knob.id)) return *known;
  const double terms = quantized_terms_per_weight(context);
  context.weight_cache->store(node, context.knob.id, terms);
  return terms;
}

hw::ArrayGeometry lightnn_geometry(const LightnnParams& params, int activation_bits) {
  hw::ArrayGeometry geometry;
  geometry.rows = params.rows;
  geometry.cols = params.cols;
  geometry.terms = params.terms;
  geometry.act_bits = activation_bits;
  geometry.acc_bits = params.acc_bits;
  geometry.kmax = params.kmax;
  return geometry;
}

bool lightnn_rtl_eligible(const GemmShape& gemm, const LightnnParams& params) {
  return gemm.m * gemm.k * gemm.n <= static_cast<int64_t>(params.rtl_max_macs);
}

int64_t lightnn_rtl_cycles(const hw::ArrayGeometry& geometry, const GemmShape& gemm, const UnitContext& context) {
  hw::RtlShiftAddArray& array = array_for(geometry);
  std::mt19937_64 rng(context.seed ^ 0x6c696768746e6eULL);
  std::vector<ShiftTerm> codes = weight_codes(gemm, context, rng);
  int32_t limit = (1 << (geometry.act_bits - 1)) - 1;
  std::uniform_int_distribution<int32_t> activation(-limit, limit);
  std::vector<int32_t> activations(static_cast<std::size_t>(gemm.m * gemm.k));
  for (auto& a : activations) a = activation(rng);

  int64_t cycles = 0;
  std::vector<int32_t> tile_activations;
  std::vector<ShiftTerm> tile_codes;
  for (int64_t m0 = 0; m0 < gemm.m; m0 += geometry.rows) {
    int rows = static_cast<int>(std::min<int64_t>(geometry.rows, gemm.m - m0));
    for (int64_t n0 = 0; n0 < gemm.n; n0 += geometry.cols) {
      int cols = static_cast<int>(std::min<int64_t>(geometry.cols, gemm.n - n0));
      for (int64_t k0 = 0; k0 < gemm.k; k0 += geometry.kmax) {
        int64_t steps = std::min<int64_t>(geometry.kmax, gemm.k - k0);
        tile_activations.resize(static_cast<std::size_t>(rows * steps));
        tile_codes.resize(static_cast<std::size_t>(cols * steps * 2));
        for (int r = 0; r < rows; ++r)
          std::copy_n(activations.begin() + (m0 + r) * gemm.k + k0, steps, tile_activations.begin() + r * steps);
        for (int c = 0; c < cols; ++c)
          std::copy_n(codes.begin() + ((n0 + c) * gemm.k + k0) * 2, steps * 2, tile_codes.begin() + c * steps * 2);
        hw::TileResult result = array.run_tile(tile_activations.data(), tile_codes.data(), steps, rows, cols, k0 > 0);
        cycles += result.cycles + result.load_cycles;
      }
    }
  }
  return cycles;
}

}  // namespace coda::sim
