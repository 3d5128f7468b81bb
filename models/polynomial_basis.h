// The regressors of the NeuralPower-style models: input variables read from a query (a shape
// feature, raw or as log2(1 + x), and the unit clock as inverse frequency), monomials of them up
// to a degree, and the same monomials compiled into flat index/exponent arrays so that predicting
// costs a few multiplications per term and no string work.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/layer_predictor.h"

namespace coda::models {

// The shape features a class's models read (NeuralPower's layer features), without the special
// terms: conv/dwconv: batch, in_channels, in_h, in_w, out_channels, out_h, out_w, kernel_h,
// kernel_w, stride, padding, groups; fc: batch, in_features, out_features; pool/eltwise: the NCHW
// ones and kernel/stride (absent features read as 0).
const std::vector<std::string>& shape_features(const std::string& op_class);
// NeuralPower's special terms: macs, flops, input_bytes, output_bytes, weight_bytes; and the
// knob parameters and intensity add_query_features supplies (knob_swing, knob_terms, intensity).
const std::vector<std::string>& special_terms();
// Shape features plus special terms: the variables read raw and as log2.
int feature_count(const std::string& op_class);

// Structure terms of the lowered GEMM (gemm_groups, gemm_m, gemm_k, gemm_n features) for conv,
// dwconv and fc: the step functions no smooth polynomial follows, with candidate granularities
// that the Lasso selects among, since the hardware's tile sizes are not known to a predictor
// fitted on traces (nn-Meter's observation that latency follows the kernels' tiling):
//   tiles@q        groups * ceil(m/q) * ceil(n/q)              (output tiles; fill/drain costs)
//   padded_macs@q  groups * ceil(m/q)q * ceil(n/q)q * k        (MACs of whole tiles)
//   wave_macs@q/r  ceil(tiles@q / r) * q^2 * k                  (tiles in waves of r at a time)
//   kn_tiles@q     groups * ceil(k/q) * ceil(n/q)              (weight tiles: banks, loads)
//   m_kn_tiles@q   groups * m * ceil(k/q) * ceil(n/q)          (rows streamed through them)
const std::vector<std::string>& structure_terms(const std::string& op_class);

// How a variable is read from a query.
enum class Transform {
  Raw,         // the feature as recorded
  Log2,        // log2(1 + feature)
  InvFreq,     // 1000 / freq_mhz: compute-bound time scales with it
  Log2InvFreq, // log2(1000 / freq_mhz)
  FreqGhz,     // freq_mhz / 1000: dynamic power grows with the clock
  Structure,   // a structure term of the lowered GEMM (structure_terms)
  Rate         // a work term (rate_sources) over the op's predicted latency: the rate it is done at
};

// The work terms power models also read as rates: macs, flops and the bytes moved, and the
// structure terms (busy tile-cycles), each per second of the op's predicted latency -- an op's
// dynamic power is its energy per unit of work times the rate of that work.
const std::vector<std::string>& rate_sources();
std::string transform_name(Transform transform);
// Throws BadInput for an unknown name.
Transform transform_from_name(const std::string& name);

struct Variable {
  std::string feature;  // empty for the clock variables; the term's name for structure terms
  Transform transform = Transform::Raw;
  // Structure terms, parsed from the name once: which formula and its granularities.
  int structure = 0;
  double q = 0, r = 0;
  int source = -1;  // Rate: the index of the variable divided by the latency
  std::string label() const;  // "macs", "log2(macs)", "inv_freq", "log2(inv_freq)", "freq_ghz"
  double read(const LayerQuery& query) const;
};

// A product of variables with positive exponents, by variable index, in increasing index order.
using Monomial = std::vector<std::pair<int, int>>;

// All monomials of total degree 1..degree over variables [first, last), lower degrees first.
std::vector<Monomial> monomials_up_to(int first, int last, int degree);
int monomial_degree(const Monomial& monomial);

// The variables a class's models draw on, in a fixed layout: the shape features and special
// terms raw, the same as log2(1 + x), then inv_freq, log2(inv_freq), freq_ghz, then the class's
// structure terms, then the rates of rate_sources() and of the structure terms.
std::vector<Variable> class_variables(const std::string& op_class);
// Index of the first Rate variable (variables.size() without any).
std::size_t first_rate(const std::vector<Variable>& variables);
// out[i] = out[source] / latency_s for the Rate variables from `first` on (0 without a latency).
void read_rates(const std::vector<Variable>& variables, std::size_t first, double latency_s, double* out);
// Reads the structure terms variables[first..] of a query into out[first..] (the GEMM features
// looked up once).
void read_structure_terms(const std::vector<Variable>& variables, std::size_t first, const LayerQuery& query,
                          double* out);
// The same from the GEMM features themselves.
void read_structure_terms(const std::vector<Variable>& variables, std::size_t first, double g, double m, double k,
                          double n, double* out);
// Index of each variable's label() in `variables`.
std::map<std::string, int> variable_index(const std::vector<Variable>& variables);

// Monomials compiled against a variable list: one flat array of (variable, exponent) factors and
// the offsets where each term starts.
class CompiledTerms {
 public:
  CompiledTerms() = default;
  explicit CompiledTerms(const std::vector<Monomial>& monomials);
  std::size_t size() const { return offsets_.empty() ? 0 : offsets_.size() - 1; }
  // out[t] = value of term t given the variable values.
  void evaluate(const double* variables, double* out) const;
  double term(std::size_t t, const double* variables) const;

 private:
  std::vector<int> offsets_;
  std::vector<int> variables_;
  std::vector<int> exponents_;
};

}  // namespace coda::models
