#include "kernels/approx/approx_kernel.h"

#include <map>
#include <mutex>

#include "kernels/error.h"

namespace coda {

namespace {

std::map<KnobFamily, KnobKernelFactory>& factories() {
  static std::map<KnobFamily, KnobKernelFactory> registry;
  return registry;
}

std::map<KnobFamily, GraphTransform>& transforms() {
  static std::map<KnobFamily, GraphTransform> registry;
  return registry;
}

}  // namespace

void register_graph_transform(KnobFamily family, GraphTransform transform) { transforms()[family] = std::move(transform); }

const GraphTransform& graph_transform(KnobFamily family) {
  auto it = transforms().find(family);
  if (it == transforms().end())
    throw BadInput(std::string("no graph transform implements knob family '") + family_name(family) + "'");
  return it->second;
}

void register_knob_family(KnobFamily family, KnobKernelFactory factory) { factories()[family] = std::move(factory); }

bool family_needs_ranges(KnobFamily family) {
  return family == KnobFamily::Promise || family == KnobFamily::Precision || family == KnobFamily::ShiftAdd;
}

std::unique_ptr<OpKernel> make_knob_kernel(const KnobRequest& request) {
  const Knob& knob = request.knob;
  if (knob.family == KnobFamily::Exact || knob.transforms_graph()) return nullptr;
  if (!knob.applies_to_op(request.node.op_type))
    throw BadInput("knob " + std::to_string(knob.id) + " (" + knob.name + ") does not apply to " +
                   request.node.describe());
  auto it = factories().find(knob.family);
  if (it == factories().end())
    throw BadInput(std::string("no kernel implements knob family '") + family_name(knob.family) + "'");
  return it->second(request);
}

std::uint64_t mix_seed(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a offset basis
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  std::uint64_t z = seed ^ h;
  z += 0x9e3779b97f4a7c15ull;  // splitmix64 finaliser (Steele et al., OOPSLA 2014)
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace coda
