// Structured filter pruning (kernels/approx/pruning.h). The key property: a pruned network computes
// exactly what the unpruned one computes once the removed channels' outgoing weights in their
// consumers are zeroed. That reference is built here with plain loops from the test's own
// knowledge of each topology (which weights consume which channels), never from the analysis.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/approx/approx_session.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/pruning.h"
#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/trainer.h"
#include "kernels/zoo.h"
#include "tests/support/bad_input.h"
#include "tests/support/graph_runner.h"
#include "tests/support/quadrant_data.h"

namespace coda {
namespace {

// A graph written node by node, with seeded random weights and batch-norm statistics.
struct Net {
  Graph g;
  std::mt19937_64 rng;
  explicit Net(std::uint64_t seed) : rng(seed) {}

  int input(const std::string& name, const Shape& shape) {
    int id = g.value_id(name);
    Value& v = g.values[static_cast<std::size_t>(id)];
    v.shape = shape;
    v.shape_known = true;
    g.inputs.push_back(id);
    return id;
  }
  int constant(const std::string& name, const Shape& shape, float stddev, float mean = 0.0f) {
    std::normal_distribution<float> dist(mean, stddev);
    Tensor t(shape);
    for (int64_t i = 0; i < t.size(); ++i) t.f32()[i] = dist(rng);
    return g.add_constant(name, std::move(t));
  }
  int node(const std::string& op, const std::string& name, const std::vector<int>& inputs, Attributes attrs = {}) {
    int y = g.value_id(name + ".out");
    Node& n = g.add_node(op, name, inputs, {y});
    n.attrs = std::move(attrs);
    return y;
  }
  int conv(int x, int64_t cin, int64_t cout, int64_t k, const std::string& name, int64_t pad = 0, int64_t stride = 1,
           int64_t group = 1, bool bias = true) {
    std::vector<int> in{x, constant(name + ".w", {cout, cin / group, k, k}, std::sqrt(2.0f / static_cast<float>(cin / group * k * k)))};
    if (bias) in.push_back(constant(name + ".b", {cout}, 0.1f));
    Attributes a;
    a.set("pads", std::vector<int64_t>{pad, pad, pad, pad});
    a.set("strides", std::vector<int64_t>{stride, stride});
    a.set("group", group);
    return node("Conv", name, in, a);
  }
  int bn(int x, int64_t c, const std::string& name) {
    std::vector<int> in{x, constant(name + ".scale", {c}, 0.3f, 1.0f), constant(name + ".bias", {c}, 0.2f),
                        constant(name + ".mean", {c}, 0.2f)};
    std::uniform_real_distribution<float> var(0.5f, 1.5f);
    Tensor v({c});
    for (int64_t i = 0; i < c; ++i) v.f32()[i] = var(rng);
    in.push_back(g.add_constant(name + ".var", v));
    return node("BatchNormalization", name, in);
  }
  int relu(int x, const std::string& name) { return node("Relu", name, {x}); }
  int gemm(int x, int64_t in, int64_t out, const std::string& name, bool trans_b) {
    Shape ws = trans_b ? Shape{out, in} : Shape{in, out};
    Attributes a;
    a.set("transB", int64_t{trans_b ? 1 : 0});
    return node("Gemm", name, {x, constant(name + ".w", ws, std::sqrt(2.0f / static_cast<float>(in))), constant(name + ".b", {out}, 0.1f)}, a);
  }
  void output(int v) { g.outputs.push_back(v); }
  Graph prepared() {
    Graph copy = g;
    prepare_graph(copy);
    return copy;
  }
};

// Where a group's channels are read: weight value, axis, block (elements per channel on that axis).
struct ConsumerWeight {
  std::string weight;
  int axis;
  int64_t block;
};
using ConsumerMap = std::map<std::string, std::vector<ConsumerWeight>>;  // group name -> weights

// ResNet-style: a stem, an identity block and a projection block (stride 2) with batch norm,
// then global pooling and a classifier.
Graph resnet_style(std::uint64_t seed, ConsumerMap* consumers = nullptr) {
  Net n(seed);
  int x = n.input("x", {2, 3, 8, 8});
  int a = n.relu(n.bn(n.conv(x, 3, 8, 3, "conv1", 1), 8, "bn1"), "relu1");
  int y = n.relu(n.bn(n.conv(a, 8, 6, 3, "b1.conv1", 1, 1, 1, false), 6, "b1.bn1"), "b1.relu1");
  y = n.bn(n.conv(y, 6, 8, 3, "b1.conv2", 1, 1, 1, false), 8, "b1.bn2");
  int r1 = n.relu(n.node("Add", "b1.add", {y, a}), "b1.relu");
  int z = n.relu(n.bn(n.conv(r1, 8, 10, 3, "b2.conv1", 1, 2, 1, false), 10, "b2.bn1"), "b2.relu1");
  z = n.bn(n.conv(z, 10, 12, 3, "b2.conv2", 1, 1, 1, false), 12, "b2.bn2");
  int s = n.bn(n.conv(r1, 8, 12, 1, "b2.down", 0, 2, 1, false), 12, "b2.bnd");
  int r2 = n.relu(n.node("Add", "b2.add", {z, s}), "b2.relu");
  int p = n.node("GlobalAveragePool", "pool", {r2});
  Attributes fa;
  fa.set("axis", int64_t{1});
  int f = n.node("Flatten", "flatten", {p}, fa);
  n.output(n.gemm(f, 12, 5, "fc", true));
  if (consumers)
    *consumers = {{"conv1", {{"b1.conv1.w", 1, 1}, {"b2.conv1.w", 1, 1}, {"b2.down.w", 1, 1}}},
                  {"b1.conv1", {{"b1.conv2.w", 1, 1}}},
                  {"b2.conv1", {{"b2.conv2.w", 1, 1}}},
                  {"b2.conv2", {{"fc.w", 1, 1}}}};
  return n.prepared();
}

// LeNet-style chain: conv, pool, conv, then flattening into a fully-connected layer, either as
// Flatten -> Gemm (weights K x N) or Reshape -> MatMul -> Add(bias).
Graph chain_net(std::uint64_t seed, bool reshape_matmul, ConsumerMap* consumers = nullptr) {
  Net n(seed);
  int x = n.input("x", {2, 1, 12, 12});
  int y = n.relu(n.conv(x, 1, 4, 3, "conv1"), "relu1");
  Attributes pa;
  pa.set("kernel_shape", std::vector<int64_t>{2, 2});
  pa.set("strides", std::vector<int64_t>{2, 2});
  y = n.node("MaxPool", "pool1", {y}, pa);
  y = n.relu(n.conv(y, 4, 6, 2, "conv2"), "relu2");  // 6 x 4 x 4
  int h = 0;
  if (!reshape_matmul) {
    Attributes fa;
    fa.set("axis", int64_t{1});
    int f = n.node("Flatten", "flatten", {y}, fa);
    h = n.gemm(f, 96, 7, "fc1", false);
  } else {
    int shape = n.g.add_constant("flat_shape", Tensor::from_int64({2}, {-1, 96}));
    int f = n.node("Reshape", "flatten", {y, shape});
    int m = n.node("MatMul", "fc1", {f, n.constant("fc1.w", {96, 7}, 0.15f)});
    h = n.node("Add", "fc1.bias", {m, n.constant("fc1.b", {7}, 0.1f)});
  }
  h = n.relu(h, "relu3");
  n.output(n.gemm(h, 7, 3, "fc2", true));
  if (consumers)
    *consumers = {{"conv1", {{"conv2.w", 1, 1}}}, {"conv2", {{"fc1.w", 0, 16}}}, {"fc1", {{"fc2.w", 1, 1}}}};
  return n.prepared();
}

// Mobile-style: pointwise conv, batch norm, per-channel PRelu, depthwise conv, per-channel scale
// (Mul by a constant), pointwise conv, global pooling, classifier.
Graph mobile_net(std::uint64_t seed, ConsumerMap* consumers = nullptr) {
  Net n(seed);
  int x = n.input("x", {2, 3, 6, 6});
  int y = n.bn(n.conv(x, 3, 8, 1, "pw1"), 8, "bn1");
  y = n.node("PRelu", "prelu", {y, n.constant("prelu.slope", {8, 1, 1}, 0.2f)});
  y = n.conv(y, 8, 8, 3, "dw", 1, 1, 8, true);
  y = n.node("Mul", "scale", {y, n.constant("scale.c", {1, 8, 1, 1}, 0.5f, 1.0f)});
  y = n.relu(n.conv(y, 8, 5, 1, "pw2"), "relu2");
  int p = n.node("GlobalAveragePool", "pool", {y});
  Attributes fa;
  fa.set("axis", int64_t{1});
  n.output(n.gemm(n.node("Flatten", "flatten", {p}, fa), 5, 4, "fc", true));
  if (consumers) *consumers = {{"pw1", {{"pw2.w", 1, 1}}}, {"pw2", {{"fc.w", 1, 1}}}};
  return n.prepared();
}

const ChannelGroup& group_named(const ChannelAnalysis& a, const std::string& name) {
  for (const ChannelGroup& g : a.groups)
    if (g.name == name) return g;
  throw std::runtime_error("no group " + name);
}

std::vector<std::string> node_names(const Graph& g, const std::vector<int>& nodes) {
  std::vector<std::string> names;
  for (int n : nodes) names.push_back(g.nodes[static_cast<std::size_t>(n)].name);
  std::sort(names.begin(), names.end());
  return names;
}

Tensor constant_of(const Graph& g, const std::string& name) {
  int id = g.find_value(name);
  if (id < 0) throw std::runtime_error("no value " + name);
  return *g.values[static_cast<std::size_t>(id)].constant;
}

// Zeroes, with plain loops, the entries of weight `w` whose index along `axis` belongs to a
// removed channel (index / block in `removed`).
void zero_channels(Graph& g, const ConsumerWeight& w, const std::set<int64_t>& removed) {
  int id = g.find_value(w.weight);
  ASSERT_GE(id, 0) << w.weight;
  Tensor t = g.values[static_cast<std::size_t>(id)].constant->clone();
  const Shape& s = t.shape();
  int64_t inner = 1;
  for (std::size_t d = static_cast<std::size_t>(w.axis) + 1; d < s.size(); ++d) inner *= s[d];
  for (int64_t i = 0; i < t.size(); ++i) {
    int64_t index = (i / inner) % s[static_cast<std::size_t>(w.axis)];
    if (removed.count(index / w.block)) t.f32()[i] = 0.0f;
  }
  g.values[static_cast<std::size_t>(id)].constant = t;
}

Tensor run_first(const Graph& g, const Tensor& x) {
  Executor e(g);
  return e.run({x}).front();
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.size(); ++i) m = std::max(m, std::fabs(static_cast<double>(t.f32()[i])));
  return m;
}

// Prunes `graph` by `plan` and checks the output against the zeroed reference, the shapes against
// the plan and the MAC model against analyse_graph.
void expect_pruned_equals_zeroed(const Graph& original, const ConsumerMap& consumers, const PruningPlan& plan,
                                 std::uint64_t seed) {
  ChannelAnalysis analysis = analyse_channels(original);
  Graph pruned = clone_graph(original);
  PruneReport report = apply_pruning_plan(pruned, analysis, plan);

  Graph reference = clone_graph(original);
  bool any_removed = false;
  for (std::size_t g = 0; g < analysis.groups.size(); ++g) {
    const ChannelGroup& group = analysis.groups[g];
    std::set<int64_t> removed;
    for (int64_t c = 0; c < group.channels; ++c)
      if (!std::binary_search(plan.keep[g].begin(), plan.keep[g].end(), c)) removed.insert(c);
    if (removed.empty()) continue;
    any_removed = true;
    auto it = consumers.find(group.name);
    ASSERT_NE(it, consumers.end()) << "test lists no consumers of group " << group.name;
    for (const ConsumerWeight& w : it->second) zero_channels(reference, w, removed);
    // Every activation of the group shrank to the kept channels (times the block of a flattened layout).
    for (int v : group.values) {
      const Shape& before = original.values[static_cast<std::size_t>(v)].shape;
      const Shape& after = pruned.values[static_cast<std::size_t>(v)].shape;
      EXPECT_EQ(after[1] * group.channels, before[1] * static_cast<int64_t>(plan.keep[g].size()))
          << original.values[static_cast<std::size_t>(v)].name;
    }
  }
  ASSERT_TRUE(any_removed);
  Tensor x = test::seeded_input(original.values[static_cast<std::size_t>(original.inputs[0])].shape, seed);
  Tensor want = run_first(reference, x);
  Tensor got = run_first(pruned, x);
  Tensor unpruned = run_first(original, x);
  ASSERT_EQ(got.shape(), want.shape());
  const double scale = std::max(1.0, max_abs(want));
  double diff_to_unpruned = 0;
  for (int64_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got.f32()[i], want.f32()[i], 1e-4 * scale) << "output " << i;
    diff_to_unpruned = std::max(diff_to_unpruned, std::fabs(static_cast<double>(want.f32()[i] - unpruned.f32()[i])));
  }
  EXPECT_GT(diff_to_unpruned, 1e-4) << "the pruning did not change the network: the comparison proves nothing";
  EXPECT_EQ(report.macs_after, planned_macs(analysis, plan));
  EXPECT_LT(report.macs_after, report.macs_before);
  EXPECT_LT(report.params_after, report.params_before);
  EXPECT_EQ(pruned.nodes.size(), original.nodes.size());
  for (std::size_t i = 0; i < pruned.nodes.size(); ++i) EXPECT_EQ(pruned.nodes[i].name, original.nodes[i].name);
}

