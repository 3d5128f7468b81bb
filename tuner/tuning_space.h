// The space a tuner searches: for every op a knob may change, the choices (knob and unit) open to
// it. A configuration is one choice index per tunable op; index 0 is always the exact op on the
// baseline unit (ApproxTuner's FP32-on-GPU baseline), so the all-zero configuration is the exact
// network.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/graph.h"

namespace coda::tuner {

// Which knobs a search may choose. Software: the knobs any general-purpose unit runs (FP16,
// perforation, filter and reduction sampling, fixed point) -- the development-time space.
// Hardware adds the accelerator knobs, i.e. PROMISE swing levels and LightNN shift-add placement
// (install time). Pruning knobs change the graph and are searched by LeGR instead.
enum class KnobScope { Software, Hardware };

struct TunableOp {
  std::size_t node = 0;            // index into the prepared graph's nodes
  std::string name;                // the node's name (what configurations key on)
  std::string op_type;
  std::vector<OpChoice> choices;   // choices.front() = exact on the baseline unit
};

struct TuningSpace {
  std::vector<TunableOp> ops;
  Unit baseline_unit = Unit::Gpu;
  std::size_t node_count = 0;      // nodes of the prepared graph

  // ops[i].choices.size() for every i: the search's per-gene alphabet sizes.
  std::vector<int> choice_counts() const;
  // Number of distinct configurations (saturates at 1e300).
  double size() const;
};

// One choice index per entry of TuningSpace::ops.
using Configuration = std::vector<int>;

// Every node of `prepared` whose op type some knob in scope applies to becomes tunable, with the
// exact choice first and then each applicable knob in catalog order (accelerator knobs on their
// unit). `allowed_knobs`, when not empty, restricts the knobs to those ids (11 is always kept).
TuningSpace build_tuning_space(const Graph& prepared, const KnobCatalog& catalog, KnobScope scope,
                               Unit baseline_unit = Unit::Gpu, const std::vector<int>& allowed_knobs = {});

// One OpChoice per node of the prepared graph: the configuration's choices on the tunable ops and
// the exact op on the baseline unit elsewhere. Throws std::invalid_argument on a configuration of
// the wrong length or with an index out of range.
std::vector<OpChoice> node_choices(const TuningSpace& space, const Configuration& config);

// The configuration in the --config JSON form (kernels/approx/approx_config.h): the baseline as
// "default" and one entry per approximated op, so `coda eval/simulate --config` run it as tuned.
ApproxConfig to_approx_config(const TuningSpace& space, const Configuration& config);
// The inverse, for a configuration whose ops are all in the space. Throws BadInput naming
// `config.source` for an op the space lacks or a choice it does not offer.
Configuration from_approx_config(const TuningSpace& space, const ApproxConfig& config);

// Short human-readable form, e.g. "conv1=fp16 conv2=perf_fp16_rows_k2_o0" ("exact" when none).
std::string describe(const TuningSpace& space, const Configuration& config, const KnobCatalog& catalog);

}  // namespace coda::tuner
