#include "kernels/executor.h"

#include <chrono>
#include <stdexcept>
#include <map>
#include <mutex>

#include "kernels/error.h"

namespace coda {

namespace {

std::vector<const TensorInfo*> input_infos(const Graph& graph, const Node& node, std::vector<TensorInfo>& storage) {
  storage.clear();
  storage.reserve(node.inputs.size());
  std::vector<const TensorInfo*> infos;
  for (int in : node.inputs) {
    if (in < 0) {
      infos.push_back(nullptr);
      continue;
    }
    const Value& v = graph.values[static_cast<std::size_t>(in)];
    if (!v.shape_known) throw BadInput(node.describe() + ": shape of input '" + v.name + "' is unknown");
    storage.push_back(TensorInfo{v.shape, v.dtype});
    infos.push_back(&storage.back());
  }
  return infos;
}

std::vector<const Tensor*> input_constants(const Graph& graph, const Node& node) {
  std::vector<const Tensor*> constants;
  for (int in : node.inputs) {
    const Value* v = in >= 0 ? &graph.values[static_cast<std::size_t>(in)] : nullptr;
    constants.push_back(v && v->constant ? &*v->constant : nullptr);
  }
  return constants;
}

void check_output_count(const Node& node, std::size_t inferred) {
  if (node.outputs.size() > inferred)
    throw BadInput(node.describe() + ": has " + std::to_string(node.outputs.size()) + " outputs, the op produces " +
                   std::to_string(inferred));
}

}  // namespace

void bind_input_shapes(Graph& graph, const std::vector<Shape>& shapes) {
  if (shapes.size() != graph.inputs.size())
    throw BadInput("the model has " + std::to_string(graph.inputs.size()) + " input(s), " +
                   std::to_string(shapes.size()) + " given");
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    Value& v = graph.values[static_cast<std::size_t>(graph.inputs[i])];
    bool fits = v.shape.size() == shapes[i].size() || (!v.shape_known && v.shape.empty());
    for (std::size_t d = 0; fits && d < v.shape.size(); ++d)
      fits = v.shape[d] < 0 || v.shape[d] == shapes[i][d];
    if (!fits)
      throw BadInput("input '" + v.name + "' has shape " + shape_string(shapes[i]) + ", the model expects " +
                     shape_string(v.shape));
    v.shape = shapes[i];
    v.shape_known = true;
  }
}

void fill_symbolic_dims(Graph& graph, int64_t fill) {
  for (int id : graph.inputs) {
    Value& v = graph.values[static_cast<std::size_t>(id)];
    for (int64_t& d : v.shape)
      if (d < 0) d = fill;
    v.shape_known = true;
  }
}

void prepare_graph(Graph& graph) {
  graph.sort_topologically();
  for (int id : graph.inputs) {
    const Value& v = graph.values[static_cast<std::size_t>(id)];
    for (int64_t d : v.shape)
      if (d < 0) throw BadInput("input '" + v.name + "' has a symbolic dimension; bind a concrete shape first");
  }
  std::vector<Node> kept;
  std::vector<TensorInfo> storage;
  for (Node& node : graph.nodes) {
    const OpKernel& kernel = require_op(node);
    auto infos = input_infos(graph, node, storage);
    auto constants = input_constants(graph, node);
    InferContext ctx(node, infos, constants);
    std::vector<TensorInfo> outs = kernel.infer(ctx);
    check_output_count(node, outs.size());

    bool all_constant = true;
    for (std::size_t i = 0; i < node.inputs.size(); ++i)
      if (node.inputs[i] >= 0 && !constants[i]) all_constant = false;
    // Shape only needs the input's shape, which is known here.
    bool foldable = all_constant || node.op_type == "Shape" || node.op_type == "Size";
    for (std::size_t o = 0; o < node.outputs.size(); ++o) {
      if (node.outputs[o] < 0) continue;
      Value& v = graph.values[static_cast<std::size_t>(node.outputs[o])];
      v.shape = outs[o].shape;
      v.dtype = outs[o].dtype;
      v.shape_known = true;
    }
    if (!foldable) {
      kept.push_back(std::move(node));
      continue;
    }
    std::vector<Tensor> results;
    results.reserve(node.outputs.size());
    std::vector<Tensor*> out_ptrs;
    for (std::size_t o = 0; o < node.outputs.size(); ++o) {
      if (node.outputs[o] < 0) {
        out_ptrs.push_back(nullptr);
        continue;
      }
      results.emplace_back(outs[o].shape, outs[o].dtype);
      out_ptrs.push_back(&results.back());
    }
    std::vector<Tensor> shape_only;  // Shape reads no data: hand it an empty tensor of the right shape
    std::vector<const Tensor*> in_ptrs;
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i] < 0) {
        in_ptrs.push_back(nullptr);
      } else if (constants[i]) {
        in_ptrs.push_back(constants[i]);
      } else {
        shape_only.reserve(node.inputs.size());
        const Value& v = graph.values[static_cast<std::size_t>(node.inputs[i])];
        shape_only.push_back(Tensor::metadata_only(v.shape, v.dtype));
        in_ptrs.push_back(&shape_only.back());
      }
    }
    if (kernel.is_view()) {
      results.front() = in_ptrs.front()->reshaped(outs.front().shape);
    } else {
      RunContext run_ctx(node, in_ptrs, out_ptrs);
      kernel.run(run_ctx);
    }
    std::size_t r = 0;
    for (std::size_t o = 0; o < node.outputs.size(); ++o)
      if (node.outputs[o] >= 0) graph.values[static_cast<std::size_t>(node.outputs[o])].constant = std::move(results[r++]);
  }
  graph.nodes = std::move(kept);
}

