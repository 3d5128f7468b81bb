// Real ImageNet architectures as ONNX models, laid out the way common frameworks export them
// (torchvision via torch.onnx, the Caffe/Caffe2 conversions of the ONNX model zoo), with random
// He-initialised weights from a fixed seed. Resolution, width and class count are options so unit
// tests can run the true topology small, and the defaults give the full-size network.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace coda::test {

struct TopologyOptions {
  int64_t batch = 1;
  int64_t resolution = 224;  // input height = width
  double width = 1.0;        // multiplier on every layer's channel count (1.0 = the published network)
  int64_t classes = 1000;
  int opset = 0;             // 0: the topology's usual opset (see each builder)
  uint64_t seed = 1;
  bool dynamic_batch = false;  // write the batch dimension as the symbol "N", as exporters with
                               // dynamic_axes do
};

// torchvision alexnet (Krizhevsky et al. 2012, "one weird trick" variant): Conv/Relu/MaxPool, an
// AveragePool standing in for AdaptiveAvgPool2d(6) where the feature map allows, Flatten, Gemm.
// Default opset 9. Needs resolution >= 63.
onnx::ModelProto alexnet(const TopologyOptions& options);
// The original AlexNet as in the ONNX model zoo's bvlc_alexnet (Caffe): LRN after conv1/conv2,
// grouped conv2/4/5 (two GPU towers), Reshape {0,-1} before fc6, Dropout, Softmax; weights listed
// as graph inputs too and stored in float_data, as in the zoo's IR-3 files. Default opset 7.
// Needs resolution >= 67.
onnx::ModelProto alexnet_lrn(const TopologyOptions& options);
// torchvision vgg16 (Simonyan & Zisserman 2015, configuration D): 13 conv3x3+Relu, 5 MaxPool,
// 3 Gemm with Dropout. Default opset 11. Needs resolution >= 32.
onnx::ModelProto vgg16(const TopologyOptions& options);
// torchvision resnet50 (He et al. 2016, v1.5: stride in the 3x3 conv). Opset < 13 (default 9)
// flattens with PyTorch 1.x's x.view(x.size(0), -1) pattern Shape->Gather->Unsqueeze->Concat->
// Reshape; opset >= 13 with Flatten. Needs resolution >= 32.
onnx::ModelProto resnet50(const TopologyOptions& options);
// GoogLeNet / Inception v1 (Szegedy et al. 2015) as in the ONNX model zoo's bvlc_googlenet:
// 1x1/3x3/5x5/pool-projection branches joined by Concat, LRN, ceil-mode MaxPool, AveragePool over
// the final map, Dropout, Softmax. Default opset 10. Needs resolution >= 32.
onnx::ModelProto inception_v1(const TopologyOptions& options);
// SqueezeNet 1.1 (Iandola et al. 2016; torchvision squeezenet1_1): fire modules (squeeze 1x1,
// expand 1x1 and 3x3 joined by Concat), ceil-mode MaxPool, Dropout, conv classifier,
// GlobalAveragePool, Flatten, Softmax. Default opset 17. Needs resolution >= 32.
onnx::ModelProto squeezenet11(const TopologyOptions& options);
// torchvision densenet (Huang et al. 2017): dense layers BN-Relu-Conv1x1-BN-Relu-Conv3x3 whose
// inputs are the Concat of all earlier features, transitions BN-Relu-Conv1x1-AveragePool.
// `blocks` {6,12,24,16} with growth 32 is DenseNet-121. Default opset 13. Needs resolution >= 32.
onnx::ModelProto densenet(const TopologyOptions& options, const std::vector<int>& blocks = {6, 12, 24, 16},
                          int64_t growth = 32);
// ShuffleNet v1 with 3 groups (Zhang et al. 2018): grouped 1x1 convs, channel shuffle as
// Reshape->Transpose->Reshape, depthwise 3x3, Add (stride 1) or AveragePool shortcut + Concat
// (stride 2). Default opset 9. Needs resolution >= 32.
onnx::ModelProto shufflenet_v1(const TopologyOptions& options, int64_t groups = 3);
// MobileNet v1 (Howard et al. 2017): depthwise-separable blocks with BN and ReLU6 (Clip 0..6, as
// TensorFlow exports), GlobalAveragePool, Flatten, Gemm, Softmax. Default opset 12. Needs
// resolution >= 32.
onnx::ModelProto mobilenet_v1(const TopologyOptions& options);

struct Topology {
  std::string name;
  std::function<onnx::ModelProto(const TopologyOptions&)> build;
};
// Every builder above under a short name (densenet121, shufflenet_v1_g3, ...).
std::vector<Topology> all_topologies();

}  // namespace coda::test
