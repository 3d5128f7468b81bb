// coda inspect: per-op shapes, MACs, parameters and bytes of a network, as a table or JSON.
#include <cstdio>

#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/model_source.h"
#include "cli/op_table.h"
#include "kernels/error.h"
#include "kernels/executor.h"

namespace coda::cli {
namespace {

class InspectCommand : public Command {
 public:
  std::string name() const override { return "inspect"; }
  std::string summary() const override { return "Per-op shapes, MACs, parameters and bytes of a network"; }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file, or zoo:NAME[?batch=B,classes=K,in_channels=C,seed=S] (see coda zoo)")->required();
    app.add_flag("--json", json_, "Print JSON instead of a table");
    app.add_option("--shape", shapes_, "NAME=DIMS for inputs with symbolic dimensions (default: 1 for each)");
  }

  int execute(const CommonOptions& common) override {
    Graph graph = load_model(model_, common.seed);
    std::vector<Shape> shapes = resolve_input_shapes(graph, parse_shape_overrides(shapes_), 1);
    std::vector<NodeReport> reports;
    try {
      bind_input_shapes(graph, shapes);
      prepare_graph(graph);
      reports = analyse_graph(graph);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
    for (int id : graph.inputs)
      inputs.push_back({{"name", graph.values[static_cast<std::size_t>(id)].name},
                        {"shape", graph.values[static_cast<std::size_t>(id)].shape}});
    for (int id : graph.outputs)
      outputs.push_back({{"name", graph.values[static_cast<std::size_t>(id)].name},
                         {"shape", graph.values[static_cast<std::size_t>(id)].shape}});
    if (json_) {
      nlohmann::json doc = op_table_json(graph, reports);
      doc["model"] = model_;
      doc["inputs"] = inputs;
      doc["outputs"] = outputs;
      std::printf("%s\n", doc.dump(2).c_str());
      return 0;
    }
    std::printf("model %s (%s)\n", model_.c_str(), graph.name.c_str());
    for (const auto& in : inputs)
      std::printf("input  %s: %s\n", in["name"].get<std::string>().c_str(),
                  shape_string(in["shape"].get<Shape>()).c_str());
    for (const auto& out : outputs)
      std::printf("output %s: %s\n", out["name"].get<std::string>().c_str(),
                  shape_string(out["shape"].get<Shape>()).c_str());
    std::printf("\n");
    print_op_table(graph, reports);
    return 0;
  }

 private:
  std::string model_;
  bool json_ = false;
  std::vector<std::string> shapes_;
};

CODA_REGISTER_COMMAND(InspectCommand);

}  // namespace
}  // namespace coda::cli
