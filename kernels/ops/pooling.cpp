// MaxPool, AveragePool (1-D and 2-D windows), GlobalAveragePool and GlobalMaxPool, ONNX opsets
// 1-18. Window geometry (pads, auto_pad, ceil_mode, dilations) comes from window.h.
#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "kernels/op.h"
#include "kernels/ops/window.h"

namespace coda {

namespace {

// Planes below this many output elements in total are not worth an OpenMP fork/join.
constexpr int64_t kParallelMin = 1 << 14;

Shape pool_output_shape(const Shape& x, const PoolGeometry& g) {
  if (x.size() == 3) return {x[0], x[1], g.w.out};
  return {x[0], x[1], g.h.out, g.w.out};
}

// Applies `combine(acc, value)` over every tap of every window, padding reading as `pad_value`
// (-infinity for a max, 0 for a sum). As in coda's depthwise convolution, each input plane is
// staged into phase planes (PhasePlanes in window.h), so each tap is one long contiguous,
// vectorised sweep whatever the stride or dilation, with no bounds checks.
template <typename Combine>
void pool_planes(const PoolGeometry& g, const float* input, float* output, float pad_value, Combine combine) {
  const WindowAxis& H = g.h;
  const WindowAxis& W = g.w;
  // Sweeps cover whole 16-float vectors; the tail and the dropped columns read up to wq + 16
  // elements past a phase plane.
  const PhasePlanes layout(H, W, 1, 16);
  const int64_t wq = layout.wq;
  const int64_t acc_size = (H.out * wq + 15) / 16 * 16;
  const std::vector<int64_t>& tap_offset = layout.tap_offset;
  const int64_t in_plane = H.in * W.in, out_plane = H.out * W.out;
#pragma omp parallel if (g.planes * out_plane >= kParallelMin && !omp_in_parallel())
  {
    std::vector<float> phases(static_cast<std::size_t>(layout.size()), pad_value);
    std::vector<float> acc_buffer(static_cast<std::size_t>(acc_size));
    float* acc = acc_buffer.data();
#pragma omp for schedule(static)
    for (int64_t p = 0; p < g.planes; ++p) {
      // Every plane writes the same positions, so the padding keeps pad_value from the fill above.
      layout.stage(input + p * in_plane, phases.data());
      const float* first_tap = phases.data() + tap_offset.front();
      std::copy(first_tap, first_tap + acc_size, acc);
      for (std::size_t k = 1; k < tap_offset.size(); ++k) {
        const float* __restrict src = phases.data() + tap_offset[k];
        float* __restrict a = acc;
        for (int64_t t = 0; t < acc_size; ++t) a[t] = combine(a[t], src[t]);
      }
      float* out = output + p * out_plane;
      for (int64_t oh = 0; oh < H.out; ++oh)
        for (int64_t ow = 0; ow < W.out; ++ow) out[oh * W.out + ow] = acc[oh * wq + ow];
    }
  }
}

class MaxPoolOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const Node& node = ctx.node();
    if (node.outputs.size() > 1 && node.outputs[1] >= 0) ctx.fail("the Indices output is not supported");
    if (ctx.input(0).dtype != DType::Float32) ctx.fail("input must be float");
    PoolGeometry g = pool_geometry(node, ctx.shape(0));
    std::vector<TensorInfo> outs = {TensorInfo{pool_output_shape(ctx.shape(0), g), DType::Float32}};
    // An omitted Indices output still occupies a slot in the node's output list.
    if (node.outputs.size() > 1) outs.push_back(TensorInfo{outs[0].shape, DType::Int64});
    return outs;
  }

  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    PoolGeometry g = pool_geometry(ctx.node(), x.shape());
    // Padding is -infinity for a max, so a window lying wholly in padding yields -infinity.
    pool_planes(g, x.f32(), ctx.output(0).f32(), -std::numeric_limits<float>::infinity(),
                [](float acc, float v) { return v > acc ? v : acc; });
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    PoolGeometry g = pool_geometry(ctx.node(), ctx.shape(0));
    cost.flops += element_count(outputs[0].shape) * g.kernel_elements();  // one compare per tap
  }
};

class AveragePoolOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    if (ctx.input(0).dtype != DType::Float32) ctx.fail("input must be float");
    PoolGeometry g = pool_geometry(ctx.node(), ctx.shape(0));
    return {TensorInfo{pool_output_shape(ctx.shape(0), g), DType::Float32}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    PoolGeometry g = pool_geometry(ctx.node(), x.shape());
    float* y = ctx.output(0).f32();
    pool_planes(g, x.f32(), y, 0.0f, [](float acc, float v) { return acc + v; });
    const bool include_pad = ctx.attrs().get_int("count_include_pad", 0) != 0;
    const std::vector<int64_t> dh = average_divisors(g.h, include_pad), dw = average_divisors(g.w, include_pad);
    const int64_t out_plane = g.h.out * g.w.out;
    std::vector<float> divisor(static_cast<std::size_t>(out_plane));
    for (int64_t oh = 0; oh < g.h.out; ++oh)
      for (int64_t ow = 0; ow < g.w.out; ++ow) {
        const int64_t n = dh[static_cast<std::size_t>(oh)] * dw[static_cast<std::size_t>(ow)];
        // A window with no counted tap averages nothing: its sum is 0 and so is its output.
        divisor[static_cast<std::size_t>(oh * g.w.out + ow)] = static_cast<float>(std::max<int64_t>(n, 1));
      }
#pragma omp parallel for schedule(static) if (g.planes * out_plane >= kParallelMin && !omp_in_parallel())
    for (int64_t p = 0; p < g.planes; ++p) {
      float* out = y + p * out_plane;
      for (int64_t i = 0; i < out_plane; ++i) out[i] /= divisor[static_cast<std::size_t>(i)];
    }
  }

  void count(const InferContext& ctx, const std::vector<TensorInfo>& outputs, OpCost& cost) const override {
    PoolGeometry g = pool_geometry(ctx.node(), ctx.shape(0));
    const int64_t outs = element_count(outputs[0].shape);
    cost.flops += outs * g.kernel_elements() + outs;  // one add per tap, one division per output
  }
};

// Global pools reduce every spatial position of each (image, channel) plane.
Shape global_output_shape(const InferContext& ctx) {
  const Shape& x = ctx.shape(0);
  if (x.size() < 3) ctx.fail("input " + shape_string(x) + " must be (N, C, D1, ...)");
  if (ctx.input(0).dtype != DType::Float32) ctx.fail("input must be float");
  Shape y(x.size(), 1);
  y[0] = x[0];
  y[1] = x[1];
  return y;
}

template <typename Reduce>
void global_pool(const Tensor& x, float* y, Reduce reduce) {
  const int64_t planes = x.dim(0) * x.dim(1);
  const int64_t plane = planes == 0 ? 0 : x.size() / planes;
  const float* in = x.f32();
#pragma omp parallel for schedule(static) if (x.size() >= kParallelMin && !omp_in_parallel())
  for (int64_t p = 0; p < planes; ++p) y[p] = reduce(in + p * plane, plane);
}

class GlobalAveragePoolOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    return {TensorInfo{global_output_shape(ctx), DType::Float32}};
  }
  void run(const RunContext& ctx) const override {
    global_pool(ctx.input(0), ctx.output(0).f32(), [](const float* v, int64_t n) {
      double sum = 0.0;  // long 1-D planes would lose digits in a float sum
      for (int64_t i = 0; i < n; ++i) sum += v[i];
      return n > 0 ? static_cast<float>(sum / static_cast<double>(n)) : 0.0f;
    });
  }
  void count(const InferContext& ctx, const std::vector<TensorInfo>&, OpCost& cost) const override {
    cost.flops += element_count(ctx.shape(0));  // one add per input element
  }
};

class GlobalMaxPoolOp : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    return {TensorInfo{global_output_shape(ctx), DType::Float32}};
  }
  void run(const RunContext& ctx) const override {
    global_pool(ctx.input(0), ctx.output(0).f32(), [](const float* v, int64_t n) {
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < n; ++i) best = v[i] > best ? v[i] : best;
      return best;
    });
  }
  void count(const InferContext& ctx, const std::vector<TensorInfo>&, OpCost& cost) const override {
    cost.flops += element_count(ctx.shape(0));  // one compare per input element
  }
};

}  // namespace

CODA_REGISTER_OP(MaxPool, MaxPoolOp);
CODA_REGISTER_OP(AveragePool, AveragePoolOp);
CODA_REGISTER_OP(GlobalAveragePool, GlobalAveragePoolOp);
CODA_REGISTER_OP(GlobalMaxPool, GlobalMaxPoolOp);

}  // namespace coda
