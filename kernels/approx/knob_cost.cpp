#include "kernels/approx/knob_cost.h"

#include <stdexcept>

namespace coda {

KnobCost exact_cost(const NodeReport& report) {
  const OpCost& c = report.cost;
  return KnobCost{static_cast<double>(c.macs + c.flops), static_cast<double>(c.bytes_read + c.bytes_written)};
}

KnobCost knob_cost(const NodeReport& report, const Knob& knob) {
  KnobCost exact = exact_cost(report);
  return KnobCost{exact.compute / knob.r_compute, exact.memory / knob.r_memory};
}

KnobCost configuration_cost(const std::vector<NodeReport>& reports, const std::vector<OpChoice>& choices,
                            const KnobCatalog& catalog) {
  if (reports.size() != choices.size()) throw std::invalid_argument("configuration_cost: one choice per node expected");
  KnobCost total;
  for (std::size_t n = 0; n < reports.size(); ++n) {
    KnobCost c = knob_cost(reports[n], catalog.require(choices[n].knob));
    total.compute += c.compute;
    total.memory += c.memory;
  }
  return total;
}

}  // namespace coda
