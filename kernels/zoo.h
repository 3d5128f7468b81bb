// The model zoo: standard networks built in code, chosen on the command line as zoo:NAME or
// zoo:NAME?KEY=VALUE,... (see parse_zoo_spec). Each family lives in its own kernels/zoo_*.cpp file
// and registers its networks by name. The networks output logits (no softmax), so a trainer can
// apply cross-entropy; docs/zoo.md lists them with their MACs and parameters.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/graph.h"

namespace coda {

struct ZooOptions {
  int64_t batch = 1;         // 0: symbolic batch dimension (dim_param "N" once exported)
  int64_t in_channels = 0;   // 0: the network's usual value (3 for RGB networks, 1 for LeNet)
  int64_t classes = 0;       // 0: the network's usual value (1000 ImageNet, 10 CIFAR/MNIST)
  std::uint64_t seed = 1;    // weight initialisation
  // Weights without data (see GraphBuilder): enough to prepare and count, not to run or export.
  bool shapes_only = false;

  int64_t batch_dim() const { return batch > 0 ? batch : -1; }
  int64_t channels_or(int64_t usual) const { return in_channels > 0 ? in_channels : usual; }
  int64_t classes_or(int64_t usual) const { return classes > 0 ? classes : usual; }
};

struct ZooEntry {
  std::string name;
  std::string description;   // what it is and where the layer list comes from
  std::function<Graph(const ZooOptions&)> build;
};

void register_zoo_model(ZooEntry entry);
// Throws BadInput listing the available names when `name` is unknown, or on a negative option.
// The graph's metadata "coda.zoo" records the spec that rebuilds it, e.g.
// "resnet20?batch=1,classes=10,in_channels=3,seed=1".
Graph build_zoo_model(const std::string& name, const ZooOptions& options);
// Sorted by name.
std::vector<ZooEntry> zoo_models();

// Parses "NAME" or "NAME?KEY=VALUE,KEY=VALUE" (pairs may also be separated by '&'), with keys
// batch (0 = symbolic), classes, in_channels (or in-channels) and seed, into `options` (keys not
// given keep their value). Returns NAME. Throws BadInput naming the key on a bad key or value.
std::string parse_zoo_spec(const std::string& spec, ZooOptions& options);

// build_zoo_model(parse_zoo_spec(spec, options), options) with options starting from `defaults`.
Graph build_zoo_model_from_spec(const std::string& spec, ZooOptions defaults);

struct ZooRegistrar {
  explicit ZooRegistrar(ZooEntry entry) { register_zoo_model(std::move(entry)); }
};

}  // namespace coda