// A random plan: every prunable group keeps a random non-empty subset of its channels.
PruningPlan random_plan(const ChannelAnalysis& a, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  PruningPlan plan = full_plan(a);
  for (std::size_t g = 0; g < a.groups.size(); ++g) {
    if (!a.groups[g].prunable) continue;
    std::vector<int64_t> all(static_cast<std::size_t>(a.groups[g].channels));
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    auto keep = std::uniform_int_distribution<int64_t>(1, a.groups[g].channels - 1)(rng);
    all.resize(static_cast<std::size_t>(keep));
    std::sort(all.begin(), all.end());
    plan.keep[g] = all;
  }
  return plan;
}

TEST(PruningAnalysis, ResidualConnectionsTieChannels) {
  Graph g = resnet_style(1);
  ChannelAnalysis a = analyse_channels(g);
  ASSERT_EQ(a.groups.size(), 5u);
  const ChannelGroup& stem = group_named(a, "conv1");
  EXPECT_TRUE(stem.prunable) << stem.reason;
  EXPECT_EQ(stem.channels, 8);
  EXPECT_EQ(node_names(g, stem.producers), (std::vector<std::string>{"b1.conv2", "conv1"}));
  EXPECT_EQ(node_names(g, stem.consumers), (std::vector<std::string>{"b1.conv1", "b2.conv1", "b2.down"}));
  const ChannelGroup& stage2 = group_named(a, "b2.conv2");
  EXPECT_TRUE(stage2.prunable);
  EXPECT_EQ(node_names(g, stage2.producers), (std::vector<std::string>{"b2.conv2", "b2.down"}));
  EXPECT_EQ(node_names(g, stage2.consumers), (std::vector<std::string>{"fc"}));
  EXPECT_TRUE(group_named(a, "b1.conv1").prunable);
  EXPECT_TRUE(group_named(a, "b2.conv1").prunable);
  const ChannelGroup& fc = group_named(a, "fc");
  EXPECT_FALSE(fc.prunable);
  EXPECT_NE(fc.reason.find("graph output"), std::string::npos) << fc.reason;
}

