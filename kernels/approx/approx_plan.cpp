#include "kernels/approx/approx_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "kernels/error.h"

namespace coda {

ApproxPlan::ApproxPlan(const Graph& graph, std::vector<OpChoice> choices, const KnobCatalog& catalog,
                       std::uint64_t seed, std::map<std::string, OpRanges> ranges)
    : graph_(graph), choices_(std::move(choices)), catalog_(catalog), seed_(seed), ranges_(std::move(ranges)) {
  if (choices_.size() != graph_.nodes.size())
    throw std::invalid_argument("ApproxPlan: one choice per node expected");
  for (const OpChoice& choice : choices_) catalog_.require(choice.knob);
}

ApproxPlan::~ApproxPlan() = default;

const Knob& ApproxPlan::knob(std::size_t node_index) const { return catalog_.require(choices_.at(node_index).knob); }

std::size_t ApproxPlan::approximated_count() const {
  return static_cast<std::size_t>(
      std::count_if(choices_.begin(), choices_.end(), [](const OpChoice& c) { return c.knob != 11; }));
}

std::vector<std::size_t> ApproxPlan::missing_ranges() const {
  std::vector<std::size_t> missing;
  for (std::size_t n = 0; n < choices_.size(); ++n)
    if (family_needs_ranges(knob(n).family) && !ranges_.count(graph_.nodes[n].name)) missing.push_back(n);
  return missing;
}

void ApproxPlan::set_ranges(std::map<std::string, OpRanges> ranges) {
  for (auto& [name, r] : ranges) ranges_[name] = r;
}

void ApproxPlan::install(Executor& executor) {
  if (!built_) {
    std::vector<std::size_t> missing = missing_ranges();
    if (!missing.empty())
      throw BadInput(graph_.nodes[missing.front()].describe() + " needs calibrated activation ranges (knob " +
                     std::to_string(choices_[missing.front()].knob) + ")");
    kernels_.resize(choices_.size());
    for (std::size_t n = 0; n < choices_.size(); ++n) {
      const Node& node = graph_.nodes[n];
      const Knob& k = knob(n);
      if (k.family == KnobFamily::Exact || k.transforms_graph()) continue;
      auto range = ranges_.find(node.name);
      KnobRequest request{node, require_op(node), k, mix_seed(seed_, node.name),
                          range == ranges_.end() ? nullptr : &range->second};
      kernels_[n] = make_knob_kernel(request);
    }
    built_ = true;
  }
  for (std::size_t n = 0; n < kernels_.size(); ++n)
    if (kernels_[n]) executor.set_kernel(n, kernels_[n].get());
}

float percentile(std::vector<float>& values, double p) {
  if (values.empty()) return 0.0f;
  double position = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  auto lower = static_cast<std::size_t>(std::floor(position));
  std::size_t upper = std::min(lower + 1, values.size() - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(lower), values.end());
  float low_value = values[lower];
  float high_value = low_value;
  if (upper != lower)
    high_value = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(upper), values.end());
  double fraction = position - static_cast<double>(lower);
  return static_cast<float>(low_value + fraction * (high_value - low_value));
}

namespace {

// Samples of one tensor over all calibration batches: every value while they are few, then an
// evenly strided subset, so percentiles of large activations stay cheap. Min and max are exact.
struct RangeSamples {
  std::vector<float> values;
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  bool full_range = false;

  void add(const Tensor& t) {
    const float* data = t.f32();
    int64_t n = t.size();
    constexpr int64_t kPerBatch = 1 << 18;  // percentile error well below one 8-bit step
    int64_t stride = std::max<int64_t>(1, n / kPerBatch);
    for (int64_t i = 0; i < n; ++i) {
      min = std::min(min, data[i]);
      max = std::max(max, data[i]);
    }
    for (int64_t i = 0; i < n; i += stride) values.push_back(data[i]);
  }

  ValueRange range(double low_p, double high_p) {
    ValueRange r = full_range ? ValueRange{min, max} : ValueRange{percentile(values, low_p), percentile(values, high_p)};
    if (!r.valid()) {  // a constant tensor: widen so the quantizer has a step
      float pad = std::max(1e-6f, std::fabs(r.low) * 1e-3f);
      r.low -= pad;
      r.high += pad;
    }
    return r;
  }
};

}  // namespace

std::map<std::string, OpRanges> calibrate_ranges(const Graph& graph, const std::vector<std::vector<Tensor>>& batches,
                                                 const std::vector<std::size_t>& nodes, double low_percentile,
                                                 double high_percentile) {
  std::map<std::size_t, std::pair<RangeSamples, RangeSamples>> samples;
  std::set<int> graph_inputs(graph.inputs.begin(), graph.inputs.end());
  for (std::size_t n : nodes) {
    samples[n].first.full_range = graph_inputs.count(graph.nodes.at(n).inputs.at(0)) > 0;
  }
  Executor executor(graph);
  executor.set_tensor_observer([&](std::size_t n, const std::vector<const Tensor*>& inputs,
                                   const std::vector<const Tensor*>& outputs) {
    auto it = samples.find(n);
    if (it == samples.end()) return;
    if (!inputs.empty() && inputs[0] && inputs[0]->dtype() == DType::Float32) it->second.first.add(*inputs[0]);
    if (!outputs.empty() && outputs[0] && outputs[0]->dtype() == DType::Float32) it->second.second.add(*outputs[0]);
  });
  for (const auto& batch : batches) executor.run(batch);
  std::map<std::string, OpRanges> ranges;
  for (auto& [n, s] : samples) {
    if (s.first.values.empty() && !s.first.full_range) continue;
    ranges[graph.nodes[n].name] = OpRanges{s.first.range(low_percentile, high_percentile),
                                           s.second.range(low_percentile, high_percentile)};
  }
  return ranges;
}

}  // namespace coda
