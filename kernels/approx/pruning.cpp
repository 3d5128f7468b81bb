#include "kernels/approx/pruning.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <set>
#include <utility>

#include "kernels/error.h"
#include "kernels/executor.h"

namespace coda {

const char* prune_ranking_name(PruneRanking ranking) {
  switch (ranking) {
    case PruneRanking::L1: return "l1";
    case PruneRanking::L2: return "l2";
    case PruneRanking::LeGR: return "legr";
  }
  return "?";
}

PruneRanking parse_prune_ranking(const std::string& text) {
  if (text == "l1") return PruneRanking::L1;
  if (text == "l2") return PruneRanking::L2;
  if (text == "legr") return PruneRanking::LeGR;
  throw BadInput("unknown ranking '" + text + "' (expected l1, l2 or legr)");
}

int ChannelAnalysis::group_of_node(int node) const {
  auto n = static_cast<std::size_t>(node);
  if (n >= out_group.size()) return -1;
  if (out_group[n] >= 0) return out_group[n];
  for (std::size_t g = 0; g < groups.size(); ++g)
    if (std::find(groups[g].depthwise.begin(), groups[g].depthwise.end(), node) != groups[g].depthwise.end())
      return static_cast<int>(g);
  return -1;
}

std::vector<int> ChannelAnalysis::prunable_groups() const {
  std::vector<int> out;
  for (std::size_t g = 0; g < groups.size(); ++g)
    if (groups[g].prunable) out.push_back(static_cast<int>(g));
  return out;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Channel-space analysis

const std::set<std::string>& unary_ops() {
  static const std::set<std::string> ops = {
      "Relu", "LeakyRelu", "PRelu", "Clip", "Sigmoid", "Tanh", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish",
      "Gelu", "Mish", "Softplus", "Softsign", "ThresholdedRelu", "Neg", "Abs", "Sign", "Exp", "Log", "Sqrt",
      "Reciprocal", "Erf", "Floor", "Ceil", "Round", "Identity", "Dropout", "BatchNormalization"};
  return ops;
}

const std::set<std::string>& pool_ops() {
  static const std::set<std::string> ops = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"};
  return ops;
}

const std::set<std::string>& elementwise_ops() {
  static const std::set<std::string> ops = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Mean"};
  return ops;
}

// Channel layout of an activation: dimension 1 holds `channels` channels of `block` consecutive
// elements each (block > 1 after flattening C x H x W).
struct Layout {
  int64_t channels = 0;
  int64_t block = 1;
  bool operator==(const Layout& o) const { return channels == o.channels && block == o.block; }
};

// A weight slice recorded against an activation of its group, resolved to the group afterwards.
struct PendingSlice {
  int value;
  WeightSlice slice;
};

class Analyser {
 public:
  explicit Analyser(const Graph& graph)
      : graph_(graph), parent_(graph.values.size()), layout_(graph.values.size()), blocked_(graph.values.size()),
        uses_(graph.values.size(), 0) {
    std::iota(parent_.begin(), parent_.end(), 0);
    for (const Node& node : graph.nodes)
      for (int in : node.inputs)
        if (in >= 0) ++uses_[static_cast<std::size_t>(in)];
    for (int out : graph.outputs) ++uses_[static_cast<std::size_t>(out)];
  }

  ChannelAnalysis run() {
    for (int in : graph_.inputs) {
      if (!activation(in)) continue;
      set_layout(in, Layout{value(in).shape[1], 1});
      block(in, "its channels come from graph input '" + value(in).name + "'");
    }
    for (std::size_t n = 0; n < graph_.nodes.size(); ++n) visit(static_cast<int>(n));
    for (int out : graph_.outputs)
      if (activation(out)) block(out, "it is graph output '" + value(out).name + "'");
    return finish();
  }

 private:
  const Value& value(int id) const { return graph_.values[static_cast<std::size_t>(id)]; }
  bool activation(int id) const {
    if (id < 0) return false;
    const Value& v = value(id);
    return !v.constant && v.shape_known && v.shape.size() >= 2;
  }
  bool constant(int id) const { return id >= 0 && value(id).constant.has_value(); }

  int find(int v) {
    while (parent_[static_cast<std::size_t>(v)] != v) {
      auto i = static_cast<std::size_t>(v);
      parent_[i] = parent_[static_cast<std::size_t>(parent_[i])];
      v = parent_[i];
    }
    return v;
  }
  void unite(int a, int b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[static_cast<std::size_t>(std::max(a, b))] = std::min(a, b);
  }

  void set_layout(int v, Layout l) { layout_[static_cast<std::size_t>(v)] = l; }
  const Layout& layout(int v) const { return layout_[static_cast<std::size_t>(v)]; }
  void block(int v, const std::string& reason) {
    if (v < 0) return;
    std::string& r = blocked_[static_cast<std::size_t>(v)];
    if (r.empty()) r = reason;
  }

  // The node reads or writes these activations in a way pruning does not follow.
  void block_node(const Node& node, const std::string& why) {
    std::string reason = node.describe() + " " + why;
    for (int in : node.inputs)
      if (activation(in)) block(in, reason);
    for (int out : node.outputs)
      if (activation(out)) {
        if (layout(out).channels == 0) set_layout(out, Layout{value(out).shape[1], 1});
        block(out, reason);
      }
  }

  // Outputs past the first that something reads (Dropout's mask, MaxPool's indices).
  bool extra_outputs_used(const Node& node) const {
    for (std::size_t o = 1; o < node.outputs.size(); ++o)
      if (node.outputs[o] >= 0 && uses_[static_cast<std::size_t>(node.outputs[o])] > 0) return true;
    return false;
  }

  // Joins `out` to `in`'s channels, blocking both when their layouts differ.
  void pass(int n, int in, int out) {
    if (layout(out).channels == 0) set_layout(out, layout(in));
    if (!(layout(in) == layout(out))) {
      std::string reason = graph_.nodes[static_cast<std::size_t>(n)].describe() + " joins different channel layouts";
      block(in, reason);
      block(out, reason);
    }
    unite(in, out);
  }

  // A constant operand of an elementwise node whose output is `out`: broadcast along the channel
  // axis (nothing to do) or holding one entry per channel (sliced along).
  bool constant_operand(int n, int slot, int out) {
    const Shape& s = value(graph_.nodes[static_cast<std::size_t>(n)].inputs[static_cast<std::size_t>(slot)]).shape;
    const auto rank = static_cast<int>(value(out).shape.size());
    const int axis = 1 - (rank - static_cast<int>(s.size()));
    if (axis < 0 || s[static_cast<std::size_t>(axis)] == 1) return true;
    if (s[static_cast<std::size_t>(axis)] != value(out).shape[1]) return false;
    pending_.push_back({out, WeightSlice{n, slot, axis}});
    return true;
  }

  void visit(int n) {
    const Node& node = graph_.nodes[static_cast<std::size_t>(n)];
    const std::string& op = node.op_type;
    const int x = node.inputs.empty() ? -1 : node.inputs[0];
    const int y = node.outputs.empty() ? -1 : node.outputs[0];
    if (op == "Conv") return visit_conv(n, node, x, y);
    if (op == "Gemm" || op == "MatMul") return visit_matrix(n, node, x, y);
    if (!activation(y)) return block_node(node, "produces no channel-carrying activation");
    if (unary_ops().count(op) || pool_ops().count(op)) {
      if (!activation(x) || extra_outputs_used(node)) return block_node(node, "is not followed by pruning");
      if (pool_ops().count(op) && (value(x).shape.size() < 3 || layout(x).block != 1))
        return block_node(node, "pools a flattened layout");
      if (op == "PRelu" && node.opset < 7 && node.inputs.size() > 1 && constant(node.inputs[1]) &&
          element_count(value(node.inputs[1]).shape) > 1)
        return block_node(node, "has an opset-6 per-channel slope");
      for (std::size_t i = 1; i < node.inputs.size(); ++i) {
        int in = node.inputs[i];
        if (in < 0) continue;
        if (!constant(in)) return block_node(node, "has a non-constant parameter");
      }
      pass(n, x, y);
      in_value_[n] = y;
      if (op == "BatchNormalization") {
        for (int slot = 1; slot < 5 && slot < static_cast<int>(node.inputs.size()); ++slot)
          if (node.inputs[static_cast<std::size_t>(slot)] >= 0) pending_.push_back({y, WeightSlice{n, slot, 0}});
      } else {
        for (std::size_t i = 1; i < node.inputs.size(); ++i)
          if (node.inputs[i] >= 0 && !constant_operand(n, static_cast<int>(i), y))
            return block_node(node, "has a parameter that does not split by channel");
      }
      return;
    }
    if (elementwise_ops().count(op)) {
      std::vector<int> acts;
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        int in = node.inputs[i];
        if (in < 0) continue;
        if (constant(in)) continue;
        if (!activation(in) || value(in).shape != value(y).shape)
          return block_node(node, "broadcasts an activation");
        acts.push_back(in);
      }
      if (acts.empty()) return block_node(node, "has no activation operand");
      for (std::size_t i = 0; i < node.inputs.size(); ++i)
        if (node.inputs[i] >= 0 && constant(node.inputs[i]) && !constant_operand(n, static_cast<int>(i), y))
          return block_node(node, "has a constant that does not split by channel");
      for (int a : acts) pass(n, a, y);
      in_value_[n] = y;
      return;
    }
    if (op == "Flatten" || op == "Reshape" || op == "Squeeze") {
      if (!activation(x)) return block_node(node, "is not followed by pruning");
      const Shape& in = value(x).shape;
      const Shape& out = value(y).shape;
      bool flattens = out.size() == 2 && out[0] == in[0] && out[1] == element_count(Shape(in.begin() + 1, in.end()));
      if (op == "Flatten") {
        int64_t axis = node.attrs.get_int("axis", 1);
        if (axis < 0) axis += static_cast<int64_t>(in.size());
        flattens = flattens && axis == 1;
      } else if (op == "Reshape") {
        flattens = flattens && node.inputs.size() > 1 && constant(node.inputs[1]);
      } else {  // Squeeze without axes would also squeeze a channel dimension pruned to 1
        flattens = flattens && (node.attrs.has("axes") || (node.inputs.size() > 1 && node.inputs[1] >= 0));
      }
      if (!flattens) return block_node(node, "changes the layout other than flattening to (N, C*H*W)");
      set_layout(y, Layout{layout(x).channels, out[1] / std::max<int64_t>(1, layout(x).channels)});
      unite(x, y);
      if (op == "Reshape") reshapes_.push_back({y, n});
      in_value_[n] = y;
      return;
    }
    block_node(node, "is not followed by pruning");
  }

  void visit_conv(int n, const Node& node, int x, int y) {
    const int w = node.inputs.size() > 1 ? node.inputs[1] : -1;
    const int b = node.inputs.size() > 2 ? node.inputs[2] : -1;
    if (!activation(x) || !activation(y) || !constant(w) || (b >= 0 && !constant(b)))
      return block_node(node, "has non-constant weights");
    const Shape& ws = value(w).shape;
    const int64_t groups = node.attrs.get_int("group", 1);
    const int64_t c_in = value(x).shape[1];
    if (groups == 1) {
      produce(n, y, ws[0]);
      pending_.push_back({y, WeightSlice{n, 1, 0}});
      if (b >= 0) pending_.push_back({y, WeightSlice{n, 2, 0}});
      consume(n, x, WeightSlice{n, 1, 1});
      return;
    }
    if (groups == c_in && ws[0] == c_in && ws[1] == 1 && layout(x).block == 1) {
      pass(n, x, y);
      in_value_[n] = y;
      depthwise_.push_back({y, n});
      pending_.push_back({y, WeightSlice{n, 1, 0}});
      if (b >= 0) pending_.push_back({y, WeightSlice{n, 2, 0}});
      return;
    }
    block_node(node, "is a grouped convolution");
  }

  void visit_matrix(int n, const Node& node, int a, int y) {
    const int bw = node.inputs.size() > 1 ? node.inputs[1] : -1;
    const int c = node.inputs.size() > 2 ? node.inputs[2] : -1;
    const bool gemm = node.op_type == "Gemm";
    if (!activation(y) || !constant(bw) || (c >= 0 && !constant(c)) || value(bw).shape.size() != 2 ||
        value(y).shape.size() != 2)
      return block_node(node, "has non-constant or non-matrix weights");
    const bool trans_b = gemm && node.attrs.get_int("transB", 0) != 0;
    const bool trans_a = gemm && node.attrs.get_int("transA", 0) != 0;
    const int64_t n_out = value(y).shape[1];
    produce(n, y, n_out);
    pending_.push_back({y, WeightSlice{n, 1, trans_b ? 0 : 1}});
    if (c >= 0) {
      const Shape& cs = value(c).shape;
      if (!cs.empty() && cs.back() != 1)
        pending_.push_back({y, WeightSlice{n, 2, static_cast<int>(cs.size()) - 1}});
    }
    if (activation(a) && !trans_a && value(a).shape.size() == 2) {
      consume(n, a, WeightSlice{n, 1, trans_b ? 1 : 0});
    } else if (activation(a)) {
      block(a, node.describe() + " reads it transposed");
    }
  }

  void produce(int n, int y, int64_t channels) {
    set_layout(y, Layout{channels, 1});
    producers_.push_back({y, n});
    out_value_[n] = y;
  }

  void consume(int n, int x, WeightSlice slice) {
    pending_.push_back({x, slice});
    consumers_.push_back({x, n});
    in_value_[n] = x;
  }

  ChannelAnalysis finish() {
    ChannelAnalysis result;
    const std::size_t nn = graph_.nodes.size();
    std::map<int, int> group_of_root;
    // Groups in the order of their first producer.
    std::vector<std::pair<int, int>> ordered = producers_;
    std::sort(ordered.begin(), ordered.end(), [](const auto& p, const auto& q) { return p.second < q.second; });
    for (const auto& [v, n] : ordered) {
      int root = find(v);
      auto it = group_of_root.find(root);
      if (it == group_of_root.end()) {
        it = group_of_root.emplace(root, static_cast<int>(result.groups.size())).first;
        ChannelGroup g;
        g.name = graph_.nodes[static_cast<std::size_t>(n)].name;
        g.channels = layout(v).channels;
        result.groups.push_back(std::move(g));
      }
      result.groups[static_cast<std::size_t>(it->second)].producers.push_back(n);
    }
    auto group_of = [&](int v) {
      if (v < 0) return -1;
      auto it = group_of_root.find(find(v));
      return it == group_of_root.end() ? -1 : it->second;
    };
    for (std::size_t v = 0; v < graph_.values.size(); ++v) {
      int g = layout_[v].channels > 0 ? group_of(static_cast<int>(v)) : -1;
      if (g < 0) continue;
      ChannelGroup& group = result.groups[static_cast<std::size_t>(g)];
      group.values.push_back(static_cast<int>(v));
      if (!blocked_[v].empty() && group.reason.empty()) group.reason = blocked_[v];
      if (!(layout_[v].channels == group.channels) && group.reason.empty())
        group.reason = "value '" + graph_.values[v].name + "' has a different channel count";
    }
    for (const PendingSlice& p : pending_) {
      int g = group_of(p.value);
      if (g < 0) continue;
      ChannelGroup& group = result.groups[static_cast<std::size_t>(g)];
      const Node& node = graph_.nodes[static_cast<std::size_t>(p.slice.node)];
      const Shape& s = value(node.inputs[static_cast<std::size_t>(p.slice.input)]).shape;
      if (s[static_cast<std::size_t>(p.slice.axis)] % group.channels != 0 && group.reason.empty())
        group.reason = node.describe() + " has a constant input that does not split into " +
                       std::to_string(group.channels) + " channels";
      group.slices.push_back(p.slice);
    }
    for (const auto& [v, n] : depthwise_)
      if (int g = group_of(v); g >= 0) result.groups[static_cast<std::size_t>(g)].depthwise.push_back(n);
    for (const auto& [v, n] : consumers_)
      if (int g = group_of(v); g >= 0) result.groups[static_cast<std::size_t>(g)].consumers.push_back(n);
    for (const auto& [v, n] : reshapes_)
      if (int g = group_of(v); g >= 0) result.groups[static_cast<std::size_t>(g)].reshapes.push_back(n);
    for (ChannelGroup& g : result.groups) {
      if (g.reason.empty() && g.channels < 2) g.reason = "it has a single channel";
      g.prunable = g.reason.empty();
    }
    result.in_group.assign(nn, -1);
    result.out_group.assign(nn, -1);
    for (const auto& [n, v] : in_value_) result.in_group[static_cast<std::size_t>(n)] = group_of(v);
    for (const auto& [n, v] : out_value_) result.out_group[static_cast<std::size_t>(n)] = group_of(v);
    result.macs.assign(nn, 0);
    std::vector<NodeReport> reports = analyse_graph(graph_);
    for (std::size_t n = 0; n < nn; ++n) result.macs[n] = reports[n].cost.macs;
    return result;
  }

  const Graph& graph_;
  std::vector<int> parent_;
  std::vector<Layout> layout_;
  std::vector<std::string> blocked_;
  std::vector<int> uses_;
  std::vector<PendingSlice> pending_;
  std::vector<std::pair<int, int>> producers_, consumers_, depthwise_, reshapes_;  // (value, node)
  std::map<int, int> in_value_, out_value_;                                       // node -> value
};

// ---------------------------------------------------------------------------------------------
// Surgery

// Keeps channels `keep` of `channels` along `axis` (each channel a block of axis size / channels).
Tensor slice_channels(const Tensor& t, int axis, const std::vector<int64_t>& keep, int64_t channels) {
  const Shape& s = t.shape();
  const auto a = static_cast<std::size_t>(axis);
  const int64_t block = s[a] / channels;
  int64_t outer = 1, inner = 1;
  for (std::size_t d = 0; d < a; ++d) outer *= s[d];
  for (std::size_t d = a + 1; d < s.size(); ++d) inner *= s[d];
  Shape out_shape = s;
  out_shape[a] = static_cast<int64_t>(keep.size()) * block;
  if (!t.raw()) return Tensor::metadata_only(out_shape, t.dtype());
  Tensor out(out_shape, t.dtype());
  const std::size_t elem = dtype_size(t.dtype());
  const std::size_t run = static_cast<std::size_t>(block * inner) * elem;
  const auto* src = static_cast<const unsigned char*>(t.raw());
  auto* dst = static_cast<unsigned char*>(out.raw());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c : keep) {
      std::memcpy(dst, src + static_cast<std::size_t>((o * s[a] + c * block) * inner) * elem, run);
      dst += run;
    }
  return out;
}