std::vector<NodeReport> analyse_graph(const Graph& graph) {
  std::vector<NodeReport> reports;
  std::vector<TensorInfo> storage;
  for (const Node& node : graph.nodes) {
    const OpKernel& kernel = require_op(node);
    auto infos = input_infos(graph, node, storage);
    InferContext ctx(node, infos, input_constants(graph, node));
    NodeReport report;
    report.node = &node;
    for (const TensorInfo* info : infos) report.inputs.push_back(info ? *info : TensorInfo{});
    for (int out : node.outputs) {
      if (out < 0) continue;
      const Value& v = graph.values[static_cast<std::size_t>(out)];
      report.outputs.push_back(TensorInfo{v.shape, v.dtype});
    }
    report.cost = op_cost(kernel, ctx, report.outputs);
    reports.push_back(std::move(report));
  }
  return reports;
}

std::size_t estimate_peak_activation_bytes(const Graph& graph) {
  const std::size_t nv = graph.values.size();
  std::vector<int> root(nv);
  for (std::size_t v = 0; v < nv; ++v) root[v] = static_cast<int>(v);
  for (const Node& node : graph.nodes)
    if (require_op(node).is_view() && node.inputs.front() >= 0)
      root[static_cast<std::size_t>(node.outputs.front())] = root[static_cast<std::size_t>(node.inputs.front())];
  // A buffer lives until the last use of any value that views it.
  std::vector<int> last = graph.last_uses();
  std::vector<int> root_last(nv, -1);
  for (std::size_t v = 0; v < nv; ++v) {
    auto r = static_cast<std::size_t>(root[v]);
    root_last[r] = std::max(root_last[r], last[v]);
  }
  std::vector<bool> is_input(nv, false);
  for (int id : graph.inputs) is_input[static_cast<std::size_t>(id)] = true;
  std::size_t live = 0, peak = 0;
  std::vector<std::vector<std::size_t>> frees(graph.nodes.size() + 1);
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    const Node& node = graph.nodes[n];
    if (!require_op(node).is_view())
      for (int out : node.outputs) {
        if (out < 0) continue;
        const Value& v = graph.values[static_cast<std::size_t>(out)];
        std::size_t bytes = static_cast<std::size_t>(element_count(v.shape)) * dtype_size(v.dtype);
        live += bytes;
        int dies = root_last[static_cast<std::size_t>(out)];
        // An output nobody reads is released right after its node.
        frees[dies < 0 ? n : std::min(static_cast<std::size_t>(dies), graph.nodes.size())].push_back(bytes);
      }
    peak = std::max(peak, live);
    for (std::size_t bytes : frees[n]) live -= bytes;
  }
  return peak;
}

