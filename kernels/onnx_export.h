// ONNX model export: coda::Graph -> onnx.ModelProto, so that a graph coda built, pruned or
// prepared can be read by ONNX Runtime, Netron or coda itself (import(export(g)) == g).
#pragma once

#include <string>

#include "kernels/graph.h"

namespace coda {

// The serialized model: IR version 8, the nodes' default-domain opset (17 with no nodes),
// producer "coda", initializers for the constants the graph reads, inputs and outputs with their
// shapes (unknown dimensions as dim_param "N", "N_2", ...). Throws BadInput when the model exceeds
// the 2 GiB protobuf limit.
std::string export_onnx(const Graph& graph);

// export_onnx written atomically to `path`.
void save_onnx(const Graph& graph, const std::string& path);

}  // namespace coda
