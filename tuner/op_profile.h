// ApproxTuner's development-time profiles (Sharif et al., PPoPP 2021, section 4.1; REFERENCE.md
// section 7): every (op, knob) of a tuning space applied alone on the calibration inputs, keeping
// the change of the network's final output tensor dT and of the QoS dQ. Collected with prefix
// caching: per batch of inputs the exact network runs once, keeping every intermediate value, and
// each (op, knob) re-runs only the suffix of the graph from that op on, reusing the exact
// activations before it. Profiles can be collected on slices of the inputs (on several workers)
// and merged: dQ averaged over slices weighted by their sizes, dT concatenated along the samples.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/graph.h"
#include "kernels/tensor.h"
#include "tuner/qos.h"
#include "tuner/tuning_space.h"

namespace coda::tuner {

struct OpProfiles {
  std::string model;               // identifies the model the profiles belong to (file or name)
  std::vector<std::string> op_names;  // the space's ops, in order (checked on merge and load)
  std::vector<int> choice_counts;
  int64_t samples = 0;             // calibration inputs the profiles cover
  Tensor base_outputs;             // exact network's first output, samples x K
  double base_qos = 0.0;           // evaluator's QoS of base_outputs
  // delta_outputs[op][choice]: approximated minus exact output, samples x K (choice 0: zeros,
  // stored empty). delta_qos[op][choice]: QoS change, in the evaluator's orientation
  // (value - base; negative = worse for higher-is-better metrics).
  std::vector<std::vector<Tensor>> delta_outputs;
  std::vector<std::vector<double>> delta_qos;
  double seconds = 0.0;            // wall time of the collection
  int64_t suffix_runs = 0;         // (op, knob, batch) suffix executions
};

struct ProfileOptions {
  int64_t batch = 100;             // inputs per cached exact forward pass
  std::uint64_t seed = 1;          // seeds the stochastic knobs (PROMISE noise)
};

// Called after each suffix run, i.e. each (op, choice) on one batch of inputs, with the runs
// done and the total (pairs x batches): the batches are the outer loop, so that only one batch's
// cached activations are alive at a time.
using ProfileProgress = std::function<void(int64_t done, int64_t total)>;

// `prepared` is the exact graph prepared for ProfileOptions::batch inputs (its first input's
// leading dimension); `inputs` is the calibration split (samples x ...), `ranges` the activation
// ranges that PROMISE, fixed-point and shift-add knobs quantize to (calibrate_ranges). The
// evaluator scores the full split. Throws BadInput when inputs do not fit the graph.
OpProfiles collect_op_profiles(const Graph& prepared, const TuningSpace& space, const KnobCatalog& catalog,
                               const Tensor& inputs, const QosEvaluator& evaluator,
                               const std::map<std::string, OpRanges>& ranges, const ProfileOptions& options,
                               const ProfileProgress& progress = {});

// Merges profiles of disjoint slices of the calibration inputs, in the given order. Throws
// BadInput when they belong to different models or spaces.
OpProfiles merge_op_profiles(const std::vector<OpProfiles>& parts);

// Binary file (magic "CODAPROF", version, JSON header, raw float32 tensors), written atomically.
void save_op_profiles(const OpProfiles& profiles, const std::string& path);
// Throws BadInput "PATH: ..." on a file that is not such a file, truncated or of another version.
OpProfiles load_op_profiles(const std::string& path);

}  // namespace coda::tuner
