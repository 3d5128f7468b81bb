// Backward passes of the ops that move, combine or select values: Add, Sub, Sum and Mul with
// numpy broadcasting (the gradient of a broadcast operand is summed over the dimensions it was
// stretched along), Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Concat, Pad,
// Transpose, Softmax and LogSoftmax. Every reduction is summed by one thread per output element
// in a fixed order, so results are reproducible.
//
// Dropout trains as inverted dropout (Srivastava et al., 2014, JMLR 15, "Dropout"): each element
// is kept with probability 1 - ratio and scaled by 1 / (1 - ratio). The mask comes from a
// counter-based generator keyed by the node's `seed` attribute (or its name) and a hash of the
// input, so it changes from batch to batch yet a rerun reproduces it, with no state kept between
// calls.

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/autograd.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

using ArrayMap = Eigen::Map<Eigen::ArrayXf>;
using ConstArrayMap = Eigen::Map<const Eigen::ArrayXf>;
using elementwise::kParallelMin;

// dst (of shape `target`, which broadcasts to `out`) = scale * src (of shape `out`) summed over
// the dimensions along which target was broadcast.
void reduce_to(const float* src, const Shape& out, const Shape& target, float scale, float* dst) {
  const int64_t total = element_count(out);
  const int64_t kept_total = element_count(target);
  if (kept_total == total) {  // nothing broadcast: same elements in the same order
    elementwise::parallel_chunks(total, [&](int64_t b, int64_t e) {
      ArrayMap(dst + b, e - b) = ConstArrayMap(src + b, e - b) * scale;
    });
    return;
  }
  if (kept_total == 0) return;
  if (total == 0) {
    std::fill(dst, dst + kept_total, 0.0f);
    return;
  }
  // Output dimensions without the 1s, neighbours of the same kind (kept in the target or summed
  // away) merged; kept dimensions then index the target in row-major order.
  const std::size_t lead = out.size() - target.size();
  std::vector<int64_t> size;
  std::vector<bool> kept;
  for (std::size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    const bool k = d >= lead && target[d - lead] != 1;
    if (!size.empty() && kept.back() == k) {
      size.back() *= out[d];
    } else {
      size.push_back(out[d]);
      kept.push_back(k);
    }
  }
  const std::size_t rank = size.size();
  std::vector<int64_t> stride(rank, 1);
  for (std::size_t d = rank - 1; d-- > 0;) stride[d] = stride[d + 1] * size[d + 1];
  const int64_t inner = size.back();
  const bool inner_kept = kept.back();
  // Source offsets of every combination of the summed dimensions, innermost one excluded when
  // it is summed (it is a contiguous run).
  std::vector<int64_t> sums = {0};
  for (std::size_t d = 0; d < rank; ++d) {
    if (kept[d] || (d + 1 == rank)) continue;
    std::vector<int64_t> next;
    next.reserve(sums.size() * static_cast<std::size_t>(size[d]));
    for (int64_t base : sums)
      for (int64_t i = 0; i < size[d]; ++i) next.push_back(base + i * stride[d]);
    sums.swap(next);
  }
  // Source offset of a target element (of the kept dimensions, innermost excluded when kept).
  auto kept_offset = [&](int64_t t) {
    int64_t offset = 0;
    for (std::size_t d = inner_kept ? rank - 1 : rank; d-- > 0;) {
      if (!kept[d]) continue;
      offset += (t % size[d]) * stride[d];
      t /= size[d];
    }
    return offset;
  };
  const bool parallel = total >= kParallelMin && !omp_in_parallel();
  if (!inner_kept) {
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t t = 0; t < kept_total; ++t) {
      const int64_t base = kept_offset(t);
      double sum = 0.0;
      for (int64_t s : sums) sum += ConstArrayMap(src + base + s, inner).sum();
      dst[t] = static_cast<float>(scale * sum);
    }
    return;
  }
  // Innermost dimension kept: blocks of it accumulate, element by element, over the summed
  // combinations.
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t outer = kept_total / inner;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t task = 0; task < outer * blocks; ++task) {
    const int64_t t = task / blocks, i0 = (task % blocks) * kBlock, n = std::min(kBlock, inner - i0);
    const int64_t base = kept_offset(t) + i0;
    double acc[kBlock];
    std::fill(acc, acc + n, 0.0);
    for (int64_t s : sums) {
      const float* row = src + base + s;
      for (int64_t i = 0; i < n; ++i) acc[i] += row[i];
    }
    float* d = dst + t * inner + i0;
    for (int64_t i = 0; i < n; ++i) d[i] = static_cast<float>(scale * acc[i]);
  }
}