std::string unique_value_name(const Graph& graph, const std::string& base) {
  if (graph.find_value(base) < 0) return base;
  for (int i = 2;; ++i) {
    std::string name = base + "." + std::to_string(i);
    if (graph.find_value(name) < 0) return name;
  }
}

void check_plan(const ChannelAnalysis& analysis, const PruningPlan& plan) {
  if (plan.keep.size() != analysis.groups.size())
    throw std::invalid_argument("pruning plan: one entry per channel group expected");
  for (std::size_t g = 0; g < plan.keep.size(); ++g) {
    const ChannelGroup& group = analysis.groups[g];
    const auto& keep = plan.keep[g];
    if (keep.empty()) throw std::invalid_argument("pruning plan: group '" + group.name + "' keeps no channel");
    for (std::size_t i = 0; i < keep.size(); ++i)
      if (keep[i] < 0 || keep[i] >= group.channels || (i > 0 && keep[i] <= keep[i - 1]))
        throw std::invalid_argument("pruning plan: group '" + group.name + "' keeps invalid channel indices");
    if (!group.prunable && static_cast<int64_t>(keep.size()) != group.channels)
      throw BadInput("channel group '" + group.name + "' cannot be pruned: " + group.reason);
  }
}

std::vector<int64_t> kept_counts(const PruningPlan& plan) {
  std::vector<int64_t> counts;
  for (const auto& k : plan.keep) counts.push_back(static_cast<int64_t>(k.size()));
  return counts;
}

