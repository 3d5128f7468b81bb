#include "kernels/approx/promise.h"

#include <omp.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/quantize.h"
#include "kernels/error.h"

namespace coda {

namespace {

// Pairs of deviates below this many are not worth a fork/join.
constexpr int64_t kParallelPairs = 1 << 12;

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ull;  // splitmix64's increment (2^64 / phi)

// The splitmix64 output function (Steele, Lea and Flood, OOPSLA 2014).
std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The splitmix64 state of one (seed, invocation) stream: distinct invocations of one seed start
// at unrelated points of the sequence.
std::uint64_t stream_key(std::uint64_t seed, std::uint64_t invocation) {
  return mix64(seed ^ mix64((invocation + 1) * kGolden));
}

// Counter `pair` of a stream: splitmix64's pair-th output, split into two 24-bit uniforms for a
// Box-Muller pair. Not inlined, so the single-deviate accessor and the bulk loop run the very
// same instructions and agree to the bit.
[[gnu::noinline]] void normal_pair(std::uint64_t key, std::uint64_t pair, float& cosine, float& sine) {
  const std::uint64_t r = mix64(key + (pair + 1) * kGolden);
  constexpr float kUnit = 1.0f / 16777216.0f;                         // 2^-24: 24-bit uniforms are exact in a float
  const float u1 = static_cast<float>((r >> 40) + 1) * kUnit;         // (0, 1]: the log is finite
  const float u2 = static_cast<float>((r >> 8) & 0xFFFFFFu) * kUnit;  // [0, 1)
  const float radius = std::sqrt(-2.0f * std::log(u1));
  const float angle = 6.2831853071795864769f * u2;
  cosine = radius * std::cos(angle);
  sine = radius * std::sin(angle);
}

// Quantizes the bias (its own min..max, REFERENCE.md section 2) into `out`.
std::vector<float> quantized_bias(const float* bias, int64_t n, const ValueRange& range) {
  std::vector<float> out(static_cast<std::size_t>(n));
  fake_quantize_affine(bias, out.data(), n, range);
  return out;
}

}  // namespace

float promise_gaussian(std::uint64_t seed, std::uint64_t invocation, std::uint64_t index) {
  float cosine, sine;
  normal_pair(stream_key(seed, invocation), index / 2, cosine, sine);
  return index % 2 == 0 ? cosine : sine;
}

void promise_noise(float* x, int64_t n, double sigma, std::uint64_t seed, std::uint64_t invocation) {
  if (sigma == 0.0 || n <= 0) return;
  const std::uint64_t key = stream_key(seed, invocation);
  const auto s = static_cast<float>(sigma);
  const int64_t pairs = (n + 1) / 2;
#pragma omp parallel for schedule(static) if (pairs >= kParallelPairs && !omp_in_parallel())
  for (int64_t p = 0; p < pairs; ++p) {
    float cosine, sine;
    normal_pair(key, static_cast<std::uint64_t>(p), cosine, sine);
    x[2 * p] *= 1.0f + s * cosine;
    if (2 * p + 1 < n) x[2 * p + 1] *= 1.0f + s * sine;
  }
}

void promise_input(const float* in, float* out, int64_t n, const PromiseLayer& layer, std::uint64_t invocation) {
  fake_quantize_affine(in, out, n, layer.input);
  promise_noise(out, n, layer.sigma, layer.seed, invocation);
}

void promise_conv2d(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias, float* output,
                    const PromiseLayer& layer, std::uint64_t invocation) {
  const int64_t in_size = g.batch * g.in_channels * g.in_plane();
  const int64_t w_size = g.out_channels * g.patch_size();
  std::vector<float> x(static_cast<std::size_t>(in_size)), w(static_cast<std::size_t>(w_size));
  promise_input(input, x.data(), in_size, layer, invocation);
  fake_quantize_affine(weights, w.data(), w_size, layer.weights);
  std::vector<float> b;
  if (bias) b = quantized_bias(bias, g.out_channels, layer.bias);
  conv2d(g, x.data(), w.data(), bias ? b.data() : nullptr, output);
  fake_quantize_affine(output, output, g.batch * g.out_channels * g.out_plane(), layer.output);
}

void promise_gemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, const float* bias, float* c,
                  const PromiseLayer& layer, std::uint64_t invocation) {
  std::vector<float> x(static_cast<std::size_t>(m * k)), w(static_cast<std::size_t>(k * n));
  promise_input(a, x.data(), m * k, layer, invocation);
  fake_quantize_affine(b, w.data(), k * n, layer.weights);
  float beta = 0.0f;
  if (bias) {
    const std::vector<float> q = quantized_bias(bias, n, layer.bias);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * n + j] = q[static_cast<std::size_t>(j)];
    beta = 1.0f;
  }
  sgemm(false, false, m, n, k, 1.0f, x.data(), k, w.data(), n, beta, c, n);
  fake_quantize_affine(c, c, m * n, layer.output);
}

