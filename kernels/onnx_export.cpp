#include "kernels/onnx_export.h"

#include <algorithm>
#include <climits>
#include <type_traits>

#include <onnx/onnx_pb.h>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/onnx_tensor.h"

namespace coda {

namespace {

// IR version 8 (ONNX 1.10-1.12) covers opsets up to 18 and is the newest the Debian libonnx knows.
constexpr int64_t kIrVersion = 8;
constexpr int kDefaultOpset = 17;

void fill_value_info(const Value& value, bool with_shape, onnx::ValueInfoProto& info) {
  info.set_name(value.name);
  auto* tensor = info.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx_elem_type(value.dtype));
  if (!with_shape) return;
  auto* shape = tensor->mutable_shape();
  int symbolic = 0;
  for (int64_t d : value.shape) {
    auto* dim = shape->add_dim();
    if (d >= 0) {
      dim->set_dim_value(d);
    } else {
      // Equal dim_params declare equal sizes (ONNX IR.md), so each unknown size gets its own name.
      ++symbolic;
      dim->set_dim_param(symbolic == 1 ? "N" : "N_" + std::to_string(symbolic));
    }
  }
}

void fill_attribute(const std::string& name, const AttrValue& value, onnx::AttributeProto& attr) {
  attr.set_name(name);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          attr.set_type(onnx::AttributeProto::INT);
          attr.set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          attr.set_type(onnx::AttributeProto::FLOAT);
          attr.set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          attr.set_type(onnx::AttributeProto::STRING);
          attr.set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          attr.set_type(onnx::AttributeProto::INTS);
          for (int64_t x : v) attr.add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          attr.set_type(onnx::AttributeProto::FLOATS);
          for (float x : v) attr.add_floats(x);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          attr.set_type(onnx::AttributeProto::STRINGS);
          for (const std::string& x : v) attr.add_strings(x);
        } else {
          static_assert(std::is_same_v<T, Tensor>, "every AttrValue alternative is exported");
          attr.set_type(onnx::AttributeProto::TENSOR);
          *attr.mutable_t() = tensor_to_proto(v, "");
        }
      },
      value);
}

onnx::ModelProto build_model(const Graph& graph) {
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("coda");
  for (const auto& entry : graph.metadata) {
    auto* prop = model.add_metadata_props();
    prop->set_key(entry.first);
    prop->set_value(entry.second);
  }
  int opset = 0;
  for (const Node& node : graph.nodes) opset = std::max(opset, node.opset);
  auto* import = model.add_opset_import();
  import->set_domain("");
  import->set_version(opset > 0 ? opset : kDefaultOpset);

  onnx::GraphProto* out = model.mutable_graph();
  out->set_name(graph.name.empty() ? "coda" : graph.name);

  const std::size_t n_values = graph.values.size();
  std::vector<bool> produced(n_values, false), read(n_values, false), is_io(n_values, false);
  for (const Node& node : graph.nodes) {
    for (int v : node.outputs)
      if (v >= 0) produced[static_cast<std::size_t>(v)] = true;
    for (int v : node.inputs)
      if (v >= 0) read[static_cast<std::size_t>(v)] = true;
  }
  for (int v : graph.inputs) is_io[static_cast<std::size_t>(v)] = true;
  for (int v : graph.outputs) {
    read[static_cast<std::size_t>(v)] = true;  // a constant output needs its initializer
    is_io[static_cast<std::size_t>(v)] = true;
  }

  // Initializers in value order, which is the order import created them in.
  for (std::size_t v = 0; v < n_values; ++v) {
    const Value& value = graph.values[v];
    if (value.constant && read[v] && !produced[v]) *out->add_initializer() = tensor_to_proto(*value.constant, value.name);
  }
  for (int v : graph.inputs) {
    const Value& value = graph.values[static_cast<std::size_t>(v)];
    fill_value_info(value, value.shape_known || !value.shape.empty(), *out->add_input());
  }
  for (int v : graph.outputs) {
    const Value& value = graph.values[static_cast<std::size_t>(v)];
    fill_value_info(value, value.shape_known, *out->add_output());
  }
  // Shapes of intermediate values, when inference has run, spare readers a shape inference pass.
  for (std::size_t v = 0; v < n_values; ++v) {
    const Value& value = graph.values[v];
    if (produced[v] && !is_io[v] && !value.constant && value.shape_known)
      fill_value_info(value, true, *out->add_value_info());
  }

  for (const Node& node : graph.nodes) {
    onnx::NodeProto* proto = out->add_node();
    proto->set_op_type(node.op_type);
    proto->set_name(node.name);
    for (int v : node.inputs) proto->add_input(v >= 0 ? graph.values[static_cast<std::size_t>(v)].name : "");
    for (int v : node.outputs) proto->add_output(v >= 0 ? graph.values[static_cast<std::size_t>(v)].name : "");
    for (const auto& entry : node.attrs.all()) fill_attribute(entry.first, entry.second, *proto->add_attribute());
  }
  return model;
}

}  // namespace

std::string export_onnx(const Graph& graph) {
  onnx::ModelProto model = build_model(graph);
  if (model.ByteSizeLong() > static_cast<std::size_t>(INT_MAX))
    throw BadInput("graph '" + graph.name + "' exceeds the 2 GiB protobuf limit of a single ONNX file");
  return model.SerializeAsString();
}

void save_onnx(const Graph& graph, const std::string& path) {
  std::string bytes;
  try {
    bytes = export_onnx(graph);
  } catch (const BadInput& error) {
    rethrow_with_context(path, error);
  }
  write_file_atomically(path, bytes);
}

}  // namespace coda