int64_t node_macs(const ChannelAnalysis& a, const std::vector<int64_t>& counts, std::size_t n) {
  int64_t m = a.macs[n];
  if (m == 0) return 0;
  if (int g = a.in_group[n]; g >= 0) m = m * counts[static_cast<std::size_t>(g)] / a.groups[static_cast<std::size_t>(g)].channels;
  if (int g = a.out_group[n]; g >= 0)
    m = m * counts[static_cast<std::size_t>(g)] / a.groups[static_cast<std::size_t>(g)].channels;
  return m;
}

// Channels of a group kept after removing the `remove` lowest-scored ones (ties: lower index first).
std::vector<int64_t> keep_best(const std::vector<double>& scores, int64_t remove) {
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t p, int64_t q) {
    return scores[static_cast<std::size_t>(p)] < scores[static_cast<std::size_t>(q)];
  });
  std::vector<int64_t> keep(order.begin() + remove, order.end());
  std::sort(keep.begin(), keep.end());
  return keep;
}

int64_t removal_count(double fraction, int64_t channels) {
  auto r = static_cast<int64_t>(std::llround(fraction * static_cast<double>(channels)));
  return std::clamp<int64_t>(r, 0, channels - 1);
}

void check_keep(double keep) {
  if (!(keep > 0.0 && keep <= 1.0))
    throw BadInput("FLOPs target " + std::to_string(keep) + " is outside (0, 1] (the fraction of MACs kept)");
}

}  // namespace

