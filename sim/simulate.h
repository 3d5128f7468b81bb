// Simulating a network on a platform: the public entry point of coda_sim. The mapper places each
// op on the unit its configuration chose (without a configuration every op runs on the GPU in
// FP32, ApproxTuner's baseline); `auto` placement moves ops whose knob runs anywhere to whichever
// of the CPU and GPU the unit models say is faster for them. The SoC then runs the graph and the
// result carries per-op records, sampled rail power, temperatures and the summary.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/graph.h"
#include "sim/dvfs_plan.h"
#include "sim/layer_weight_cache.h"
#include "sim/platform.h"
#include "sim/sim_result.h"

namespace coda::sim {

enum class Placement { Configured, Auto };

struct SimOptions {
  std::string model_name;
  int batch = 1;                 // recorded in the result; the graph's shapes already carry it
  Placement placement = Placement::Configured;
  bool rtl_fidelity = false;     // LightNN: small layers run on the Verilated array
  DvfsPlan dvfs;
  std::uint64_t seed = 0;
  // Optional: weight statistics of `graph` kept across simulations of the same graph (see
  // LayerWeightCache); null computes them afresh.
  LayerWeightCache* weight_cache = nullptr;
};

// `graph` is prepared (shapes bound, pruning applied) and `choices` has one entry per node
// (resolve_config). Throws BadInput when an op is placed on a unit the platform lacks or cannot
// run it.
SimResult simulate(const Graph& graph, const std::vector<OpChoice>& choices, const Platform& platform,
                   const SimOptions& options);

// Fills `cache` with the weight statistics simulating `graph` with `choices` needs (the LightNN
// ops' shift terms), ahead of the first simulation: a sweep's ranks warm up while the first one
// validates the spec.
void precompute_weight_stats(const Graph& graph, const std::vector<OpChoice>& choices, const Platform& platform,
                             LayerWeightCache& cache);

// What each rail reads while nothing runs, every unit at its start clock (VDD_IN included): the
// static draw a simulation charges over its whole length. Predictors use it to split a network's
// energy into the ops' share and the idle share the same way.
std::map<std::string, double> idle_power_w(const Platform& platform);

// The choices with ops moved between CPU and GPU where that is faster (Placement::Auto).
std::vector<OpChoice> auto_placement(const Graph& graph, const std::vector<OpChoice>& choices, const Platform& platform);

}  // namespace coda::sim
