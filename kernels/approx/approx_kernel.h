// How an approximation becomes computation: each knob family registers a factory that builds, for
// one graph node and one knob, an OpKernel computing the approximate op. The executor then runs
// that kernel in place of the exact one (Executor::set_kernel). Families live in their own files
// and register themselves with CODA_REGISTER_KNOB_FAMILY, as ops do.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/knob_catalog.h"
#include "kernels/op.h"

namespace coda {

// Calibrated value range of a tensor: [low, high] is what an 8-bit affine quantizer maps to 0..255.
struct ValueRange {
  float low = 0.0f;
  float high = 0.0f;
  bool valid() const { return high > low; }
};

// Activation ranges of one op measured on calibration data (PROMISE, fixed point). Weight and
// bias ranges are taken from the constants themselves when the kernel first runs.
struct OpRanges {
  ValueRange input;
  ValueRange output;
};

// Everything a family factory needs to build the approximate kernel of one node.
struct KnobRequest {
  const Node& node;
  const OpKernel& exact;        // the registered kernel of node.op_type
  const Knob& knob;
  std::uint64_t seed = 0;       // the run's seed mixed with the node name (noise knobs)
  const OpRanges* ranges = nullptr;  // calibration of this node, when the family needs one
};

// Base of approximate kernels: shapes and exact op counts come from the exact kernel.
class ApproxKernel : public OpKernel {
 public:
  explicit ApproxKernel(const OpKernel& exact) : exact_(exact) {}
  std::vector<TensorInfo> infer(const InferContext& ctx) const override { return exact_.infer(ctx); }
  void count(const InferContext& ctx, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    exact_.count(ctx, outputs, cost);
  }

 protected:
  const OpKernel& exact_;
};

using KnobKernelFactory = std::function<std::unique_ptr<OpKernel>(const KnobRequest&)>;
void register_knob_family(KnobFamily family, KnobKernelFactory factory);
// Builds the kernel for a node and knob. Returns null for the exact knob and for graph-transforming
// knobs (pruning, applied to the graph beforehand). Throws BadInput when the knob does not apply to
// the node or no family kernel is registered.
std::unique_ptr<OpKernel> make_knob_kernel(const KnobRequest& request);
// True when the family needs calibrated activation ranges (KnobRequest::ranges): PROMISE and
// fixed point quantize activations affinely, shift-add to integers with a static scale.
bool family_needs_ranges(KnobFamily family);

struct KnobFamilyRegistrar {
  KnobFamilyRegistrar(KnobFamily family, KnobKernelFactory factory) { register_knob_family(family, std::move(factory)); }
};

// CODA_REGISTER_KNOB_FAMILY(Perforation, make_perforated_kernel) at namespace scope.
#define CODA_REGISTER_KNOB_FAMILY(FAMILY, FACTORY) \
  static const ::coda::KnobFamilyRegistrar coda_knob_family_##FAMILY(::coda::KnobFamily::FAMILY, FACTORY)

// Graph-transforming knob families (pruning) register how a prepared graph is changed for the
// per-node choices; ApproxSession applies them before building kernels. `listed[n]` tells whether
// node n's knob was asked for by name: such a knob must take effect (BadInput otherwise), while one
// spread by "all" or "default" is skipped where it cannot (e.g. pruning the classifier's outputs).
struct OpChoice;
using GraphTransform = std::function<void(Graph& prepared, const std::vector<OpChoice>& choices,
                                          const std::vector<bool>& listed, const KnobCatalog&)>;
void register_graph_transform(KnobFamily family, GraphTransform transform);
// Throws BadInput when no transform is registered for the family.
const GraphTransform& graph_transform(KnobFamily family);

// Mixes a seed with a name (FNV-1a then splitmix64), so each node draws its own noise stream.
std::uint64_t mix_seed(std::uint64_t seed, const std::string& name);

}  // namespace coda
