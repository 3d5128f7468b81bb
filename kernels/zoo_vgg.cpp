// VGG-16 (Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
// Recognition", ICLR 2015, configuration D: thirteen 3x3 convolutions in five stages of
// 64/128/256/512/512 channels, each stage closed by 2x2 max pooling).
//
// vgg16: the ImageNet form as in torchvision (no batch norm; fully-connected 4096-4096-classes
//   with dropout 0.5 after the two hidden layers; torchvision's AdaptiveAvgPool2d(7) is the
//   identity on the 7x7 maps of a 224x224 input and is left out).
// vgg16_cifar: the ApproxTuner / HPVM benchmark vgg16_cifar10
//   (hpvm/test/dnn_benchmarks/keras/vgg16_cifar10.py): the same thirteen biased convolutions on
//   32x32 input, a 512-unit hidden fully-connected layer, and the Keras model's dropout layers
//   (0.3 after the first convolution, 0.4 after the other non-final convolutions of a stage, 0.5
//   before each fully-connected layer).
#include <string>

#include "kernels/graph_builder.h"
#include "kernels/zoo.h"

namespace coda {
namespace {

constexpr int64_t kStageWidths[] = {64, 128, 256, 512, 512};
constexpr int kStageConvs[] = {2, 2, 3, 3, 3};

int conv3x3(GraphBuilder& b, int x, int64_t out, const std::string& name) {
  ConvSpec spec;
  spec.out_channels = out;
  spec.kernel = 3;
  spec.pad = 1;
  return b.relu(b.conv(x, spec, name), name + ".relu");
}

Graph vgg16(const ZooOptions& o) {
  GraphBuilder b("vgg16", o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), 224, 224});
  for (int stage = 0; stage < 5; ++stage) {
    for (int i = 0; i < kStageConvs[stage]; ++i)
      x = conv3x3(b, x, kStageWidths[stage], "conv" + std::to_string(stage + 1) + "_" + std::to_string(i + 1));
    x = b.max_pool(x, 2, 2, 0, "pool" + std::to_string(stage + 1));
  }
  x = b.flatten(x, "flatten");
  x = b.dropout(b.relu(b.gemm(x, 4096, "fc6"), "fc6.relu"), 0.5f, "fc6.dropout");
  x = b.dropout(b.relu(b.gemm(x, 4096, "fc7"), "fc7.relu"), 0.5f, "fc7.dropout");
  x = b.gemm(x, o.classes_or(1000), "fc8");
  b.output(x);
  return b.finish();
}

Graph vgg16_cifar(const ZooOptions& o) {
  GraphBuilder b("vgg16_cifar", o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), 32, 32});
  for (int stage = 0; stage < 5; ++stage) {
    for (int i = 0; i < kStageConvs[stage]; ++i) {
      const std::string name = "conv" + std::to_string(stage + 1) + "_" + std::to_string(i + 1);
      x = conv3x3(b, x, kStageWidths[stage], name);
      if (i + 1 < kStageConvs[stage]) x = b.dropout(x, stage == 0 ? 0.3f : 0.4f, name + ".dropout");
    }
    x = b.max_pool(x, 2, 2, 0, "pool" + std::to_string(stage + 1));
  }
  x = b.dropout(x, 0.5f, "pool5.dropout");
  x = b.flatten(x, "flatten");
  x = b.dropout(b.relu(b.gemm(x, 512, "fc1"), "fc1.relu"), 0.5f, "fc1.dropout");
  x = b.gemm(x, o.classes_or(10), "fc2");
  b.output(x);
  return b.finish();
}

const ZooRegistrar vgg16_entry{
    {"vgg16", "VGG-16 (configuration D), ImageNet 224x224 (Simonyan & Zisserman 2015; torchvision)", vgg16}};
const ZooRegistrar vgg16_cifar_entry{
    {"vgg16_cifar", "HPVM/ApproxTuner vgg16_cifar10: VGG-16 convs, 512-unit FC, CIFAR 32x32", vgg16_cifar}};

}  // namespace
}  // namespace coda
