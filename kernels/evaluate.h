// Quality of a network on a labelled dataset: top-1 accuracy in inference mode.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/dataset.h"
#include "kernels/graph.h"

namespace coda {

struct Evaluation {
  int64_t n = 0;
  int64_t correct = 0;
  double accuracy() const { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0; }
  std::vector<int> predictions;   // argmax of the first output per sample
};

// Runs `graph` (one image input, first output = scores) over the dataset in batches of `batch`,
// binding the batch dimension as needed (the last batch may be smaller). The dataset's C x H x W
// must match the model's input. `progress(done, total)` is called after each batch.
Evaluation evaluate_classifier(const Graph& graph, const Dataset& data, int64_t batch,
                               const std::function<void(int64_t done, int64_t total)>& progress = {});

}  // namespace coda
