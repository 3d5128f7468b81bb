// Residual networks (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).
//
// resnet18, resnet50: the ImageNet (224x224) form, as in torchvision (Table 1 of the paper), batch
//   norm after every convolution, stride on the 3x3 convolution of bottlenecks (torchvision's
//   "v1.5"), 1x1 projection shortcuts (option B) where the shape changes.
// resnet20: the CIFAR form of Sec. 4.2 (6n+2 layers, n = 3: 16/32/64 channels at 32/16/8 pixels,
//   3 stages of 3 basic blocks, global average pooling, one fully-connected layer). The paper uses
//   parameter-free shortcuts (option A: strided identity zero-padded to the new width); coda uses
//   1x1 strided projection + batch norm (option B, the paper's Sec. 3.3 alternative), so the graph
//   needs only ops with backward passes (no Slice/Pad). It adds 2,560 weights to the 0.27 M.
// resnet18_cifar: the network ApproxTuner / HPVM call "ResNet-18 (CIFAR-10)"
//   (hpvm/test/dnn_benchmarks/pytorch/dnn/resnet.py, keras/resnet18_cifar10.py): despite its name
//   the ResNet-20 v1 topology, with biased convolutions and no batch norm (disabled in the
//   benchmark), 1x1 projection shortcuts, an 8x8 average pool and one fully-connected layer.
#include <string>

#include "kernels/graph_builder.h"
#include "kernels/zoo.h"

namespace coda {
namespace {

int conv_bn(GraphBuilder& b, int x, int64_t out, int64_t kernel, int64_t stride, const std::string& name, bool relu) {
  ConvSpec spec;
  spec.out_channels = out;
  spec.kernel = kernel;
  spec.stride = stride;
  spec.bias = false;
  int y = b.batch_norm(b.conv(x, spec, name), name + ".bn");
  return relu ? b.relu(y, name + ".relu") : y;
}

int basic_block(GraphBuilder& b, int x, int64_t planes, int64_t stride, const std::string& name) {
  int y = conv_bn(b, x, planes, 3, stride, name + ".conv1", true);
  y = conv_bn(b, y, planes, 3, 1, name + ".conv2", false);
  int shortcut = x;
  if (stride != 1 || b.shape(x)[1] != planes) shortcut = conv_bn(b, x, planes, 1, stride, name + ".downsample", false);
  return b.relu(b.add(y, shortcut, name + ".add"), name + ".relu");
}

int bottleneck(GraphBuilder& b, int x, int64_t planes, int64_t stride, const std::string& name) {
  constexpr int64_t kExpansion = 4;  // He et al. 2016, Table 1: 1x1 -> 3x3 -> 1x1 (4x planes)
  int y = conv_bn(b, x, planes, 1, 1, name + ".conv1", true);
  y = conv_bn(b, y, planes, 3, stride, name + ".conv2", true);
  y = conv_bn(b, y, planes * kExpansion, 1, 1, name + ".conv3", false);
  int shortcut = x;
  if (stride != 1 || b.shape(x)[1] != planes * kExpansion)
    shortcut = conv_bn(b, x, planes * kExpansion, 1, stride, name + ".downsample", false);
  return b.relu(b.add(y, shortcut, name + ".add"), name + ".relu");
}

Graph imagenet_resnet(const std::string& name, const std::vector<int>& blocks, bool use_bottleneck,
                      const ZooOptions& o) {
  GraphBuilder b(name, o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), 224, 224});
  x = conv_bn(b, x, 64, 7, 2, "conv1", true);
  x = b.max_pool(x, 3, 2, 1, "maxpool");
  const int64_t planes[] = {64, 128, 256, 512};
  for (std::size_t stage = 0; stage < blocks.size(); ++stage)
    for (int i = 0; i < blocks[stage]; ++i) {
      std::string block_name = "layer" + std::to_string(stage + 1) + "." + std::to_string(i);
      int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
      x = use_bottleneck ? bottleneck(b, x, planes[stage], stride, block_name)
                         : basic_block(b, x, planes[stage], stride, block_name);
    }
  x = b.global_average_pool(x, "avgpool");
  x = b.flatten(x, "flatten");
  x = b.gemm(x, o.classes_or(1000), "fc");
  b.output(x);
  return b.finish();
}

Graph resnet20(const ZooOptions& o) {
  GraphBuilder b("resnet20", o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), 32, 32});
  x = conv_bn(b, x, 16, 3, 1, "conv1", true);
  const int64_t planes[] = {16, 32, 64};
  constexpr int kBlocksPerStage = 3;  // n = 3 gives 6n + 2 = 20 layers
  for (int stage = 0; stage < 3; ++stage)
    for (int i = 0; i < kBlocksPerStage; ++i)
      x = basic_block(b, x, planes[stage], (stage > 0 && i == 0) ? 2 : 1,
                      "layer" + std::to_string(stage + 1) + "." + std::to_string(i));
  x = b.global_average_pool(x, "avgpool");
  x = b.flatten(x, "flatten");
  x = b.gemm(x, o.classes_or(10), "fc");
  b.output(x);
  return b.finish();
}

int biased_conv(GraphBuilder& b, int x, int64_t out, int64_t kernel, int64_t stride, const std::string& name) {
  ConvSpec spec;
  spec.out_channels = out;
  spec.kernel = kernel;
  spec.stride = stride;
  return b.conv(x, spec, name);
}

Graph hpvm_resnet18_cifar(const ZooOptions& o) {
  GraphBuilder b("resnet18_cifar", o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(3), 32, 32});
  x = b.relu(biased_conv(b, x, 16, 3, 1, "conv1"), "conv1.relu");
  const int64_t planes[] = {16, 32, 64};
  for (int stage = 0; stage < 3; ++stage)
    for (int i = 0; i < 3; ++i) {
      const std::string name = "layer" + std::to_string(stage + 1) + "." + std::to_string(i);
      const bool project = stage > 0 && i == 0;
      const int64_t stride = project ? 2 : 1;
      int y = b.relu(biased_conv(b, x, planes[stage], 3, stride, name + ".conv1"), name + ".conv1.relu");
      y = biased_conv(b, y, planes[stage], 3, 1, name + ".conv2");
      int shortcut = project ? biased_conv(b, x, planes[stage], 1, stride, name + ".shortcut") : x;
      x = b.relu(b.add(y, shortcut, name + ".add"), name + ".relu");
    }
  x = b.average_pool(x, 8, 8, 0, "avgpool");
  x = b.flatten(x, "flatten");
  x = b.gemm(x, o.classes_or(10), "fc");
  b.output(x);
  return b.finish();
}

const ZooRegistrar resnet18{{"resnet18", "ResNet-18, ImageNet 224x224 (He et al. 2016; torchvision)",
                             [](const ZooOptions& o) { return imagenet_resnet("resnet18", {2, 2, 2, 2}, false, o); }}};
const ZooRegistrar resnet50{{"resnet50", "ResNet-50 v1.5, ImageNet 224x224 (He et al. 2016; torchvision)",
                             [](const ZooOptions& o) { return imagenet_resnet("resnet50", {3, 4, 6, 3}, true, o); }}};
const ZooRegistrar resnet20_entry{{"resnet20", "ResNet-20, CIFAR 32x32, batch norm, projection shortcuts (He et al. 2016)",
                                   resnet20}};
const ZooRegistrar resnet18_cifar{
    {"resnet18_cifar", "HPVM/ApproxTuner resnet18_cifar10: ResNet-20 layout, no batch norm, CIFAR 32x32",
     hpvm_resnet18_cifar}};

}  // namespace
}  // namespace coda
