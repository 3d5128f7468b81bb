// LeGR's FLOPs-vs-accuracy curve (Chin et al., CVPR 2020, section 3.3): one learned global
// filter ranking prunes the network to every FLOPs level; each pruned network gets the same
// short fine-tune and its accuracy is measured on held-out data. The pruned models are what
// `coda tune --pruning-curve` then approximates further, so pruning and approximation knobs
// combine on one tradeoff curve.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/approx/pruning.h"
#include "kernels/dataset.h"
#include "kernels/graph.h"
#include "kernels/trainer.h"

namespace coda::tuner {

struct PruningLevel {
  double flops_target = 1.0;   // fraction of the MACs asked to be kept
  int64_t macs = 0, params = 0;
  double accuracy = 0.0;       // top-1 on the evaluation data after the fine-tune, in [0, 1]
  std::string model;           // file the pruned model was written to ("" until saved)
};

struct PruningCurveOptions {
  std::vector<double> targets;               // each in (0, 1]
  PruneRanking ranking = PruneRanking::LeGR;
  std::vector<AffineParams> affine;          // the learned transforms (LeGR)
  TrainOptions finetune;                     // epochs may be 0 (no fine-tune)
  int64_t eval_batch = 256;
};

// Called per level with the pruned, fine-tuned graph (to save it) and its filled-in level.
using PruningLevelSink = std::function<void(const Graph& pruned, PruningLevel& level)>;

// `prepared` is the model prepared for one image (as `coda prune` prepares it). The unpruned
// model (target 1) is always the first level. Throws BadInput for targets outside (0, 1] or not
// reachable.
std::vector<PruningLevel> pruning_curve(const Graph& prepared, const Dataset& train, const Dataset& evaluation,
                                        const PruningCurveOptions& options, const PruningLevelSink& sink);

// {"format": "coda-pruning-curve", "version": 1, "base_model", "ranking", "levels": [...]}, and
// back (BadInput "SOURCE: ..." on malformed files; model paths relative to the file's folder are
// resolved against it).
std::string pruning_curve_to_json(const std::string& base_model, PruneRanking ranking,
                                  const std::vector<PruningLevel>& levels);
std::vector<PruningLevel> load_pruning_curve(const std::string& path, std::string* base_model = nullptr);

}  // namespace coda::tuner
