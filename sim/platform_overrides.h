// `--set KEY=VALUE` overrides of a platform file, applied to its YAML tree before the tree is read
// into a Platform, so an override is checked exactly like a value written in the file.
// Internal to coda_sim.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

namespace coda::sim {

// Applies `overrides` in order, so a later one wins:
//   "a.b.c=VALUE"  replaces the value at that dotted path, which must already exist in the document
//                  (list items by index: "gpu.dvfs.3.voltage_v=0.9"); VALUE is read as YAML, a
//                  scalar or a list ("[1, 2]").
//   "nvpmodel=N"   applies the preset whose id or name is N (names match case-insensitively):
//                  cpu.cores, cpu.freq_mhz and gpu.freq_mhz take the preset's values.
// Throws BadInput "SOURCE: --set KEY: problem".
void apply_overrides(YAML::Node& root, const std::vector<std::string>& overrides, const std::string& source);

}  // namespace coda::sim