ChannelAnalysis analyse_channels(const Graph& graph) { return Analyser(graph).run(); }

PruningPlan full_plan(const ChannelAnalysis& analysis) {
  PruningPlan plan;
  for (const ChannelGroup& g : analysis.groups) {
    std::vector<int64_t> all(static_cast<std::size_t>(g.channels));
    std::iota(all.begin(), all.end(), 0);
    plan.keep.push_back(std::move(all));
  }
  return plan;
}

std::vector<std::vector<double>> filter_norms(const Graph& graph, const ChannelAnalysis& analysis, FilterNorm norm) {
  std::vector<std::vector<double>> out(analysis.groups.size());
  for (std::size_t g = 0; g < analysis.groups.size(); ++g) {
    const ChannelGroup& group = analysis.groups[g];
    if (!group.prunable) continue;
    std::vector<double>& scores = out[g];
    scores.assign(static_cast<std::size_t>(group.channels), 0.0);
    for (int p : group.producers) {
      const Node& node = graph.nodes[static_cast<std::size_t>(p)];
      const Tensor& w = *graph.values[static_cast<std::size_t>(node.inputs[1])].constant;
      if (w.dtype() != DType::Float32 || !w.raw())
        throw BadInput(node.describe() + ": filter norms need float32 weights with data");
      const float* d = w.f32();
      // Element (f, i) of filter f sits at f * f_stride + i * i_stride.
      int64_t count = 0, f_stride = 0, i_stride = 0;
      if (node.op_type == "Conv" || (node.op_type == "Gemm" && node.attrs.get_int("transB", 0) != 0)) {
        count = w.size() / w.dim(0);
        f_stride = count;
        i_stride = 1;
      } else {  // (K, N): filter f is column f
        count = w.dim(0);
        f_stride = 1;
        i_stride = w.dim(1);
      }
      for (int64_t f = 0; f < group.channels; ++f) {
        double sum = 0.0;
        for (int64_t i = 0; i < count; ++i) {
          const double v = d[f * f_stride + i * i_stride];
          sum += norm == FilterNorm::L1 ? std::fabs(v) : v * v;
        }
        scores[static_cast<std::size_t>(f)] += norm == FilterNorm::L2 ? std::sqrt(sum) : sum;
      }
    }
  }
  return out;
}

