// Writes the test topologies as .onnx files, e.g. the full-size ResNet-50 for timing `coda run`
// against other runtimes on the very same model:
//   make_models --out models/ resnet50 inception_v1
//   make_models --out small/ --resolution 64 --width 0.25 --classes 10
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tests/support/onnx_builder.h"
#include "tests/support/topologies.h"

int main(int argc, char** argv) {
  using namespace coda::test;
  CLI::App app{"Write coda's test topologies (random seeded weights) as ONNX models"};
  std::string out_dir = ".";
  std::vector<std::string> names;
  TopologyOptions options;
  app.add_option("--out", out_dir, "Directory for the .onnx files");
  app.add_option("--resolution", options.resolution, "Input height and width")->check(CLI::PositiveNumber);
  app.add_option("--width", options.width, "Channel multiplier (1 = the published network)")->check(CLI::PositiveNumber);
  app.add_option("--classes", options.classes, "Classifier outputs")->check(CLI::PositiveNumber);
  app.add_option("--batch", options.batch, "Batch size written into the input shape")->check(CLI::PositiveNumber);
  app.add_flag("--dynamic-batch", options.dynamic_batch, "Write the batch dimension as the symbol N");
  app.add_option("--opset", options.opset, "Opset (0 = each topology's usual one)")->check(CLI::NonNegativeNumber);
  app.add_option("--seed", options.seed, "Seed of the weight initialisation");
  app.add_option("names", names, "Topologies to write (default: all)");
  CLI11_PARSE(app, argc, argv);

  std::vector<Topology> all = all_topologies();
  if (names.empty())
    for (const Topology& t : all) names.push_back(t.name);
  std::filesystem::create_directories(out_dir);
  for (const std::string& name : names) {
    const Topology* found = nullptr;
    for (const Topology& t : all)
      if (t.name == name) found = &t;
    if (!found) {
      std::string known;
      for (const Topology& t : all) known += " " + t.name;
      std::fprintf(stderr, "make_models: unknown topology '%s' (known:%s)\n", name.c_str(), known.c_str());
      return 2;
    }
    try {
      const std::string path = (std::filesystem::path(out_dir) / (name + ".onnx")).string();
      write_model(found->build(options), path);
      std::printf("%s\n", path.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "make_models: %s: %s\n", name.c_str(), e.what());
      return 2;
    }
  }
  return 0;
}
