#include "kernels/onnx_import.h"

#include <algorithm>
#include <climits>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <onnx/onnx_pb.h>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/onnx_tensor.h"
#include "kernels/op.h"

namespace coda {

namespace {

using onnx::AttributeProto;

bool is_default_domain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

std::string qualified_op(const onnx::NodeProto& node) {
  return is_default_domain(node.domain()) ? node.op_type() : node.domain() + "." + node.op_type();
}

const char* type_case_name(onnx::TypeProto::ValueCase value_case) {
  switch (value_case) {
    case onnx::TypeProto::kSequenceType: return "a sequence";
    case onnx::TypeProto::kMapType: return "a map";
    case onnx::TypeProto::kOptionalType: return "an optional";
    case onnx::TypeProto::kSparseTensorType: return "a sparse tensor";
    case onnx::TypeProto::kOpaqueType: return "an opaque value";
    default: return "not a tensor";
  }
}

// Old exporters (IR version 1-2) leave AttributeProto.type unset; the filled field tells.
AttributeProto::AttributeType attribute_type(const AttributeProto& attr) {
  if (attr.type() != AttributeProto::UNDEFINED) return attr.type();
  if (attr.has_f()) return AttributeProto::FLOAT;
  if (attr.has_i()) return AttributeProto::INT;
  if (attr.has_s()) return AttributeProto::STRING;
  if (attr.has_t()) return AttributeProto::TENSOR;
  if (attr.has_g()) return AttributeProto::GRAPH;
  if (attr.has_sparse_tensor()) return AttributeProto::SPARSE_TENSOR;
  if (attr.floats_size()) return AttributeProto::FLOATS;
  if (attr.ints_size()) return AttributeProto::INTS;
  if (attr.strings_size()) return AttributeProto::STRINGS;
  if (attr.tensors_size()) return AttributeProto::TENSORS;
  if (attr.graphs_size()) return AttributeProto::GRAPHS;
  return AttributeProto::UNDEFINED;
}

class Importer {
 public:
  Importer(const std::string& source, const std::string& base_dir) : source_(source) {
    tensor_options_.base_dir = base_dir;
  }

  // `owned` (may be null) is the caller's copy of `bytes` that may be freed once parsed: with the
  // file, the parsed protobuf and the decoded weights, a large model would otherwise be held in
  // memory three times at once.
  Graph run(const std::string& bytes, std::string* owned) {
    if (bytes.empty()) invalid("empty file");
    if (bytes.size() > static_cast<std::size_t>(INT_MAX))
      throw BadInput(source_ + ": larger than 2 GiB, the protobuf limit; models that large keep their "
                     "weights in external data files");
    onnx::ModelProto model;
    if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
      invalid("not a serialized onnx.ModelProto");
    if (owned) std::string().swap(*owned);
    // Protobuf accepts many byte strings that are no model at all (a text file can decode as a
    // few unknown fields), so check what every real model has.
    if (!model.has_graph()) invalid("no graph");
    if (model.ir_version() <= 0) invalid("no ir_version");
    if (model.opset_import_size() == 0) invalid("no opset_import");
    read_opset(model);
    const onnx::GraphProto& graph = model.graph();
    // Op support is checked before any weight is decoded, so an unsupported model fails at once.
    check_nodes(graph);
    graph_.name = graph.name();
    for (const auto& prop : model.metadata_props()) graph_.metadata[prop.key()] = prop.value();
    read_initializers(*model.mutable_graph());
    read_inputs(graph);
    read_nodes(graph);
    read_outputs(graph);
    try {
      graph_.sort_topologically();
    } catch (const BadInput& error) {
      rethrow_with_context(source_, error);
    }
    return std::move(graph_);
  }

 private:
  [[noreturn]] void invalid(const std::string& why) const {
    throw BadInput(source_ + ": not a valid ONNX model (" + why + ")");
  }
  [[noreturn]] void fail(const std::string& message) const { throw BadInput(source_ + ": " + message); }

  int intern(const std::string& name) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    Value v;
    v.name = name;
    graph_.values.push_back(std::move(v));
    int id = static_cast<int>(graph_.values.size() - 1);
    ids_.emplace(name, id);
    return id;
  }

  void read_opset(const onnx::ModelProto& model) {
    bool found = false;
    for (const auto& entry : model.opset_import()) {
      if (!is_default_domain(entry.domain())) continue;
      if (found) invalid("opset_import lists the default domain twice");
      found = true;
      if (entry.version() <= 0) invalid("opset version " + std::to_string(entry.version()));
      if (entry.version() < kOldestOnnxOpset || entry.version() > kNewestOnnxOpset)
        fail("opset " + std::to_string(entry.version()) + " is not supported (supported: " +
             std::to_string(kOldestOnnxOpset) + "-" + std::to_string(kNewestOnnxOpset) + ")");
      opset_ = static_cast<int>(entry.version());
    }
    if (!found)
      for (const auto& node : model.graph().node())
        if (is_default_domain(node.domain())) invalid("no opset_import for the default domain");
  }