int64_t planned_macs(const ChannelAnalysis& analysis, const std::vector<int64_t>& kept) {
  int64_t total = 0;
  for (std::size_t n = 0; n < analysis.macs.size(); ++n) total += node_macs(analysis, kept, n);
  return total;
}

int64_t planned_macs(const ChannelAnalysis& analysis, const PruningPlan& plan) {
  return planned_macs(analysis, kept_counts(plan));
}

PruningPlan plan_fractions(const Graph& graph, const ChannelAnalysis& analysis, const std::vector<double>& fractions,
                           FilterNorm norm) {
  if (fractions.size() != analysis.groups.size())
    throw std::invalid_argument("plan_fractions: one fraction per channel group expected");
  std::vector<std::vector<double>> norms = filter_norms(graph, analysis, norm);
  PruningPlan plan = full_plan(analysis);
  for (std::size_t g = 0; g < fractions.size(); ++g) {
    const ChannelGroup& group = analysis.groups[g];
    if (!(fractions[g] >= 0.0 && fractions[g] <= 1.0))
      throw BadInput("pruning fraction " + std::to_string(fractions[g]) + " of group '" + group.name +
                     "' is outside [0, 1]");
    if (fractions[g] == 0.0) continue;
    if (!group.prunable) throw BadInput("channel group '" + group.name + "' cannot be pruned: " + group.reason);
    plan.keep[g] = keep_best(norms[g], removal_count(fractions[g], group.channels));
  }
  return plan;
}

