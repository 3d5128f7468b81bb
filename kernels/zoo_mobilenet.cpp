// MobileNet v1 (Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
// Vision Applications", arXiv:1704.04861, 2017, Table 1, width multiplier 1.0): a full 3x3
// convolution, then 13 depthwise-separable blocks (3x3 depthwise convolution, 1x1 pointwise
// convolution, each followed by batch norm and ReLU), average pooling and one fully-connected
// layer. Table 1 prints the 13th depthwise convolution as stride 2 on a 7x7 input with a 7x7
// output; it is stride 1, as in the reference TF-slim implementation.
//
// mobilenet_v1: ImageNet 224x224, first convolution stride 2, 7x7 global average pooling.
// mobilenet_cifar: the ApproxTuner / HPVM benchmark mobilenet_cifar10
//   (hpvm/test/dnn_benchmarks/keras/mobilenet_cifar10.py): the same blocks on 32x32 input with a
//   stride-1 first convolution, 2x2 average pooling at the end, and the Keras model's dropout
//   (0.5 after blocks 3, 5, 8, 11 and 13).
// Batch-norm epsilon 1e-3: Keras' default, which both the TF-slim and the HPVM models use.
#include <set>
#include <string>

#include "kernels/graph_builder.h"
#include "kernels/zoo.h"

namespace coda {
namespace {

constexpr float kBnEpsilon = 1e-3f;

struct Block {
  int64_t stride;        // of the depthwise convolution
  int64_t out_channels;  // of the pointwise convolution
};
// Howard et al. 2017, Table 1.
constexpr Block kBlocks[] = {{1, 64},  {2, 128}, {1, 128}, {2, 256}, {1, 256}, {2, 512},  {1, 512},
                             {1, 512}, {1, 512}, {1, 512}, {1, 512}, {2, 1024}, {1, 1024}};

int conv_bn_relu(GraphBuilder& b, int x, int64_t out, int64_t kernel, int64_t stride, int64_t groups,
                 const std::string& name) {
  ConvSpec spec;
  spec.out_channels = out;
  spec.kernel = kernel;
  spec.stride = stride;
  spec.groups = groups;
  spec.bias = false;
  return b.relu(b.batch_norm(b.conv(x, spec, name), name + ".bn", kBnEpsilon), name + ".relu");
}

Graph mobilenet(const std::string& name, int64_t size, int64_t first_stride, const std::set<int>& dropout_after,
                int64_t default_classes, const ZooOptions& o) {
  GraphBuilder b(name, o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), size, size});
  x = conv_bn_relu(b, x, 32, 3, first_stride, 1, "conv1");
  int index = 1;
  for (const Block& block : kBlocks) {
    const std::string prefix = "block" + std::to_string(index);
    const int64_t channels = b.shape(x)[1];
    x = conv_bn_relu(b, x, channels, 3, block.stride, channels, prefix + ".dw");
    x = conv_bn_relu(b, x, block.out_channels, 1, 1, 1, prefix + ".pw");
    if (dropout_after.count(index)) x = b.dropout(x, 0.5f, prefix + ".dropout");
    ++index;
  }
  x = first_stride == 1 ? b.average_pool(x, 2, 2, 0, "avgpool") : b.global_average_pool(x, "avgpool");
  x = b.flatten(x, "flatten");
  x = b.gemm(x, o.classes_or(default_classes), "fc");
  b.output(x);
  return b.finish();
}

const ZooRegistrar mobilenet_v1_entry{
    {"mobilenet_v1", "MobileNet v1 (width 1.0), ImageNet 224x224 (Howard et al. 2017)",
     [](const ZooOptions& o) { return mobilenet("mobilenet_v1", 224, 2, {}, 1000, o); }}};
const ZooRegistrar mobilenet_cifar_entry{
    {"mobilenet_cifar", "HPVM/ApproxTuner mobilenet_cifar10: MobileNet v1 blocks, CIFAR 32x32",
     [](const ZooOptions& o) { return mobilenet("mobilenet_cifar", 32, 1, {3, 5, 8, 11, 13}, 10, o); }}};

}  // namespace
}  // namespace coda
