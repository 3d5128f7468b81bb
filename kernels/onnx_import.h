// ONNX model import: onnx.ModelProto -> coda::Graph, validated and sorted topologically, ready
// for bind_input_shapes / prepare_graph.
#pragma once

#include <string>

#include "kernels/graph.h"

namespace coda {

// Default-domain opsets coda reads. Opset 6 is the floor because PyTorch 0.3 exporters (and the
// ONNX conformance data built with them) write it; 18 is the newest opset whose op semantics the
// kernels implement (the Reduce* family moved axes to an input there, ONNX Changelog.md).
constexpr int kOldestOnnxOpset = 6;
constexpr int kNewestOnnxOpset = 18;

// Reads and imports the model at `path`; external data is resolved next to it.
Graph load_onnx(const std::string& path);

// Imports serialized model bytes. `source_name` starts every error message ("PATH: ..."),
// `base_dir` is where external-data locations are resolved. Throws BadInput for files that are not
// ONNX models, unsupported opsets, op types or attributes, and malformed graphs.
Graph import_onnx(const std::string& bytes, const std::string& source_name, const std::string& base_dir = ".");

}  // namespace coda
