// LeGR's evolutionary search of per-layer affine ranking transforms (tuner/legr.h): reproducible for
// a seed, its fitness is the validation loss of the pruned (and fine-tuned) network, the identity
// transform is always a candidate, the input graph is left alone, and the JSON form round-trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/approx/pruning.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph_builder.h"
#include "tests/support/bad_input.h"
#include "tuner/legr.h"

namespace coda {
namespace {

// Two classes of 1x8x8 images: a bright square top-left or bottom-right, on noise.
Dataset quadrants(int64_t n, std::uint64_t seed) {
  Dataset d;
  d.name = "quadrants";
  d.classes = 2;
  d.images = Tensor({n, 1, 8, 8});
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  for (int64_t i = 0; i < n; ++i) {
    int label = static_cast<int>((i * 7 + 3) % 2);
    d.labels.push_back(label);
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        bool lit = label == 0 ? (y < 4 && x < 4) : (y >= 4 && x >= 4);
        d.images.f32()[i * 64 + y * 8 + x] = (lit ? 1.0f : 0.0f) + noise(rng);
      }
  }
  return d;
}

// conv(8) - BN - ReLU - pool - conv(8) - ReLU - pool - flatten - fc(2): three prunable groups.
Graph small_net(std::uint64_t seed) {
  GraphBuilder b("small", seed);
  int x = b.input("input", {1, 1, 8, 8});
  ConvSpec c;
  c.out_channels = 8;
  c.kernel = 3;
  x = b.max_pool(b.relu(b.batch_norm(b.conv(x, c, "conv1"), "bn1"), "relu1"), 2, 2, 0, "pool1");
  x = b.max_pool(b.relu(b.conv(x, c, "conv2"), "relu2"), 2, 2, 0, "pool2");
  x = b.relu(b.gemm(b.flatten(x, "flatten"), 6, "fc1"), "relu3");
  b.output(b.gemm(x, 2, "fc2"));
  Graph g = b.finish();
  prepare_graph(g);
  return g;
}

std::vector<float> all_constants(const Graph& g) {
  std::vector<float> out;
  for (const Value& v : g.values)
    if (v.constant && v.dtype == DType::Float32) out.insert(out.end(), v.constant->f32(), v.constant->f32() + v.constant->size());
  return out;
}

LegrOptions quick_options() {
  LegrOptions o;
  o.flops_target = 0.5;
  o.population = 4;
  o.tournament = 2;
  o.generations = 8;
  o.finetune_steps = 3;
  o.batch = 16;
  o.learning_rate = 0.02f;
  o.seed = 3;
  return o;
}

TEST(Legr, ValidationLossIsMeanCrossEntropy) {
  Graph g = small_net(1);
  Dataset val = quadrants(20, 2);
  double loss = validation_loss(g, val, 8);
  // Naive: one image at a time, log-softmax written out.
  Executor e(g);
  double total = 0;
  for (int64_t i = 0; i < val.size(); ++i) {
    Tensor logits = e.run({val.batch(i, i + 1)}).front();
    double m = std::max(logits.f32()[0], logits.f32()[1]);
    double lse = m + std::log(std::exp(logits.f32()[0] - m) + std::exp(logits.f32()[1] - m));
    total += lse - logits.f32()[val.labels[static_cast<std::size_t>(i)]];
  }
  EXPECT_NEAR(loss, total / static_cast<double>(val.size()), 1e-5);
}

TEST(Legr, SearchIsReproducibleAndLeavesTheGraphAlone) {
  Graph g = small_net(4);
  const std::vector<float> before = all_constants(g);
  Dataset train = quadrants(96, 5), val = quadrants(32, 6);
  LegrOptions o = quick_options();
  int calls = 0;
  LegrResult a = legr_search(g, train, val, o, [&](int done, int total, double, double) {
    ++calls;
    EXPECT_EQ(total, o.generations);
    EXPECT_EQ(done, calls);
  });
  EXPECT_EQ(calls, o.generations);
  LegrResult b = legr_search(g, train, val, o);
  ASSERT_EQ(a.losses.size(), static_cast<std::size_t>(o.generations));
  EXPECT_EQ(a.losses, b.losses);
  ASSERT_EQ(a.affine.size(), b.affine.size());
  for (std::size_t i = 0; i < a.affine.size(); ++i) {
    EXPECT_EQ(a.affine[i].alpha, b.affine[i].alpha);
    EXPECT_EQ(a.affine[i].kappa, b.affine[i].kappa);
  }
  EXPECT_EQ(a.best_loss, *std::min_element(a.losses.begin(), a.losses.end()));
  EXPECT_LE(a.best_loss, a.identity_loss);
  EXPECT_EQ(a.identity_loss, a.losses.front());
  EXPECT_LE(a.macs_after, static_cast<int64_t>(std::floor(0.5 * static_cast<double>(a.macs_before) + 1e-6)));
  EXPECT_GE(a.fine_tunes, 2);
  EXPECT_LE(a.fine_tunes, o.generations);
  // The candidates were fine-tuned on copies.
  const std::vector<float> after = all_constants(g);
  ASSERT_EQ(before.size(), after.size());
  EXPECT_EQ(0, std::memcmp(before.data(), after.data(), before.size() * sizeof(float)));
  // Another seed explores other transforms.
  o.seed = 4;
  LegrResult c = legr_search(g, train, val, o);
  bool differs = false;
  for (std::size_t i = 0; i < a.affine.size(); ++i)
    differs = differs || a.affine[i].alpha != c.affine[i].alpha || a.affine[i].kappa != c.affine[i].kappa;
  EXPECT_TRUE(differs || a.losses != c.losses);
}

TEST(Legr, FitnessIsTheLossOfThePrunedNetwork) {
  // Without fine-tuning, a candidate's loss is exactly the validation loss of the network pruned
  // with its transform: check it for the identity and for the best transform found.
  Graph g = small_net(7);
  Dataset val = quadrants(40, 8);
  LegrOptions o = quick_options();
  o.finetune_steps = 0;
  o.generations = 10;
  LegrResult r = legr_search(g, Dataset{}, val, o);
  Graph identity = g;
  prune_to_flops(identity, o.flops_target, PruneRanking::LeGR);
  EXPECT_DOUBLE_EQ(r.identity_loss, validation_loss(identity, val, o.validation_batch));
  Graph best = g;
  PruneReport report = prune_to_flops(best, o.flops_target, PruneRanking::LeGR, r.affine);
  EXPECT_DOUBLE_EQ(r.best_loss, validation_loss(best, val, o.validation_batch));
  EXPECT_EQ(report.macs_after, r.macs_after);
  EXPECT_LE(report.macs_after, report.macs_before / 2);
}

TEST(Legr, JsonRoundTripAndBadFiles) {
  Graph g = small_net(9);
  ChannelAnalysis a = analyse_channels(g);
  ASSERT_EQ(a.prunable_groups().size(), 3u);
  std::vector<AffineParams> affine(a.groups.size());
  std::mt19937_64 rng(1);
  std::normal_distribution<double> n(0.0, 1.0);
  for (int gi : a.prunable_groups()) affine[static_cast<std::size_t>(gi)] = {std::exp(n(rng)), n(rng) * 0.1};
  LegrOptions o;
  const std::string text = legr_to_json(g, a, affine, o, nullptr);
  std::vector<AffineParams> back = parse_legr_json(text, "t.json", a);
  ASSERT_EQ(back.size(), affine.size());
  for (std::size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].alpha, affine[i].alpha);
    EXPECT_EQ(back[i].kappa, affine[i].kappa);
  }
  EXPECT_NE(text.find("\"conv1\""), std::string::npos);
  test::expect_bad_input([&] { parse_legr_json("{", "t.json", a); }, {"t.json", "not valid JSON"});
  test::expect_bad_input([&] { parse_legr_json(R"({"groups": []})", "t.json", a); }, {"no transform for group 'conv1'"});
  test::expect_bad_input(
      [&] { parse_legr_json(R"({"groups": [{"name": "nope", "alpha": 1, "kappa": 0}]})", "t.json", a); },
      {"group 'nope' is not a channel group"});
  test::expect_bad_input(
      [&] { parse_legr_json(R"({"groups": [{"name": "fc2", "alpha": 1, "kappa": 0}]})", "t.json", a); },
      {"group 'fc2' cannot be pruned", "graph output"});
  test::expect_bad_input(
      [&] { parse_legr_json(R"({"groups": [{"name": "conv1", "alpha": -1, "kappa": 0}]})", "t.json", a); },
      {"alpha must be positive"});
  test::expect_bad_input(
      [&] { parse_legr_json(R"({"groups": [{"name": "conv1", "channels": 5, "alpha": 1, "kappa": 0}]})", "t.json", a); },
      {"8 channels in the model"});
}

TEST(Legr, OptionsAreChecked) {
  Graph g = small_net(10);
  Dataset d = quadrants(16, 1);
  LegrOptions o = quick_options();
  o.tournament = 5;
  test::expect_bad_input([&] { legr_search(g, d, d, o); }, {"tournament"});
  o = quick_options();
  o.flops_target = 0.0;
  test::expect_bad_input([&] { legr_search(g, d, d, o); }, {"outside (0, 1]"});
  o = quick_options();
  test::expect_bad_input([&] { legr_search(g, d, Dataset{}, o); }, {"validation data is empty"});
}

}  // namespace
}  // namespace coda
