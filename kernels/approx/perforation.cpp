#include "kernels/approx/perforation.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/fp16_kernels.h"
#include "kernels/approx/half_math.h"
#include "kernels/error.h"
#include "kernels/ops/window.h"
#include "kernels/tensor.h"

namespace coda {

namespace {

void check_knob(const Knob& knob) {
  const std::string where = "knob " + std::to_string(knob.id) + " (" + knob.name + ")";
  if (knob.k < 2) throw BadInput(where + ": perforation needs k >= 2, not " + std::to_string(knob.k));
  if (knob.offset < 0 || knob.offset >= knob.k)
    throw BadInput(where + ": offset " + std::to_string(knob.offset) + " is outside 0.." + std::to_string(knob.k - 1));
  if (knob.axis != 0 && knob.axis != 1)
    throw BadInput(where + ": axis " + std::to_string(knob.axis) + " is neither rows (0) nor columns (1)");
}

// The average of two computed neighbours, in float or half arithmetic.
template <bool Half>
inline float average(float a, float b) {
  return Half ? round_to_half(round_to_half(a + b) * 0.5f) : (a + b) * 0.5f;
}

// Skipped rows of one output plane: the average of the rows above and below.
template <bool Half>
void interpolate_rows(const Conv2dGeometry& g, int64_t k, int64_t offset, float* plane) {
  const int64_t W = g.out_w;
  for (int64_t r = offset; r < g.out_h; r += k) {
    float* __restrict dst = plane + r * W;
    const float* prev = r > 0 ? dst - W : nullptr;
    const float* next = r + 1 < g.out_h ? dst + W : nullptr;
    if (prev && next) {
      for (int64_t x = 0; x < W; ++x) dst[x] = average<Half>(prev[x], next[x]);
    } else {
      std::memcpy(dst, prev ? prev : next, static_cast<std::size_t>(W) * sizeof(float));
    }
  }
}

// Skipped columns of one output plane, row by row: the averages of every column's neighbours in
// one contiguous (vectorised) pass into `neighbours`, then a select keeps them in the skipped
// columns only.
template <bool Half>
void interpolate_columns(const Conv2dGeometry& g, const unsigned char* skipped, float* neighbours, float* plane) {
  const int64_t W = g.out_w;
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    float* __restrict row = plane + oh * W;
    float* __restrict avg = neighbours;
    avg[0] = row[1];
    avg[W - 1] = row[W - 2];
    for (int64_t x = 1; x + 1 < W; ++x) avg[x] = average<Half>(row[x - 1], row[x + 1]);
    for (int64_t x = 0; x < W; ++x) row[x] = skipped[x] ? avg[x] : row[x];
  }
}

// One residue q of the perforated lines: its convolution output (planes x out_plane, dense), or
// null when it was written into place.
struct Residue {
  int64_t q = 0, count = 0;
  const float* output = nullptr;
  int64_t plane = 0;  // floats per plane of `output`
};

// Scatters the residues' lines into y (line t of residue q is line q + t * k) and fills the
// skipped lines r = offset, offset + k, ... from their neighbours, one output plane at a time in
// a single parallel pass (a border line copies its only neighbour: averaging a value with itself
// could overflow in half).
template <bool Half>
void assemble(const Conv2dGeometry& g, bool rows, int64_t k, int64_t offset, const std::vector<Residue>& residues,
              float* y) {
  const int64_t planes = g.batch * g.out_channels;
  const int64_t W = g.out_w;
  std::vector<unsigned char> skipped;  // per column, when columns are perforated
  if (!rows) {
    skipped.assign(static_cast<std::size_t>(W), 0);
    for (int64_t r = offset; r < W; r += k) skipped[static_cast<std::size_t>(r)] = 1;
  }
  // A second fork/join after the convolution's costs more than this pass saves below ~256K
  // outputs (one ResNet-18 layer at batch 1 is 25K-200K), more so on a loaded machine where a
  // sleeping worker wakes late.
#pragma omp parallel if (planes * g.out_plane() >= (1 << 18) && !omp_in_parallel())
  {
    std::vector<float> neighbours(rows ? 0 : static_cast<std::size_t>(W));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      float* dst = y + p * g.out_plane();
      for (const Residue& res : residues) {
        if (!res.output) continue;
        const float* src = res.output + p * res.plane;
        if (rows) {
          for (int64_t t = 0; t < res.count; ++t)
            std::memcpy(dst + (res.q + t * k) * W, src + t * W, static_cast<std::size_t>(W) * sizeof(float));
        } else {
          for (int64_t oh = 0; oh < g.out_h; ++oh) {
            const float* __restrict s = src + oh * res.count;
            float* __restrict d = dst + oh * W + res.q;
            for (int64_t t = 0; t < res.count; ++t) d[t * k] = s[t];
          }
        }
      }
      if (rows) {
        interpolate_rows<Half>(g, k, offset, dst);
      } else {
        interpolate_columns<Half>(g, skipped.data(), neighbours.data(), dst);
      }
    }
  }
}

