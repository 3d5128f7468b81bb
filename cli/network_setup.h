// The network a command works on: the model loaded (ONNX file or zoo:NAME), its inputs bound to
// the batch and shapes asked for, prepared, pruned by the configuration's pruning knobs, and the
// configuration's per-op choices (every op on the GPU in FP32 without one). Shared by the
// commands that take a model and a configuration (simulate, predict).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/approx_options.h"
#include "kernels/approx/approx_config.h"
#include "kernels/graph.h"

namespace coda::cli {

struct NetworkSetup {
  Graph graph;
  std::vector<OpChoice> choices;  // one per node
};

// Throws BadInput with the model's name as context.
NetworkSetup load_network(const std::string& model, int batch, const std::vector<std::string>& shapes,
                          const ApproxOptions& approx, std::uint64_t seed);

// The same for a configuration already in memory (null: the exact network). Zoo networks are built
// without weight data unless a knob of the configuration needs it (pruning, LightNN shift-add):
// sweeps only simulate or predict, and their results equal `coda simulate`'s.
NetworkSetup load_network_for_costs(const std::string& model, int batch, const ApproxConfig* config,
                                    std::uint64_t seed);

}  // namespace coda::cli
