// The network graph: a DAG of tensor ops over named values. Values carry shapes once shape
// inference has run, and constant data for initializers and folded subgraphs.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "kernels/tensor.h"

namespace coda {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                               std::vector<std::string>, Tensor>;

class Attributes {
 public:
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void set(const std::string& name, AttrValue value) { values_[name] = std::move(value); }
  void erase(const std::string& name) { values_.erase(name); }

  // Typed getters; a missing attribute yields the fallback, a wrongly typed one throws BadInput.
  int64_t get_int(const std::string& name, int64_t fallback) const;
  float get_float(const std::string& name, float fallback) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name, const std::vector<int64_t>& fallback = {}) const;
  std::vector<float> get_floats(const std::string& name, const std::vector<float>& fallback = {}) const;
  const Tensor* get_tensor(const std::string& name) const;

  const std::map<std::string, AttrValue>& all() const { return values_; }

 private:
  std::map<std::string, AttrValue> values_;
};

struct Value {
  std::string name;
  Shape shape;               // -1 marks a dimension not yet known (symbolic batch)
  DType dtype = DType::Float32;
  bool shape_known = false;  // set by shape inference
  std::optional<Tensor> constant;  // initializer or folded constant
};

struct Node {
  std::string name;
  std::string op_type;
  std::vector<int> inputs;   // value ids; -1 for an omitted optional input
  std::vector<int> outputs;  // value ids; -1 for an omitted optional output
  Attributes attrs;
  int opset = 17;            // opset version of the node's domain in the model it came from

  // "node 'conv1' (Conv)" for messages.
  std::string describe() const;
};

class Graph {
 public:
  std::string name;
  std::vector<Value> values;
  std::vector<Node> nodes;   // kept in topological order (see sort_topologically)
  std::vector<int> inputs;   // value ids of the graph inputs a caller must bind (no initializers)
  std::vector<int> outputs;  // value ids of the graph outputs
  // Free-form key/value pairs kept through ONNX import/export (ModelProto.metadata_props), e.g.
  // the input preprocessing a model was trained with.
  std::map<std::string, std::string> metadata;

  // Adds a value (or returns the existing one of that name).
  int value_id(const std::string& value_name);
  // -1 if absent.
  int find_value(const std::string& value_name) const;
  int add_constant(const std::string& value_name, Tensor tensor);
  Node& add_node(std::string op_type, std::string node_name, const std::vector<int>& node_inputs,
                 const std::vector<int>& node_outputs);

  // Reorders nodes so every producer precedes its consumers; throws BadInput on a cycle or on a
  // value that is consumed but never produced.
  void sort_topologically();
  // For each value, the index of the last node that reads it (-1 if none; graph outputs never die).
  std::vector<int> last_uses() const;
  // Number of elements in all constants feeding compute (float) inputs: the weights.
  int64_t parameter_count() const;
};

}  // namespace coda
