#include "kernels/evaluate.h"

#include <map>
#include <memory>

#include "kernels/error.h"
#include "kernels/executor.h"

namespace coda {
namespace {

// A prepared copy of the graph and its executor for one batch size. Constants share storage with
// the source graph, so a trainer's in-place weight updates are seen.
struct BoundGraph {
  Graph graph;
  std::unique_ptr<Executor> executor;
};

}  // namespace

Evaluation evaluate_classifier(const Graph& graph, const Dataset& data, int64_t batch,
                               const std::function<void(int64_t done, int64_t total)>& progress) {
  if (graph.inputs.size() != 1)
    throw BadInput("evaluation needs a model with one input, this one has " + std::to_string(graph.inputs.size()));
  if (batch <= 0) throw BadInput("batch size must be positive");
  const Value& in = graph.values[static_cast<std::size_t>(graph.inputs.front())];
  const Shape& images = data.images.shape();
  if (in.shape.size() != 4 || images.size() != 4)
    throw BadInput("model input '" + in.name + "' is " + shape_string(in.shape) + ", expected N x C x H x W images");
  for (std::size_t d = 1; d < 4; ++d)
    if (in.shape[d] >= 0 && in.shape[d] != images[d])
      throw BadInput("model expects " + shape_string({in.shape[1], in.shape[2], in.shape[3]}) + " images, " +
                     data.name + " has " + shape_string({images[1], images[2], images[3]}));
  // A model exported with a fixed batch runs at that batch size.
  if (in.shape[0] > 0) batch = in.shape[0];

  std::map<int64_t, BoundGraph> bound;
  Evaluation result;
  result.n = data.size();
  result.predictions.resize(static_cast<std::size_t>(data.size()));
  const int64_t batches = (data.size() + batch - 1) / batch;
  for (int64_t b = 0; b < batches; ++b) {
    const int64_t begin = b * batch, end = std::min(data.size(), begin + batch);
    int64_t n = end - begin;
    Tensor x = data.batch(begin, end);
    if (in.shape[0] > 0 && n != in.shape[0]) {
      // Fixed-batch model: pad the last batch with zeros and ignore the extra rows.
      Tensor padded = Tensor::zeros({in.shape[0], images[1], images[2], images[3]});
      std::copy(x.f32(), x.f32() + x.size(), padded.f32());
      x = padded;
    }
    const int64_t run_batch = x.dim(0);
    auto it = bound.find(run_batch);
    if (it == bound.end()) {
      BoundGraph g{graph, nullptr};
      bind_input_shapes(g.graph, {x.shape()});
      prepare_graph(g.graph);
      it = bound.emplace(run_batch, std::move(g)).first;
      // The executor refers to the graph, so it is made once the graph sits at its final address.
      it->second.executor = std::make_unique<Executor>(it->second.graph);
    }
    std::vector<Tensor> out = it->second.executor->run({x});
    const Tensor& scores = out.front();
    if (scores.rank() < 1 || scores.dim(0) != run_batch)
      throw BadInput("the model's first output " + shape_string(scores.shape()) + " is not one score row per image");
    const int64_t classes = scores.size() / run_batch;
    const float* s = scores.f32();
    for (int64_t i = 0; i < n; ++i) {
      const float* row = s + i * classes;
      int best = 0;
      for (int64_t k = 1; k < classes; ++k)
        if (row[k] > row[best]) best = static_cast<int>(k);
      result.predictions[static_cast<std::size_t>(begin + i)] = best;
      if (best == data.labels[static_cast<std::size_t>(begin + i)]) ++result.correct;
    }
    if (progress) progress(b + 1, batches);
  }
  return result;
}

}  // namespace coda
