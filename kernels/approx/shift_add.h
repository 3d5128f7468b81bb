// Shift-add networks (LightNN, FLightNN; Ding, Liu, Blanton, Marculescu, GLSVLSI'17 / TRETS'19 /
// DAC'19; REFERENCE.md section 5): every weight becomes a sum of at most K signed powers of two,
// so each multiply is replaced by K shifts and adds. This file holds
//   - the weight quantizer and the per-weight (sign, shift) encoding the LightNN array consumes,
//   - the integer datapath (the golden model of the RTL): activations quantized to int8/int16 with
//     a static scale, products done as shifts and adds only, exact integer accumulation,
//   - the knob family (catalog ids 81-86) for Conv (any geometry, grouped and depthwise included),
//     Gemm and MatMul with a constant weight operand (input 1).
// The float shift-add model is the exact op run on the quantized weights (shift_add_quantized);
// quantization-aware training uses it (kernels/approx/shift_add_training.h).
//
// Quantizer, per layer (one weight tensor), with L = exponent_levels:
//   R(v; lo, hi) = 0                           when |v| < 2^(lo-1) (below half the smallest power)
//                = sign(v) * 2^clamp(round(log2|v|), lo, hi)   otherwise
//   n_max = round(log2 max|w|), n_min = n_max - L + 1
//   first term   t1 = R(w; n_min, n_max), with exponent e1
//   second term  t2 = R(w - t1; n_min, e1 - 2)  (K = 2; none when e1 - 2 < n_min)
// The second term's exponent stays at least 2 below the first one's: w = 1.4 * 2^e would otherwise
// become 1.5 * 2^e, whose log2 rounds to e + 1, so re-quantizing a quantized layer could move its
// exponent window and change it. With the cap every quantized weight q has round(log2|q|) = e1,
// the window of Q(W) is the window of W, and Q(Q(W)) = Q(W): the knob runs a model saved after
// quantization-aware training with exactly the weights it trained with.
// FLightNN keeps the second terms of filter f (output channel) only when
//   ||Q2(w_f) - Q1(w_f)|| > residual_threshold * ||Q2(w_f)||      (L2 norms)
// where Q1, Q2 are the one- and two-term quantizations: the papers' residual-norm test
// ||w_f - R(w_f)|| / ||w_f|| measured on the quantized residual, so that the choice, too, is the
// same when a quantized layer is quantized again.
//
// Encoding (ShiftTerm, one byte per term, two terms per weight, larger term first):
//   bit 7     present (a zero byte is "no term": zero weights and absent second terms)
//   bit 6     negative
//   bits 0-5  shift s = n - n_min, 0 <= s < L <= 32
// A weight's value is sum over its present terms of (negative ? -1 : 1) * 2^s * 2^n_min; the
// integer datapath computes sum over weights and terms of +-(x << s) and scales the sum by
// s_x * 2^n_min once per output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/conv_kernels.h"
#include "kernels/tensor.h"

namespace coda {

// The shift_add knob parameters (kernels/knobs.yaml).
struct ShiftAddParams {
  int terms = 1;                    // K: powers of two per weight, 1 or 2
  bool flexible = false;            // FLightNN: K per filter
  double residual_threshold = 0.0;  // FLightNN: share of the filter norm its second terms must exceed
  int exponent_levels = 8;          // L: powers of two per layer, 1..32
  int activation_bits = 8;          // integer datapath width, 2..16

  // From a shift_add knob; throws BadInput naming the knob when a parameter is out of range.
  static ShiftAddParams from_knob(const Knob& knob);
  // Throws BadInput "WHAT: ..." on a parameter out of range.
  void validate(const std::string& what) const;
};

struct ShiftTerm {
  std::uint8_t code = 0;

  // shift in 0..63 (the quantizer uses 0..exponent_levels - 1).
  static ShiftTerm make(bool negative, int shift) {
    return ShiftTerm{static_cast<std::uint8_t>(0x80u | (negative ? 0x40u : 0u) | static_cast<unsigned>(shift))};
  }
  bool present() const { return (code & 0x80u) != 0; }
  bool negative() const { return (code & 0x40u) != 0; }
  int shift() const { return code & 0x3F; }
  // +-2^shift, or 0 for an absent term.
  int64_t units() const;
};
static_assert(sizeof(ShiftTerm) == 1, "the RTL reads one byte per term");

// Where the weights of each filter (output channel / output feature) lie in a weight tensor:
// element i of filter f at data[f * filter_stride + i * element_stride].
struct FilterLayout {
  int64_t filters = 0;
  int64_t filter_size = 0;
  int64_t filter_stride = 0;
  int64_t element_stride = 1;