// Free buffers keyed by capacity. A buffer handed out returns here through its shared_ptr
// deleter when the last tensor viewing it goes away.
class Executor::Pool : public std::enable_shared_from_this<Executor::Pool> {
 public:
  std::shared_ptr<Buffer> acquire(std::size_t bytes, const std::string& what) {
    std::unique_ptr<Buffer> buffer;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      // Smallest free buffer that fits, but not one more than twice too large.
      auto it = free_.lower_bound(bytes);
      if (it != free_.end() && it->first <= 2 * bytes + 4096) {
        buffer = std::move(it->second);
        free_.erase(it);
      }
    }
    if (!buffer) {
      check_allocation(bytes, what);
      buffer = std::make_unique<Buffer>(bytes);
      allocated_ += bytes;
    }
    live_ += buffer->capacity();
    peak_ = std::max(peak_, live_);
    std::weak_ptr<Pool> self = shared_from_this();
    return std::shared_ptr<Buffer>(buffer.release(), [self](Buffer* b) {
      if (auto pool = self.lock()) {
        pool->release(b);
      } else {
        delete b;
      }
    });
  }

  void release(Buffer* b) {
    std::lock_guard<std::mutex> lock(mutex_);
    live_ -= b->capacity();
    free_.emplace(b->capacity(), std::unique_ptr<Buffer>(b));
  }

  void reset_peak() { peak_ = live_; }
  std::size_t peak() const { return peak_; }
  std::size_t allocated() const { return allocated_; }

 private:
  std::mutex mutex_;
  std::multimap<std::size_t, std::unique_ptr<Buffer>> free_;
  std::size_t live_ = 0;
  std::size_t peak_ = 0;
  std::size_t allocated_ = 0;
};

Executor::Executor(const Graph& graph) : graph_(graph), pool_(std::make_shared<Pool>()) {
  for (const Node& node : graph_.nodes) kernels_.push_back(&require_op(node));
  last_use_ = graph_.last_uses();
}

Executor::~Executor() = default;

void Executor::set_kernel(std::size_t node_index, const OpKernel* kernel) {
  if (node_index >= kernels_.size()) throw std::out_of_range("Executor::set_kernel: no node " + std::to_string(node_index));
  kernels_[node_index] = kernel ? kernel : &require_op(graph_.nodes[node_index]);
}

void Executor::bind_inputs(const std::vector<Tensor>& inputs, std::vector<Tensor>& live) const {
  if (inputs.size() != graph_.inputs.size())
    throw BadInput("the model has " + std::to_string(graph_.inputs.size()) + " input(s), " +
                   std::to_string(inputs.size()) + " given");
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Value& v = graph_.values[static_cast<std::size_t>(graph_.inputs[i])];
    Tensor in = inputs[i];
    if (in.dtype() == DType::Float16 && v.dtype == DType::Float32) in = in.to(DType::Float32);
    if (in.dtype() != v.dtype)
      throw BadInput("input '" + v.name + "' is " + dtype_name(in.dtype()) + ", the model expects " +
                     dtype_name(v.dtype));
    if (in.shape() != v.shape)
      throw BadInput("input '" + v.name + "' has shape " + shape_string(in.shape()) + ", the model expects " +
                     shape_string(v.shape));
    live[static_cast<std::size_t>(graph_.inputs[i])] = std::move(in);
  }
}

