// The model zoo: every network's MACs and parameters against a layer-list count written here from
// the papers and benchmark sources (and, for the ImageNet forms, against the published figures),
// the op types the trainer can differentiate, seeded reproducibility, the zoo options and specs,
// and for every network small enough to run in a unit test: run, export to ONNX, re-import, run
// again with bit-identical logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph_builder.h"
#include "kernels/onnx_export.h"
#include "kernels/onnx_import.h"
#include "kernels/zoo.h"
#include "tests/support/graph_runner.h"

namespace coda {
namespace {

// ---------------------------------------------------------------------------------------------
// An independent count: a layer list walked with the textbook formulas (output size
// (H + 2p - k) / s + 1, MACs = H_out W_out C_out (C_in / groups) k^2 for a convolution and
// in x out for a fully-connected layer), no graph involved.
struct LayerCount {
  int64_t c = 0, h = 0, w = 0;
  int64_t macs = 0;
  int64_t trainable = 0;    // weights, biases, batch-norm scale and shift: what papers report
  int64_t bn_channels = 0;  // batch-norm running mean and variance: 2 constants per channel in coda
  int64_t scalars = 0;      // dropout ratios: 1 constant each in coda

  LayerCount(int64_t channels, int64_t height, int64_t width) : c(channels), h(height), w(width) {}