TEST(PruningAnalysis, ZooResNet20HasOneTiedGroupPerStage) {
  ZooOptions o;
  o.in_channels = 1;
  Graph g = build_zoo_model("resnet20", o);
  prepare_graph(g);
  ChannelAnalysis a = analyse_channels(g);
  EXPECT_EQ(a.groups.size(), 13u);  // 3 tied stage groups, 9 block-internal groups, fc
  EXPECT_EQ(a.prunable_groups().size(), 12u);
  EXPECT_EQ(node_names(g, group_named(a, "conv1").producers),
            (std::vector<std::string>{"conv1", "layer1.0.conv2", "layer1.1.conv2", "layer1.2.conv2"}));
  EXPECT_EQ(node_names(g, group_named(a, "layer2.0.conv2").producers),
            (std::vector<std::string>{"layer2.0.conv2", "layer2.0.downsample", "layer2.1.conv2", "layer2.2.conv2"}));
  EXPECT_EQ(group_named(a, "layer3.0.conv2").channels, 64);
  EXPECT_EQ(node_names(g, group_named(a, "layer3.0.conv2").consumers),
            (std::vector<std::string>{"fc", "layer3.1.conv1", "layer3.2.conv1"}));
}

TEST(PruningAnalysis, ChainWithFlattenIntoGemm) {
  for (bool reshape : {false, true}) {
    Graph g = chain_net(2, reshape);
    ChannelAnalysis a = analyse_channels(g);
    ASSERT_EQ(a.groups.size(), 4u);
    EXPECT_TRUE(group_named(a, "conv1").prunable);
    const ChannelGroup& conv2 = group_named(a, "conv2");
    EXPECT_TRUE(conv2.prunable) << conv2.reason;
    EXPECT_EQ(node_names(g, conv2.consumers), (std::vector<std::string>{"fc1"}));
    EXPECT_EQ(conv2.reshapes.size(), reshape ? 1u : 0u);
    EXPECT_TRUE(group_named(a, "fc1").prunable) << group_named(a, "fc1").reason;
    EXPECT_FALSE(group_named(a, "fc2").prunable);
  }
}

