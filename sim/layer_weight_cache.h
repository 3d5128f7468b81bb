// Statistics of a graph's quantized weights that unit models need -- the LightNN model's present
// shift terms per weight, whose count sets its energy -- kept per (node, knob) so that simulating
// one network on many platforms (a sweep) quantizes each layer's weights once instead of once per
// simulation. The owner keeps the cache with the graph it describes and drops it if the weights
// change.
#pragma once

#include <map>
#include <optional>
#include <utility>

namespace coda::sim {

class LayerWeightCache {
 public:
  std::optional<double> find(int node, int knob) const {
    auto found = values_.find({node, knob});
    return found == values_.end() ? std::nullopt : std::optional<double>(found->second);
  }
  void store(int node, int knob, double value) { values_[{node, knob}] = value; }

 private:
  std::map<std::pair<int, int>, double> values_;
};

}  // namespace coda::sim
