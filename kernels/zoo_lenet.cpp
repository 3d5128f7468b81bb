// LeNet-5 (LeCun et al., "Gradient-Based Learning Applied to Document Recognition", Proc. IEEE
// 1998) in its common modern form for 28x28 MNIST / Fashion-MNIST: the paper's 32x32 input is
// replaced by 2 pixels of zero padding on C1, squashing units by ReLU and subsampling by 2x2 max
// pooling. Layers: C1 6@5x5, S2, C3 16@5x5 (all-to-all, not the paper's partial connection table),
// S4, then F5 120, F6 84, output 10 fully connected.
#include "kernels/graph_builder.h"
#include "kernels/zoo.h"

namespace coda {
namespace {

Graph lenet5(const ZooOptions& o) {
  GraphBuilder b("lenet5", o.seed, o.shapes_only);
  int x = b.input("input", {o.batch_dim(), o.channels_or(1), 28, 28});
  ConvSpec c1;
  c1.out_channels = 6;
  c1.kernel = 5;
  c1.pad = 2;
  x = b.max_pool(b.relu(b.conv(x, c1, "conv1"), "conv1.relu"), 2, 2, 0, "pool1");
  ConvSpec c3;
  c3.out_channels = 16;
  c3.kernel = 5;
  c3.pad = 0;
  x = b.max_pool(b.relu(b.conv(x, c3, "conv2"), "conv2.relu"), 2, 2, 0, "pool2");
  x = b.flatten(x, "flatten");
  x = b.relu(b.gemm(x, 120, "fc1"), "fc1.relu");
  x = b.relu(b.gemm(x, 84, "fc2"), "fc2.relu");
  x = b.gemm(x, o.classes_or(10), "fc3");
  b.output(x);
  return b.finish();
}

const ZooRegistrar lenet5_entry{{"lenet5", "LeNet-5, 28x28 grey (LeCun et al. 1998; ReLU and max-pool form)", lenet5}};

}  // namespace
}  // namespace coda