FlopsPlan plan_to_flops(const Graph& graph, const ChannelAnalysis& analysis, double keep, PruneRanking ranking,
                        const std::vector<AffineParams>& affine) {
  check_keep(keep);
  if (!affine.empty() && affine.size() != analysis.groups.size())
    throw std::invalid_argument("plan_to_flops: one affine transform per channel group expected");
  FlopsPlan result;
  result.plan = full_plan(analysis);
  result.macs_before = planned_macs(analysis, result.plan);
  result.target_macs = static_cast<int64_t>(std::floor(keep * static_cast<double>(result.macs_before) + 1e-6));
  const std::vector<int> prunable = analysis.prunable_groups();
  std::vector<int64_t> counts = kept_counts(result.plan);

  if (ranking != PruneRanking::LeGR) {
    auto counts_at = [&](double f) {
      std::vector<int64_t> c = counts;
      for (int g : prunable) {
        const int64_t channels = analysis.groups[static_cast<std::size_t>(g)].channels;
        c[static_cast<std::size_t>(g)] = channels - removal_count(f, channels);
      }
      return c;
    };
    double f = 0.0;
    if (result.macs_before > result.target_macs) {
      // MACs fall monotonically with the fraction; bisect for the smallest one meeting the target.
      double lo = 0.0, hi = 1.0;
      for (int it = 0; it < 64 && hi - lo > 1e-12; ++it) {
        double mid = 0.5 * (lo + hi);
        (planned_macs(analysis, counts_at(mid)) <= result.target_macs ? hi : lo) = mid;
      }
      f = hi;
    }
    std::vector<double> fractions(analysis.groups.size(), 0.0);
    for (int g : prunable) fractions[static_cast<std::size_t>(g)] = f;
    result.plan = plan_fractions(graph, analysis, fractions, ranking == PruneRanking::L1 ? FilterNorm::L1 : FilterNorm::L2);
    result.fraction = f;
  } else {
    // LeGR: one global ranking of affine-transformed squared norms (Chin et al. 2020, Alg. 1).
    std::vector<std::vector<double>> norms = filter_norms(graph, analysis, FilterNorm::L2Squared);
    struct Candidate {
      double score;
      int group;
      int64_t channel;
    };
    std::vector<Candidate> all;
    for (int g : prunable) {
      const AffineParams p = affine.empty() ? AffineParams{} : affine[static_cast<std::size_t>(g)];
      const auto& n = norms[static_cast<std::size_t>(g)];
      for (std::size_t c = 0; c < n.size(); ++c) all.push_back({p.alpha * n[c] + p.kappa, g, static_cast<int64_t>(c)});
    }
    std::sort(all.begin(), all.end(), [](const Candidate& a, const Candidate& b) {
      if (a.score != b.score) return a.score < b.score;
      if (a.group != b.group) return a.group < b.group;
      return a.channel < b.channel;
    });
    // Nodes whose MACs change with each group, for incremental updates.
    std::vector<std::vector<std::size_t>> nodes_of(analysis.groups.size());
    for (std::size_t n = 0; n < analysis.macs.size(); ++n) {
      if (analysis.macs[n] == 0) continue;
      if (analysis.in_group[n] >= 0) nodes_of[static_cast<std::size_t>(analysis.in_group[n])].push_back(n);
      if (analysis.out_group[n] >= 0 && analysis.out_group[n] != analysis.in_group[n])
        nodes_of[static_cast<std::size_t>(analysis.out_group[n])].push_back(n);
    }
    std::vector<std::vector<bool>> removed(analysis.groups.size());
    for (int g : prunable)
      removed[static_cast<std::size_t>(g)].assign(static_cast<std::size_t>(analysis.groups[static_cast<std::size_t>(g)].channels), false);
    int64_t macs = result.macs_before;
    for (const Candidate& c : all) {
      if (macs <= result.target_macs) break;
      auto g = static_cast<std::size_t>(c.group);
      if (counts[g] <= 1) continue;
      int64_t before = 0, after = 0;
      for (std::size_t n : nodes_of[g]) before += node_macs(analysis, counts, n);
      --counts[g];
      for (std::size_t n : nodes_of[g]) after += node_macs(analysis, counts, n);
      macs += after - before;
      removed[g][static_cast<std::size_t>(c.channel)] = true;
    }
    for (int g : prunable) {
      std::vector<int64_t>& k = result.plan.keep[static_cast<std::size_t>(g)];
      k.clear();
      for (std::size_t c = 0; c < removed[static_cast<std::size_t>(g)].size(); ++c)
        if (!removed[static_cast<std::size_t>(g)][c]) k.push_back(static_cast<int64_t>(c));
    }
  }
  result.macs_after = planned_macs(analysis, result.plan);
  result.met = result.macs_after <= result.target_macs;
  for (std::size_t g = 0; g < analysis.groups.size(); ++g)
    result.removed += analysis.groups[g].channels - static_cast<int64_t>(result.plan.keep[g].size());
  return result;
}

