// LeGR's FLOPs-vs-accuracy curve (tuner/pruning_curve.h): the unpruned model is the first level,
// every level keeps at most its share of the MACs and fewer MACs the deeper it goes, the input
// graph is left alone, accuracy is what evaluating the pruned graph gives, and the JSON form
// round-trips.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "kernels/approx/pruning.h"
#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph_builder.h"
#include "kernels/trainer.h"
#include "tests/support/quadrant_data.h"
#include "tests/support/temp_files.h"
#include "tuner/pruning_curve.h"

namespace coda::tuner {
namespace {

// conv(8) - ReLU - pool - conv(8) - ReLU - pool - flatten - fc(6) - ReLU - fc(2).
Graph small_net(std::uint64_t seed) {
  GraphBuilder b("small", seed);
  int x = b.input("input", {1, 1, 8, 8});
  ConvSpec c;
  c.out_channels = 8;
  c.kernel = 3;
  x = b.max_pool(b.relu(b.conv(x, c, "conv1"), "relu1"), 2, 2, 0, "pool1");
  x = b.max_pool(b.relu(b.conv(x, c, "conv2"), "relu2"), 2, 2, 0, "pool2");
  x = b.relu(b.gemm(b.flatten(x, "flatten"), 6, "fc1"), "relu3");
  b.output(b.gemm(x, 2, "fc2"));
  Graph g = b.finish();
  prepare_graph(g);
  return g;
}

TEST(PruningCurve, LevelsShrinkMonotonicallyAndScoreThePrunedGraph) {
  const Graph graph = small_net(5);
  const Dataset train = test::quadrant_dataset(64, 1), evaluation = test::quadrant_dataset(40, 2);
  const int64_t constants_before = graph.parameter_count();
  PruningCurveOptions options;
  options.targets = {0.4, 0.7};
  options.ranking = PruneRanking::L1;
  options.finetune.epochs = 1;
  options.finetune.batch = 16;
  options.finetune.learning_rate = 0.01f;
  std::vector<double> sink_accuracies;
  const std::vector<PruningLevel> levels =
      pruning_curve(graph, train, evaluation, options, [&](const Graph& pruned, PruningLevel& level) {
        // The reported accuracy is the pruned graph's own.
        Graph copy = clone_graph(pruned);
        Trainer scorer(copy, options.finetune);
        EXPECT_DOUBLE_EQ(scorer.evaluate(evaluation, 256), level.accuracy);
        level.model = "m" + std::to_string(sink_accuracies.size()) + ".onnx";
        sink_accuracies.push_back(level.accuracy);
      });
  ASSERT_EQ(levels.size(), 3u);
  EXPECT_DOUBLE_EQ(levels[0].flops_target, 1.0);
  const double full = static_cast<double>(levels[0].macs);
  for (std::size_t i = 1; i < levels.size(); ++i) {
    EXPECT_LT(levels[i].flops_target, levels[i - 1].flops_target);
    EXPECT_LT(levels[i].macs, levels[i - 1].macs);
    EXPECT_LE(static_cast<double>(levels[i].macs), levels[i].flops_target * full + 1e-6);
    EXPECT_LT(levels[i].params, levels[0].params);
    EXPECT_EQ(levels[i].accuracy, sink_accuracies[i]);
  }
  EXPECT_EQ(graph.parameter_count(), constants_before);  // the input is untouched
}

TEST(PruningCurve, JsonRoundTripsAndResolvesModelPaths) {
  test::TempDir dir("coda_pruning_curve_");
  std::vector<PruningLevel> levels(2);
  levels[0] = {1.0, 1000, 500, 0.91, "pruned_1.000.onnx"};
  levels[1] = {0.5, 480, 260, 0.88, "pruned_0.500.onnx"};
  write_file_atomically(dir.file("c.json"), pruning_curve_to_json("m.onnx", PruneRanking::LeGR, levels));
  std::string base;
  const std::vector<PruningLevel> back = load_pruning_curve(dir.file("c.json"), &base);
  EXPECT_EQ(base, "m.onnx");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].macs, 480);
  EXPECT_DOUBLE_EQ(back[1].accuracy, 0.88);
  EXPECT_EQ(back[1].model, dir.file("pruned_0.500.onnx"));
}

TEST(PruningCurve, BadTargetsAndFilesAreRejected) {
  const Graph graph = small_net(5);
  const Dataset data = test::quadrant_dataset(16, 1);
  PruningCurveOptions options;
  options.targets = {1.5};
  EXPECT_THROW(pruning_curve(graph, data, data, options, {}), BadInput);
  test::TempDir dir("coda_pruning_curve_");
  write_file_atomically(dir.file("bad.json"), R"({"format": "coda-pruning-curve", "version": 1, "levels": []})");
  EXPECT_THROW(load_pruning_curve(dir.file("bad.json")), BadInput);
  EXPECT_THROW(load_pruning_curve(dir.file("missing.json")), BadInput);
}

}  // namespace
}  // namespace coda::tuner