// Shape under which operand i broadcasts: its own, or for opset < 7 nodes with broadcast = 1 the
// legacy alignment of B against A (see elementwise::legacy_broadcast).
Shape operand_shape(const BackwardContext& ctx, int i) {
  const Shape& own = ctx.input(i).shape();
  if (i == 1) {
    Shape b_as;
    std::string error;
    if (elementwise::legacy_broadcast(ctx.attrs(), ctx.node().opset, ctx.input(0).shape(), own, b_as, error)) {
      if (!error.empty()) ctx.fail(error);
      return b_as;
    }
  }
  return own;
}

// Add, Sub, Sum: each input's gradient is +-dY reduced to its shape.
template <bool Subtract>
class AdditiveGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const Tensor* dy = output_grad_or_zero_inputs(ctx);
    if (!dy) return;
    const int n = static_cast<int>(ctx.node().inputs.size());
    for (int i = 0; i < n; ++i) {
      Tensor* dx = ctx.input_grad(i);
      if (!dx) continue;
      const float scale = Subtract && i == 1 ? -1.0f : 1.0f;
      reduce_to(dy->f32(), dy->shape(), operand_shape(ctx, i), scale, dx->f32());
    }
  }
};

// Mul: dA = reduce(dY * B), dB = reduce(dY * A).
class MulGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const Tensor* dy = output_grad_or_zero_inputs(ctx);
    if (!dy) return;
    for (int i = 0; i < 2; ++i) {
      Tensor* dx = ctx.input_grad(i);
      if (!dx) continue;
      const Tensor& other = ctx.input(1 - i);
      const Shape other_shape = operand_shape(ctx, 1 - i);
      const Shape& out = dy->shape();
      Tensor product(out);
      elementwise::BroadcastPlan plan(out, {out, other_shape});
      const int64_t inner = plan.inner();
      const bool walks = plan.inner_stride(1) != 0;
      const float* g = dy->f32();
      const float* o = other.f32();
      float* p = product.f32();
      elementwise::for_each_segment(
          plan, [&](const elementwise::BroadcastCursor& c, int64_t row, int64_t begin, int64_t end) {
            const Eigen::Index len = end - begin;
            const int64_t at = row * inner + begin;
            if (walks) {
              ArrayMap(p + at, len) = ConstArrayMap(g + at, len) * ConstArrayMap(o + c.offset(1) + begin, len);
            } else {
              ArrayMap(p + at, len) = ConstArrayMap(g + at, len) * o[c.offset(1)];
            }
          });
      reduce_to(p, out, operand_shape(ctx, i), 1.0f, dx->f32());
    }
  }
};

// Reshape, Flatten, Squeeze, Unsqueeze, Identity: the same elements in the same order.
class ViewGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    Tensor* dx;
    const Tensor* dy;
    if (!unary_gradients(ctx, dx, dy)) return;
    if (dy->size() != dx->size()) ctx.fail("output gradient " + shape_string(dy->shape()) + " does not fit the input");
    elementwise::parallel_copy(dx->raw(), dy->raw(), dx->bytes());
  }
  // Shape or axes inputs (Reshape, Squeeze, Unsqueeze from opset 13).
  std::vector<int> non_differentiable_inputs() const override { return {1}; }
};