PruneReport apply_pruning_plan(Graph& graph, const ChannelAnalysis& analysis, const PruningPlan& plan) {
  if (analysis.macs.size() != graph.nodes.size())
    throw std::invalid_argument("apply_pruning_plan: the analysis is of another graph");
  check_plan(analysis, plan);
  PruneReport report;
  const std::vector<NodeReport> before = analyse_graph(graph);
  report.params_before = graph.parameter_count();

  Graph work = graph;
  // Every slice of one constant input, applied together (a Conv's weights lose output filters for
  // its own group and input channels for the group it reads).
  struct Cut {
    int axis;
    const std::vector<int64_t>* keep;
    int64_t channels;
  };
  std::map<std::pair<int, int>, std::vector<Cut>> cuts;
  for (std::size_t g = 0; g < analysis.groups.size(); ++g) {
    const ChannelGroup& group = analysis.groups[g];
    const std::vector<int64_t>& keep = plan.keep[g];
    if (static_cast<int64_t>(keep.size()) == group.channels) continue;
    for (const WeightSlice& s : group.slices) cuts[{s.node, s.input}].push_back(Cut{s.axis, &keep, group.channels});
    for (int n : group.depthwise)
      work.nodes[static_cast<std::size_t>(n)].attrs.set("group", static_cast<int64_t>(keep.size()));
    for (int n : group.reshapes) {
      Node& node = work.nodes[static_cast<std::size_t>(n)];
      const bool allow_zero = node.attrs.get_int("allowzero", 0) != 0;
      const int64_t block = work.values[static_cast<std::size_t>(node.outputs[0])].shape[1] / group.channels;
      // (N, C*H*W): 0 copies the batch from the input, so the batch stays free.
      std::vector<int64_t> dims = allow_zero ? std::vector<int64_t>{-1, static_cast<int64_t>(keep.size()) * block}
                                             : std::vector<int64_t>{0, -1};
      std::string name = unique_value_name(work, node.name + ".pruned_shape");
      int id = work.add_constant(name, Tensor::from_int64({2}, dims));
      work.nodes[static_cast<std::size_t>(n)].inputs[1] = id;
    }
  }
  std::vector<int> uses(work.values.size(), 0);
  for (const Node& node : work.nodes)
    for (int in : node.inputs)
      if (in >= 0) ++uses[static_cast<std::size_t>(in)];
  for (int out : work.outputs) ++uses[static_cast<std::size_t>(out)];
  for (auto& [key, list] : cuts) {
    Node& node = work.nodes[static_cast<std::size_t>(key.first)];
    const int id = node.inputs[static_cast<std::size_t>(key.second)];
    Tensor t = *work.values[static_cast<std::size_t>(id)].constant;
    for (const Cut& c : list) t = slice_channels(t, c.axis, *c.keep, c.channels);
    if (uses[static_cast<std::size_t>(id)] == 1) {
      Value& v = work.values[static_cast<std::size_t>(id)];
      v.shape = t.shape();
      v.constant = std::move(t);
    } else {
      std::string name = unique_value_name(work, work.values[static_cast<std::size_t>(id)].name + "." + node.name);
      int copy = work.add_constant(name, std::move(t));
      work.nodes[static_cast<std::size_t>(key.first)].inputs[static_cast<std::size_t>(key.second)] = copy;
    }
  }
  prepare_graph(work);
  if (work.nodes.size() != graph.nodes.size()) throw std::logic_error("pruning changed the node list");

  const std::vector<NodeReport> after = analyse_graph(work);
  report.params_after = work.parameter_count();
  for (std::size_t n = 0; n < before.size(); ++n) {
    report.macs_before += before[n].cost.macs;
    report.macs_after += after[n].cost.macs;
  }
  for (std::size_t g = 0; g < analysis.groups.size(); ++g) {
    const ChannelGroup& group = analysis.groups[g];
    GroupReport row;
    row.name = group.name;
    row.channels_before = group.channels;
    row.channels_after = static_cast<int64_t>(plan.keep[g].size());
    row.prunable = group.prunable;
    row.reason = group.reason;
    std::vector<int> nodes = group.producers;
    nodes.insert(nodes.end(), group.depthwise.begin(), group.depthwise.end());
    for (int p : group.producers) row.producers.push_back(graph.nodes[static_cast<std::size_t>(p)].name);
    for (int n : nodes) {
      row.macs_before += before[static_cast<std::size_t>(n)].cost.macs;
      row.macs_after += after[static_cast<std::size_t>(n)].cost.macs;
      row.params_before += before[static_cast<std::size_t>(n)].cost.params;
      row.params_after += after[static_cast<std::size_t>(n)].cost.params;
    }
    report.groups.push_back(std::move(row));
  }
  graph = std::move(work);
  return report;
}

