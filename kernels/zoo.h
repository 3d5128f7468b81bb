// The model zoo: standard networks built in code, chosen on the command line as zoo:NAME.
// Each family lives in its own kernels/zoo_*.cpp file and registers its networks by name.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/graph.h"

namespace coda {

struct ZooOptions {
  int64_t batch = 1;
  int64_t in_channels = 0;   // 0: the network's usual value (3 for RGB networks, 1 for LeNet)
  int64_t classes = 0;       // 0: the network's usual value (1000 ImageNet, 10 CIFAR/MNIST)
  std::uint64_t seed = 1;    // weight initialisation
};

struct ZooEntry {
  std::string name;
  std::string description;
  std::function<Graph(const ZooOptions&)> build;
};

void register_zoo_model(ZooEntry entry);
// Throws BadInput listing the available names when `name` is unknown.
Graph build_zoo_model(const std::string& name, const ZooOptions& options);
std::vector<ZooEntry> zoo_models();

struct ZooRegistrar {
  explicit ZooRegistrar(ZooEntry entry) { register_zoo_model(std::move(entry)); }
};

}  // namespace coda
