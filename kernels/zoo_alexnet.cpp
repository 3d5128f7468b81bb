// AlexNet family.
//
// alexnet: torchvision's ImageNet AlexNet, the single-tower variant of Krizhevsky, "One weird trick
//   for parallelizing convolutional neural networks", arXiv:1404.5997, 2014 (64/192/384/256/256
//   channels). torchvision's AdaptiveAvgPool2d(6) is the identity on the 6x6 maps of a 224x224
//   input and is left out.
// alexnet_cifar, alexnet2_cifar: the ApproxTuner / HPVM CIFAR-10 benchmarks alexnet_cifar10 and
//   alexnet2_cifar10 (hpvm/test/dnn_benchmarks/keras/alexnet.py, alexnet2.py): tanh activations,
//   biased convolutions with "same" padding, 2x2 max pooling, one fully-connected layer, and the
//   Keras models' dropout layers (identity in inference).
#include <string>

#include "kernels/graph_builder.h"
#include "kernels/zoo.h"

namespace coda {
namespace {

int conv(GraphBuilder& b, int x, int64_t out, int64_t kernel, int64_t stride, int64_t pad, const std::string& name) {
  ConvSpec spec;
  spec.out_channels = out;
  spec.kernel = kernel;
  spec.stride = stride;
  spec.pad = pad;
  return b.conv(x, spec, name);
}

Graph alexnet(const ZooOptions& o) {
  GraphBuilder b("alexnet", o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), 224, 224});
  x = b.relu(conv(b, x, 64, 11, 4, 2, "conv1"), "conv1.relu");
  x = b.max_pool(x, 3, 2, 0, "pool1");
  x = b.relu(conv(b, x, 192, 5, 1, 2, "conv2"), "conv2.relu");
  x = b.max_pool(x, 3, 2, 0, "pool2");
  x = b.relu(conv(b, x, 384, 3, 1, 1, "conv3"), "conv3.relu");
  x = b.relu(conv(b, x, 256, 3, 1, 1, "conv4"), "conv4.relu");
  x = b.relu(conv(b, x, 256, 3, 1, 1, "conv5"), "conv5.relu");
  x = b.max_pool(x, 3, 2, 0, "pool5");
  x = b.flatten(x, "flatten");
  // Dropout probability 0.5 on the two hidden fully-connected layers (Krizhevsky et al. 2012, Sec. 4.2).
  x = b.dropout(x, 0.5f, "fc6.dropout");
  x = b.relu(b.gemm(x, 4096, "fc6"), "fc6.relu");
  x = b.dropout(x, 0.5f, "fc7.dropout");
  x = b.relu(b.gemm(x, 4096, "fc7"), "fc7.relu");
  x = b.gemm(x, o.classes_or(1000), "fc8");
  b.output(x);
  return b.finish();
}

Graph alexnet_cifar(const ZooOptions& o) {
  GraphBuilder b("alexnet_cifar", o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), 32, 32});
  x = b.tanh(conv(b, x, 64, 11, 1, 5, "conv1"), "conv1.tanh");
  x = b.dropout(b.max_pool(x, 2, 2, 0, "pool1"), 0.2f, "pool1.dropout");
  x = b.tanh(conv(b, x, 192, 5, 1, 2, "conv2"), "conv2.tanh");
  x = b.dropout(b.max_pool(x, 2, 2, 0, "pool2"), 0.3f, "pool2.dropout");
  x = b.tanh(conv(b, x, 384, 3, 1, 1, "conv3"), "conv3.tanh");
  x = b.tanh(conv(b, x, 256, 3, 1, 1, "conv4"), "conv4.tanh");
  x = b.tanh(conv(b, x, 256, 3, 1, 1, "conv5"), "conv5.tanh");
  x = b.dropout(b.max_pool(x, 2, 2, 0, "pool5"), 0.4f, "pool5.dropout");
  x = b.flatten(x, "flatten");
  x = b.gemm(x, o.classes_or(10), "fc");
  b.output(x);
  return b.finish();
}

Graph alexnet2_cifar(const ZooOptions& o) {
  GraphBuilder b("alexnet2_cifar", o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), 32, 32});
  const int64_t widths[] = {32, 64, 128};
  const float dropout[] = {0.2f, 0.3f, 0.4f};
  for (int stage = 0; stage < 3; ++stage) {
    const std::string s = std::to_string(stage + 1);
    x = b.tanh(conv(b, x, widths[stage], 3, 1, 1, "conv" + s + "a"), "conv" + s + "a.tanh");
    x = b.tanh(conv(b, x, widths[stage], 3, 1, 1, "conv" + s + "b"), "conv" + s + "b.tanh");
    x = b.dropout(b.max_pool(x, 2, 2, 0, "pool" + s), dropout[stage], "pool" + s + ".dropout");
  }
  x = b.flatten(x, "flatten");
  x = b.gemm(x, o.classes_or(10), "fc");
  b.output(x);
  return b.finish();
}

const ZooRegistrar alexnet_entry{
    {"alexnet", "AlexNet, ImageNet 224x224 (torchvision; Krizhevsky 2014 single-tower form)", alexnet}};
const ZooRegistrar alexnet_cifar_entry{
    {"alexnet_cifar", "HPVM/ApproxTuner alexnet_cifar10: 5 tanh convs, CIFAR 32x32", alexnet_cifar}};
const ZooRegistrar alexnet2_cifar_entry{
    {"alexnet2_cifar", "HPVM/ApproxTuner alexnet2_cifar10: 6 tanh 3x3 convs, CIFAR 32x32", alexnet2_cifar}};

}  // namespace
}  // namespace coda
