#include "tests/support/topologies.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "tests/support/onnx_builder.h"

namespace coda::test {

namespace {

// Channel count scaled by the width multiplier, rounded to a multiple of `multiple` (grouped convs
// need divisible channel counts), never below one multiple.
int64_t scaled(int64_t channels, double width, int64_t multiple = 1) {
  auto units = static_cast<int64_t>(std::lround(static_cast<double>(channels) * width / static_cast<double>(multiple)));
  return std::max<int64_t>(1, units) * multiple;
}

// Output size of a convolution or floor-mode pooling window along one axis.
int64_t window_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil_mode = false) {
  const int64_t span = in + 2 * pad - kernel;
  if (span < 0) throw std::invalid_argument("topology: the resolution is too small for this network");
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

int opset_or(const TopologyOptions& o, int fallback) { return o.opset > 0 ? o.opset : fallback; }

int64_t batch_dim(const TopologyOptions& o) { return o.dynamic_batch ? -1 : o.batch; }

std::string start(ModelBuilder& b, const TopologyOptions& o, const std::string& name = "input") {
  b.input(name, {batch_dim(o), 3, o.resolution, o.resolution});
  return name;
}

void finish(ModelBuilder& b, const TopologyOptions& o, const std::string& y) {
  b.output(y, {batch_dim(o), o.classes});
}

// PyTorch 1.x exported x.view(x.size(0), -1) as a shape computation on the tensor itself.
std::string torch_view_flatten(ModelBuilder& b, const std::string& x) {
  std::string shape = b.fresh("shape"), zero = b.fresh("const"), n = b.fresh("gather"), n1 = b.fresh("unsqueeze"),
              minus1 = b.fresh("const"), target = b.fresh("concat"), y = b.fresh("reshape");
  b.node("Shape", {x}, {shape});
  b.node("Constant", {}, {zero}, {attr_tensor("value", tensor_proto_i64("", {}, {0}))});
  b.node("Gather", {shape, zero}, {n}, {attr_int("axis", 0)});
  b.node("Unsqueeze", {n}, {n1}, {attr_ints("axes", {0})});
  b.node("Constant", {}, {minus1}, {attr_tensor("value", tensor_proto_i64("", {1}, {-1}))});
  b.node("Concat", {n1, minus1}, {target}, {attr_int("axis", 0)});
  b.node("Reshape", {x, target}, {y});
  return y;
}

// ReLU6 as TensorFlow converters write it: Clip with bounds as attributes before opset 11 and as
// scalar inputs from Clip-11 on.
std::string relu6(ModelBuilder& b, const std::string& x) {
  if (b.opset() < 11) return b.unary("Clip", x, {attr_float("min", 0.0f), attr_float("max", 6.0f)});
  std::string lo = b.fresh("clip_min"), hi = b.fresh("clip_max"), y = b.fresh("clip");
  b.initializer(lo, {}, {0.0f});
  b.initializer(hi, {}, {6.0f});
  b.node("Clip", {x, lo, hi}, {y});
  return y;
}

}  // namespace

onnx::ModelProto alexnet(const TopologyOptions& o) {
  ModelBuilder b(opset_or(o, 9), o.seed, "alexnet");
  const double w = o.width;
  int64_t s = o.resolution;
  std::string x = start(b, o);
  const int64_t c1 = scaled(64, w), c2 = scaled(192, w), c3 = scaled(384, w), c4 = scaled(256, w),
                c5 = scaled(256, w);
  x = b.conv_relu(x, 3, c1, 11, 4, 2);
  s = window_size(s, 11, 4, 2);
  x = b.max_pool(x, 3, 2);
  s = window_size(s, 3, 2, 0);
  x = b.conv_relu(x, c1, c2, 5, 1, 2);
  x = b.max_pool(x, 3, 2);
  s = window_size(s, 3, 2, 0);
  x = b.conv_relu(x, c2, c3, 3, 1, 1);
  x = b.conv_relu(x, c3, c4, 3, 1, 1);
  x = b.conv_relu(x, c4, c5, 3, 1, 1);
  x = b.max_pool(x, 3, 2);
  s = window_size(s, 3, 2, 0);
  // AdaptiveAvgPool2d(6) exports as a plain AveragePool when the map is a multiple of 6.
  if (s >= 6 && s % 6 == 0) {
    x = b.avg_pool(x, s / 6, s / 6);
    s = 6;
  }
  x = b.flatten(x);
  const int64_t hidden = scaled(4096, w);
  x = b.relu(b.linear(x, c5 * s * s, hidden));
  x = b.relu(b.linear(x, hidden, hidden));
  x = b.linear(x, hidden, o.classes);
  finish(b, o, x);
  return b.proto();
}

onnx::ModelProto alexnet_lrn(const TopologyOptions& o) {
  ModelBuilder b(opset_or(o, 7), o.seed, "bvlc_alexnet");
  // Like the model zoo's IR-3 files: weights also listed as graph inputs, stored in float_data.
  b.set_initializers_as_inputs(true);
  b.set_raw_data(false);
  const double w = o.width;
  int64_t s = o.resolution;
  std::string x = start(b, o, "data_0");
  // Caffe's two-tower AlexNet: groups of 2 on conv2, conv4, conv5, so channels stay even.
  const int64_t c1 = scaled(96, w, 2), c2 = scaled(256, w, 2), c3 = scaled(384, w, 2), c4 = scaled(384, w, 2),
                c5 = scaled(256, w, 2);
  // LRN parameters of the Caffe model (Krizhevsky et al. 2012, section 3.3): n=5, alpha=1e-4, beta=0.75, k=1.
  auto norm = [&](const std::string& in) { return b.lrn(in, 5, 1e-4f, 0.75f, 1.0f); };
  x = norm(b.conv_relu(x, 3, c1, 11, 4, 0));
  s = window_size(s, 11, 4, 0);
  x = b.max_pool(x, 3, 2);
  s = window_size(s, 3, 2, 0);
  x = norm(b.conv_relu(x, c1, c2, 5, 1, 2, 2));
  x = b.max_pool(x, 3, 2);
  s = window_size(s, 3, 2, 0);
  x = b.conv_relu(x, c2, c3, 3, 1, 1);
  x = b.conv_relu(x, c3, c4, 3, 1, 1, 2);
  x = b.conv_relu(x, c4, c5, 3, 1, 1, 2);
  x = b.max_pool(x, 3, 2);
  s = window_size(s, 3, 2, 0);
  x = b.reshape(x, {0, -1});
  const int64_t hidden = scaled(4096, w);
  x = b.dropout(b.relu(b.linear(x, c5 * s * s, hidden)));
  x = b.dropout(b.relu(b.linear(x, hidden, hidden)));
  x = b.softmax(b.linear(x, hidden, o.classes), 1);
  finish(b, o, x);
  return b.proto();
}

onnx::ModelProto vgg16(const TopologyOptions& o) {
  ModelBuilder b(opset_or(o, 11), o.seed, "vgg16");
  int64_t s = o.resolution, c = 3;
  std::string x = start(b, o);
  // Configuration D of Simonyan & Zisserman (2015), table 1; 0 marks a 2x2 max pool.
  const int64_t config[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
  for (int64_t v : config) {
    if (v == 0) {
      x = b.max_pool(x, 2, 2);
      s = window_size(s, 2, 2, 0);
    } else {
      const int64_t out = scaled(v, o.width);
      x = b.conv_relu(x, c, out, 3, 1, 1);
      c = out;
    }
  }
  if (s >= 7 && s % 7 == 0) {
    x = b.avg_pool(x, s / 7, s / 7);
    s = 7;
  }
  x = b.flatten(x);
  const int64_t hidden = scaled(4096, o.width);
  x = b.dropout(b.relu(b.linear(x, c * s * s, hidden)));
  x = b.dropout(b.relu(b.linear(x, hidden, hidden)));
  x = b.linear(x, hidden, o.classes);
  finish(b, o, x);
  return b.proto();
}

onnx::ModelProto resnet50(const TopologyOptions& o) {
  ModelBuilder b(opset_or(o, 9), o.seed, "resnet50");
  std::string x = start(b, o);
  int64_t in = scaled(64, o.width);
  x = b.conv_bn_relu(x, 3, in, 7, 2, 3);
  x = b.max_pool(x, 3, 2, 1);
  // Stages of He et al. (2016), table 1 (50-layer): bottleneck widths and block counts.
  const int64_t planes[] = {64, 128, 256, 512};
  const int blocks[] = {3, 4, 6, 3};
  const int64_t expansion = 4;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t p = scaled(planes[stage], o.width), out = p * expansion;
    for (int i = 0; i < blocks[stage]; ++i) {
      const int64_t stride = (i == 0 && stage > 0) ? 2 : 1;
      std::string y = b.conv_bn_relu(x, in, p, 1, 1, 0);
      y = b.conv_bn_relu(y, p, p, 3, stride, 1);
      y = b.conv_bn(y, p, out, 1, 1, 0);
      std::string shortcut = i == 0 ? b.conv_bn(x, in, out, 1, stride, 0) : x;
      x = b.relu(b.add(y, shortcut));
      in = out;
    }
  }
  x = b.global_avg_pool(x);
  x = b.opset() < 13 ? torch_view_flatten(b, x) : b.flatten(x);
  x = b.linear(x, in, o.classes);
  finish(b, o, x);
  return b.proto();
}

onnx::ModelProto inception_v1(const TopologyOptions& o) {
  ModelBuilder b(opset_or(o, 10), o.seed, "bvlc_googlenet");
  const double w = o.width;
  int64_t s = o.resolution;
  std::string x = start(b, o, "data_0");
  auto norm = [&](const std::string& in) { return b.lrn(in, 5, 1e-4f, 0.75f, 1.0f); };
  // Caffe pools round up; the converted model keeps that with ceil_mode (MaxPool-10).
  auto pool = [&](const std::string& in) {
    s = window_size(s, 3, 2, 0, true);
    return b.max_pool(in, 3, 2, 0, true);
  };
  const int64_t c64 = scaled(64, w), c192 = scaled(192, w);
  x = b.conv_relu(x, 3, c64, 7, 2, 3);
  s = window_size(s, 7, 2, 3);
  x = norm(pool(x));
  x = b.conv_relu(x, c64, c64, 1, 1, 0);
  x = b.conv_relu(x, c64, c192, 3, 1, 1);
  x = pool(norm(x));
  int64_t c = c192;
  // Szegedy et al. (2015), table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
  auto inception = [&](const int64_t (&v)[6]) {
    const int64_t n1 = scaled(v[0], w), r3 = scaled(v[1], w), n3 = scaled(v[2], w), r5 = scaled(v[3], w),
                  n5 = scaled(v[4], w), pp = scaled(v[5], w);
    std::string b1 = b.conv_relu(x, c, n1, 1, 1, 0);
    std::string b2 = b.conv_relu(b.conv_relu(x, c, r3, 1, 1, 0), r3, n3, 3, 1, 1);
    std::string b3 = b.conv_relu(b.conv_relu(x, c, r5, 1, 1, 0), r5, n5, 5, 1, 2);
    std::string b4 = b.conv_relu(b.max_pool(x, 3, 1, 1), c, pp, 1, 1, 0);
    x = b.concat({b1, b2, b3, b4}, 1);
    c = n1 + n3 + n5 + pp;
  };
  inception({64, 96, 128, 16, 32, 32});
  inception({128, 128, 192, 32, 96, 64});
  x = pool(x);
  inception({192, 96, 208, 16, 48, 64});
  inception({160, 112, 224, 24, 64, 64});
  inception({128, 128, 256, 24, 64, 64});
  inception({112, 144, 288, 32, 64, 64});
  inception({256, 160, 320, 32, 128, 128});
  x = pool(x);
  inception({256, 160, 320, 32, 128, 128});
  inception({384, 192, 384, 48, 128, 128});
  // pool5/7x7_s1: an average over the whole final map (7x7 at 224).
  x = b.avg_pool(x, s, 1);
  x = b.dropout(x, 0.4f);
  x = b.reshape(x, {0, -1});
  x = b.softmax(b.linear(x, c, o.classes), 1);
  finish(b, o, x);
  return b.proto();
}

onnx::ModelProto squeezenet11(const TopologyOptions& o) {
  ModelBuilder b(opset_or(o, 17), o.seed, "squeezenet1_1");
  const double w = o.width;
  std::string x = start(b, o);
  int64_t c = scaled(64, w);
  x = b.conv_relu(x, 3, c, 3, 2, 0);
  auto fire = [&](int64_t squeeze, int64_t expand) {
    const int64_t sq = scaled(squeeze, w), ex = scaled(expand, w);
    std::string s = b.conv_relu(x, c, sq, 1, 1, 0);
    x = b.concat({b.conv_relu(s, sq, ex, 1, 1, 0), b.conv_relu(s, sq, ex, 3, 1, 1)}, 1);
    c = 2 * ex;
  };
  // torchvision squeezenet1_1: ceil-mode pools and fire modules (squeeze, expand) per stage.
  x = b.max_pool(x, 3, 2, 0, true);
  fire(16, 64);
  fire(16, 64);
  x = b.max_pool(x, 3, 2, 0, true);
  fire(32, 128);
  fire(32, 128);
  x = b.max_pool(x, 3, 2, 0, true);
  fire(48, 192);
  fire(48, 192);
  fire(64, 256);
  fire(64, 256);
  x = b.dropout(x, 0.5f);
  x = b.conv_relu(x, c, o.classes, 1, 1, 0);
  x = b.flatten(b.global_avg_pool(x));
  x = b.softmax(x, 1);
  finish(b, o, x);
  return b.proto();
}

onnx::ModelProto densenet(const TopologyOptions& o, const std::vector<int>& blocks, int64_t growth) {
  ModelBuilder b(opset_or(o, 13), o.seed, "densenet");
  const int64_t g = scaled(growth, o.width);
  const int64_t bn_size = 4;  // bottleneck width factor of torchvision's DenseNet-BC
  std::string x = start(b, o);
  int64_t nf = scaled(64, o.width);
  x = b.conv(x, 3, nf, 7, 2, 3, 1, false);
  x = b.max_pool(b.relu(b.batch_norm(x, nf)), 3, 2, 1);
  for (std::size_t bi = 0; bi < blocks.size(); ++bi) {
    std::vector<std::string> features{x};
    for (int l = 0; l < blocks[bi]; ++l) {
      const int64_t cin = nf + l * g;
      // torch.cat(prev_features, 1): a Concat of every earlier feature map, one input for the first layer.
      std::string y = b.concat(features, 1);
      y = b.conv(b.relu(b.batch_norm(y, cin)), cin, bn_size * g, 1, 1, 0, 1, false);
      y = b.conv(b.relu(b.batch_norm(y, bn_size * g)), bn_size * g, g, 3, 1, 1, 1, false);
      features.push_back(y);
    }
    x = b.concat(features, 1);
    nf += blocks[bi] * g;
    if (bi + 1 < blocks.size()) {
      x = b.conv(b.relu(b.batch_norm(x, nf)), nf, nf / 2, 1, 1, 0, 1, false);
      x = b.avg_pool(x, 2, 2);
      nf /= 2;
    }
  }
  x = b.flatten(b.global_avg_pool(b.relu(b.batch_norm(x, nf))));
  x = b.linear(x, nf, o.classes);
  finish(b, o, x);
  return b.proto();
}

onnx::ModelProto shufflenet_v1(const TopologyOptions& o, int64_t groups) {
  ModelBuilder b(opset_or(o, 9), o.seed, "shufflenet_v1");
  // Zhang et al. (2018), table 1: output channels of stages 2-4 for g = 1, 2, 3, 4, 8.
  int64_t base = 0;
  switch (groups) {
    case 1: base = 144; break;
    case 2: base = 200; break;
    case 3: base = 240; break;
    case 4: base = 272; break;
    case 8: base = 384; break;
    default: throw std::invalid_argument("shufflenet_v1: groups must be 1, 2, 3, 4 or 8");
  }
  int64_t s = o.resolution;
  std::string x = start(b, o);
  int64_t c = scaled(24, o.width, groups);
  x = b.conv_bn_relu(x, 3, c, 3, 2, 1);
  s = window_size(s, 3, 2, 1);
  x = b.max_pool(x, 3, 2, 1);
  s = window_size(s, 3, 2, 1);
  auto shuffle = [&](const std::string& in, int64_t channels) {
    std::string y = b.reshape(in, {0, groups, channels / groups, s, s});
    std::string t = b.fresh("transpose");
    b.node("Transpose", {y}, {t}, {attr_ints("perm", {0, 2, 1, 3, 4})});
    return b.reshape(t, {0, -1, s, s});
  };
  const int repeats[] = {4, 8, 4};
  for (int stage = 0; stage < 3; ++stage) {
    const int64_t out = scaled(base << stage, o.width, 4 * groups);
    for (int i = 0; i < repeats[stage]; ++i) {
      const bool down = i == 0;
      const int64_t bott = out / 4, branch_out = down ? out - c : out;
      // The paper does not group the first pointwise conv of stage 2: its input is only 24 wide.
      const int64_t g1 = (stage == 0 && i == 0) ? 1 : groups;
      std::string y = b.conv_bn_relu(x, c, bott, 1, 1, 0, g1);
      y = shuffle(y, bott);
      y = b.conv_bn(y, bott, bott, 3, down ? 2 : 1, 1, bott);
      const int64_t s_out = down ? window_size(s, 3, 2, 1) : s;
      y = b.conv_bn(y, bott, branch_out, 1, 1, 0, groups);
      if (down) {
        // PyTorch's AvgPool2d counts the padding by default (count_include_pad=True).
        std::string shortcut = b.avg_pool(x, 3, 2, 1, false, true);
        x = b.relu(b.concat({shortcut, y}, 1));
      } else {
        x = b.relu(b.add(x, y));
      }
      s = s_out;
      c = out;
    }
  }
  x = b.flatten(b.global_avg_pool(x));
  x = b.linear(x, c, o.classes);
  finish(b, o, x);
  return b.proto();
}

onnx::ModelProto mobilenet_v1(const TopologyOptions& o) {
  ModelBuilder b(opset_or(o, 12), o.seed, "mobilenet_v1");
  std::string x = start(b, o);
  int64_t c = scaled(32, o.width);
  x = relu6(b, b.conv_bn(x, 3, c, 3, 2, 1));
  // Howard et al. (2017), table 1: (output channels, stride) of the depthwise-separable blocks.
  const int64_t layers[][2] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2}, {512, 1},
                               {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  for (const auto& layer : layers) {
    const int64_t out = scaled(layer[0], o.width);
    x = relu6(b, b.conv_bn(x, c, c, 3, layer[1], 1, c));
    x = relu6(b, b.conv_bn(x, c, out, 1, 1, 0));
    c = out;
  }
  x = b.flatten(b.global_avg_pool(x));
  x = b.softmax(b.linear(x, c, o.classes), 1);
  finish(b, o, x);
  return b.proto();
}

std::vector<Topology> all_topologies() {
  return {
      {"alexnet", alexnet},
      {"alexnet_lrn", alexnet_lrn},
      {"vgg16", vgg16},
      {"resnet50", resnet50},
      {"inception_v1", inception_v1},
      {"squeezenet1_1", squeezenet11},
      {"densenet121", [](const TopologyOptions& o) { return densenet(o); }},
      {"shufflenet_v1_g3", [](const TopologyOptions& o) { return shufflenet_v1(o); }},
      {"mobilenet_v1", mobilenet_v1},
  };
}

}  // namespace coda::test