namespace {

// The PROMISE kernel of one Conv, Gemm or MatMul node: the exact kernel runs on quantized, noisy
// copies of the operands (so every attribute of the op — groups, padding, transposes, alpha and
// beta, batch broadcasting — keeps its exact meaning), then the output is quantized in place.
// Input 0 is the activation the calibrated input range describes, input 1 the weights, input 2
// (Conv, Gemm) the bias.
class PromiseKernel final : public ApproxKernel {
 public:
  explicit PromiseKernel(const KnobRequest& request)
      : ApproxKernel(request.exact), sigma_(request.knob.sigma), seed_(request.seed), ranges_(*request.ranges) {}

  void run(const RunContext& ctx) const override {
    const std::uint64_t invocation = invocations_.fetch_add(1, std::memory_order_relaxed);
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    PromiseLayer layer;
    layer.input = ranges_.input;
    layer.output = ranges_.output;
    layer.sigma = sigma_;
    layer.seed = seed_;

    Tensor noisy(x.shape());
    promise_input(x.f32(), noisy.f32(), x.size(), layer, invocation);
    std::shared_ptr<const Tensor> weights = weights_.get(w, [](const Tensor& source, Tensor& quantized) {
      const ValueRange range =
          percentile_range(source.f32(), source.size(), kPromiseLowPercentile, kPromiseHighPercentile);
      fake_quantize_affine(source.f32(), quantized.f32(), source.size(), range);
    });
    Tensor bias;
    if (ctx.has_input(2)) {
      const Tensor& b = ctx.input(2);
      bias = Tensor(b.shape());
      fake_quantize_affine(b.f32(), bias.f32(), b.size(), min_max_range(b.f32(), b.size()));
    }

    std::vector<const Tensor*> inputs;
    for (int i = 0; i < ctx.input_count(); ++i) inputs.push_back(ctx.has_input(i) ? &ctx.input(i) : nullptr);
    inputs[0] = &noisy;
    inputs[1] = weights.get();
    if (ctx.has_input(2)) inputs[2] = &bias;
    std::vector<Tensor*> outputs;
    for (int i = 0; i < ctx.output_count(); ++i) outputs.push_back(ctx.has_output(i) ? &ctx.output(i) : nullptr);
    exact_.run(RunContext(ctx.node(), std::move(inputs), std::move(outputs)));

    Tensor& y = ctx.output(0);
    fake_quantize_affine(y.f32(), y.f32(), y.size(), ranges_.output);
  }

 private:
  double sigma_;
  std::uint64_t seed_;
  OpRanges ranges_;
  QuantizedWeightCache weights_;
  // Runs so far: the noise stream of the next run. Concurrent runs each take their own number.
  mutable std::atomic<std::uint64_t> invocations_{0};
};

std::unique_ptr<OpKernel> make_promise_kernel(const KnobRequest& request) {
  const std::string& op = request.node.op_type;
  if (op != "Conv" && op != "Gemm" && op != "MatMul")
    throw BadInput(request.node.describe() + ": the PROMISE knob " + std::to_string(request.knob.id) +
                   " computes Conv, Gemm and MatMul only");
  if (!request.ranges)
    throw BadInput(request.node.describe() + ": the PROMISE knob " + std::to_string(request.knob.id) +
                   " needs calibrated activation ranges");
  return std::make_unique<PromiseKernel>(request);
}

}  // namespace

CODA_REGISTER_KNOB_FAMILY(Promise, make_promise_kernel);

}  // namespace coda
