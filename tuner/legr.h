// LeGR (Chin, Ding, Zhang, Marculescu, "Towards Efficient Model Compression via Learned Global
// Ranking", CVPR 2020; REFERENCE.md section 8): filters of all layers are ranked together by
// alpha_l * ||W_f||_2^2 + kappa_l, and the per-layer affine transform (alpha_l, kappa_l) is learned
// by regularized (aging) evolution: each candidate prunes the network to the FLOPs target with its
// transform, is fine-tuned for a few steps and scored by its validation loss. Here a "layer" is a
// channel group of kernels/approx/pruning.h (filters tied by residual connections share one
// transform). Seeded and reproducible for a given thread count (the trainer is).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/approx/pruning.h"
#include "kernels/dataset.h"
#include "kernels/graph.h"

namespace coda {

struct LegrOptions {
  double flops_target = 0.5;     // fraction of the network's MACs kept, in (0, 1]
  // The paper's search uses population 64, tournament 16, 400 candidates; the defaults here are
  // sized for a CPU with two cores (seconds on LeNet-5, minutes on ResNet-20 on Fashion-MNIST).
  int population = 16;
  int tournament = 4;            // candidates sampled (without replacement) per mutation
  int generations = 48;          // candidates evaluated in all, the initial population included
  double mutate_fraction = 0.1;  // share of the layers a child mutates (at least one), as in LeGR
  double scale_sigma = 1.0;      // alpha mutates by exp(N(0, scale_sigma * step)) (LeGR's SCALE_SIGMA)
  int finetune_steps = 20;       // SGD mini-batches per candidate (LeGR's tau-hat fine-tune)
  int64_t batch = 64;
  float learning_rate = 0.01f;
  float momentum = 0.9f;
  float weight_decay = 5e-4f;
  int64_t validation_batch = 256;
  std::uint64_t seed = 1;
};

struct LegrResult {
  std::vector<AffineParams> affine;      // the best candidate, one entry per analysis group
  double best_loss = 0.0;                // its validation loss after the short fine-tune
  double identity_loss = 0.0;            // alpha = 1, kappa = 0 (plain squared-L2 global ranking)
  int64_t macs_before = 0, macs_after = 0;  // the best candidate's pruned network
  std::vector<double> losses;            // every candidate's loss, in evaluation order
  int fine_tunes = 0;                    // distinct pruned networks fine-tuned (repeats are cached)
};

// Called after each candidate: candidates done, total, its loss, the best loss so far.
using LegrProgress = std::function<void(int done, int total, double loss, double best)>;

// Mean softmax cross-entropy of the graph's first output on `data`, in inference mode.
double validation_loss(const Graph& graph, const Dataset& data, int64_t batch);

// Runs the search on a prepared graph (left unchanged). `train` feeds the short fine-tunes (a
// fixed, seeded sample of finetune_steps * batch images, the same for every candidate), and
// `validation` the fitness; both already preprocessed for the model. Throws BadInput on options
// out of range or a graph without prunable channel groups.
LegrResult legr_search(const Graph& graph, const Dataset& train, const Dataset& validation, const LegrOptions& options,
                       const LegrProgress& progress = {});

// The learned transforms as JSON: {"format": "coda-legr", "version": 1, "flops_target": ...,
// "groups": [{"name", "channels", "producers", "alpha", "kappa"}, ...] (prunable groups), and
// "search": the options and losses}. `result` may be null to write transforms alone.
std::string legr_to_json(const Graph& graph, const ChannelAnalysis& analysis, const std::vector<AffineParams>& affine,
                         const LegrOptions& options, const LegrResult* result);

// Reads the "groups" of such a file for a model: one entry per prunable group, by name. Throws
// BadInput "SOURCE: ..." on malformed JSON, a group the model lacks or cannot prune, a missing
// group, a channel count that differs, or alpha not positive and finite.
std::vector<AffineParams> parse_legr_json(const std::string& text, const std::string& source,
                                          const ChannelAnalysis& analysis);
std::vector<AffineParams> load_legr_json(const std::string& path, const ChannelAnalysis& analysis);

}  // namespace coda