  void check_nodes(const onnx::GraphProto& graph) {
    std::unordered_set<std::string> explicit_names;
    for (const auto& node : graph.node())
      if (!node.name().empty()) explicit_names.insert(node.name());
    names_.reserve(static_cast<std::size_t>(graph.node_size()));
    std::string first_error, first_op;
    std::set<std::string> others;
    for (int i = 0; i < graph.node_size(); ++i) {
      const onnx::NodeProto& node = graph.node(i);
      if (node.op_type().empty()) invalid("node " + std::to_string(i) + " has no op_type");
      std::string name = node.name();
      if (name.empty()) {
        // "<OpType>_<index>", made unique against every name the model gives.
        name = node.op_type() + "_" + std::to_string(i);
        for (int k = 2; explicit_names.count(name); ++k)
          name = node.op_type() + "_" + std::to_string(i) + "_" + std::to_string(k);
        explicit_names.insert(name);
      }
      names_.push_back(name);
      const bool supported = is_default_domain(node.domain()) && find_op(node.op_type()) != nullptr;
      if (supported) continue;
      // One message names every unsupported op type, so a user learns the whole gap in one run.
      if (first_error.empty()) {
        first_error = "unsupported op type '" + qualified_op(node) + "' at node '" + name + "'";
        first_op = qualified_op(node);
      } else if (qualified_op(node) != first_op) {
        others.insert(qualified_op(node));
      }
    }
    if (first_error.empty()) return;
    std::string message = first_error;
    if (!others.empty()) {
      message += " (also unsupported:";
      for (const std::string& op : others) message += " " + op;
      message += ")";
    }
    fail(message);
  }

  // Frees each initializer's encoded data once decoded (see run).
  void read_initializers(onnx::GraphProto& graph) {
    auto add = [&](const std::string& name, Tensor tensor) {
      if (name.empty()) invalid("an initializer has no name");
      if (ids_.count(name)) invalid("initializer '" + name + "' is defined twice");
      graph_.add_constant(name, std::move(tensor));
      ids_.emplace(name, static_cast<int>(graph_.values.size() - 1));
    };
    try {
      for (auto& init : *graph.mutable_initializer()) {
        add(init.name(), tensor_from_proto(init, tensor_options_));
        std::string().swap(*init.mutable_raw_data());
        google::protobuf::RepeatedField<float>().Swap(init.mutable_float_data());
        google::protobuf::RepeatedField<int64_t>().Swap(init.mutable_int64_data());
      }
      for (const auto& sparse : graph.sparse_initializer())
        add(sparse.values().name(), tensor_from_sparse_proto(sparse, tensor_options_));
    } catch (const BadInput& error) {
      // Messages of `invalid` already carry the source.
      if (std::string(error.what()).rfind(source_ + ": ", 0) == 0) throw;
      rethrow_with_context(source_, error);
    }
  }

  void read_inputs(const onnx::GraphProto& graph) {
    std::unordered_set<std::string> seen;
    for (const auto& info : graph.input()) {
      const std::string& name = info.name();
      if (name.empty()) invalid("a graph input has no name");
      if (!seen.insert(name).second) invalid("graph input '" + name + "' is listed twice");
      // IR version 3 exporters list every initializer as an input too; those are weights, not
      // inputs a caller binds.
      if (ids_.count(name)) continue;
      int id = intern(name);
      Value& v = graph_.values[static_cast<std::size_t>(id)];
      if (info.has_type()) {
        const onnx::TypeProto& type = info.type();
        if (type.value_case() != onnx::TypeProto::kTensorType)
          fail("input '" + name + "' is " + type_case_name(type.value_case()) + "; coda takes tensor inputs only");
        const auto& tensor = type.tensor_type();
        if (tensor.elem_type() != onnx::TensorProto::UNDEFINED) {
          auto dtype = dtype_from_onnx(tensor.elem_type());
          if (!dtype)
            fail("input '" + name + "' has element type " + onnx_type_name(tensor.elem_type()) +
                 ", which coda does not support");
          v.dtype = *dtype;
        }
        if (tensor.has_shape()) {
          for (const auto& dim : tensor.shape().dim()) {
            if (dim.has_dim_value() && dim.dim_value() < 0)
              invalid("input '" + name + "' has dimension " + std::to_string(dim.dim_value()));
            // dim_param (a symbolic name like "batch") and missing values are both unknown sizes.
            v.shape.push_back(dim.has_dim_value() ? dim.dim_value() : -1);
          }
          v.shape_known = true;
        }
      }
      graph_.inputs.push_back(id);
    }
  }