class PerforatedConvKernel : public ApproxKernel {
 public:
  PerforatedConvKernel(const OpKernel& exact, const Knob& knob) : ApproxKernel(exact), knob_(knob) {}
  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const Conv2dGeometry g = conv_geometry(ctx.node(), x.shape(), w.shape(), b ? &b->shape() : nullptr);
    perforated_conv2d(g, knob_, x.f32(), w.f32(), b ? b->f32() : nullptr, ctx.output(0).f32());
  }

 private:
  Knob knob_;
};

std::unique_ptr<OpKernel> make_perforated_kernel(const KnobRequest& request) {
  if (request.node.op_type != "Conv")
    throw BadInput("knob " + std::to_string(request.knob.id) + " (perforation) applies to Conv only, not " +
                   request.node.describe());
  check_knob(request.knob);
  return std::make_unique<PerforatedConvKernel>(request.exact, request.knob);
}

}  // namespace

PerforationStats perforated_conv2d(const Conv2dGeometry& g, const Knob& knob, const float* x, const float* w,
                                   const float* b, float* y) {
  check_knob(knob);
  const ConvArithmetic arithmetic{knob.precision, knob.accumulate};
  const bool half = arithmetic.half();
  const bool rows = knob.axis == 0;
  const int64_t k = knob.k, offset = knob.offset;
  const int64_t extent = rows ? g.out_h : g.out_w;
  const int64_t planes = g.batch * g.out_channels;

  // FP16: round the operands once for all residues.
  std::vector<float> xh, wh, bh;
  if (half) {
    xh.assign(x, x + g.batch * g.in_channels * g.in_plane());
    wh.assign(w, w + g.out_channels * g.patch_size());
    round_to_half(xh.data(), static_cast<int64_t>(xh.size()));
    round_to_half(wh.data(), static_cast<int64_t>(wh.size()));
    x = xh.data();
    w = wh.data();
    if (b) {
      bh.assign(b, b + g.out_channels);
      round_to_half(bh.data(), static_cast<int64_t>(bh.size()));
      b = bh.data();
    }
  }
  PerforationStats stats;
  if (extent < 2) {  // no skipped line could have a computed neighbour: compute everything
    if (g.is_depthwise()) {
      conv2d_depthwise_taps(g, x, w, nullptr, g.kernel_h * g.kernel_w, b, y, arithmetic);
    } else {
      conv2d_lowered(g, x, w, nullptr, g.patch_size(), b, y, arithmetic);
    }
    stats.computed_outputs = planes * g.out_plane();
    stats.macs = g.macs();
    return stats;
  }

  const int64_t length = rows ? g.out_w : g.out_h;  // elements per line
  std::vector<Residue> residues;
  std::vector<std::unique_ptr<Buffer>> buffers;
  for (int64_t q = 0; q < k && q < extent; ++q) {
    if (q == offset) continue;
    Residue res;
    res.q = q;
    res.count = (extent - q + k - 1) / k;  // lines q, q + k, ... below extent
    Conv2dGeometry sub = g;
    if (rows) {
      sub.out_h = res.count;
      sub.stride_h = k * g.stride_h;
      sub.pad_top = g.pad_top - q * g.stride_h;
    } else {
      sub.out_w = res.count;
      sub.stride_w = k * g.stride_w;
      sub.pad_left = g.pad_left - q * g.stride_w;
    }
    stats.macs += sub.macs();
    stats.computed_outputs += planes * sub.out_plane();
    if (g.is_depthwise()) {  // direct loops write the residue's lines straight into place
      OutputStrides strides;
      strides.plane = g.out_plane();
      strides.row = rows ? k * g.out_w : g.out_w;
      strides.column = rows ? 1 : k;
      conv2d_depthwise_taps(sub, x, w, nullptr, sub.kernel_h * sub.kernel_w, b, y + q * (rows ? g.out_w : 1),
                            arithmetic, strides);
    } else {
      buffers.push_back(std::make_unique<Buffer>(static_cast<std::size_t>(planes * sub.out_plane()) * sizeof(float)));
      auto* out = static_cast<float*>(buffers.back()->data());
      conv2d_lowered(sub, x, w, nullptr, sub.patch_size(), b, out, arithmetic);
      res.output = out;
      res.plane = sub.out_plane();
    }
    residues.push_back(res);
  }
  const int64_t skipped = (extent - offset + k - 1) / k;
  stats.interpolated_outputs = planes * skipped * length;
  if (half) {
    assemble<true>(g, rows, k, offset, residues, y);
  } else {
    assemble<false>(g, rows, k, offset, residues, y);
  }
  return stats;
}

CODA_REGISTER_KNOB_FAMILY(Perforation, make_perforated_kernel);

}  // namespace coda