TEST(PruningAnalysis, DepthwiseIsCarriedAlongAndConcatBlocks) {
  Graph g = mobile_net(3);
  ChannelAnalysis a = analyse_channels(g);
  const ChannelGroup& pw1 = group_named(a, "pw1");
  EXPECT_TRUE(pw1.prunable) << pw1.reason;
  EXPECT_EQ(node_names(g, pw1.depthwise), (std::vector<std::string>{"dw"}));
  EXPECT_EQ(a.group_of_node(static_cast<int>(std::find_if(g.nodes.begin(), g.nodes.end(), [](const Node& n) {
                                                 return n.name == "dw";
                                               }) - g.nodes.begin())),
            a.group_of_node(0));

  // A Concat reading the channels makes their group unprunable, with the reason.
  Net n(4);
  int x = n.input("x", {1, 2, 5, 5});
  int c1 = n.conv(x, 2, 3, 1, "c1");
  int c2 = n.conv(x, 2, 4, 1, "c2");
  Attributes ca;
  ca.set("axis", int64_t{1});
  int cat = n.node("Concat", "cat", {c1, c2}, ca);
  n.output(n.conv(cat, 7, 2, 1, "c3"));
  Graph cg = n.prepared();
  ChannelAnalysis ca2 = analyse_channels(cg);
  EXPECT_FALSE(group_named(ca2, "c1").prunable);
  EXPECT_NE(group_named(ca2, "c1").reason.find("Concat"), std::string::npos) << group_named(ca2, "c1").reason;
  test::expect_bad_input([&] {
    PruningPlan plan = full_plan(ca2);
    plan.keep[0] = {0};
    Graph copy = cg;
    apply_pruning_plan(copy, ca2, plan);
  }, {"cannot be pruned", "Concat"});
}

TEST(Pruning, PrunedNetworkEqualsZeroedConsumerWeights) {
  struct Case {
    const char* name;
    Graph graph;
    ConsumerMap consumers;
  };
  std::vector<Case> cases;
  for (std::uint64_t seed : {11u, 12u}) {
    Case c{"resnet_style", {}, {}};
    c.graph = resnet_style(seed, &c.consumers);
    cases.push_back(std::move(c));
  }
  for (bool reshape : {false, true}) {
    Case c{reshape ? "reshape_matmul" : "flatten_gemm", {}, {}};
    c.graph = chain_net(13, reshape, &c.consumers);
    cases.push_back(std::move(c));
  }
  {
    Case c{"mobile", {}, {}};
    c.graph = mobile_net(14, &c.consumers);
    cases.push_back(std::move(c));
  }
  std::uint64_t seed = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ChannelAnalysis a = analyse_channels(c.graph);
    for (int trial = 0; trial < 3; ++trial) {
      ++seed;
      expect_pruned_equals_zeroed(c.graph, c.consumers, random_plan(a, seed), seed);
    }
    for (PruneRanking r : {PruneRanking::L1, PruneRanking::L2, PruneRanking::LeGR}) {
      ++seed;
      expect_pruned_equals_zeroed(c.graph, c.consumers, plan_to_flops(c.graph, a, 0.5, r).plan, seed);
    }
  }
}

