#include "tests/support/conv_case.h"

#include <random>

#include "tests/support/graph_runner.h"

namespace coda::test {

Conv2dGeometry ConvCase::geometry() const {
  Conv2dGeometry g;
  g.batch = n;
  g.in_channels = c;
  g.in_h = in_h();
  g.in_w = w;
  g.out_channels = cout;
  g.out_h = out_h();
  g.out_w = out_w();
  g.kernel_h = ker_h();
  g.kernel_w = kw;
  g.stride_h = one_d() ? 1 : sh;
  g.stride_w = sw;
  g.dilation_h = one_d() ? 1 : dh;
  g.dilation_w = dw;
  g.pad_top = one_d() ? 0 : pt;
  g.pad_left = pl;
  g.groups = group;
  return g;
}

Attributes ConvCase::attrs() const {
  if (one_d())
    return attrs_of({{"strides", std::vector<int64_t>{sw}},
                     {"dilations", std::vector<int64_t>{dw}},
                     {"pads", std::vector<int64_t>{pl, pr}},
                     {"group", group}});
  return attrs_of({{"strides", std::vector<int64_t>{sh, sw}},
                   {"dilations", std::vector<int64_t>{dh, dw}},
                   {"pads", std::vector<int64_t>{pt, pl, pb, pr}},
                   {"group", group}});
}

std::vector<float> random_vector(int64_t n, std::uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

}  // namespace coda::test