// splitmix64 (Steele, Lea & Flood, 2014, "Fast splittable pseudorandom number generators"):
// a bijective 64-bit mix, here the generator of a counter-based random stream.
uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class DropoutGrad final : public GradKernel {
 public:
  void forward_train(const TrainForwardContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.dtype() != DType::Float32) ctx.fail("training needs a float input");
    float ratio = 0.5f;  // ONNX default
    if (ctx.node().opset < 12) {
      ratio = ctx.attrs().get_float("ratio", ratio);
    } else if (ctx.has_input(1)) {
      ratio = ctx.input(1).to_float_vector().at(0);
    }
    if (!(ratio >= 0.0f && ratio <= 1.0f)) ctx.fail("ratio " + std::to_string(ratio) + " is outside [0, 1]");
    Tensor& y = ctx.output(0);
    const bool want_mask = ctx.node().outputs.size() > 1 && ctx.node().outputs[1] >= 0;
    std::vector<Tensor>& saved = ctx.saved();
    saved.clear();
    if (ratio == 0.0f) {
      elementwise::parallel_copy(y.raw(), x.raw(), y.bytes());
      if (want_mask) std::fill(ctx.output(1).i64(), ctx.output(1).i64() + x.size(), int64_t{1});
      return;
    }
    // Key: seed (or node name) and a hash of up to 4096 input elements spread over the tensor.
    uint64_t key = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
    if (ctx.attrs().has("seed")) {
      key ^= static_cast<uint64_t>(ctx.attrs().get_int("seed", 0));
    } else {
      for (unsigned char ch : ctx.node().name) key = (key ^ ch) * 0x100000001b3ULL;  // FNV-1a prime
    }
    const int64_t n = x.size();
    const int64_t step = std::max<int64_t>(1, n / 4096);
    for (int64_t i = 0; i < n; i += step) {
      uint32_t bits;
      std::memcpy(&bits, x.f32() + i, sizeof(bits));
      key = splitmix64(key ^ bits);
    }
    const float keep = 1.0f - ratio;
    const float scale = keep > 0.0f ? 1.0f / keep : 0.0f;
    Tensor mask(x.shape());
    float* m = mask.f32();
    // Element i is kept when the top 24 bits of its random word, as a fraction of 2^24, reach ratio.
    const auto threshold = static_cast<uint64_t>(std::ceil(static_cast<double>(ratio) * 16777216.0));
    const float* in = x.f32();
    float* out = y.f32();
    elementwise::parallel_chunks(n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const uint64_t u = splitmix64(key + static_cast<uint64_t>(i)) >> 40;
        m[i] = u >= threshold ? scale : 0.0f;
        out[i] = in[i] * m[i];
      }
    });
    if (want_mask) {
      int64_t* flags = ctx.output(1).i64();
      for (int64_t i = 0; i < n; ++i) flags[i] = m[i] != 0.0f ? 1 : 0;
    }
    saved.push_back(std::move(mask));
  }

  void backward(const BackwardContext& ctx) const override {
    Tensor* dx;
    const Tensor* dy;
    if (!unary_gradients(ctx, dx, dy)) return;
    if (ctx.saved().empty()) {  // ratio 0: the identity
      elementwise::parallel_copy(dx->raw(), dy->raw(), dx->bytes());
      return;
    }
    const float* m = ctx.saved()[0].f32();
    const float* g = dy->f32();
    float* d = dx->f32();
    elementwise::parallel_chunks(dx->size(), [&](int64_t b, int64_t e) {
      ArrayMap(d + b, e - b) = ConstArrayMap(g + b, e - b) * ConstArrayMap(m + b, e - b);
    });
  }
  std::vector<int> non_differentiable_inputs() const override { return {1, 2}; }
};

// Concat: each input's gradient is its block of every row of dY.
class ConcatGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    const Tensor* dy = output_grad_or_zero_inputs(ctx);
    if (!dy) return;
    const int n = static_cast<int>(ctx.node().inputs.size());
    const int64_t rank = dy->rank();
    int64_t axis = ctx.attrs().get_int("axis", 1);
    if (!elementwise::normalize_axis(axis, rank)) ctx.fail("axis " + std::to_string(axis) + " is out of range");
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= dy->shape()[static_cast<std::size_t>(d)];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= dy->shape()[static_cast<std::size_t>(d)];
    const int64_t row = dy->shape()[static_cast<std::size_t>(axis)] * inner;
    int64_t start = 0;
    for (int i = 0; i < n; ++i) {
      const int64_t block = ctx.input(i).shape()[static_cast<std::size_t>(axis)] * inner;
      if (Tensor* dx = ctx.input_grad(i)) {
        const float* src = dy->f32() + start;
        float* dst = dx->f32();
        const bool parallel = outer > 1 && outer * block >= kParallelMin && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(dst + o * block, src + o * row, static_cast<std::size_t>(block) * sizeof(float));
      }
      start += block;
    }
  }
};

