#include "kernels/graph.h"

#include <queue>

#include "kernels/error.h"

namespace coda {

namespace {

template <typename T>
const T* typed(const std::map<std::string, AttrValue>& values, const std::string& name, const char* want) {
  auto it = values.find(name);
  if (it == values.end()) return nullptr;
  if (const T* v = std::get_if<T>(&it->second)) return v;
  throw BadInput("attribute '" + name + "' is not " + want);
}

}  // namespace

int64_t Attributes::get_int(const std::string& name, int64_t fallback) const {
  const int64_t* v = typed<int64_t>(values_, name, "an integer");
  return v ? *v : fallback;
}

float Attributes::get_float(const std::string& name, float fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (const int64_t* i = std::get_if<int64_t>(&it->second)) return static_cast<float>(*i);
  const float* v = typed<float>(values_, name, "a float");
  return *v;
}

std::string Attributes::get_string(const std::string& name, const std::string& fallback) const {
  const std::string* v = typed<std::string>(values_, name, "a string");
  return v ? *v : fallback;
}

std::vector<int64_t> Attributes::get_ints(const std::string& name, const std::vector<int64_t>& fallback) const {
  const std::vector<int64_t>* v = typed<std::vector<int64_t>>(values_, name, "a list of integers");
  return v ? *v : fallback;
}

std::vector<float> Attributes::get_floats(const std::string& name, const std::vector<float>& fallback) const {
  const std::vector<float>* v = typed<std::vector<float>>(values_, name, "a list of floats");
  return v ? *v : fallback;
}

const Tensor* Attributes::get_tensor(const std::string& name) const {
  return typed<Tensor>(values_, name, "a tensor");
}

std::string Node::describe() const { return "node '" + name + "' (" + op_type + ")"; }

int Graph::find_value(const std::string& value_name) const {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i].name == value_name) return static_cast<int>(i);
  return -1;
}

int Graph::value_id(const std::string& value_name) {
  int id = find_value(value_name);
  if (id >= 0) return id;
  Value v;
  v.name = value_name;
  values.push_back(std::move(v));
  return static_cast<int>(values.size() - 1);
}

int Graph::add_constant(const std::string& value_name, Tensor tensor) {
  int id = value_id(value_name);
  Value& v = values[static_cast<std::size_t>(id)];
  v.shape = tensor.shape();
  v.dtype = tensor.dtype();
  v.shape_known = true;
  v.constant = std::move(tensor);
  return id;
}

Node& Graph::add_node(std::string op_type, std::string node_name, const std::vector<int>& node_inputs,
                      const std::vector<int>& node_outputs) {
  Node n;
  n.op_type = std::move(op_type);
  n.name = std::move(node_name);
  n.inputs = node_inputs;
  n.outputs = node_outputs;
  nodes.push_back(std::move(n));
  return nodes.back();
}

void Graph::sort_topologically() {
  const std::size_t n = nodes.size();
  std::vector<int> producer(values.size(), -1);
  for (std::size_t i = 0; i < n; ++i)
    for (int out : nodes[i].outputs)
      if (out >= 0) {
        if (producer[static_cast<std::size_t>(out)] >= 0)
          throw BadInput("value '" + values[static_cast<std::size_t>(out)].name + "' is produced by two nodes");
        producer[static_cast<std::size_t>(out)] = static_cast<int>(i);
      }
  std::vector<bool> available(values.size(), false);
  for (std::size_t v = 0; v < values.size(); ++v)
    if (values[v].constant) available[v] = true;
  for (int in : inputs) available[static_cast<std::size_t>(in)] = true;

  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> consumers(values.size());
  for (std::size_t i = 0; i < n; ++i) {
    for (int in : nodes[i].inputs) {
      if (in < 0) continue;
      auto vin = static_cast<std::size_t>(in);
      if (available[vin]) continue;
      if (producer[vin] < 0)
        throw BadInput(nodes[i].describe() + " reads '" + values[vin].name +
                       "', which is neither a graph input, an initializer nor produced by a node");
      ++pending[i];
      consumers[vin].push_back(static_cast<int>(i));
    }
  }
  // Kahn's algorithm with a min-queue keeps the original order where the graph allows it.
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (std::size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  std::vector<Node> sorted;
  sorted.reserve(n);
  while (!ready.empty()) {
    int i = ready.top();
    ready.pop();
    sorted.push_back(std::move(nodes[static_cast<std::size_t>(i)]));
    for (int out : sorted.back().outputs)
      if (out >= 0)
        for (int c : consumers[static_cast<std::size_t>(out)])
          if (--pending[static_cast<std::size_t>(c)] == 0) ready.push(c);
  }
  if (sorted.size() != n) throw BadInput("the graph has a cycle");
  nodes = std::move(sorted);
}

std::vector<int> Graph::last_uses() const {
  std::vector<int> last(values.size(), -1);
  for (std::size_t i = 0; i < nodes.size(); ++i)
    for (int in : nodes[i].inputs)
      if (in >= 0) last[static_cast<std::size_t>(in)] = static_cast<int>(i);
  for (int out : outputs) last[static_cast<std::size_t>(out)] = static_cast<int>(nodes.size());
  return last;
}

int64_t Graph::parameter_count() const {
  int64_t total = 0;
  std::vector<bool> counted(values.size(), false);
  for (const Node& node : nodes)
    for (int in : node.inputs) {
      if (in < 0) continue;
      const Value& v = values[static_cast<std::size_t>(in)];
      if (v.constant && v.dtype != DType::Int64 && !counted[static_cast<std::size_t>(in)]) {
        counted[static_cast<std::size_t>(in)] = true;
        total += v.constant->size();
      }
    }
  return total;
}

}  // namespace coda
