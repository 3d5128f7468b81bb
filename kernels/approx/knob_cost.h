// ApproxTuner's op-count cost model (Sharif et al., PPoPP 2021, section 5): each op has N_c
// compute operations (multiply-accumulates plus other arithmetic) and N_m bytes of memory traffic;
// a knob divides them by its catalog factors r_compute and r_memory, and a configuration costs
// sum over ops of N_c / r_compute + N_m / r_memory. Hardware-independent and used for ranking only;
// the simulator and the fitted predictors give times and energies.
#pragma once

#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/executor.h"

namespace coda {

struct KnobCost {
  double compute = 0;  // N_c after the knob's reduction
  double memory = 0;   // N_m (bytes) after the knob's reduction
  double total() const { return compute + memory; }
};

// The exact op's counts (knob 11).
KnobCost exact_cost(const NodeReport& report);
KnobCost knob_cost(const NodeReport& report, const Knob& knob);
// Sum over the nodes of a prepared graph with one choice per node (analyse_graph order).
KnobCost configuration_cost(const std::vector<NodeReport>& reports, const std::vector<OpChoice>& choices,
                            const KnobCatalog& catalog);

}  // namespace coda
