// A convolution test case shared by the approximate-convolution suites: shape, grouping, strides,
// dilations and padding of a 1-D (h == 0) or 2-D NCHW convolution, with its geometry and ONNX
// attributes, plus seeded normal data for its tensors.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv_kernels.h"
#include "kernels/graph.h"

namespace coda::test {

struct ConvCase {
  int64_t n, c, h, w;  // h == 0: 1-D input (N, C, W)
  int64_t cout, group, kh, kw;
  int64_t sh, sw, dh, dw;
  int64_t pt, pl, pb, pr;
  bool bias;
  bool one_d() const { return h == 0; }
  int64_t in_h() const { return one_d() ? 1 : h; }
  int64_t ker_h() const { return one_d() ? 1 : kh; }
  int64_t out_h() const { return one_d() ? 1 : (h + pt + pb - ((kh - 1) * dh + 1)) / sh + 1; }
  int64_t out_w() const { return (w + pl + pr - ((kw - 1) * dw + 1)) / sw + 1; }
  int64_t outputs() const { return n * cout * out_h() * out_w(); }
  int64_t patch() const { return c / group * ker_h() * kw; }
  Shape x_shape() const { return one_d() ? Shape{n, c, w} : Shape{n, c, h, w}; }
  Shape w_shape() const { return one_d() ? Shape{cout, c / group, kw} : Shape{cout, c / group, kh, kw}; }
  Conv2dGeometry geometry() const;
  // strides, dilations, pads and group (the kernel shape comes from the weights).
  Attributes attrs() const;
};

// n normal values with standard deviation `scale` from a seeded generator.
std::vector<float> random_vector(int64_t n, std::uint64_t seed, float scale);

}  // namespace coda::test
