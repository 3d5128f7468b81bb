// Mini-batch SGD training of a graph whose first output is the logits (N x classes), with softmax
// cross-entropy. Parameters are the float constants that feed differentiable inputs of ops with a
// backward pass (kernels/autograd.h); they are updated in place, so the graph can be exported or
// evaluated at any time. Reproducible bit for bit for a given seed and thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dataset.h"
#include "kernels/graph.h"

namespace coda {

struct TrainOptions {
  int epochs = 10;
  int64_t batch = 128;
  float learning_rate = 0.05f;
  float momentum = 0.9f;
  // L2 penalty on convolution and fully-connected weights (rank >= 2), not on biases or batch-norm
  // scales, as in the ResNet recipe (He et al. 2016, Sec. 4.2).
  float weight_decay = 5e-4f;
  // "cosine" (annealing to 0 over all steps, Loshchilov & Hutter 2017), "constant", or
  // "step:E1,E2,...:GAMMA" (multiply by GAMMA at each listed epoch).
  std::string schedule = "cosine";
  int warmup_epochs = 0;        // linear warm-up from lr/10
  int64_t crop_padding = 0;     // random crop after zero-padding by this many pixels (0: off)
  bool horizontal_flip = false;
  std::uint64_t seed = 1;
};

struct EpochStats {
  int epoch = 0;
  double loss = 0;            // mean training loss
  double accuracy = 0;        // training top-1 (on augmented batches, in training mode)
  double learning_rate = 0;   // at the end of the epoch
  double seconds = 0;
};

// Called after every batch: batches done, batches in the epoch, running mean loss and accuracy.
using TrainProgress = std::function<void(int64_t done, int64_t total, double loss, double accuracy)>;

// Maps a parameter's full-precision "shadow" value to the value the forward pass uses (e.g.
// power-of-two rounding for shift-add networks); gradients pass straight through to the shadow.
using WeightTransform = std::function<void(const std::string& name, const Tensor& shadow, Tensor& effective)>;

class Trainer {
 public:
  // `graph` must have one graph input (N x C x H x W) and its first output the logits.
  Trainer(Graph& graph, TrainOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  EpochStats train_epoch(const Dataset& data, int epoch, const TrainProgress& progress = {});
  // Top-1 accuracy in inference mode (batch norm with running statistics).
  double evaluate(const Dataset& data, int64_t batch = 256);
  void set_weight_transform(WeightTransform transform);
  // Names of the trained parameters.
  std::vector<std::string> parameter_names() const;
  double learning_rate_at(int epoch, int64_t step, int64_t steps_per_epoch) const;

 private:
  struct State;
  Graph& graph_;
  TrainOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace coda