void Executor::execute(std::vector<Tensor>& live, std::size_t first_node, bool keep_values) {
  pool_->reset_peak();
  for (std::size_t n = first_node; n < graph_.nodes.size(); ++n) {
    const Node& node = graph_.nodes[n];
    auto start = std::chrono::steady_clock::now();
    std::vector<const Tensor*> in_ptrs;
    for (int in : node.inputs) {
      if (in < 0) {
        in_ptrs.push_back(nullptr);
        continue;
      }
      const Value& v = graph_.values[static_cast<std::size_t>(in)];
      in_ptrs.push_back(v.constant ? &*v.constant : &live[static_cast<std::size_t>(in)]);
    }
    if (kernels_[n]->is_view()) {
      const Value& out = graph_.values[static_cast<std::size_t>(node.outputs.front())];
      live[static_cast<std::size_t>(node.outputs.front())] = in_ptrs.front()->reshaped(out.shape);
    } else {
      std::vector<Tensor*> out_ptrs;
      for (int out : node.outputs) {
        if (out < 0) {
          out_ptrs.push_back(nullptr);
          continue;
        }
        const Value& v = graph_.values[static_cast<std::size_t>(out)];
        std::size_t bytes = static_cast<std::size_t>(element_count(v.shape)) * dtype_size(v.dtype);
        live[static_cast<std::size_t>(out)] =
            Tensor(v.shape, v.dtype, pool_->acquire(bytes, "output '" + v.name + "' of " + node.describe()));
        out_ptrs.push_back(&live[static_cast<std::size_t>(out)]);
      }
      RunContext ctx(node, in_ptrs, out_ptrs);
      kernels_[n]->run(ctx);
    }
    if (tensor_observer_) {
      std::vector<const Tensor*> outs;
      for (int out : node.outputs) outs.push_back(out < 0 ? nullptr : &live[static_cast<std::size_t>(out)]);
      tensor_observer_(n, in_ptrs, outs);
    }
    if (!keep_values) {
      // Values whose last reader was this node go back to the pool (views keep their buffer alive).
      for (int in : node.inputs)
        if (in >= 0 && last_use_[static_cast<std::size_t>(in)] == static_cast<int>(n)) {
          bool is_graph_input = false;
          for (int gi : graph_.inputs) is_graph_input |= gi == in;
          if (!is_graph_input) live[static_cast<std::size_t>(in)] = Tensor();
        }
      for (int out : node.outputs)
        if (out >= 0 && last_use_[static_cast<std::size_t>(out)] < 0) live[static_cast<std::size_t>(out)] = Tensor();
    }
    if (observer_) {
      std::chrono::duration<double> dt = std::chrono::steady_clock::now() - start;
      observer_(n, dt.count());
    }
  }
}

std::vector<Tensor> Executor::collect_outputs(const std::vector<Tensor>& live) const {
  std::vector<Tensor> outputs;
  for (int out : graph_.outputs) {
    const Value& v = graph_.values[static_cast<std::size_t>(out)];
    // Copy pooled outputs out so they outlive the executor's pool.
    outputs.push_back(v.constant ? *v.constant : live[static_cast<std::size_t>(out)].clone());
  }
  return outputs;
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> live(graph_.values.size());
  bind_inputs(inputs, live);
  execute(live, 0, false);
  return collect_outputs(live);
}

std::vector<Tensor> Executor::run_keeping_values(const std::vector<Tensor>& inputs) {
  std::vector<Tensor> live(graph_.values.size());
  bind_inputs(inputs, live);
  execute(live, 0, true);
  return live;
}

std::vector<Tensor> Executor::run_from(std::size_t first_node, std::vector<Tensor> values) {
  if (values.size() != graph_.values.size())
    throw std::invalid_argument("Executor::run_from: " + std::to_string(values.size()) + " values given, the graph has " +
                                std::to_string(graph_.values.size()));
  if (first_node > graph_.nodes.size())
    throw std::invalid_argument("Executor::run_from: no node " + std::to_string(first_node));
  // Every non-constant value the suffix reads must come from `values` unless the suffix makes it.
  std::vector<bool> produced_in_suffix(graph_.values.size(), false);
  for (std::size_t n = first_node; n < graph_.nodes.size(); ++n) {
    for (int in : graph_.nodes[n].inputs) {
      if (in < 0) continue;
      auto id = static_cast<std::size_t>(in);
      if (!graph_.values[id].constant && !produced_in_suffix[id] && values[id].empty())
        throw std::invalid_argument("Executor::run_from: value '" + graph_.values[id].name + "' read by " +
                                    graph_.nodes[n].describe() + " is missing");
    }
    for (int out : graph_.nodes[n].outputs)
      if (out >= 0) produced_in_suffix[static_cast<std::size_t>(out)] = true;
  }
  execute(values, first_node, false);
  return collect_outputs(values);
}

std::size_t Executor::peak_bytes() const { return pool_->peak(); }
std::size_t Executor::allocated_bytes() const { return pool_->allocated(); }

}  // namespace coda