TEST(Pruning, ZooResNet20PrunedEqualsZeroedReference) {
  ZooOptions o;
  o.in_channels = 1;
  o.seed = 5;
  Graph g = build_zoo_model("resnet20", o);
  // The zoo's batch norms start as the identity; give them real statistics so that removed
  // channels carry non-zero BN shifts into the residual sums.
  std::mt19937_64 rng(9);
  std::normal_distribution<float> dist(0.0f, 0.2f);
  for (Value& v : g.values) {
    if (!v.constant || v.name.find(".bn.") == std::string::npos) continue;
    Tensor t = v.constant->clone();
    for (int64_t i = 0; i < t.size(); ++i)
      t.f32()[i] = v.name.find("running_var") != std::string::npos ? 1.0f + std::fabs(dist(rng)) : t.f32()[i] + dist(rng);
    v.constant = t;
  }
  prepare_graph(g);
  ChannelAnalysis a = analyse_channels(g);
  ConsumerMap consumers;
  for (const ChannelGroup& group : a.groups) {
    if (!group.prunable) continue;
    for (int n : group.consumers) {
      const Node& node = g.nodes[static_cast<std::size_t>(n)];
      // Written from the topology: every consumer here is a Conv (weights dim 1) or the fc (transB).
      consumers[group.name].push_back({node.name + ".weight", 1, 1});
    }
  }
  // The consumers the test expects from the ResNet topology (not from the analysis): each
  // stage's tied group feeds the next blocks' conv1 and the next stage's conv1 and downsample.
  EXPECT_EQ(consumers["conv1"].size(), 5u);  // layer1.{0,1,2}.conv1, layer2.0.conv1, layer2.0.downsample
  EXPECT_EQ(consumers["layer1.0.conv1"].size(), 1u);
  expect_pruned_equals_zeroed(g, consumers, plan_to_flops(g, a, 0.5, PruneRanking::L1).plan, 21);
}

TEST(Pruning, FilterNormsMatchNaiveSumsOverTiedProducers) {
  Graph g = resnet_style(6);
  ChannelAnalysis a = analyse_channels(g);
  const auto l1 = filter_norms(g, a, FilterNorm::L1);
  const auto l2 = filter_norms(g, a, FilterNorm::L2);
  const auto sq = filter_norms(g, a, FilterNorm::L2Squared);
  std::size_t stem = 0;
  while (a.groups[stem].name != "conv1") ++stem;
  Tensor w1 = constant_of(g, "conv1.w"), w2 = constant_of(g, "b1.conv2.w");
  for (int64_t f = 0; f < 8; ++f) {
    double n1 = 0, s1 = 0, s2 = 0;
    for (int64_t i = 0; i < 27; ++i) {
      float v = w1.f32()[f * 27 + i];
      n1 += std::fabs(v);
      s1 += static_cast<double>(v) * v;
    }
    double n2 = 0;
    for (int64_t i = 0; i < 54; ++i) {
      float v = w2.f32()[f * 54 + i];
      n2 += std::fabs(v);
      s2 += static_cast<double>(v) * v;
    }
    EXPECT_NEAR(l1[stem][static_cast<std::size_t>(f)], n1 + n2, 1e-9);
    EXPECT_NEAR(l2[stem][static_cast<std::size_t>(f)], std::sqrt(s1) + std::sqrt(s2), 1e-9);
    EXPECT_NEAR(sq[stem][static_cast<std::size_t>(f)], s1 + s2, 1e-9);
  }
  // Gemm with weights K x N: a filter is a column.
  Graph c = chain_net(7, false);
  ChannelAnalysis ca = analyse_channels(c);
  std::size_t fc1 = 0;
  while (ca.groups[fc1].name != "fc1") ++fc1;
  Tensor w = constant_of(c, "fc1.w");
  const auto cl1 = filter_norms(c, ca, FilterNorm::L1);
  for (int64_t f = 0; f < 7; ++f) {
    double s = 0;
    for (int64_t k = 0; k < 96; ++k) s += std::fabs(w.f32()[k * 7 + f]);
    EXPECT_NEAR(cl1[fc1][static_cast<std::size_t>(f)], s, 1e-9);
  }
  // Ranking: with fraction 0.5 the kept half are the filters of largest norm.
  for (FilterNorm norm : {FilterNorm::L1, FilterNorm::L2}) {
    std::vector<double> fractions(a.groups.size(), 0.0);
    fractions[stem] = 0.5;
    PruningPlan plan = plan_fractions(g, a, fractions, norm);
    const auto& scores = norm == FilterNorm::L1 ? l1[stem] : l2[stem];
    std::vector<int64_t> order(8);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t p, int64_t q) { return scores[static_cast<std::size_t>(p)] > scores[static_cast<std::size_t>(q)]; });
    std::vector<int64_t> want(order.begin(), order.begin() + 4);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(plan.keep[stem], want);
  }
}

// MACs of `graph` after really applying `plan`.
int64_t measured_macs(const Graph& graph, const ChannelAnalysis& a, const PruningPlan& plan) {
  Graph copy = graph;
  PruneReport r = apply_pruning_plan(copy, a, plan);
  int64_t total = 0;
  for (const NodeReport& n : analyse_graph(copy)) total += n.cost.macs;
  EXPECT_EQ(total, r.macs_after);
  return total;
}

