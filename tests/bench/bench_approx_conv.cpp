// Speed of the approximate convolutions against the exact one on the 3x3 convolution layers of
// ResNet-18 (He et al. 2016, table 1; torchvision layout, 224x224 input, batch 1): perforation
// (rows and columns, k = 2: half the output pixels computed), filter sampling (k = 2: half the
// filter elements) and FP16 (emulated half arithmetic: every product and sum rounded, so it costs
// more than FP32 on a CPU without half arithmetic; it is here to show that cost).
//
// Each benchmark alternates the exact coda::conv2d and the knob's kernel call by call, each timed
// alone, and reports the fastest call of each and their ratio `speedup` = exact / approximate: on
// a machine shared with other work the ratio of the best calls is far steadier than the ratio of
// two means taken seconds apart. `mac_ratio` is the exact multiply-accumulates over those the knob
// did (perforation keeps 3 or 4 of 7 rows of a 7x7 output, not half). Filter sampling is timed as
// its kernel runs in a network, with the weights compacted once (SampledWeights); the
// `_compacting` variants compact them on every call. The main() with --threads=N is in
// bench_conv.cpp.
//
//   OMP_WAIT_POLICY=passive coda_bench --threads=1 --benchmark_filter='^approx/' --benchmark_min_time=0.3
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/approx/filter_sampling.h"
#include "kernels/approx/fp16_kernels.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/perforation.h"
#include "kernels/conv_kernels.h"

namespace {

struct ConvLayer {
  int64_t in_channels, out_channels, size, stride;  // 3x3 kernel, padding 1, square input of side `size`
};

// The distinct 3x3 convolutions of ResNet-18: the first of each stage halves the resolution.
const ConvLayer kLayers[] = {{64, 64, 56, 1},   {64, 128, 56, 2},  {128, 128, 28, 1}, {128, 256, 28, 2},
                             {256, 256, 14, 1}, {256, 512, 14, 2}, {512, 512, 7, 1}};

// Knobs timed against the exact convolution (kernels/knobs.yaml): perforation rows k=2 offsets 0
// and 1, columns k=2 offsets 0 and 1, filter sampling k=2 offsets 0 and 1, fp16 with half and
// with float accumulation.
const int kKnobs[] = {121, 122, 130, 131, 231, 232, 12, 71};

coda::Conv2dGeometry geometry(const ConvLayer& l) {
  coda::Conv2dGeometry g;
  g.in_channels = l.in_channels;
  g.out_channels = l.out_channels;
  g.in_h = g.in_w = l.size;
  g.kernel_h = g.kernel_w = 3;
  g.stride_h = g.stride_w = l.stride;
  g.pad_top = g.pad_left = 1;
  g.out_h = g.out_w = (l.size + 2 - 3) / l.stride + 1;
  return g;
}

std::vector<float> random_floats(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// What the knob's kernel does per network run. Filter sampling compacts its weights once and
// reuses them while they do not change (SampledConvKernel), so `prepared` holds them; with
// `compact_each_call` the compaction is timed too.
struct KnobRun {
  const coda::Knob* knob = nullptr;
  bool compact_each_call = false;
  coda::SampledWeights prepared;

  int64_t operator()(const coda::Conv2dGeometry& g, const float* x, const float* w, const float* b, float* y) const {
    switch (knob->family) {
      case coda::KnobFamily::Perforation: return coda::perforated_conv2d(g, *knob, x, w, b, y).macs;
      case coda::KnobFamily::FilterSampling:
        return compact_each_call ? coda::sampled_conv2d(g, *knob, x, w, b, y)
                                 : coda::sampled_conv2d(g, *knob, x, prepared, b, y);
      case coda::KnobFamily::Fp16: coda::conv2d_half(g, x, w, b, y, knob->accumulate); return g.macs();
      default: coda::conv2d(g, x, w, b, y); return g.macs();
    }
  }
};

void bench_knob(benchmark::State& state, ConvLayer layer, int knob_id, bool compact_each_call) {
  const coda::Conv2dGeometry g = geometry(layer);
  const std::vector<float> x = random_floats(g.in_channels * g.in_plane(), 1);
  const std::vector<float> w = random_floats(g.out_channels * g.patch_size(), 2);
  const std::vector<float> b = random_floats(g.out_channels, 3);
  KnobRun run;
  run.knob = &coda::knob_catalog().require(knob_id);
  run.compact_each_call = compact_each_call;
  if (run.knob->family == coda::KnobFamily::FilterSampling) run.prepared = coda::sample_weights(g, *run.knob, w.data());
  std::vector<float> y_exact(static_cast<std::size_t>(g.out_channels * g.out_plane()));
  std::vector<float> y(y_exact.size());
  using clock = std::chrono::steady_clock;
  double best_exact = 1e30, best_knob = 1e30;
  int64_t macs = 0;
  for (auto _ : state) {
    const auto t0 = clock::now();
    coda::conv2d(g, x.data(), w.data(), b.data(), y_exact.data());
    benchmark::DoNotOptimize(y_exact.data());
    benchmark::ClobberMemory();
    const auto t1 = clock::now();
    macs = run(g, x.data(), w.data(), b.data(), y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
    const auto t2 = clock::now();
    best_exact = std::min(best_exact, std::chrono::duration<double>(t1 - t0).count());
    best_knob = std::min(best_knob, std::chrono::duration<double>(t2 - t1).count());
  }
  state.counters["exact_ms"] = best_exact * 1e3;
  state.counters["knob_ms"] = best_knob * 1e3;
  state.counters["speedup"] = best_exact / best_knob;
  state.counters["mac_ratio"] = static_cast<double>(g.macs()) / static_cast<double>(std::max<int64_t>(macs, 1));
}

std::string layer_name(const ConvLayer& l) {
  std::string s = "conv3x3_" + std::to_string(l.in_channels) + "x" + std::to_string(l.out_channels) + "_" +
                  std::to_string(l.size);
  if (l.stride != 1) s += "_s" + std::to_string(l.stride);
  return s;
}

// Registered at static initialisation, before bench_conv.cpp's main() parses the filters.
const bool kRegistered = [] {
  for (const ConvLayer& l : kLayers)
    for (int id : kKnobs) {
      const std::string name =
          "approx/resnet18/" + layer_name(l) + "/" + std::to_string(id) + "_" + coda::knob_catalog().require(id).name;
      benchmark::RegisterBenchmark(name.c_str(), bench_knob, l, id, false)->Unit(benchmark::kMillisecond)->UseRealTime();
      if (coda::knob_catalog().require(id).family == coda::KnobFamily::FilterSampling)
        benchmark::RegisterBenchmark((name + "_compacting").c_str(), bench_knob, l, id, true)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
  return true;
}();

}  // namespace
