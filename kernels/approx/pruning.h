// Structured filter pruning of a prepared graph: whole output filters (channels) of Conv, Gemm and
// MatMul layers are removed, and the graph really shrinks: every weight, batch-norm parameter and
// activation that carries a removed channel loses it. Rankings: the L1 or L2 norm of each filter
// (Li et al., ICLR 2017) and LeGR's learned per-layer affine transform of the squared L2 norm
// (Chin et al., CVPR 2020); REFERENCE.md section 8.
//
// Channel groups. Channels are followed through the graph as "channel spaces": dimension 1 of an
// activation (NCHW, or N x features for Gemm/MatMul activations), which may be a flattened
// C x (H*W) block layout after Flatten. Spaces that must keep the same channels are joined with a
// union-find; a group is one joined space. What is supported, exactly:
//   producers     Conv with group == 1 and constant weights (and bias); Gemm with constant B (and C),
//                 either transB; MatMul of a 2-D activation by a constant 2-D matrix. Their output
//                 filters are the group's channels (Conv W dim 0, Gemm B dim 0 or 1 by transB,
//                 MatMul B dim 1, bias entries).
//   pass-through  the output keeps the input's channels (same group), constant per-channel
//                 operands are sliced along:
//                 BatchNormalization (scale, B, mean, var); elementwise unary ops (Relu, LeakyRelu,
//                 PRelu, Clip, Sigmoid, Tanh, Elu, Selu, Celu, HardSigmoid, HardSwish, Gelu, Mish,
//                 Softplus, Softsign, ThresholdedRelu, Neg, Abs, Sign, Exp, Log, Sqrt, Reciprocal,
//                 Erf, Floor, Ceil, Round), Identity, Dropout (mask output unused); MaxPool
//                 (indices unused), AveragePool, GlobalAveragePool, GlobalMaxPool;
//                 depthwise Conv (group == C_in == C_out, multiplier 1: its filters and bias are
//                 pruned along and its group attribute follows);
//                 Add, Sub, Mul, Div, Max, Min, Sum, Mean whose activation operands all have the
//                 output's shape (residual connections: their channels are tied into one group) and
//                 whose constant operands broadcast (a channel axis of size C is sliced);
//                 Flatten (axis 1), Reshape (constant shape) and Squeeze (explicit axes) to
//                 (N, C*H*W): the group continues in blocks of H*W features, which the consuming
//                 Gemm/MatMul loses as whole blocks (a Reshape's shape constant is rewritten).
//   consumers     Conv with group == 1 (W dim 1), Gemm with transA == 0 (B dim 0 or 1 by transB),
//                 MatMul (B dim 0), weights constant: they lose the input weights of removed channels.
// Anything else that reads or writes a group's activations (Concat, Reshape to another layout,
// Transpose, Softmax, LRN, grouped Conv, non-constant weights, a graph input or output, ...) makes
// the group unprunable; the group then keeps its channels and the reason is recorded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/graph.h"

namespace coda {

// Which filters go first: smallest L1 norm, smallest L2 norm (Li et al. 2017), or smallest
// LeGR score alpha_l * ||W_f||_2^2 + kappa_l compared across all layers (Chin et al. 2020).
enum class PruneRanking { L1, L2, LeGR };
const char* prune_ranking_name(PruneRanking ranking);
// "l1", "l2", "legr"; throws BadInput "unknown ranking 'x' (expected l1, l2 or legr)".
PruneRanking parse_prune_ranking(const std::string& text);

enum class FilterNorm { L1, L2, L2Squared };

// One constant input whose `axis` holds a group's channels (in blocks of axis size / channels).
struct WeightSlice {
  int node = -1;   // index in graph.nodes
  int input = -1;  // input slot of that node
  int axis = 0;
};

struct ChannelGroup {
  std::string name;               // the first producer's node name
  int64_t channels = 0;
  std::vector<int> producers;     // Conv/Gemm/MatMul nodes whose output filters are the channels
  std::vector<int> depthwise;     // depthwise Conv nodes carried along (group attribute follows)
  std::vector<int> consumers;     // nodes losing input weights (Conv, Gemm, MatMul)
  std::vector<int> reshapes;      // Reshape nodes whose shape constant is rewritten
  std::vector<WeightSlice> slices;
  std::vector<int> values;        // activations carrying the channels
  bool prunable = false;
  std::string reason;             // why not, when not prunable
};

struct ChannelAnalysis {
  // Every group with at least one producer, in the order of its first producer in graph.nodes.
  std::vector<ChannelGroup> groups;
  // Per node: the group its channel-carrying input belongs to (consumers, pass-through) and the
  // group of its output filters (producers), -1 when none. Depthwise and other pass-through nodes
  // have only in_group.
  std::vector<int> in_group, out_group;
  // Per node: multiply-accumulates of the unpruned graph (analyse_graph).
  std::vector<int64_t> macs;