TEST(Pruning, UniformFlopsTargetIsMetWithinOneStep) {
  for (int net = 0; net < 2; ++net) {
    Graph g = net == 0 ? resnet_style(8) : chain_net(8, false);
    ChannelAnalysis a = analyse_channels(g);
    const int64_t total = planned_macs(a, full_plan(a));
    for (double keep : {0.9, 0.7, 0.5, 0.3}) {
      SCOPED_TRACE(std::to_string(net) + " keep " + std::to_string(keep));
      FlopsPlan p = plan_to_flops(g, a, keep, PruneRanking::L1);
      const auto target = static_cast<int64_t>(std::floor(keep * static_cast<double>(total) + 1e-6));
      EXPECT_EQ(p.target_macs, target);
      ASSERT_TRUE(p.met);
      EXPECT_EQ(measured_macs(g, a, p.plan), p.macs_after);
      EXPECT_LE(p.macs_after, target);
      // One step less (a slightly smaller uniform fraction) misses the target.
      std::vector<double> fractions(a.groups.size(), 0.0);
      for (int gi : a.prunable_groups()) fractions[static_cast<std::size_t>(gi)] = std::max(0.0, p.fraction - 1e-6);
      PruningPlan less = plan_fractions(g, a, fractions, FilterNorm::L1);
      EXPECT_GT(measured_macs(g, a, less), target);
      // Every prunable group lost the same rounded share.
      for (int gi : a.prunable_groups()) {
        const int64_t c = a.groups[static_cast<std::size_t>(gi)].channels;
        const int64_t removed = std::min<int64_t>(c - 1, std::llround(p.fraction * static_cast<double>(c)));
        EXPECT_EQ(static_cast<int64_t>(p.plan.keep[static_cast<std::size_t>(gi)].size()), c - removed);
      }
    }
  }
}

TEST(Pruning, LegrIdentityTransformEqualsGlobalSquaredL2Ranking) {
  Graph g = resnet_style(9);
  ChannelAnalysis a = analyse_channels(g);
  // Naive global ranking: squared L2 norms summed over tied producers, from the weights.
  std::map<std::string, std::vector<std::string>> producers = {
      {"conv1", {"conv1.w", "b1.conv2.w"}}, {"b1.conv1", {"b1.conv1.w"}}, {"b2.conv1", {"b2.conv1.w"}},
      {"b2.conv2", {"b2.conv2.w", "b2.down.w"}}};
  struct F {
    double score;
    std::size_t group;
    int64_t channel;
  };
  std::vector<F> all;
  for (std::size_t gi = 0; gi < a.groups.size(); ++gi) {
    if (!a.groups[gi].prunable) continue;
    std::vector<double> s(static_cast<std::size_t>(a.groups[gi].channels), 0.0);
    for (const std::string& wname : producers.at(a.groups[gi].name)) {
      Tensor w = constant_of(g, wname);
      const int64_t per = w.size() / w.dim(0);
      for (int64_t i = 0; i < w.size(); ++i) s[static_cast<std::size_t>(i / per)] += static_cast<double>(w.f32()[i]) * w.f32()[i];
    }
    for (std::size_t c = 0; c < s.size(); ++c) all.push_back({s[c], gi, static_cast<int64_t>(c)});
  }
  std::sort(all.begin(), all.end(), [](const F& p, const F& q) { return p.score < q.score; });
  for (double keep : {0.8, 0.5, 0.25}) {
    SCOPED_TRACE(keep);
    FlopsPlan p = plan_to_flops(g, a, keep, PruneRanking::LeGR, std::vector<AffineParams>(a.groups.size()));
    // Remove the lowest-scored filters one by one (a group keeps at least one) until the target.
    std::vector<std::set<int64_t>> removed(a.groups.size());
    std::vector<int64_t> counts;
    for (const ChannelGroup& gr : a.groups) counts.push_back(gr.channels);
    F last{};
    for (const F& f : all) {
      if (planned_macs(a, counts) <= p.target_macs) break;
      if (counts[f.group] == 1) continue;
      --counts[f.group];
      removed[f.group].insert(f.channel);
      last = f;
    }
    PruningPlan want = full_plan(a);
    for (std::size_t gi = 0; gi < a.groups.size(); ++gi) {
      std::vector<int64_t> k;
      for (int64_t c = 0; c < a.groups[gi].channels; ++c)
        if (!removed[gi].count(c)) k.push_back(c);
      want.keep[gi] = k;
    }
    EXPECT_EQ(p.plan.keep, want.keep);
    EXPECT_TRUE(p.met);
    EXPECT_LE(measured_macs(g, a, p.plan), p.target_macs);
    // Not overshot: putting back the last filter removed misses the target.
    want.keep[last.group].push_back(last.channel);
    std::sort(want.keep[last.group].begin(), want.keep[last.group].end());
    EXPECT_GT(measured_macs(g, a, want), p.target_macs);
    // The same plan with an empty affine list (the default transform).
    EXPECT_EQ(plan_to_flops(g, a, keep, PruneRanking::LeGR).plan.keep, p.plan.keep);
  }
}

