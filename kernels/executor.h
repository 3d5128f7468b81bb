// Shape inference, constant folding and topological execution with buffer reuse.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/graph.h"
#include "kernels/op.h"

namespace coda {

// Replaces the shapes of the graph inputs by the given ones, checking rank and every fixed
// dimension (symbolic dimensions, stored as -1, accept any size). Throws BadInput naming the input.
void bind_input_shapes(Graph& graph, const std::vector<Shape>& shapes);
// Replaces each remaining symbolic dimension of the graph inputs with `fill` (1 for inspection).
void fill_symbolic_dims(Graph& graph, int64_t fill);

// Infers every value's shape and dtype, evaluates every node whose inputs are all known constants
// (initializers, Constant nodes, Shape of a known shape: the shape subgraphs exporters emit) and
// removes it, and sorts the rest topologically. Graph inputs must have concrete shapes.
void prepare_graph(Graph& graph);

// Per-node figures of a prepared graph.
struct NodeReport {
  const Node* node = nullptr;
  std::vector<TensorInfo> inputs;   // empty shape for omitted optional inputs
  std::vector<TensorInfo> outputs;
  OpCost cost;
};
std::vector<NodeReport> analyse_graph(const Graph& graph);

// Largest number of bytes that intermediate tensors (not inputs, not constants) occupy at once
// when the prepared graph runs in its topological order, with views sharing their source's
// storage: the figure the executor's buffer reuse achieves without fragmentation.
std::size_t estimate_peak_activation_bytes(const Graph& graph);

// Runs a prepared graph. Intermediate tensors live in pooled buffers that are returned to the
// pool after their last reader ran, so peak memory follows the live set rather than the graph.
class Executor {
 public:
  explicit Executor(const Graph& graph);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Inputs bind to graph.inputs in order; returns the graph outputs in order.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);

  // Prefix caching (the tuner's op profiles, tuner/op_profile.h): run() that keeps every value
  // instead of returning buffers to the pool, so later runs can start part-way through the graph.
  // Returns one tensor per graph value (graph.values order); constants are left empty, as the
  // graph holds them.
  std::vector<Tensor> run_keeping_values(const std::vector<Tensor>& inputs);
  // Runs nodes first_node.. (with the kernels installed now) reading every value produced
  // earlier, and the graph inputs, from `values` (as run_keeping_values returns them; only the
  // values the suffix reads need to be set). The tensors in `values` are only read. Returns the
  // graph outputs in order. Throws std::invalid_argument when a value the suffix reads is missing.
  std::vector<Tensor> run_from(std::size_t first_node, std::vector<Tensor> values);

  // Called after each node with its index in graph.nodes and its wall time in seconds.
  using NodeObserver = std::function<void(std::size_t node_index, double seconds)>;
  void set_observer(NodeObserver observer) { observer_ = std::move(observer); }
  // Called after each node with its input tensors (null for omitted ones; constants included) and
  // outputs, e.g. to calibrate activation ranges.
  using TensorObserver = std::function<void(std::size_t node_index, const std::vector<const Tensor*>& inputs,
                                            const std::vector<const Tensor*>& outputs)>;
  void set_tensor_observer(TensorObserver observer) { tensor_observer_ = std::move(observer); }
  // Runs `kernel` (not owned; it must outlive the executor) instead of the registered kernel of
  // node `node_index`: how approximation knobs take effect. The kernel must infer the same shapes.
  void set_kernel(std::size_t node_index, const OpKernel* kernel);

  // Largest number of bytes held by intermediate tensors at once in the last run.
  std::size_t peak_bytes() const;
  // Bytes the pool allocated from the system in all runs (reuse keeps this near the peak).
  std::size_t allocated_bytes() const;

 private:
  class Pool;
  const Graph& graph_;
  // Binds graph inputs into `live` (one slot per value), checking dtype and shape.
  void bind_inputs(const std::vector<Tensor>& inputs, std::vector<Tensor>& live) const;
  // Runs nodes first_node.. over `live`; with keep_values nothing is released after its last use.
  void execute(std::vector<Tensor>& live, std::size_t first_node, bool keep_values);
  std::vector<Tensor> collect_outputs(const std::vector<Tensor>& live) const;

  std::vector<const OpKernel*> kernels_;
  std::vector<int> last_use_;
  std::shared_ptr<Pool> pool_;
  NodeObserver observer_;
  TensorObserver tensor_observer_;
};

}  // namespace coda
