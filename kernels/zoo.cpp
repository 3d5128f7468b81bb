#include "kernels/zoo.h"

#include <map>

#include "kernels/error.h"

namespace coda {
namespace {

std::map<std::string, ZooEntry>& zoo_registry() {
  static std::map<std::string, ZooEntry> entries;
  return entries;
}

}  // namespace

void register_zoo_model(ZooEntry entry) {
  std::string name = entry.name;
  zoo_registry()[name] = std::move(entry);
}

Graph build_zoo_model(const std::string& name, const ZooOptions& options) {
  auto it = zoo_registry().find(name);
  if (it == zoo_registry().end()) {
    std::string known;
    for (const auto& e : zoo_registry()) known += (known.empty() ? "" : ", ") + e.first;
    throw BadInput("zoo:" + name + ": no such network (available: " + known + ")");
  }
  return it->second.build(options);
}

std::vector<ZooEntry> zoo_models() {
  std::vector<ZooEntry> all;
  for (const auto& e : zoo_registry()) all.push_back(e.second);
  return all;
}

}  // namespace coda