TEST(Pruning, LegrAffineTransformShiftsPruningBetweenLayers) {
  Graph g = resnet_style(10);
  ChannelAnalysis a = analyse_channels(g);
  std::size_t stem = 0;
  while (a.groups[stem].name != "conv1") ++stem;
  std::vector<AffineParams> affine(a.groups.size());
  // A large kappa puts the stem's filters behind every other layer's: it is pruned last.
  affine[stem].kappa = 1e6;
  FlopsPlan protect = plan_to_flops(g, a, 0.6, PruneRanking::LeGR, affine);
  EXPECT_EQ(protect.plan.keep[stem].size(), 8u);
  EXPECT_TRUE(protect.met);
  // A very negative kappa makes it go first: other layers lose filters only once it is down to one.
  affine[stem].kappa = -1e6;
  for (double keep : {0.6, 0.3}) {
    FlopsPlan first = plan_to_flops(g, a, keep, PruneRanking::LeGR, affine);
    EXPECT_TRUE(first.met);
    EXPECT_LT(first.plan.keep[stem].size(), 8u);
    bool others_pruned = false;
    for (int gi : a.prunable_groups())
      if (static_cast<std::size_t>(gi) != stem)
        others_pruned = others_pruned || static_cast<int64_t>(first.plan.keep[static_cast<std::size_t>(gi)].size()) <
                                             a.groups[static_cast<std::size_t>(gi)].channels;
    if (others_pruned) {
      EXPECT_EQ(first.plan.keep[stem].size(), 1u) << keep;
    }
  }
}

TEST(Pruning, UnreachableTargetKeepsOneChannelPerGroup) {
  Graph g = chain_net(11, false);
  ChannelAnalysis a = analyse_channels(g);
  for (PruneRanking r : {PruneRanking::L1, PruneRanking::LeGR}) {
    FlopsPlan p = plan_to_flops(g, a, 0.001, r);
    EXPECT_FALSE(p.met);
    for (int gi : a.prunable_groups()) EXPECT_EQ(p.plan.keep[static_cast<std::size_t>(gi)].size(), 1u);
  }
  test::expect_bad_input([&] { plan_to_flops(g, a, 0.0, PruneRanking::L1); }, {"outside (0, 1]"});
  test::expect_bad_input([&] { plan_to_flops(g, a, 1.5, PruneRanking::L1); }, {"outside (0, 1]"});
  test::expect_bad_input([] { parse_prune_ranking("l3"); }, {"unknown ranking 'l3'"});
  // keep = 1 prunes nothing.
  EXPECT_EQ(plan_to_flops(g, a, 1.0, PruneRanking::L2).removed, 0);
}

TEST(Pruning, ShapesShrink) {
  Graph g = chain_net(12, false);
  ChannelAnalysis a = analyse_channels(g);
  PruningPlan plan = full_plan(a);
  for (std::size_t gi = 0; gi < a.groups.size(); ++gi) {
    if (a.groups[gi].name == "conv1") plan.keep[gi] = {1, 3};
    if (a.groups[gi].name == "conv2") plan.keep[gi] = {0, 2, 5};
    if (a.groups[gi].name == "fc1") plan.keep[gi] = {0, 1, 2, 6};
  }
  Graph p = g;
  PruneReport report = apply_pruning_plan(p, a, plan);
  EXPECT_EQ(constant_of(p, "conv1.w").shape(), (Shape{2, 1, 3, 3}));
  EXPECT_EQ(constant_of(p, "conv1.b").shape(), (Shape{2}));
  EXPECT_EQ(constant_of(p, "conv2.w").shape(), (Shape{3, 2, 2, 2}));
  EXPECT_EQ(constant_of(p, "fc1.w").shape(), (Shape{48, 4}));
  EXPECT_EQ(constant_of(p, "fc2.w").shape(), (Shape{3, 4}));
  EXPECT_EQ(p.values[static_cast<std::size_t>(p.find_value("flatten.out"))].shape, (Shape{2, 48}));
  EXPECT_EQ(p.values[static_cast<std::size_t>(p.find_value("pool1.out"))].shape, (Shape{2, 2, 5, 5}));
  // The kept slices are the original values: conv2's filter 2, input channel 1 (old 3).
  Tensor w_old = constant_of(g, "conv2.w"), w_new = constant_of(p, "conv2.w");
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(w_new.f32()[(1 * 2 + 1) * 4 + i], w_old.f32()[(2 * 4 + 3) * 4 + i]);
  // The original graph's constants are untouched.
  EXPECT_EQ(constant_of(g, "conv2.w").shape(), (Shape{6, 4, 2, 2}));
  ASSERT_EQ(report.groups.size(), a.groups.size());
  for (const GroupReport& r : report.groups) {
    if (r.name == "conv2") {
      EXPECT_EQ(r.channels_before, 6);
      EXPECT_EQ(r.channels_after, 3);
      EXPECT_EQ(r.macs_before, 2 * 6 * 16 * 4 * 4);
      EXPECT_EQ(r.macs_after, 2 * 3 * 16 * 2 * 4);
      EXPECT_EQ(r.params_after, 3 * 2 * 4 + 3);
    }
  }
  EXPECT_EQ(report.params_after, p.parameter_count());
}