  AttrValue read_attribute(const AttributeProto& attr, const Node& node) {
    auto attr_fail = [&](const std::string& message) -> void {
      fail(node.describe() + ": attribute '" + attr.name() + "' " + message);
    };
    if (!attr.ref_attr_name().empty()) attr_fail("refers to a function attribute, which coda does not support");
    AttributeProto::AttributeType type = attribute_type(attr);
    try {
      switch (type) {
        case AttributeProto::FLOAT: return attr.f();
        case AttributeProto::INT: return static_cast<int64_t>(attr.i());
        case AttributeProto::STRING: return attr.s();
        case AttributeProto::FLOATS: return std::vector<float>(attr.floats().begin(), attr.floats().end());
        case AttributeProto::INTS: return std::vector<int64_t>(attr.ints().begin(), attr.ints().end());
        case AttributeProto::STRINGS: return std::vector<std::string>(attr.strings().begin(), attr.strings().end());
        case AttributeProto::TENSOR: return tensor_from_proto(attr.t(), tensor_options_);
        case AttributeProto::SPARSE_TENSOR: return tensor_from_sparse_proto(attr.sparse_tensor(), tensor_options_);
        case AttributeProto::GRAPH:
        case AttributeProto::GRAPHS:
          attr_fail("holds a subgraph; control flow (If, Loop, Scan) is not supported");
          break;
        case AttributeProto::UNDEFINED: attr_fail("has no value"); break;
        default:
          attr_fail("of type " + AttributeProto::AttributeType_Name(type) + " is not supported");
          break;
      }
    } catch (const BadInput& error) {
      if (std::string(error.what()).rfind(source_ + ": ", 0) == 0) throw;
      attr_fail(std::string("holds a bad ") + error.what());
    }
    throw std::logic_error("read_attribute: unreachable");
  }

  void read_nodes(const onnx::GraphProto& graph) {
    graph_.nodes.reserve(static_cast<std::size_t>(graph.node_size()));
    for (int i = 0; i < graph.node_size(); ++i) {
      const onnx::NodeProto& proto = graph.node(i);
      std::vector<int> inputs;
      inputs.reserve(static_cast<std::size_t>(proto.input_size()));
      for (const std::string& name : proto.input()) inputs.push_back(name.empty() ? -1 : intern(name));
      std::vector<int> outputs;
      outputs.reserve(static_cast<std::size_t>(proto.output_size()));
      for (const std::string& name : proto.output()) {
        if (name.empty()) {
          outputs.push_back(-1);
          continue;
        }
        int id = intern(name);
        const Value& v = graph_.values[static_cast<std::size_t>(id)];
        bool is_input = std::find(graph_.inputs.begin(), graph_.inputs.end(), id) != graph_.inputs.end();
        if (v.constant || is_input)
          invalid("node '" + names_[static_cast<std::size_t>(i)] + "' writes '" + name + "', which is also " +
                  (is_input ? "a graph input" : "an initializer"));
        outputs.push_back(id);
      }
      Node& node = graph_.add_node(proto.op_type(), names_[static_cast<std::size_t>(i)], inputs, outputs);
      node.opset = opset_;
      for (const AttributeProto& attr : proto.attribute()) {
        if (attr.name().empty()) invalid(node.describe() + " has an attribute without a name");
        if (node.attrs.has(attr.name())) invalid(node.describe() + " has attribute '" + attr.name() + "' twice");
        node.attrs.set(attr.name(), read_attribute(attr, node));
      }
    }
  }

  void read_outputs(const onnx::GraphProto& graph) {
    std::vector<bool> produced(graph_.values.size(), false);
    for (const Node& node : graph_.nodes)
      for (int out : node.outputs)
        if (out >= 0) produced[static_cast<std::size_t>(out)] = true;
    for (int in : graph_.inputs) produced[static_cast<std::size_t>(in)] = true;
    for (const auto& info : graph.output()) {
      if (info.name().empty()) invalid("a graph output has no name");
      auto it = ids_.find(info.name());
      if (it == ids_.end() || !(produced[static_cast<std::size_t>(it->second)] ||
                                graph_.values[static_cast<std::size_t>(it->second)].constant))
        invalid("graph output '" + info.name() + "' is not produced by any node, input or initializer");
      graph_.outputs.push_back(it->second);
    }
    if (graph_.outputs.empty()) invalid("the graph has no outputs");
  }

  std::string source_;
  TensorProtoOptions tensor_options_;
  Graph graph_;
  std::unordered_map<std::string, int> ids_;
  std::vector<std::string> names_;  // final node names, by node index
  int opset_ = kNewestOnnxOpset;
};

}  // namespace

Graph import_onnx(const std::string& bytes, const std::string& source_name, const std::string& base_dir) {
  return Importer(source_name, base_dir).run(bytes, nullptr);
}

Graph load_onnx(const std::string& path) {
  std::string bytes = read_file(path);
  return Importer(path, parent_directory(path)).run(bytes, &bytes);
}

}  // namespace coda