// Pad: each output element that read an input element passes its gradient back to it. In
// constant mode that map is one-to-one (a crop of dY); edge, reflect and wrap read some input
// elements several times and sum their gradients, on one thread in output order.
class PadGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    Tensor* dx;
    const Tensor* dy;
    if (!unary_gradients(ctx, dx, dy)) return;
    const Shape& in_shape = ctx.input(0).shape();
    const Shape& out_shape = dy->shape();
    const std::size_t rank = in_shape.size();
    const std::string mode = ctx.attrs().get_string("mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
      ctx.fail("mode must be constant, reflect, edge or wrap, got '" + mode + "'");
    std::vector<int64_t> begin, end;
    pads(ctx, rank, begin, end);
    zero_gradient(dx);
    if (rank == 0) {
      dx->f32()[0] = dy->f32()[0];
      return;
    }
    std::vector<std::vector<int64_t>> maps(rank);
    for (std::size_t d = 0; d < rank; ++d) {
      maps[d] = index_map(in_shape[d], begin[d], end[d], mode);
      if (static_cast<int64_t>(maps[d].size()) != out_shape[d]) ctx.fail("output gradient does not match the padding");
    }
    std::vector<int64_t> in_strides(rank, 1);
    for (std::size_t d = rank - 1; d-- > 0;) in_strides[d] = in_strides[d + 1] * in_shape[d + 1];
    const int64_t inner = out_shape[rank - 1];
    const int64_t rows = inner == 0 ? 0 : dy->size() / inner;
    const std::vector<int64_t>& last = maps[rank - 1];
    const float* g = dy->f32();
    float* d = dx->f32();
    const bool parallel = mode == "constant" && dy->size() >= kParallelMin && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t offset = 0, rest = r;
      bool padding_row = false;
      for (std::size_t k = rank - 1; k-- > 0;) {
        const int64_t i = maps[k][static_cast<std::size_t>(rest % out_shape[k])];
        rest /= out_shape[k];
        if (i < 0) padding_row = true;
        offset += i * in_strides[k];
      }
      if (padding_row) continue;
      const float* src = g + r * inner;
      for (int64_t x = 0; x < inner; ++x) {
        const int64_t i = last[static_cast<std::size_t>(x)];
        if (i >= 0) d[offset + i] += src[x];
      }
    }
  }
  std::vector<int> non_differentiable_inputs() const override { return {1, 2, 3}; }

 private:
  // Pads per dimension from the attribute (opset < 11) or the constant inputs pads and axes.
  static void pads(const BackwardContext& ctx, std::size_t rank, std::vector<int64_t>& begin,
                   std::vector<int64_t>& end) {
    std::vector<int64_t> p;
    if (ctx.node().opset < 11) {
      p = ctx.attrs().get_ints(ctx.node().opset < 2 ? "paddings" : "pads");
    } else {
      p = ctx.input(1).to_int64_vector();
    }
    std::vector<int64_t> axes;
    if (ctx.node().opset >= 11 && ctx.has_input(3)) {
      axes = ctx.input(3).to_int64_vector();
    } else {
      for (std::size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
    }
    if (p.size() != 2 * axes.size()) ctx.fail("pads do not match the axes");
    begin.assign(rank, 0);
    end.assign(rank, 0);
    for (std::size_t i = 0; i < axes.size(); ++i) {
      int64_t a = axes[i];
      if (!elementwise::normalize_axis(a, static_cast<int64_t>(rank))) ctx.fail("axis out of range");
      begin[static_cast<std::size_t>(a)] = p[i];
      end[static_cast<std::size_t>(a)] = p[i + axes.size()];
    }
  }

  // Input index along one dimension of each output index, -1 for the constant; the forward
  // kernel's rule (kernels/ops/pad.cpp): crop by negative pads, then pad by positive ones.
  static std::vector<int64_t> index_map(int64_t dim, int64_t begin, int64_t end, const std::string& mode) {
    const int64_t crop = std::max<int64_t>(-begin, 0);
    const int64_t kept = dim + std::min<int64_t>(begin, 0) + std::min<int64_t>(end, 0);
    const int64_t before = std::max<int64_t>(begin, 0);
    const int64_t after = std::max<int64_t>(end, 0);
    std::vector<int64_t> map(static_cast<std::size_t>(std::max<int64_t>(0, before + kept + after)));
    for (int64_t o = 0; o < static_cast<int64_t>(map.size()); ++o) {
      int64_t rel = o - before;
      if (rel < 0 || rel >= kept) {
        if (mode == "constant" || kept <= 0) {
          rel = -1;
        } else if (mode == "edge") {
          rel = std::clamp<int64_t>(rel, 0, kept - 1);
        } else if (mode == "wrap") {
          rel = ((rel % kept) + kept) % kept;
        } else if (kept == 1) {  // reflect
          rel = 0;
        } else {
          const int64_t period = 2 * (kept - 1);
          rel = ((rel % period) + period) % period;
          if (rel >= kept) rel = period - rel;
        }
      }
      map[static_cast<std::size_t>(o)] = rel < 0 ? -1 : crop + rel;
    }
    return map;
  }
};

