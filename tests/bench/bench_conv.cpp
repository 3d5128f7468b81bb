// Convolution throughput against plain SGEMM. For every distinct convolution layer shape of
// ResNet-18 and ResNet-50 (torchvision layout, 224x224 input, batch 1) the benchmark times
// coda::conv2d (im2col + SGEMM, or a direct GEMM for 1x1 stride-1 layers) and a plain Eigen SGEMM
// of the same M = C_out, N = H_out*W_out, K = C_in*kh*kw, both reporting GFLOP/s = 2*MACs/time,
// so the cost of the lowering reads as the ratio of the two. Depthwise cases (MobileNetV2 shapes)
// time the direct depthwise kernel.
//
// A third benchmark per layer, paired/<same>, alternates the two calls and reports the ratio of
// their fastest calls, the figure to read on a machine busy with other work.
//
//   coda_bench --benchmark_filter='resnet|sgemm|mobilenet' --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "kernels/conv_kernels.h"
#include "kernels/executor.h"
#include "kernels/graph.h"
#include "kernels/parallel.h"
#include "kernels/tensor.h"

namespace {

using coda::Shape;

struct Layer {
  const char* net;
  int64_t in_channels, out_channels, size, kernel, stride;  // square input of side `size`
  bool depthwise = false;
};

// Distinct shapes per network. ResNet-18: He et al. 2016, table 1 (torchvision resnet18);
// ResNet-50: the bottleneck variant with the stride on the 3x3 convolution (torchvision
// resnet50, "ResNet v1.5"). MobileNetV2 depthwise shapes: Sandler et al. 2018, table 2.
const std::vector<Layer>& layers() {
  static const std::vector<Layer> all = {
      {"resnet18", 3, 64, 224, 7, 2},      {"resnet18", 64, 64, 56, 3, 1},     {"resnet18", 64, 128, 56, 3, 2},
      {"resnet18", 128, 128, 28, 3, 1},    {"resnet18", 64, 128, 56, 1, 2},    {"resnet18", 128, 256, 28, 3, 2},
      {"resnet18", 256, 256, 14, 3, 1},    {"resnet18", 128, 256, 28, 1, 2},   {"resnet18", 256, 512, 14, 3, 2},
      {"resnet18", 512, 512, 7, 3, 1},     {"resnet18", 256, 512, 14, 1, 2},

      {"resnet50", 3, 64, 224, 7, 2},      {"resnet50", 64, 64, 56, 1, 1},     {"resnet50", 64, 64, 56, 3, 1},
      {"resnet50", 64, 256, 56, 1, 1},     {"resnet50", 256, 64, 56, 1, 1},    {"resnet50", 256, 128, 56, 1, 1},
      {"resnet50", 128, 128, 56, 3, 2},    {"resnet50", 128, 512, 28, 1, 1},   {"resnet50", 256, 512, 56, 1, 2},
      {"resnet50", 512, 128, 28, 1, 1},    {"resnet50", 128, 128, 28, 3, 1},   {"resnet50", 512, 256, 28, 1, 1},
      {"resnet50", 256, 256, 28, 3, 2},    {"resnet50", 256, 1024, 14, 1, 1},  {"resnet50", 512, 1024, 28, 1, 2},
      {"resnet50", 1024, 256, 14, 1, 1},   {"resnet50", 256, 256, 14, 3, 1},   {"resnet50", 1024, 512, 14, 1, 1},
      {"resnet50", 512, 512, 14, 3, 2},    {"resnet50", 512, 2048, 7, 1, 1},   {"resnet50", 1024, 2048, 14, 1, 2},
      {"resnet50", 2048, 512, 7, 1, 1},    {"resnet50", 512, 512, 7, 3, 1},

      {"mobilenetv2", 32, 32, 112, 3, 1, true},  {"mobilenetv2", 144, 144, 56, 3, 2, true},
      {"mobilenetv2", 192, 192, 28, 3, 1, true}, {"mobilenetv2", 960, 960, 7, 3, 1, true},
  };
  return all;
}

coda::Conv2dGeometry geometry(const Layer& l) {
  coda::Conv2dGeometry g;
  g.in_channels = l.in_channels;
  g.out_channels = l.out_channels;
  g.groups = l.depthwise ? l.in_channels : 1;
  g.in_h = g.in_w = l.size;
  g.kernel_h = g.kernel_w = l.kernel;
  g.stride_h = g.stride_w = l.stride;
  g.pad_top = g.pad_left = l.kernel / 2;  // "same" padding, as in the networks
  g.out_h = g.out_w = (l.size + 2 * g.pad_top - l.kernel) / l.stride + 1;
  return g;
}

std::string name(const Layer& l) {
  std::string kind = l.depthwise ? "dwconv" : "conv";
  std::string s = kind + std::to_string(l.kernel) + "x" + std::to_string(l.kernel) + "_" +
                  std::to_string(l.in_channels);
  if (!l.depthwise) s += "x" + std::to_string(l.out_channels);
  s += "_" + std::to_string(l.size);
  if (l.stride != 1) s += "_s" + std::to_string(l.stride);
  return s;
}

std::vector<float> random_floats(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

void set_rate(benchmark::State& state, int64_t macs) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(macs) * static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate);
}