TEST(Pruning, KnobChoicesPruneGroupsByTheirLargestFraction) {
  Graph g = resnet_style(13);
  const KnobCatalog& catalog = knob_catalog();
  std::vector<OpChoice> choices(g.nodes.size());
  auto index_of = [&](const std::string& name) {
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
      if (g.nodes[i].name == name) return i;
    throw std::runtime_error(name);
  };
  choices[index_of("conv1")].knob = 92;     // prune_20
  choices[index_of("b1.conv2")].knob = 95;  // prune_50: the tied group takes the larger
  choices[index_of("b2.conv1")].knob = 97;  // prune_70
  Graph p = g;
  PruneReport r = apply_pruning_choices(p, choices, catalog);
  for (const GroupReport& row : r.groups) {
    if (row.name == "conv1") {
      EXPECT_EQ(row.channels_after, 4);  // 8 - round(0.5 * 8)
    } else if (row.name == "b2.conv1") {
      EXPECT_EQ(row.channels_after, 3);  // 10 - round(0.7 * 10)
    } else {
      EXPECT_EQ(row.channels_after, row.channels_before) << row.name;
    }
  }
  EXPECT_EQ(constant_of(p, "conv1.w").dim(0), 4);
  EXPECT_EQ(p.nodes.size(), g.nodes.size());
  EXPECT_TRUE(r.skipped.empty());
  // A pruning knob on the classifier (its output is the graph output) leaves it exact and is
  // reported, or refused when strict.
  choices[index_of("fc")].knob = 91;
  Graph q = g;
  PruneReport lenient = apply_pruning_choices(q, choices, catalog);
  ASSERT_EQ(lenient.skipped.size(), 1u);
  EXPECT_NE(lenient.skipped[0].find("'fc'"), std::string::npos) << lenient.skipped[0];
  EXPECT_EQ(constant_of(q, "fc.w").shape(), (Shape{5, 12}));
  EXPECT_EQ(constant_of(q, "conv1.w").dim(0), 4);
  Graph strict = g;
  test::expect_bad_input([&] { apply_pruning_choices(strict, choices, catalog, true); }, {"'fc'", "graph output"});
}

TEST(Pruning, ConfigurationKnobsPruneThroughTheSession) {
  // {"ops": {"b2.conv1": {"knob": 95}}}: the session's graph transform prunes half of b2.conv1's
  // filters (the smallest L1 norms), exactly as apply_pruning_choices does, and the per-node
  // choices stay index-aligned with the pruned graph.
  Graph g = resnet_style(14);
  ApproxSession session(ApproxConfig::parse(R"({"ops": {"b2.conv1": {"knob": 95}}})", "c.json"), knob_catalog(), 1);
  Graph via_session = g;
  ASSERT_TRUE(session.apply_pruning(via_session));
  Graph direct = g;
  apply_pruning_choices(direct, session.resolve(g), knob_catalog());
  EXPECT_EQ(constant_of(via_session, "b2.conv1.w").shape(), (Shape{5, 8, 3, 3}));
  Tensor a = constant_of(via_session, "b2.conv2.w"), b = constant_of(direct, "b2.conv2.w");
  ASSERT_EQ(a.shape(), (Shape{12, 5, 3, 3}));
  ASSERT_EQ(a.shape(), b.shape());
  for (int64_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.f32()[i], b.f32()[i]);
  EXPECT_EQ(session.resolve(via_session).size(), via_session.nodes.size());
  ApproxSession none(ApproxConfig::parse(R"({"default": {"knob": 12}})", "d.json"), knob_catalog(), 1);
  Graph untouched = g;
  EXPECT_FALSE(none.apply_pruning(untouched));
}

TEST(Pruning, PrunedGraphFineTunes) {
  Net n(15);
  int x = n.input("x", {1, 1, 8, 8});
  int y = n.relu(n.bn(n.conv(x, 1, 8, 3, "conv", 1), 8, "bn"), "relu");
  Attributes pa;
  pa.set("kernel_shape", std::vector<int64_t>{2, 2});
  pa.set("strides", std::vector<int64_t>{2, 2});
  y = n.node("MaxPool", "pool", {y}, pa);
  Attributes fa;
  fa.set("axis", int64_t{1});
  n.output(n.gemm(n.node("Flatten", "flatten", {y}, fa), 128, 2, "fc", true));
  Graph g = n.prepared();
  PruneReport r = prune_to_flops(g, 0.5, PruneRanking::L1);
  ASSERT_LT(r.macs_after, r.macs_before);
  const Shape pruned_w = constant_of(g, "conv.w").shape();
  ASSERT_LT(pruned_w[0], 8);
  Dataset train = test::quadrant_dataset(128, 3);
  TrainOptions o;
  o.epochs = 3;
  o.batch = 16;
  o.learning_rate = 0.05f;
  Trainer t(g, o);
  double first = 0, last = 0;
  for (int e = 0; e < o.epochs; ++e) {
    EpochStats s = t.train_epoch(train, e);
    (e == 0 ? first : last) = s.loss;
  }
  EXPECT_LT(last, first);
  EXPECT_GT(t.evaluate(test::quadrant_dataset(64, 4)), 0.9);
  EXPECT_EQ(constant_of(g, "conv.w").shape(), pruned_w);
}

}  // namespace
}  // namespace coda