  // Filter f is the contiguous row f: Conv weights (out, in/groups, kh, kw), Gemm with transB.
  static FilterLayout rows(int64_t filters, int64_t filter_size);
  // Filter f is column f of a row-major (filter_size x filters) matrix: Gemm B, MatMul B (K x N).
  static FilterLayout columns(int64_t filter_size, int64_t filters);
  int64_t index(int64_t f, int64_t i) const { return f * filter_stride + i * element_stride; }
};

// Layout of the weight operand (input 1) of a Conv, Gemm (transB as given) or MatMul node whose
// weight has shape `w`. Throws BadInput for other op types or shapes (MatMul needs a 1-D or 2-D
// weight, or one whose leading dimensions are all 1).
FilterLayout shift_add_layout(const std::string& op_type, const Shape& w, bool transpose_b);

// One quantized layer, filters in order, each weight as two ShiftTerms.
struct ShiftAddWeights {
  int64_t filters = 0;
  int64_t filter_size = 0;
  int terms = 1;    // K of the quantizer
  int n_max = 0;    // exponent window [n_min, n_max]; both 0 for an all-zero layer
  int n_min = 0;
  std::vector<ShiftTerm> codes;            // filters x filter_size x 2, first term first
  std::vector<std::uint8_t> filter_terms;  // per filter: 1, or 2 when its second terms are used

  const ShiftTerm* filter(int64_t f) const { return codes.data() + f * filter_size * 2; }
  // The weight in units of 2^n_min: an integer, the sum of its terms' +-2^shift.
  int64_t units(int64_t f, int64_t i) const;
  // The weight as a float: units * 2^n_min.
  float value(int64_t f, int64_t i) const;
  // 2^n_min.
  double unit() const;
};

// Quantizes a weight tensor (never modified). Throws BadInput on a non-finite weight.
ShiftAddWeights quantize_shift_add(const float* weights, const FilterLayout& layout, const ShiftAddParams& params);
// Writes the quantized values into `weights`, laid out as `layout` says.
void dequantize_shift_add(const ShiftAddWeights& q, const FilterLayout& layout, float* weights);
// The float shift-add model's weights: a copy of `weights` with every value quantized.
Tensor shift_add_quantized(const Tensor& weights, const FilterLayout& layout, const ShiftAddParams& params);

// The datapath primitive: sum over weights i < n and their present terms of +-(x[i] << shift),
// computed with shifts and adds only (on unsigned 64-bit values, so negative x shift without UB).
// `terms` holds 2 * n terms, two per weight.
int64_t shift_add_dot(const int32_t* x, const ShiftTerm* terms, int64_t n);

// Symmetric activation quantization: scale = max(|low|, |high|) / (2^(bits-1) - 1); throws
// BadInput when the range is empty (max 0) or not finite.
float activation_scale(const ValueRange& range, int bits);
// q[i] = clamp(round(x[i] / scale), -(2^(bits-1) - 1), 2^(bits-1) - 1), round half to even.
void quantize_activations(const float* x, int64_t n, float scale, int bits, int32_t* q);

// A quantized layer compiled for the integer datapath: per filter, the list of its present terms
// (row of the patch, shift), those that add before those that subtract, so the kernels sweep each
// run without a branch on the sign; and the accumulator width the layer's sums need.
class ShiftAddProgram {
 public:
  ShiftAddProgram(ShiftAddWeights weights, int activation_bits);

  struct Entry {
    int32_t row;  // element of the filter (patch row) the term reads
    int32_t shift;
  };

  const ShiftAddWeights& weights() const { return weights_; }
  int activation_bits() const { return activation_bits_; }
  // Filter f's terms: entry_count(f) of them, the first added_count(f) positive, the rest negative.
  const Entry* entries(int64_t f) const { return entries_.data() + offsets_[static_cast<std::size_t>(f)]; }
  int64_t entry_count(int64_t f) const {
    return offsets_[static_cast<std::size_t>(f) + 1] - offsets_[static_cast<std::size_t>(f)];
  }
  int64_t added_count(int64_t f) const { return added_[static_cast<std::size_t>(f)]; }
  // Largest |sum| any output can reach: (2^(bits-1) - 1) * max over filters of sum |units|.
  double accumulator_bound() const { return bound_; }
  // True when that bound exceeds int32: the kernels then accumulate in 64 bits.
  bool wide() const { return wide_; }

 private:
  ShiftAddWeights weights_;
  int activation_bits_ = 8;
  std::vector<Entry> entries_;
  std::vector<int64_t> offsets_;
  std::vector<int64_t> added_;
  double bound_ = 0;
  bool wide_ = false;
};

// Integer convolution: output[n][o][p] = acc * output_scale + bias[o] (bias may be null), acc the
// exact sum over the filter's patch of +-(x << s) with x the int32 activations of `input` (N, C,
// H, W; padding reads 0). The program's filters are the output channels, its filter size
// g.patch_size(). Output pixels are processed in tiles of the integer im2col matrix, vectorised
// across pixels, tiles x filter blocks spread over threads.
void shift_add_conv2d(const Conv2dGeometry& g, const int32_t* input, const ShiftAddProgram& program,
                      double output_scale, const float* bias, float* output);

// Integer matrix product: y[r * ldy + f] = acc(r, f) * output_scale for rows r < rows and filters f,
// acc the shift-add sum of row r of A (rows x K row-major, or K x rows when transpose_a; leading
// dimension lda) against filter f.
void shift_add_matmul(int64_t rows, const int32_t* a, int64_t lda, bool transpose_a, const ShiftAddProgram& program,
                      double output_scale, float* y, int64_t ldy);

}  // namespace coda
