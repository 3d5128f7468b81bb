#include "models/polynomial_basis.h"

#include <algorithm>
#include <cmath>

#include "kernels/error.h"

namespace coda::models {

const std::vector<std::string>& shape_features(const std::string& op_class) {
  static const std::vector<std::string> conv = {"batch",        "in_channels", "in_h",  "in_w",
                                                "out_channels", "out_h",       "out_w", "kernel_h",
                                                "kernel_w",     "stride",      "padding", "groups"};
  static const std::vector<std::string> fc = {"batch", "in_features", "out_features"};
  static const std::vector<std::string> spatial = {"batch", "in_channels", "in_h",     "in_w",     "out_channels",
                                                   "out_h", "out_w",       "kernel_h", "kernel_w", "stride"};
  static const std::vector<std::string> none;
  if (op_class == "conv" || op_class == "dwconv") return conv;
  if (op_class == "fc") return fc;
  if (op_class == "pool" || op_class == "eltwise") return spatial;
  return none;
}

const std::vector<std::string>& special_terms() {
  static const std::vector<std::string> terms = {"macs",         "flops",      "input_bytes", "output_bytes",
                                                 "weight_bytes", "knob_swing", "knob_terms",  "intensity"};
  return terms;
}

int feature_count(const std::string& op_class) {
  return static_cast<int>(shape_features(op_class).size() + special_terms().size());
}

const std::vector<std::string>& structure_terms(const std::string& op_class) {
  static const std::vector<std::string> gemm = [] {
    std::vector<std::string> names;
    for (int q : {16, 32, 64, 128}) names.push_back("tiles@" + std::to_string(q));
    for (int q : {16, 32, 64, 128}) names.push_back("padded_macs@" + std::to_string(q));
    for (int q : {32, 64, 128})
      for (int r : {1, 2, 4, 8, 16}) names.push_back("wave_macs@" + std::to_string(q) + "/" + std::to_string(r));
    for (int q : {64, 128, 256}) names.push_back("kn_tiles@" + std::to_string(q));
    for (int q : {64, 128, 256}) names.push_back("m_kn_tiles@" + std::to_string(q));
    return names;
  }();
  static const std::vector<std::string> none;
  return op_class == "conv" || op_class == "dwconv" || op_class == "fc" ? gemm : none;
}

const std::vector<std::string>& rate_sources() {
  static const std::vector<std::string> sources = {"macs", "flops", "input_bytes", "output_bytes", "weight_bytes"};
  return sources;
}

std::string transform_name(Transform transform) {
  switch (transform) {
    case Transform::Raw: return "raw";
    case Transform::Log2: return "log2";
    case Transform::InvFreq: return "inv_freq";
    case Transform::Log2InvFreq: return "log2_inv_freq";
    case Transform::FreqGhz: return "freq_ghz";
    case Transform::Structure: return "structure";
    case Transform::Rate: return "rate";
  }
  return "raw";
}

Transform transform_from_name(const std::string& name) {
  if (name == "raw") return Transform::Raw;
  if (name == "log2") return Transform::Log2;
  if (name == "inv_freq") return Transform::InvFreq;
  if (name == "log2_inv_freq") return Transform::Log2InvFreq;
  if (name == "freq_ghz") return Transform::FreqGhz;
  if (name == "structure") return Transform::Structure;
  if (name == "rate") return Transform::Rate;
  throw BadInput("unknown variable transform '" + name + "'");
}

std::string Variable::label() const {
  switch (transform) {
    case Transform::Raw: return feature;
    case Transform::Log2: return "log2(" + feature + ")";
    case Transform::InvFreq: return "inv_freq";
    case Transform::Log2InvFreq: return "log2(inv_freq)";
    case Transform::FreqGhz: return "freq_ghz";
    case Transform::Structure: return feature;
    case Transform::Rate: return "rate(" + feature + ")";
  }
  return feature;
}

double Variable::read(const LayerQuery& query) const {
  // A trace without a clock (freq 0) reads as 1 GHz rather than dividing by zero.
  double inv_freq = query.freq_mhz > 0 ? 1000.0 / query.freq_mhz : 1.0;
  if (transform == Transform::InvFreq) return inv_freq;
  if (transform == Transform::Log2InvFreq) return std::log2(inv_freq);
  if (transform == Transform::FreqGhz) return 1.0 / inv_freq;
  if (transform == Transform::Rate) return 0;  // needs the latency: read_rates
  if (transform == Transform::Structure) {
    double value = 0;
    read_structure_terms({*this}, 0, query, &value);
    return value;
  }
  auto it = query.features.find(feature);
  double value = it == query.features.end() ? 0.0 : it->second;
  return transform == Transform::Log2 ? std::log2(1.0 + std::max(0.0, value)) : value;
}

std::vector<Variable> class_variables(const std::string& op_class) {
  std::vector<std::string> features = shape_features(op_class);
  for (const auto& term : special_terms()) features.push_back(term);
  std::vector<Variable> variables;
  for (const auto& f : features) variables.push_back({f, Transform::Raw});
  for (const auto& f : features) variables.push_back({f, Transform::Log2});
  variables.push_back({"", Transform::InvFreq});
  variables.push_back({"", Transform::Log2InvFreq});
  variables.push_back({"", Transform::FreqGhz});
  for (const auto& name : structure_terms(op_class)) {
    Variable v{name, Transform::Structure};
    std::size_t at = name.find('@'), slash = name.find('/');
    std::string kind = name.substr(0, at);
    v.structure = kind == "tiles" ? 1 : kind == "padded_macs" ? 2 : kind == "wave_macs" ? 3 : kind == "kn_tiles" ? 4 : 5;
    v.q = std::stod(name.substr(at + 1, slash == std::string::npos ? std::string::npos : slash - at - 1));
    v.r = slash == std::string::npos ? 1 : std::stod(name.substr(slash + 1));
    variables.push_back(v);
  }
  std::size_t structure_end = variables.size();
  for (std::size_t i = 0; i < structure_end; ++i) {
    const Variable& v = variables[i];
    bool work = v.transform == Transform::Structure ||
                (v.transform == Transform::Raw &&
                 std::find(rate_sources().begin(), rate_sources().end(), v.feature) != rate_sources().end());
    if (!work) continue;
    Variable rate{v.feature, Transform::Rate};
    rate.source = static_cast<int>(i);
    variables.push_back(rate);
  }
  return variables;
}

std::size_t first_rate(const std::vector<Variable>& variables) {
  for (std::size_t i = 0; i < variables.size(); ++i)
    if (variables[i].transform == Transform::Rate) return i;
  return variables.size();
}

void read_rates(const std::vector<Variable>& variables, std::size_t first, double latency_s, double* out) {
  double per_second = latency_s > 0 ? 1.0 / latency_s : 0.0;
  for (std::size_t i = first; i < variables.size(); ++i)
    out[i] = out[static_cast<std::size_t>(variables[i].source)] * per_second;
}

void read_structure_terms(const std::vector<Variable>& variables, std::size_t first, const LayerQuery& query,
                          double* out) {
  auto get = [&](const char* name) {
    auto it = query.features.find(name);
    return it == query.features.end() ? 0.0 : it->second;
  };
  read_structure_terms(variables, first, get("gemm_groups"), get("gemm_m"), get("gemm_k"), get("gemm_n"), out);
}

void read_structure_terms(const std::vector<Variable>& variables, std::size_t first, double g, double m, double k,
                          double n, double* out) {
  for (std::size_t i = first; i < variables.size(); ++i) {
    const Variable& v = variables[i];
    if (v.transform != Transform::Structure) break;
    double q = v.q;
    double tiles = g * std::ceil(m / q) * std::ceil(n / q);
    switch (v.structure) {
      case 1: out[i] = tiles; break;
      case 2: out[i] = tiles * q * q * k; break;
      case 3: out[i] = std::ceil(tiles / v.r) * q * q * k; break;
      case 4: out[i] = g * std::ceil(k / q) * std::ceil(n / q); break;
      default: out[i] = g * m * std::ceil(k / q) * std::ceil(n / q); break;
    }
  }
}

std::map<std::string, int> variable_index(const std::vector<Variable>& variables) {
  std::map<std::string, int> index;
  for (std::size_t i = 0; i < variables.size(); ++i) index[variables[i].label()] = static_cast<int>(i);
  return index;
}

namespace {

void extend(std::vector<Monomial>& out, Monomial& current, int next, int last, int remaining) {
  if (remaining == 0) {
    out.push_back(current);
    return;
  }
  for (int v = next; v < last; ++v) {
    bool same = !current.empty() && current.back().first == v;
    if (same) ++current.back().second;
    else current.emplace_back(v, 1);
    extend(out, current, v, last, remaining - 1);
    if (same) --current.back().second;
    else current.pop_back();
  }
}

}  // namespace

std::vector<Monomial> monomials_up_to(int first, int last, int degree) {
  std::vector<Monomial> out;
  for (int d = 1; d <= degree; ++d) {
    Monomial current;
    extend(out, current, first, last, d);
  }
  return out;
}

int monomial_degree(const Monomial& monomial) {
  int degree = 0;
  for (const auto& [variable, exponent] : monomial) degree += exponent;
  return degree;
}

CompiledTerms::CompiledTerms(const std::vector<Monomial>& monomials) {
  offsets_.reserve(monomials.size() + 1);
  offsets_.push_back(0);
  for (const Monomial& m : monomials) {
    for (const auto& [variable, exponent] : m) {
      variables_.push_back(variable);
      exponents_.push_back(exponent);
    }
    offsets_.push_back(static_cast<int>(variables_.size()));
  }
}

double CompiledTerms::term(std::size_t t, const double* variables) const {
  double value = 1;
  for (int f = offsets_[t]; f < offsets_[t + 1]; ++f) {
    double x = variables[variables_[static_cast<std::size_t>(f)]];
    for (int e = exponents_[static_cast<std::size_t>(f)]; e > 0; --e) value *= x;
  }
  return value;
}

void CompiledTerms::evaluate(const double* variables, double* out) const {
  for (std::size_t t = 0; t + 1 < offsets_.size(); ++t) out[t] = term(t, variables);
}

}  // namespace coda::models