void bench_conv(benchmark::State& state, Layer l) {
  const coda::Conv2dGeometry g = geometry(l);
  std::vector<float> input = random_floats(g.in_channels * g.in_plane(), 1);
  std::vector<float> weights = random_floats(g.out_channels * g.patch_size(), 2);
  std::vector<float> bias = random_floats(g.out_channels, 3);
  std::vector<float> output(static_cast<std::size_t>(g.out_channels * g.out_plane()));
  for (auto _ : state) {
    coda::conv2d(g, input.data(), weights.data(), bias.data(), output.data());
    benchmark::DoNotOptimize(output.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, g.macs());
  state.counters["M"] = static_cast<double>(g.out_channels_per_group());
  state.counters["N"] = static_cast<double>(g.out_plane());
  state.counters["K"] = static_cast<double>(g.patch_size());
}

// The reference: what Eigen reaches on the bare matrix product of the lowered convolution.
void bench_sgemm(benchmark::State& state, Layer l) {
  const coda::Conv2dGeometry g = geometry(l);
  const Eigen::Index m = g.out_channels, n = g.out_plane(), k = g.patch_size();
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(m, k), b = Eigen::MatrixXf::Random(k, n), c(m, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, g.macs());
}

// Convolution and its SGEMM alternated call by call, each timed alone, keeping the fastest call
// of each: on a machine shared with other work, the ratio of the best calls is far steadier than
// the ratio of two means taken seconds apart.
void bench_paired(benchmark::State& state, Layer l) {
  const coda::Conv2dGeometry g = geometry(l);
  std::vector<float> input = random_floats(g.in_channels * g.in_plane(), 1);
  std::vector<float> weights = random_floats(g.out_channels * g.patch_size(), 2);
  std::vector<float> bias = random_floats(g.out_channels, 3);
  std::vector<float> output(static_cast<std::size_t>(g.out_channels * g.out_plane()));
  const Eigen::Index m = g.out_channels, n = g.out_plane(), k = g.patch_size();
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(m, k), b = Eigen::MatrixXf::Random(k, n), c(m, n);
  double best_conv = 1e30, best_gemm = 1e30;
  using clock = std::chrono::steady_clock;
  for (auto _ : state) {
    auto t0 = clock::now();
    coda::conv2d(g, input.data(), weights.data(), bias.data(), output.data());
    benchmark::DoNotOptimize(output.data());
    benchmark::ClobberMemory();
    auto t1 = clock::now();
    c.noalias() = a * b;
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
    auto t2 = clock::now();
    best_conv = std::min(best_conv, std::chrono::duration<double>(t1 - t0).count());
    best_gemm = std::min(best_gemm, std::chrono::duration<double>(t2 - t1).count());
  }
  const double flop = 2.0 * static_cast<double>(g.macs());
  state.counters["conv_GFLOP/s"] = flop / best_conv * 1e-9;
  state.counters["sgemm_GFLOP/s"] = flop / best_gemm * 1e-9;
  state.counters["ratio"] = best_gemm / best_conv;
}

// A pooling op run through the graph executor, as a network runs it (ResNet's stem max pool and
// final global average pool). GFLOP/s counts one operation per window tap.
void bench_pool(benchmark::State& state, const std::string& op, Shape shape, int64_t kernel, int64_t stride,
                int64_t pad) {
  coda::Graph g;
  const int x = g.value_id("x");
  const int y = g.value_id("y");
  g.inputs = {x};
  g.outputs = {y};
  coda::Node& node = g.add_node(op, "pool", {x}, {y});
  if (kernel > 0) {
    node.attrs.set("kernel_shape", std::vector<int64_t>{kernel, kernel});
    node.attrs.set("strides", std::vector<int64_t>{stride, stride});
    node.attrs.set("pads", std::vector<int64_t>{pad, pad, pad, pad});
  }
  coda::bind_input_shapes(g, {shape});
  coda::prepare_graph(g);
  const int64_t taps = coda::analyse_graph(g).at(0).cost.flops;
  coda::Executor executor(g);
  coda::Tensor input = coda::Tensor::from_floats(shape, random_floats(coda::element_count(shape), 4));
  for (auto _ : state) benchmark::DoNotOptimize(executor.run({input}));
  state.counters["GFLOP/s"] = benchmark::Counter(static_cast<double>(taps) * static_cast<double>(state.iterations()) *
                                                     1e-9,
                                                 benchmark::Counter::kIsRate);
}

void register_all() {
  benchmark::RegisterBenchmark("resnet18/maxpool3x3_64_112_s2", bench_pool, "MaxPool", Shape{1, 64, 112, 112}, 3, 2,
                               1)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("resnet18/avgpool3x3_64_112_s2", bench_pool, "AveragePool", Shape{1, 64, 112, 112}, 3,
                               2, 1)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  benchmark::RegisterBenchmark("resnet50/globalavgpool_2048_7", bench_pool, "GlobalAveragePool",
                               Shape{1, 2048, 7, 7}, 0, 0, 0)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  for (const Layer& l : layers()) {
    const std::string base = std::string(l.net) + "/" + name(l);
    benchmark::RegisterBenchmark(base.c_str(), bench_conv, l)->Unit(benchmark::kMillisecond)->UseRealTime();
    if (!l.depthwise) {
      benchmark::RegisterBenchmark(("sgemm/" + base).c_str(), bench_sgemm, l)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("paired/" + base).c_str(), bench_paired, l)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

}  // namespace

// Google Benchmark's main plus --threads=N (default: all hardware threads), which sets the
// thread count of coda's kernels and of Eigen alike.
int main(int argc, char** argv) {
  int threads = 0;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--threads=", 0) == 0) {
      threads = std::stoi(arg.substr(10));
    } else {
      args.push_back(argv[i]);
    }
  }
  coda::set_thread_count(threads);
  register_all();
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  benchmark::AddCustomContext("coda threads", std::to_string(coda::thread_count()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
