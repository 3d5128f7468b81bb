#include <gtest/gtest.h>

#include <set>

#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "models/layer_space.h"
#include "sim/op_workload.h"

namespace coda::models {
namespace {

const char* kSpace = R"(
schema: coda-layer-space
version: 1
seed: 5
batch: [1, 4]
units: [gpu]
dvfs: {gpu: [522.75, 1300.5]}
knobs: [11, 12]
prior: {networks: [lenet5, resnet20], jitter: 0.2}
samples: {conv: 10, fc: 2, pool: 2}
adaptive: {rounds: 1, threshold: 0.1, per_round: 5}
)";

TEST(LayerSpace, ParsesEveryKey) {
  LayerSpace space = parse_layer_space(kSpace, "space.yaml");
  EXPECT_EQ(space.seed, 5u);
  EXPECT_EQ(space.batches, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(space.units, std::vector<std::string>{"gpu"});
  EXPECT_EQ(space.dvfs.at("gpu"), (std::vector<double>{522.75, 1300.5}));
  EXPECT_EQ(space.knobs, (std::vector<int>{11, 12}));
  EXPECT_EQ(space.prior_networks, (std::vector<std::string>{"lenet5", "resnet20"}));
  EXPECT_DOUBLE_EQ(space.jitter, 0.2);
  EXPECT_EQ(space.samples.at("conv"), 10);
  EXPECT_EQ(space.adaptive.per_round, 5);
}

TEST(LayerSpace, BadFilesNameTheKey) {
  auto message = [](const std::string& yaml) {
    try {
      parse_layer_space(yaml, "s.yaml");
    } catch (const BadInput& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("samples: {conv: 1}\nprior: {networks: [lenet5]}\nbogus: 1\n").find("s.yaml: bogus: unknown key"), std::string::npos);
  EXPECT_NE(message("samples: {convolution: 1}\nprior: {networks: [lenet5]}\n").find("samples.convolution"), std::string::npos);
  EXPECT_NE(message("samples: {conv: 1}\nprior: {networks: [nonet]}\n").find("unknown zoo network 'nonet'"), std::string::npos);
  EXPECT_NE(message("samples: {conv: 1}\nprior: {networks: [lenet5]}\nunits: [tpu]\n").find("unknown unit 'tpu'"), std::string::npos);
  EXPECT_NE(message("samples: {conv: 1}\nprior: {networks: [lenet5]}\nknobs: [9999]\n").find("unknown knob id 9999"), std::string::npos);
  EXPECT_NE(message("samples: {conv: 1}\nprior: {networks: [lenet5]}\nbatch: []\n").find("empty list"), std::string::npos);
  EXPECT_NE(message("samples: {conv: 1}\n").find("needs prior.networks"), std::string::npos);
  EXPECT_NE(message("seed: 1\n").find("no layers"), std::string::npos);
  EXPECT_NE(message("layers: [{op_type: Softplus, in_channels: 3, in_h: 8}]\n").find("cannot be profiled"), std::string::npos);
  EXPECT_NE(message("[1, 2").find("not valid YAML"), std::string::npos);
  EXPECT_THROW(load_layer_space("/nonexistent/space.yaml"), BadInput);
}

TEST(LayerSpace, ZooLayersAreTheNetworksDistinctLayers) {
  auto layers = zoo_layers({"lenet5"});
  // LeNet-5: two convolutions, two max-pools, three fully-connected layers (He/LeCun form).
  EXPECT_EQ(layers.at("conv").size(), 2u);
  EXPECT_EQ(layers.at("pool").size(), 2u);
  EXPECT_EQ(layers.at("fc").size(), 3u);
  std::set<std::string> seen;
  for (const auto& [cls, list] : zoo_layers({"resnet20", "resnet20"}))
    for (const auto& layer : list) EXPECT_TRUE(seen.insert(layer.describe()).second) << layer.describe();
}

TEST(LayerSpace, DrawIsReproducibleAndCoversEveryBatch) {
  LayerSpace space = parse_layer_space(kSpace, "space.yaml");
  std::vector<LayerConfig> a = draw_layers(space), b = draw_layers(space);
  ASSERT_EQ(a.size(), 2u * (10 + 2 + 2));
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].describe(), b[i].describe());
  int batch4 = 0;
  for (const auto& layer : a) batch4 += layer.batch == 4;
  EXPECT_EQ(batch4, 14);
  space.seed = 6;
  std::vector<LayerConfig> c = draw_layers(space);
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) differs |= a[i].describe() != c[i].describe();
  EXPECT_TRUE(differs);
}

TEST(LayerSpace, JitteredLayersStayBuildableAndKeepTheirStructure) {
  for (const auto& [cls, list] : zoo_layers({"mobilenet_v1", "resnet50", "lenet5"})) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      LayerConfig jittered = jitter_layer(list[i], 0.5, 100 + i);
      EXPECT_EQ(jittered.op_class, list[i].op_class);
      EXPECT_EQ(jittered.kernel, list[i].kernel);
      EXPECT_EQ(jittered.stride, list[i].stride);
      if (cls == "dwconv") {
        EXPECT_EQ(jittered.groups, jittered.in_channels);
      }
      Graph graph = layer_graph(jittered, false, 1);
      ASSERT_EQ(graph.nodes.size(), 1u) << jittered.describe();
      std::vector<NodeReport> reports = analyse_graph(graph);
      sim::OpWorkload work = sim::describe_op(graph, reports.front(), knob_catalog().require(11));
      if (cls == "conv" || cls == "dwconv") {
        EXPECT_EQ(work.features.at("in_channels"), jittered.in_channels);
        EXPECT_EQ(work.features.at("out_channels"), jittered.out_channels);
        EXPECT_EQ(work.features.at("kernel_h"), jittered.kernel);
      }
    }
  }
}

}  // namespace
}  // namespace coda::models