PruneReport prune_to_flops(Graph& graph, double keep, PruneRanking ranking, const std::vector<AffineParams>& affine,
                           FlopsPlan* plan_out) {
  check_keep(keep);
  ChannelAnalysis analysis = analyse_channels(graph);
  FlopsPlan plan = plan_to_flops(graph, analysis, keep, ranking, affine);
  PruneReport report = apply_pruning_plan(graph, analysis, plan.plan);
  if (plan_out) *plan_out = std::move(plan);
  return report;
}

PruneReport apply_pruning_choices(Graph& graph, const std::vector<OpChoice>& choices, const KnobCatalog& catalog,
                                  bool strict) {
  if (choices.size() != graph.nodes.size())
    throw std::invalid_argument("apply_pruning_choices: one choice per node expected");
  ChannelAnalysis analysis = analyse_channels(graph);
  std::vector<double> fractions(analysis.groups.size(), 0.0);
  std::vector<std::string> skipped;
  for (std::size_t n = 0; n < choices.size(); ++n) {
    const Knob& knob = catalog.require(choices[n].knob);
    if (knob.family != KnobFamily::Pruning) continue;
    const Node& node = graph.nodes[n];
    const int g = analysis.group_of_node(static_cast<int>(n));
    std::string why;
    if (g < 0) {
      why = "this op produces no filters that pruning follows";
    } else if (!analysis.groups[static_cast<std::size_t>(g)].prunable) {
      why = "its filters cannot be pruned: " + analysis.groups[static_cast<std::size_t>(g)].reason;
    }
    if (!why.empty()) {
      std::string message = node.describe() + ": knob " + std::to_string(knob.id) + " (" + knob.name + "): " + why;
      if (strict) throw BadInput(message);
      skipped.push_back(std::move(message));
      continue;
    }
    fractions[static_cast<std::size_t>(g)] = std::max(fractions[static_cast<std::size_t>(g)], knob.fraction);
  }
  PruningPlan plan = plan_fractions(graph, analysis, fractions, FilterNorm::L1);
  PruneReport report = apply_pruning_plan(graph, analysis, plan);
  report.skipped = std::move(skipped);
  return report;
}

Graph clone_graph(const Graph& graph) {
  Graph copy = graph;
  for (Value& v : copy.values)
    if (v.constant && v.constant->raw()) v.constant = v.constant->clone();
  return copy;
}

namespace {

// The pruning knobs (91-97) reach a graph through ApproxSession::apply_pruning.
struct PruningTransformRegistrar {
  PruningTransformRegistrar() {
    register_graph_transform(KnobFamily::Pruning, [](Graph& graph, const std::vector<OpChoice>& choices,
                                                     const std::vector<bool>& listed, const KnobCatalog& catalog) {
      // A knob asked for by name must take effect; the caller discards the graph on the error.
      std::vector<std::string> required;
      for (std::size_t n = 0; n < graph.nodes.size(); ++n)
        if (listed[n]) required.push_back(graph.nodes[n].describe() + ":");
      PruneReport report = apply_pruning_choices(graph, choices, catalog);
      for (const std::string& message : report.skipped)
        for (const std::string& prefix : required)
          if (message.compare(0, prefix.size(), prefix) == 0) throw BadInput(message);
    });
  }
};
const PruningTransformRegistrar pruning_transform_registrar;

}  // namespace

}  // namespace coda
