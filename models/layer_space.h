// The space of layer configurations `coda profile` and `coda lut` cover, read from a YAML file:
// which op classes and how many configurations of each, drawn from the zoo's layer shapes (the
// prior: real networks' layers, exactly and jittered), which units, knobs, DVFS points and batch
// sizes, and the adaptive resampling rounds. Every layer configuration builds a one-op graph the
// simulator runs and a predictor answers for.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kernels/graph.h"
#include "sim/platform.h"

namespace coda::models {

// One layer: what GraphBuilder needs to build it alone.
struct LayerConfig {
  std::string op_class;     // conv, dwconv, fc, pool, eltwise
  std::string op_type;      // Conv, Gemm, MaxPool, AveragePool, GlobalAveragePool, Relu, Add, ...
  std::string network;      // the zoo network whose layer it is or was jittered from
  int64_t batch = 1;
  int64_t in_channels = 0, in_h = 0, in_w = 0;  // NCHW input (fc: in_channels = in_features)
  int64_t out_channels = 0;                     // conv: filters; fc: out_features
  int64_t kernel = 1, stride = 1, pad = 0, groups = 1;
  bool bias = false;

  // "Conv 64x56x56 -> 64 k3 s1 p1 g1 b1" and the like: a stable key and a readable label.
  std::string describe() const;
};

// A one-op graph of the layer, prepared (shapes inferred). `with_weights`: He-initialised weights
// from `seed` (the LightNN model counts shift terms on them); otherwise shape-only weights.
Graph layer_graph(const LayerConfig& layer, bool with_weights, std::uint64_t seed);

struct AdaptiveSampling {
  int rounds = 2;           // refit-and-resample rounds after the first set
  double threshold = 0.10;  // relative error above which a held-out point attracts new samples
  int per_round = 100;      // new configurations per round at most
};

struct LayerSpace {
  std::string source;
  std::uint64_t seed = 1;
  std::vector<int64_t> batches{1};
  std::vector<std::string> units;                      // empty: every unit the platform has
  std::map<std::string, std::vector<double>> dvfs;     // unit -> MHz; a unit absent: its start clock
  int dvfs_per_layer = 0;                              // 0: every listed point; else a seeded draw of that many
  std::vector<int> knobs;                              // empty: every applicable knob family
  bool one_knob_per_family = true;                     // draw one knob of each family per layer
  std::vector<std::string> prior_networks;             // zoo names
  double jitter = 0.25;                                // channels and size scaled by [1-j, 1+j]
  std::map<std::string, int> samples;                  // op class -> configurations drawn
  AdaptiveSampling adaptive;
  std::vector<LayerConfig> explicit_layers;            // `layers:` written out in the file
};

// Reads a space file. Throws BadInput "PATH: KEY: problem" for unknown keys, empty lists, unknown
// op classes, units, zoo networks or knobs, and values out of range.
LayerSpace load_layer_space(const std::string& path);
LayerSpace parse_layer_space(const std::string& yaml_text, const std::string& source);

// The distinct layers of the prior networks (at batch 1, knob 11), by op class.
std::map<std::string, std::vector<LayerConfig>> zoo_layers(const std::vector<std::string>& networks);

// The space's layer configurations: its explicit layers, then per op class the distinct zoo
// layers (all when there are at most `samples`, a seeded draw otherwise) topped up with jittered
// copies up to `samples`, each at every batch size. Reproducible for the space's seed.
std::vector<LayerConfig> draw_layers(const LayerSpace& space);

// A copy of `layer` with channels and spatial size scaled by factors in [1 - jitter, 1 + jitter]
// (kernel, stride and depthwise structure kept, sizes at least the kernel).
LayerConfig jitter_layer(const LayerConfig& layer, double jitter, std::uint64_t seed);

// The DVFS points of `unit` the space asks for on `platform` (checked to be steps of its table).
std::vector<double> dvfs_points(const LayerSpace& space, const sim::Platform& platform, const std::string& unit);

}  // namespace coda::models