  // The group whose filters node `node` produces or (depthwise) carries, -1 if none.
  int group_of_node(int node) const;
  std::vector<int> prunable_groups() const;
};

// Union-find analysis of a prepared graph (kernels/executor.h prepare_graph).
ChannelAnalysis analyse_channels(const Graph& graph);

// Kept channels per group (indices ascending), one entry per analysis group.
struct PruningPlan {
  std::vector<std::vector<int64_t>> keep;
};
// Keeps every channel.
PruningPlan full_plan(const ChannelAnalysis& analysis);

// Per group, per channel: the norm of the filter, summed over the group's producers (channels tied
// by a residual connection share one summed score). Empty for unprunable groups.
std::vector<std::vector<double>> filter_norms(const Graph& graph, const ChannelAnalysis& analysis, FilterNorm norm);

// Exact multiply-accumulates of the graph after `plan` (what analyse_graph reports once the plan
// is applied): Conv, Gemm and MatMul scale with their kept input and output channels.
int64_t planned_macs(const ChannelAnalysis& analysis, const PruningPlan& plan);
int64_t planned_macs(const ChannelAnalysis& analysis, const std::vector<int64_t>& kept_counts);

// Removes round(fraction * C) filters of each group (smallest norm first, ties by index), always
// keeping at least one. `fractions` (in [0, 1]) has one entry per group; unprunable groups must
// have 0.
PruningPlan plan_fractions(const Graph& graph, const ChannelAnalysis& analysis, const std::vector<double>& fractions,
                           FilterNorm norm);

// LeGR's per-layer (group) affine transform of the squared L2 filter norm.
struct AffineParams {
  double alpha = 1.0;
  double kappa = 0.0;
};

struct FlopsPlan {
  PruningPlan plan;
  int64_t macs_before = 0;
  int64_t macs_after = 0;
  int64_t target_macs = 0;   // floor(keep * macs_before)
  bool met = false;          // macs_after <= target_macs
  double fraction = 0.0;     // L1/L2: the uniform share of filters removed from every group
  int64_t removed = 0;       // filters removed in all
};

// Plans pruning until at most `keep` (in (0, 1]) of the graph's MACs remain. L1/L2: the same
// fraction of every prunable group, the smallest that meets the target, found by bisection (Li et
// al. 2017's uniform pruning); LeGR: all filters of all groups ranked by alpha_g * ||W_f||^2 +
// kappa_g and removed from the lowest score up until the target is met (`affine` has one entry per
// group; empty means alpha = 1, kappa = 0). When even one channel per group misses the target,
// the plan keeps one channel per group and `met` is false.
FlopsPlan plan_to_flops(const Graph& graph, const ChannelAnalysis& analysis, double keep, PruneRanking ranking,
                        const std::vector<AffineParams>& affine = {});

struct GroupReport {
  std::string name;
  std::vector<std::string> producers;
  int64_t channels_before = 0, channels_after = 0;
  // Of the group's producer and depthwise nodes (a producer also shrinks with its input group).
  int64_t macs_before = 0, macs_after = 0;
  int64_t params_before = 0, params_after = 0;
  bool prunable = false;
  std::string reason;
};

struct PruneReport {
  std::vector<GroupReport> groups;
  // apply_pruning_choices: "node 'x' (Conv): reason" for each pruning knob left unapplied.
  std::vector<std::string> skipped;
  // Whole graph (analyse_graph, Graph::parameter_count).
  int64_t macs_before = 0, macs_after = 0;
  int64_t params_before = 0, params_after = 0;
};

// Graph surgery: slices every weight, bias, batch-norm parameter and per-channel constant along
// the plan, rewrites depthwise group attributes and flatten shape constants, and runs shape
// inference again (prepare_graph), so every tensor shrinks. Node names and order are unchanged,
// so per-node configurations stay index-aligned. Sliced constants are new tensors (constants
// shared with other graphs are never written); a constant read by several nodes is copied for
// each. `analysis` must come from this graph. The graph is unchanged if it throws.
PruneReport apply_pruning_plan(Graph& graph, const ChannelAnalysis& analysis, const PruningPlan& plan);

// analyse_channels + plan_to_flops + apply_pruning_plan. Throws BadInput when keep is outside
// (0, 1]. `plan_out`, when given, receives the plan.
PruneReport prune_to_flops(Graph& graph, double keep, PruneRanking ranking, const std::vector<AffineParams>& affine = {},
                           FlopsPlan* plan_out = nullptr);

// The per-op pruning knobs (family pruning, 91-97): a group loses the largest fraction asked of
// any of its producer or depthwise nodes, smallest L1 norm first (knobs.yaml; Li et al. 2017).
// `choices` is index-aligned with graph.nodes (resolve_config). A knob on a node whose filters
// cannot be pruned (a classifier whose output is the graph output, a Concat input, ...) leaves it
// exact and is listed in PruneReport::skipped, as a configuration's "all" assigns knobs wherever
// they apply; with `strict` it throws BadInput naming the node and the reason instead. This is the
// graph transform ApproxSession::apply_pruning runs (not strict).
PruneReport apply_pruning_choices(Graph& graph, const std::vector<OpChoice>& choices, const KnobCatalog& catalog,
                                  bool strict = false);

// A graph sharing nothing with `graph`: every constant is a deep copy (the trainer updates
// weights in place, so fine-tuning a copy leaves the original intact).
Graph clone_graph(const Graph& graph);

}  // namespace coda