// Transpose: dX is dY transposed by the inverse permutation, run by the forward kernel.
class TransposeGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    Tensor* dx;
    const Tensor* dy;
    if (!unary_gradients(ctx, dx, dy)) return;
    const std::size_t rank = static_cast<std::size_t>(dx->rank());
    std::vector<int64_t> perm = ctx.attrs().get_ints("perm");
    if (perm.empty())
      for (std::size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
    if (perm.size() != rank) ctx.fail("perm does not match the input rank");
    std::vector<int64_t> inverse(rank);
    for (std::size_t j = 0; j < rank; ++j) inverse[static_cast<std::size_t>(perm[j])] = static_cast<int64_t>(j);
    Node node = ctx.node();
    node.attrs.set("perm", inverse);
    require_op(node).run(RunContext(node, {dy}, {dx}));
  }
};

// Softmax: dx = y (dy - sum(dy y)); LogSoftmax: dx = dy - exp(y) sum(dy), sums along the
// normalised axis (opset < 13: all dimensions from `axis` on).
template <bool Log>
class SoftmaxGrad final : public GradKernel {
 public:
  void backward(const BackwardContext& ctx) const override {
    Tensor* dx_tensor;
    const Tensor* dy_tensor;
    if (!unary_gradients(ctx, dx_tensor, dy_tensor)) return;
    const Shape& shape = dx_tensor->shape();
    const auto rank = static_cast<int64_t>(shape.size());
    const bool legacy = ctx.node().opset < 13;
    int64_t axis = ctx.attrs().get_int("axis", legacy ? 1 : -1);
    if (!(legacy && axis == rank) && !elementwise::normalize_axis(axis, rank))
      ctx.fail("axis " + std::to_string(axis) + " is out of range");
    int64_t outer = 1, n = 1, inner = 1;
    for (int64_t d = 0; d < rank; ++d) {
      const int64_t v = shape[static_cast<std::size_t>(d)];
      if (d < axis) {
        outer *= v;
      } else if (d == axis || legacy) {
        n *= v;
      } else {
        inner *= v;
      }
    }
    const float* y = ctx.output(0).f32();
    const float* dy = dy_tensor->f32();
    float* dx = dx_tensor->f32();
    const bool parallel = outer > 1 && dx_tensor->size() >= kParallelMin && !omp_in_parallel();
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t o = 0; o < outer; ++o) {
      const int64_t base = o * n * inner;
      // Per inner position, the sum along the axis: rows of `inner` elements accumulated in order.
      Eigen::ArrayXd sum = Eigen::ArrayXd::Zero(inner);
      for (int64_t j = 0; j < n; ++j) {
        const ConstArrayMap g(dy + base + j * inner, inner);
        if constexpr (Log) {
          sum += g.cast<double>();
        } else {
          sum += (g * ConstArrayMap(y + base + j * inner, inner)).cast<double>();
        }
      }
      const Eigen::ArrayXf s = sum.cast<float>();
      for (int64_t j = 0; j < n; ++j) {
        const int64_t at = base + j * inner;
        const ConstArrayMap g(dy + at, inner), ys(y + at, inner);
        if constexpr (Log) {
          ArrayMap(dx + at, inner) = g - ys.exp() * s;
        } else {
          ArrayMap(dx + at, inner) = ys * (g - s);
        }
      }
    }
  }
};

}  // namespace

CODA_REGISTER_GRAD(Add, AdditiveGrad<false>);
CODA_REGISTER_GRAD(Sub, AdditiveGrad<true>);
CODA_REGISTER_GRAD(Sum, AdditiveGrad<false>);
CODA_REGISTER_GRAD(Mul, MulGrad);
CODA_REGISTER_GRAD(Reshape, ViewGrad);
CODA_REGISTER_GRAD(Flatten, ViewGrad);
CODA_REGISTER_GRAD(Squeeze, ViewGrad);
CODA_REGISTER_GRAD(Unsqueeze, ViewGrad);
CODA_REGISTER_GRAD(Identity, ViewGrad);
CODA_REGISTER_GRAD(Dropout, DropoutGrad);
CODA_REGISTER_GRAD(Concat, ConcatGrad);
CODA_REGISTER_GRAD(Pad, PadGrad);
CODA_REGISTER_GRAD(Transpose, TransposeGrad);
CODA_REGISTER_GRAD(Softmax, SoftmaxGrad<false>);
CODA_REGISTER_GRAD(LogSoftmax, SoftmaxGrad<true>);

}  // namespace coda