  LayerCount& conv(int64_t out, int64_t k, int64_t s, int64_t p, int64_t groups, bool bias, bool bn) {
    h = (h + 2 * p - k) / s + 1;
    w = (w + 2 * p - k) / s + 1;
    macs += h * w * out * (c / groups) * k * k;
    trainable += out * (c / groups) * k * k + (bias ? out : 0) + (bn ? 2 * out : 0);
    if (bn) bn_channels += out;
    c = out;
    return *this;
  }
  LayerCount& pool(int64_t k, int64_t s, int64_t p = 0) {
    h = (h + 2 * p - k) / s + 1;
    w = (w + 2 * p - k) / s + 1;
    return *this;
  }
  LayerCount& global_pool() {
    h = w = 1;
    return *this;
  }
  LayerCount& fc(int64_t out) {
    const int64_t in = c * h * w;
    macs += in * out;
    trainable += in * out + out;
    c = out;
    h = w = 1;
    return *this;
  }
  LayerCount& dropout() {
    ++scalars;
    return *this;
  }
  // A branch (residual shortcut) starting from this layer's output shape.
  LayerCount branch() const { return LayerCount(c, h, w); }
  void absorb(const LayerCount& other) {
    macs += other.macs;
    trainable += other.trainable;
    bn_channels += other.bn_channels;
    scalars += other.scalars;
  }
  // What Graph::parameter_count reports: every float constant.
  int64_t coda_params() const { return trainable + 2 * bn_channels + scalars; }
};

// ResNet basic block (He et al. 2016, Fig. 2 left) with a 1x1 projection when the shape changes.
void basic_block(LayerCount& n, int64_t planes, int64_t stride, bool bn) {
  LayerCount shortcut = n.branch();
  const bool project = stride != 1 || n.c != planes;
  n.conv(planes, 3, stride, 1, 1, !bn, bn).conv(planes, 3, 1, 1, 1, !bn, bn);
  if (project) {
    shortcut.conv(planes, 1, stride, 0, 1, !bn, bn);
    n.absorb(shortcut);
  }
}

// Bottleneck (He et al. 2016, Fig. 5 right), stride on the 3x3 convolution.
void bottleneck(LayerCount& n, int64_t planes, int64_t stride) {
  LayerCount shortcut = n.branch();
  const bool project = stride != 1 || n.c != 4 * planes;
  n.conv(planes, 1, 1, 0, 1, false, true).conv(planes, 3, stride, 1, 1, false, true).conv(4 * planes, 1, 1, 0, 1, false, true);
  if (project) {
    shortcut.conv(4 * planes, 1, stride, 0, 1, false, true);
    n.absorb(shortcut);
  }
}

LayerCount resnet_imagenet(const std::vector<int>& blocks, bool use_bottleneck) {
  LayerCount n(3, 224, 224);
  n.conv(64, 7, 2, 3, 1, false, true).pool(3, 2, 1);
  const int64_t planes[] = {64, 128, 256, 512};
  for (std::size_t s = 0; s < 4; ++s)
    for (int i = 0; i < blocks[s]; ++i) {
      const int64_t stride = (s > 0 && i == 0) ? 2 : 1;
      if (use_bottleneck)
        bottleneck(n, planes[s], stride);
      else
        basic_block(n, planes[s], stride, true);
    }
  n.global_pool().fc(1000);
  return n;
}

LayerCount vgg16_imagenet() {
  LayerCount n(3, 224, 224);
  // Simonyan & Zisserman 2015, Table 1, column D.
  for (int64_t width : {64, 64}) n.conv(width, 3, 1, 1, 1, true, false);
  n.pool(2, 2);
  for (int64_t width : {128, 128}) n.conv(width, 3, 1, 1, 1, true, false);
  n.pool(2, 2);
  for (int64_t width : {256, 256, 256}) n.conv(width, 3, 1, 1, 1, true, false);
  n.pool(2, 2);
  for (int stage = 0; stage < 2; ++stage) {
    for (int64_t width : {512, 512, 512}) n.conv(width, 3, 1, 1, 1, true, false);
    n.pool(2, 2);
  }
  n.fc(4096).dropout().fc(4096).dropout().fc(1000);
  return n;
}

LayerCount alexnet_imagenet() {
  LayerCount n(3, 224, 224);
  // torchvision.models.alexnet (Krizhevsky 2014, "One weird trick", single column).
  n.conv(64, 11, 4, 2, 1, true, false).pool(3, 2);
  n.conv(192, 5, 1, 2, 1, true, false).pool(3, 2);
  n.conv(384, 3, 1, 1, 1, true, false).conv(256, 3, 1, 1, 1, true, false).conv(256, 3, 1, 1, 1, true, false).pool(3, 2);
  n.dropout().fc(4096).dropout().fc(4096).fc(1000);
  return n;
}

// Howard et al. 2017, Table 1: (depthwise stride, pointwise output channels) per block.
const std::vector<std::pair<int64_t, int64_t>> kMobileNetBlocks = {
    {1, 64}, {2, 128}, {1, 128}, {2, 256}, {1, 256}, {2, 512}, {1, 512},
    {1, 512}, {1, 512}, {1, 512}, {1, 512}, {2, 1024}, {1, 1024}};

LayerCount mobilenet(int64_t size, int64_t first_stride, int64_t classes, int dropouts) {
  LayerCount n(3, size, size);
  n.conv(32, 3, first_stride, 1, 1, false, true);
  for (const auto& block : kMobileNetBlocks) {
    n.conv(n.c, 3, block.first, 1, n.c, false, true);
    n.conv(block.second, 1, 1, 0, 1, false, true);
  }
  for (int i = 0; i < dropouts; ++i) n.dropout();
  n.global_pool().fc(classes);
  return n;
}

LayerCount lenet5() {
  LayerCount n(1, 28, 28);
  n.conv(6, 5, 1, 2, 1, true, false).pool(2, 2).conv(16, 5, 1, 0, 1, true, false).pool(2, 2);
  n.fc(120).fc(84).fc(10);
  return n;
}

// hpvm/test/dnn_benchmarks/keras/alexnet.py
LayerCount alexnet_cifar() {
  LayerCount n(3, 32, 32);
  n.conv(64, 11, 1, 5, 1, true, false).pool(2, 2).dropout();
  n.conv(192, 5, 1, 2, 1, true, false).pool(2, 2).dropout();
  n.conv(384, 3, 1, 1, 1, true, false).conv(256, 3, 1, 1, 1, true, false).conv(256, 3, 1, 1, 1, true, false);
  n.pool(2, 2).dropout().fc(10);
  return n;
}

// hpvm/test/dnn_benchmarks/keras/alexnet2.py
LayerCount alexnet2_cifar() {
  LayerCount n(3, 32, 32);
  for (int64_t width : {32, 64, 128}) n.conv(width, 3, 1, 1, 1, true, false).conv(width, 3, 1, 1, 1, true, false).pool(2, 2).dropout();
  n.fc(10);
  return n;
}

// hpvm/test/dnn_benchmarks/keras/vgg16_cifar10.py: 13 biased convs, 10 dropouts between them,
// one before and one after the 512-unit layer.
LayerCount vgg16_cifar() {
  LayerCount n(3, 32, 32);
  const std::vector<std::vector<int64_t>> stages = {{64, 64}, {128, 128}, {256, 256, 256}, {512, 512, 512}, {512, 512, 512}};
  for (const auto& stage : stages) {
    for (std::size_t i = 0; i < stage.size(); ++i) {
      n.conv(stage[i], 3, 1, 1, 1, true, false);
      if (i + 1 < stage.size()) n.dropout();
    }
    n.pool(2, 2);
  }
  n.dropout().fc(512).dropout().fc(10);
  return n;
}

// He et al. 2016, Sec. 4.2 with n = 3; `bn` false and biased convs: HPVM's resnet18_cifar10.
LayerCount resnet20(bool bn) {
  LayerCount n(3, 32, 32);
  n.conv(16, 3, 1, 1, 1, !bn, bn);
  for (int64_t planes : {16, 32, 64})
    for (int i = 0; i < 3; ++i) basic_block(n, planes, (planes > 16 && i == 0) ? 2 : 1, bn);
  n.global_pool().fc(10);
  return n;
}

// ---------------------------------------------------------------------------------------------

struct Counted {
  int64_t macs = 0;
  int64_t params = 0;
};

Counted count(Graph graph) {
  fill_symbolic_dims(graph, 1);
  prepare_graph(graph);
  Counted c;
  for (const NodeReport& r : analyse_graph(graph)) c.macs += r.cost.macs;
  c.params = graph.parameter_count();
  return c;
}

Graph shapes_only(const std::string& name, ZooOptions o = {}) {
  o.shapes_only = true;
  return build_zoo_model(name, o);
}

const std::vector<std::string> kAllNetworks = {"alexnet",      "alexnet2_cifar", "alexnet_cifar", "lenet5",
                                               "mobilenet_cifar", "mobilenet_v1", "resnet18",  "resnet18_cifar",
                                               "resnet20",     "resnet50",       "vgg16",        "vgg16_cifar"};
// Small enough to run in a unit test (under AddressSanitizer too): the 28x28 and 32x32 forms.
const std::vector<std::string> kSmallNetworks = {"lenet5",         "alexnet_cifar", "alexnet2_cifar", "vgg16_cifar",
                                                 "resnet18_cifar", "resnet20",      "mobilenet_cifar"};

TEST(Zoo, RegistersEveryNetwork) {
  std::vector<std::string> names;
  for (const ZooEntry& e : zoo_models()) {
    names.push_back(e.name);
    EXPECT_FALSE(e.description.empty()) << e.name;
  }
  EXPECT_EQ(names, kAllNetworks);
}

TEST(Zoo, UnknownNameListsTheAvailableOnes) {
  try {
    build_zoo_model("resnet19", {});
    FAIL() << "no error";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("resnet19"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("resnet20"), std::string::npos);
  }
}

// The published figures. MACs: torchvision's model table (GFLOPS column, which counts
// multiply-accumulates) for AlexNet 0.71, VGG-16 15.47, ResNet-18 1.81, ResNet-50 4.09 G; Howard et
// al. 2017, Table 8, for MobileNet-224 569 M. Parameters: torchvision's counts (exact) and, for
// MobileNet, 4,231,976 from Keras' MobileNet(alpha=1.0), reported as 4.2 M in Howard et al. Table 8.
struct Published {
  std::string name;
  std::function<LayerCount()> layers;
  double macs;
  int64_t params;  // trainable, as the source counts them
  double params_tolerance;
};

TEST(Zoo, ImageNetFormsMatchTheLayerListsAndPublishedFigures) {
  const std::vector<Published> nets = {
      {"resnet18", [] { return resnet_imagenet({2, 2, 2, 2}, false); }, 1.81e9, 11689512, 0},
      {"resnet50", [] { return resnet_imagenet({3, 4, 6, 3}, true); }, 4.09e9, 25557032, 0},
      {"vgg16", vgg16_imagenet, 15.47e9, 138357544, 0},
      {"alexnet", alexnet_imagenet, 0.71e9, 61100840, 0},
      {"mobilenet_v1", [] { return mobilenet(224, 2, 1000, 0); }, 569e6, 4231976, 0},
  };
  for (const Published& p : nets) {
    SCOPED_TRACE(p.name);
    const LayerCount expected = p.layers();
    const Counted got = count(shapes_only(p.name));
    EXPECT_EQ(got.macs, expected.macs);
    EXPECT_EQ(got.params, expected.coda_params());
    EXPECT_EQ(expected.trainable, p.params);
    // Published MAC figures are rounded to three significant digits.
    EXPECT_NEAR(static_cast<double>(got.macs) / p.macs, 1.0, 0.01);
  }
}

TEST(Zoo, SmallFormsMatchTheirLayerLists) {
  const std::map<std::string, std::function<LayerCount()>> nets = {
      {"lenet5", lenet5},
      {"alexnet_cifar", alexnet_cifar},
      {"alexnet2_cifar", alexnet2_cifar},
      {"vgg16_cifar", vgg16_cifar},
      {"resnet20", [] { return resnet20(true); }},
      {"resnet18_cifar", [] { return resnet20(false); }},
      {"mobilenet_cifar", [] { return mobilenet(32, 1, 10, 5); }},
  };
  for (const auto& entry : nets) {
    SCOPED_TRACE(entry.first);
    const LayerCount expected = entry.second();
    const Counted got = count(shapes_only(entry.first));
    EXPECT_EQ(got.macs, expected.macs);
    EXPECT_EQ(got.params, expected.coda_params());
  }
  // Published anchors: LeNet-5 (this form) 61,706 parameters; ResNet-20 0.27 M (He et al. 2016,
  // Table 6, option A), to which the two projection shortcuts (16x32 + 32x64 weights and their
  // batch norms) add 2,560 + 192.
  EXPECT_EQ(lenet5().trainable, 61706);
  EXPECT_EQ(resnet20(true).trainable, 272474);
  EXPECT_NEAR(static_cast<double>(resnet20(true).trainable - 2560 - 192) / 0.27e6, 1.0, 0.01);
}

TEST(Zoo, ShapesOnlyBuildCountsLikeTheRealOne) {
  for (const char* name : {"resnet20", "mobilenet_cifar"}) {
    const Counted a = count(shapes_only(name));
    const Counted b = count(build_zoo_model(name, {}));
    EXPECT_EQ(a.macs, b.macs) << name;
    EXPECT_EQ(a.params, b.params) << name;
  }
}

TEST(Zoo, UsesOnlyDifferentiableOpTypesAndOutputsLogits) {
  // The op types with backward passes (kernels/autograd.h), which training relies on.
  const std::set<std::string> allowed = {"Conv",        "Gemm",    "Relu",    "Tanh",   "Clip",
                                         "MaxPool",     "AveragePool", "GlobalAveragePool",
                                         "BatchNormalization", "Add", "Flatten", "Reshape", "Concat", "Dropout"};
  for (const std::string& name : kAllNetworks) {
    SCOPED_TRACE(name);
    Graph g = shapes_only(name);
    for (const Node& node : g.nodes) EXPECT_TRUE(allowed.count(node.op_type)) << node.op_type << " at " << node.name;
    ASSERT_EQ(g.inputs.size(), 1u);
    ASSERT_EQ(g.outputs.size(), 1u);
    // Logits: the last node is the classifier, not a softmax.
    const Node* producer = nullptr;
    for (const Node& node : g.nodes)
      if (node.outputs.front() == g.outputs.front()) producer = &node;
    ASSERT_NE(producer, nullptr);
    EXPECT_EQ(producer->op_type, "Gemm");
  }
}

TEST(Zoo, OptionsSetInputChannelsClassesAndBatch) {
  for (const std::string& name : kAllNetworks) {
    SCOPED_TRACE(name);
    ZooOptions o;
    o.batch = 3;
    o.in_channels = 2;
    o.classes = 7;
    Graph g = shapes_only(name, o);
    fill_symbolic_dims(g, 1);
    prepare_graph(g);
    const Shape& in = g.values[static_cast<std::size_t>(g.inputs.front())].shape;
    EXPECT_EQ(in[0], 3);
    EXPECT_EQ(in[1], 2);
    EXPECT_EQ(g.values[static_cast<std::size_t>(g.outputs.front())].shape, (Shape{3, 7}));
  }
  // The usual values: 1 grey channel for LeNet-5, 3 elsewhere; 10 CIFAR/MNIST classes, 1000 ImageNet.
  Graph lenet = shapes_only("lenet5");
  EXPECT_EQ(lenet.values[static_cast<std::size_t>(lenet.inputs.front())].shape, (Shape{1, 1, 28, 28}));
  Graph vgg = shapes_only("vgg16");
  EXPECT_EQ(vgg.values[static_cast<std::size_t>(vgg.inputs.front())].shape, (Shape{1, 3, 224, 224}));
  EXPECT_EQ(vgg.values[static_cast<std::size_t>(vgg.outputs.front())].shape, (Shape{1, 1000}));
}

TEST(Zoo, NegativeOptionsAreBadInput) {
  ZooOptions o;
  o.classes = -1;
  EXPECT_THROW(build_zoo_model("resnet20", o), BadInput);
  o = {};
  o.in_channels = -3;
  EXPECT_THROW(build_zoo_model("resnet20", o), BadInput);
  o = {};
  o.batch = -2;
  EXPECT_THROW(build_zoo_model("resnet20", o), BadInput);
}

TEST(Zoo, SpecParsing) {
  ZooOptions o;
  o.seed = 5;
  EXPECT_EQ(parse_zoo_spec("resnet20", o), "resnet20");
  EXPECT_EQ(o.classes, 0);
  EXPECT_EQ(o.seed, 5u);
  EXPECT_EQ(parse_zoo_spec("resnet20?classes=100,batch=8&in_channels=1", o), "resnet20");
  EXPECT_EQ(o.classes, 100);
  EXPECT_EQ(o.batch, 8);
  EXPECT_EQ(o.in_channels, 1);
  EXPECT_EQ(o.seed, 5u);  // not given: kept
  EXPECT_EQ(parse_zoo_spec("lenet5?in-channels=3, seed=9 ,batch=0", o), "lenet5");
  EXPECT_EQ(o.in_channels, 3);
  EXPECT_EQ(o.seed, 9u);
  EXPECT_EQ(o.batch, 0);
  EXPECT_EQ(parse_zoo_spec("lenet5?", o), "lenet5");
  for (const char* bad : {"", "?classes=1", "resnet20?classes", "resnet20?classes=", "resnet20?classes=-1",
                          "resnet20?classes=1.5", "resnet20?classes=ten", "resnet20?colour=1",
                          "resnet20?batch=99999999999", "resnet20?seed=99999999999999999999999"}) {
    ZooOptions fresh;
    EXPECT_THROW(parse_zoo_spec(bad, fresh), BadInput) << bad;
  }
  Graph g = build_zoo_model_from_spec("resnet20?classes=100,batch=0,seed=3", {});
  EXPECT_EQ(g.values[static_cast<std::size_t>(g.inputs.front())].shape[0], -1);
  EXPECT_EQ(g.values[static_cast<std::size_t>(g.outputs.front())].shape, (Shape{-1, 100}));
  // The metadata records the resolved spec, which rebuilds the same network.
  EXPECT_EQ(g.metadata.at("coda.zoo"), "resnet20?batch=0,classes=100,in_channels=3,seed=3");
}

std::vector<float> weights_of(const Graph& g) {
  std::vector<float> all;
  for (const Value& v : g.values)
    if (v.constant && v.dtype == DType::Float32)
      all.insert(all.end(), v.constant->f32(), v.constant->f32() + v.constant->size());
  return all;
}

TEST(Zoo, WeightsAreSeededHeInitialisation) {
  ZooOptions o;
  o.seed = 7;
  const std::vector<float> a = weights_of(build_zoo_model("lenet5", o));
  const std::vector<float> b = weights_of(build_zoo_model("lenet5", o));
  EXPECT_EQ(a, b);
  o.seed = 8;
  EXPECT_NE(a, weights_of(build_zoo_model("lenet5", o)));
  // He et al. 2015: std sqrt(2 / fan_in); a 3x3 convolution over 64 channels: fan_in 576.
  Graph g = build_zoo_model("alexnet2_cifar", {});
  const Tensor& w = *g.values[static_cast<std::size_t>(g.find_value("conv2b.weight"))].constant;
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < w.size(); ++i) {
    sum += w.f32()[i];
    sq += static_cast<double>(w.f32()[i]) * w.f32()[i];
  }
  const double n = static_cast<double>(w.size());
  EXPECT_NEAR(sum / n, 0.0, 0.003);
  EXPECT_NEAR(std::sqrt(sq / n) / std::sqrt(2.0 / 576.0), 1.0, 0.02);
}

TEST(Zoo, SmallNetworksRunAndSurviveAnOnnxRoundTripBitForBit) {
  for (const std::string& name : kSmallNetworks) {
    SCOPED_TRACE(name);
    ZooOptions o;
    o.batch = 2;
    o.seed = 11;
    Graph built = build_zoo_model(name, o);
    const Shape in_shape = built.values[static_cast<std::size_t>(built.inputs.front())].shape;
    const Tensor x = test::seeded_input(in_shape, 21);
    const Tensor y = test::run_graph(built, x);
    ASSERT_EQ(y.shape(), (Shape{2, 10}));
    // Non-degenerate logits: finite, and differing between classes and between the two images.
    for (int64_t i = 0; i < y.size(); ++i) ASSERT_TRUE(std::isfinite(y.f32()[i]));
    EXPECT_NE(y.f32()[0], y.f32()[1]);
    EXPECT_NE(std::memcmp(y.f32(), y.f32() + 10, 10 * sizeof(float)), 0);

    Graph reimported = import_onnx(export_onnx(built), name + ".onnx");
    EXPECT_EQ(reimported.metadata, built.metadata);
    const Tensor y2 = test::run_graph(reimported, x);
    ASSERT_EQ(y2.shape(), y.shape());
    EXPECT_EQ(std::memcmp(y.f32(), y2.f32(), y.bytes()), 0);
  }
}

TEST(Zoo, SymbolicBatchRunsAnyBatchAndRowsMatchSingleImages) {
  ZooOptions o;
  o.batch = 0;
  Graph g = build_zoo_model("resnet20", o);
  const Tensor x = test::seeded_input({3, 3, 32, 32}, 4);
  const Tensor y = test::run_graph(g, x);
  ASSERT_EQ(y.shape(), (Shape{3, 10}));
  for (int64_t image = 0; image < 3; ++image) {
    Tensor one({1, 3, 32, 32}, DType::Float32);
    std::memcpy(one.f32(), x.f32() + image * one.size(), one.bytes());
    const Tensor row = test::run_graph(g, one);
    for (int64_t k = 0; k < 10; ++k)
      EXPECT_NEAR(row.f32()[k], y.f32()[image * 10 + k], 1e-4f * (1.0f + std::fabs(row.f32()[k])));
  }
}

TEST(GraphBuilder, Relu6TanhConcatDropoutAndDepthwiseConv) {
  GraphBuilder b("ops", 3);
  int x = b.input("x", {1, 2, 2, 2});
  int r6 = b.relu6(x, "r6");
  int th = b.tanh(x, "th");
  int cat = b.concat({r6, th}, 1, "cat");
  int drop = b.dropout(cat, 0.25f, "drop");
  ConvSpec dw;
  dw.out_channels = 4;
  dw.kernel = 1;
  dw.groups = 4;
  dw.bias = false;
  int y = b.conv(drop, dw, "dw");
  b.output(y);
  EXPECT_EQ(b.shape(cat), (Shape{1, 4, 2, 2}));
  Graph g = b.finish();
  const Tensor& w = *g.values[static_cast<std::size_t>(g.find_value("dw.weight"))].constant;
  ASSERT_EQ(w.shape(), (Shape{4, 1, 1, 1}));
  const Tensor in = Tensor::from_floats({1, 2, 2, 2}, {-1.0f, 0.5f, 6.5f, 3.0f, -7.0f, 0.0f, 2.0f, 10.0f});
  const Tensor out = test::run_graph(g, in);
  ASSERT_EQ(out.shape(), (Shape{1, 4, 2, 2}));
  for (int64_t c = 0; c < 4; ++c)
    for (int64_t i = 0; i < 4; ++i) {
      const float v = in.f32()[(c % 2) * 4 + i];
      const float expected = c < 2 ? std::min(std::max(v, 0.0f), 6.0f) : std::tanh(v);
      EXPECT_FLOAT_EQ(out.f32()[c * 4 + i], w.f32()[c] * expected) << c << "," << i;
    }
  // The drop ratio is kept for training, as the Dropout node's ratio input.
  const Node* dropout = nullptr;
  for (const Node& n : g.nodes)
    if (n.op_type == "Dropout") dropout = &n;
  ASSERT_NE(dropout, nullptr);
  ASSERT_EQ(dropout->inputs.size(), 2u);
  EXPECT_FLOAT_EQ(g.values[static_cast<std::size_t>(dropout->inputs[1])].constant->f32()[0], 0.25f);
}

TEST(GraphBuilder, RejectsGroupsThatDoNotDivideTheChannels) {
  GraphBuilder b("bad", 1);
  int x = b.input("x", {1, 3, 8, 8});
  ConvSpec spec;
  spec.out_channels = 4;
  spec.groups = 2;
  EXPECT_THROW(b.conv(x, spec, "conv"), std::logic_error);
}

}  // namespace
}  // namespace coda
