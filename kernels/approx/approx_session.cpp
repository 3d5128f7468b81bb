#include "kernels/approx/approx_session.h"

#include "kernels/error.h"

namespace coda {

ApproxSession::ApproxSession(ApproxConfig config, const KnobCatalog& catalog, std::uint64_t seed)
    : config_(std::move(config)), catalog_(catalog), seed_(seed), ranges_(config_.ranges) {}

ApproxSession::~ApproxSession() = default;

std::vector<OpChoice> ApproxSession::resolve(const Graph& prepared) const {
  return resolve_config(config_, prepared, catalog_);
}

bool ApproxSession::apply_pruning(Graph& prepared) const {
  std::vector<OpChoice> choices = resolve(prepared);
  bool any = false;
  for (const OpChoice& c : choices) any |= catalog_.require(c.knob).transforms_graph();
  if (any) {
    std::vector<bool> listed;
    for (const Node& node : prepared.nodes) listed.push_back(config_.ops.count(node.name) > 0);
    try {
      graph_transform(KnobFamily::Pruning)(prepared, choices, listed, catalog_);
    } catch (const BadInput& e) {
      rethrow_with_context(config_.source, e);
    }
  }
  return any;
}

void ApproxSession::install(const Graph& prepared, Executor& executor) {
  auto plan = std::make_unique<ApproxPlan>(prepared, resolve(prepared), catalog_, seed_, ranges_);
  std::vector<std::size_t> missing = plan->missing_ranges();
  if (!missing.empty()) {
    if (!calibration_)
      throw BadInput(config_.source + ": " + prepared.nodes[missing.front()].describe() + " runs knob " +
                     std::to_string(plan->choices()[missing.front()].knob) +
                     ", which needs calibrated activation ranges; add \"ranges\" (coda calibrate) or give data");
    std::map<std::string, OpRanges> measured = calibrate_ranges(prepared, calibration_(prepared), missing);
    for (auto& [name, r] : measured) ranges_[name] = r;
    calibrated_ = true;
    plan->set_ranges(ranges_);
  }
  plan->install(executor);
  plans_.push_back(std::move(plan));
}

}  // namespace coda
