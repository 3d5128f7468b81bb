// The knob catalog (kernels/knobs.yaml): every approximation coda can run, with its parameters,
// the op types and units it applies to and its op-count cost factors. Kernels, simulator and
// tuner all read knobs from here; nothing about a knob is hard-coded elsewhere.
#pragma once

#include <string>
#include <vector>

namespace coda {

enum class KnobFamily { Exact, Fp16, Perforation, FilterSampling, ReductionSampling, Promise, ShiftAdd, Precision, Pruning };
enum class Arithmetic { Fp32, Fp16 };
// Where a knob may run: any general-purpose unit (cpu, gpu), or only one accelerator.
enum class KnobUnit { Any, Promise, LightNN };

struct Knob {
  int id = 0;
  std::string name;
  KnobFamily family = KnobFamily::Exact;
  Arithmetic precision = Arithmetic::Fp32;
  Arithmetic accumulate = Arithmetic::Fp32;  // only meaningful when precision is fp16
  std::vector<std::string> applies_to;       // ONNX op types; empty = all op types
  KnobUnit unit = KnobUnit::Any;
  double r_compute = 1.0;  // ApproxTuner op-count cost: N_c / r_compute + N_m / r_memory
  double r_memory = 1.0;

  // perforation: skip output rows (axis 0) or columns (axis 1) r with r % k == offset.
  // filter_sampling: drop flattened filter elements e with e % k == offset.
  int axis = 0;
  int k = 0;
  int offset = 0;
  // reduction_sampling: share of the inputs read; pruning: share of filters removed.
  double fraction = 1.0;
  // promise
  int swing = 0;
  double sigma = 0.0;
  // shift_add
  int terms = 1;
  bool flexible = false;
  double residual_threshold = 0.0;
  int exponent_levels = 8;
  int activation_bits = 8;
  // precision (fixed point)
  int bits = 32;

  bool applies_to_op(const std::string& op_type) const;
  // True for knobs that change the graph (pruning) rather than an op's arithmetic.
  bool transforms_graph() const { return family == KnobFamily::Pruning; }
};

const char* family_name(KnobFamily family);
const char* unit_name(KnobUnit unit);

class KnobCatalog {
 public:
  // Parses catalog YAML; `source` names the file in errors (BadInput "source: knob 12: ...").
  static KnobCatalog parse(const std::string& yaml_text, const std::string& source);
  static KnobCatalog load(const std::string& path);

  const std::vector<Knob>& knobs() const { return knobs_; }
  const Knob* find(int id) const;
  // Throws BadInput "unknown knob id N".
  const Knob& require(int id) const;
  // Knobs that apply to an op type, in catalog order (11 first).
  std::vector<const Knob*> applicable(const std::string& op_type) const;
  const std::string& source() const { return source_; }

 private:
  std::vector<Knob> knobs_;
  std::string source_;
};

// The catalog every command uses: kernels/knobs.yaml as built into coda, unless
// set_knob_catalog_file() (the `--knobs FILE` option) chose another.
const KnobCatalog& knob_catalog();
void set_knob_catalog_file(const std::string& path);

}  // namespace coda
