// `coda profile`: training traces for the layer-wise predictors. Each layer configuration of a
// space runs alone on the SoC model for every unit it can run on, every knob family (one knob of
// each drawn per layer, or the listed knobs) and the space's DVFS points. Then, as nn-Meter does,
// adaptive rounds refit a predictor on 80% of the points, find held-out points whose latency or
// power it misses by more than the threshold, and simulate new layers jittered around them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "models/layer_space.h"
#include "sim/platform.h"
#include "sim/sim_result.h"

namespace coda::models {

// One simulation: a layer with a knob on a unit at a clock.
struct ProfilePoint {
  LayerConfig layer;
  std::string unit;
  int knob = 11;
  double freq_mhz = 0;
};

// The points of `layers` the space asks for: per layer, every unit (of the space, present on
// the platform) and knob that applies to the op and runs there, at the DVFS points. Sampled: the
// space's one-knob-per-family and DVFS-points-per-layer draws apply (seeded); exhaustive: every
// knob (of the list, if the space gives one) at every DVFS point, as lookup tables want.
enum class Expansion { Sampled, Exhaustive };
std::vector<ProfilePoint> expand_points(const LayerSpace& space, const sim::Platform& platform,
                                        const std::vector<LayerConfig>& layers, std::uint64_t seed,
                                        Expansion expansion = Expansion::Sampled);

// The trace record of one point, from the SoC model (the record's network is the layer's).
// Throws BadInput when the unit cannot run the op with that knob.
sim::OpRecord simulate_point(const ProfilePoint& point, const sim::Platform& platform, std::uint64_t seed);

struct ProfileRound {
  int points = 0;            // records after the round
  int checked = 0;           // held-out records the refitted predictor was checked on
  int over_threshold = 0;    // of those, latency or power missed by more than the threshold
  int added = 0;             // new points simulated around them
};

struct ProfileResult {
  std::vector<sim::OpRecord> records;
  std::vector<ProfilePoint> points;                 // records[i] came from points[i]
  std::map<std::string, int> skipped;               // reason -> points the simulator refused
  std::vector<ProfileRound> rounds;                 // the first set, then each adaptive round
  std::vector<std::string> rails;                   // the platform's, VDD_IN first
};

struct ProfileOptions {
  std::uint64_t seed = 1;
  // Called as points are simulated: phase ("initial", "round 1", ...), done, total in the phase.
  std::function<void(const std::string&, int64_t, int64_t)> progress;
};

ProfileResult profile(const LayerSpace& space, const sim::Platform& platform, const ProfileOptions& options);

// The records as a SimResult the op trace writers take (platform, rails, model "profile").
sim::SimResult profile_as_result(const ProfileResult& result, const sim::Platform& platform);

}  // namespace coda::models
