// coda zoo: the networks of the model zoo with their input, output, MACs and parameters. Figures
// come from the same shape inference and cost counting as `coda inspect`, on graphs built without
// weight data, so listing the 138 M-parameter VGG-16 costs nothing.
#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/model_source.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"

namespace coda::cli {
namespace {

struct ZooRow {
  std::string name;
  std::string description;
  Shape input;
  Shape output;
  int64_t macs = 0;
  int64_t params = 0;
};

ZooRow measure(const ZooEntry& entry, const ZooOptions& base) {
  ZooOptions options = base;
  options.shapes_only = true;
  Graph graph = build_zoo_model(entry.name, options);
  fill_symbolic_dims(graph, 1);
  prepare_graph(graph);
  ZooRow row;
  row.name = entry.name;
  row.description = entry.description;
  row.input = graph.values[static_cast<std::size_t>(graph.inputs.front())].shape;
  row.output = graph.values[static_cast<std::size_t>(graph.outputs.front())].shape;
  for (const NodeReport& r : analyse_graph(graph)) row.macs += r.cost.macs;
  row.params = graph.parameter_count();
  return row;
}

class ZooCommand : public Command {
 public:
  std::string name() const override { return "zoo"; }
  std::string summary() const override { return "List the model zoo's networks with their MACs and parameters"; }

  void configure(CLI::App& app) override {
    app.add_option("names", names_, "Networks to list (default: all)");
    app.add_flag("--json", json_, "Print JSON instead of a table");
    app.add_option("--classes", classes_, "Count with this many output classes (default: each network's own)")
        ->check(CLI::PositiveNumber);
    app.add_option("--in-channels", in_channels_, "Count with this many input channels (default: each network's own)")
        ->check(CLI::PositiveNumber);
    app.footer(
        "Use a network as --model zoo:NAME with any command, with options as zoo:NAME?KEY=VALUE,... where KEY is\n"
        "batch (0: symbolic), classes, in_channels or seed, e.g. --model 'zoo:resnet20?classes=100,batch=8'.\n"
        "Parameters count every float constant, batch-norm running statistics included (as `coda inspect`).");
  }

  int execute(const CommonOptions&) override {
    ZooOptions base;
    base.classes = classes_;
    base.in_channels = in_channels_;
    std::vector<ZooEntry> entries = zoo_models();
    if (!names_.empty()) {
      std::vector<ZooEntry> chosen;
      for (const std::string& n : names_) {
        auto it = std::find_if(entries.begin(), entries.end(), [&](const ZooEntry& e) { return e.name == n; });
        if (it == entries.end()) {
          build_zoo_model(n, base);  // throws BadInput listing the known names
          continue;
        }
        chosen.push_back(*it);
      }
      entries = chosen;
    }
    std::vector<ZooRow> rows;
    for (const ZooEntry& e : entries) rows.push_back(measure(e, base));

    if (json_) {
      nlohmann::json list = nlohmann::json::array();
      for (const ZooRow& r : rows)
        list.push_back({{"name", r.name},
                        {"description", r.description},
                        {"input", r.input},
                        {"output", r.output},
                        {"macs", r.macs},
                        {"params", r.params}});
      std::printf("%s\n", list.dump(2).c_str());
      return 0;
    }
    std::size_t name_w = 4;
    for (const ZooRow& r : rows) name_w = std::max(name_w, r.name.size());
    std::string header = fmt::format("{:<{}}  {:<14}  {:<8}  {:>8}  {:>8}  {}", "name", name_w, "input", "output",
                                     "MACs", "params", "description");
    std::printf("%s\n%s\n", header.c_str(), std::string(header.size() + 20, '-').c_str());
    for (const ZooRow& r : rows)
      std::printf("%s\n", fmt::format("{:<{}}  {:<14}  {:<8}  {:>8}  {:>8}  {}", r.name, name_w, shape_string(r.input),
                                      shape_string(r.output), human_count(static_cast<double>(r.macs)),
                                      human_count(static_cast<double>(r.params)), r.description)
                              .c_str());
    return 0;
  }

 private:
  std::vector<std::string> names_;
  bool json_ = false;
  int64_t classes_ = 0;
  int64_t in_channels_ = 0;
};

CODA_REGISTER_COMMAND(ZooCommand);

}  // namespace
}  // namespace coda::cli
