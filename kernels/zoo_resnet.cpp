// ResNet-18 and ResNet-50 in their ImageNet (224x224) form, as in torchvision
// (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Table 1), batch-norm
// after every convolution, stride on the 3x3 convolution of bottlenecks (torchvision's "v1.5").
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
  GraphBuilder b(name, o.seed);
  const int64_t channels = o.in_channels > 0 ? o.in_channels : 3;
  const int64_t classes = o.classes > 0 ? o.classes : 1000;
  int x = b.input("input", {o.batch, channels, 224, 224});
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
  x = b.gemm(x, classes, "fc");
  b.output(x);
  return b.finish();
}

const ZooRegistrar resnet18{{"resnet18", "ResNet-18, ImageNet 224x224 (He et al. 2016)",
                             [](const ZooOptions& o) { return imagenet_resnet("resnet18", {2, 2, 2, 2}, false, o); }}};
const ZooRegistrar resnet50{{"resnet50", "ResNet-50, ImageNet 224x224 (He et al. 2016)",
                             [](const ZooOptions& o) { return imagenet_resnet("resnet50", {3, 4, 6, 3}, true, o); }}};

}  // namespace
}  // namespace coda
