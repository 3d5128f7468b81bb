// coda knobs: the knob catalog, or for a model every op with its applicable knobs and the op
// counts each knob leaves (ApproxTuner's N_c and N_m, the inputs of its cost model).
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/model_source.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/knob_cost.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/tensor.h"

namespace coda::cli {
namespace {

// "11 12 121-138 151-168": consecutive ids collapsed into ranges, in catalog order.
std::string id_ranges(const std::vector<const Knob*>& knobs) {
  std::string out;
  for (std::size_t i = 0; i < knobs.size();) {
    std::size_t j = i;
    while (j + 1 < knobs.size() && knobs[j + 1]->id == knobs[j]->id + 1) ++j;
    out += (out.empty() ? "" : " ") + std::to_string(knobs[i]->id);
    if (j > i) out += "-" + std::to_string(knobs[j]->id);
    i = j + 1;
  }
  return out;
}

nlohmann::json knob_json(const Knob& k) {
  nlohmann::json j{{"id", k.id},
                   {"name", k.name},
                   {"family", family_name(k.family)},
                   {"precision", k.precision == Arithmetic::Fp16 ? "fp16" : "fp32"},
                   {"unit", unit_name(k.unit)},
                   {"r_compute", k.r_compute},
                   {"r_memory", k.r_memory}};
  nlohmann::json applies = nlohmann::json::array();
  for (const std::string& op : k.applies_to) applies.push_back(op);
  j["applies_to"] = k.applies_to.empty() ? nlohmann::json::array({"all"}) : applies;
  return j;
}

class KnobsCommand : public Command {
 public:
  std::string name() const override { return "knobs"; }
  std::string summary() const override {
    return "List the knob catalog, or each op of a model with its applicable knobs and their op counts";
  }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file or zoo:NAME; without it the catalog is listed");
    app.add_option("--op", op_, "Only this op (node name)");
    app.add_option("--shape", shapes_, "NAME=DIMS for inputs with symbolic dimensions (default: 1 for each)");
    app.add_flag("--summary", summary_, "One line per op: exact counts and the applicable knob ids");
    app.add_flag("--json", json_, "Print JSON");
  }

  int execute(const CommonOptions& common) override {
    const KnobCatalog& catalog = knob_catalog();
    if (model_.empty()) return list_catalog(catalog);

    Graph graph = load_model(model_, common.seed);
    std::vector<NodeReport> reports;
    try {
      bind_input_shapes(graph, resolve_input_shapes(graph, parse_shape_overrides(shapes_), 1));
      prepare_graph(graph);
      reports = analyse_graph(graph);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    bool found = op_.empty();
    nlohmann::json ops = nlohmann::json::array();
    for (const NodeReport& report : reports) {
      const Node& node = *report.node;
      if (!op_.empty() && node.name != op_) continue;
      found = true;
      std::vector<const Knob*> knobs = catalog.applicable(node.op_type);
      const KnobCost exact = exact_cost(report);
      if (json_) {
        nlohmann::json entry{{"name", node.name}, {"op_type", node.op_type}, {"n_c", exact.compute},
                             {"n_m", exact.memory}};
        nlohmann::json list = nlohmann::json::array();
        for (const Knob* k : knobs) {
          KnobCost c = knob_cost(report, *k);
          list.push_back({{"id", k->id}, {"name", k->name}, {"family", family_name(k->family)},
                          {"unit", unit_name(k->unit)}, {"n_c", c.compute}, {"n_m", c.memory}});
        }
        entry["knobs"] = list;
        ops.push_back(entry);
        continue;
      }
      std::printf("%s (%s): N_c %s ops, N_m %s; %zu knobs: %s\n", node.name.c_str(), node.op_type.c_str(),
                  human_count(exact.compute).c_str(), format_bytes(exact.memory).c_str(), knobs.size(),
                  id_ranges(knobs).c_str());
      if (summary_) continue;
      std::printf("  %5s  %-24s %-18s %-8s %12s %12s\n", "knob", "name", "family", "unit", "N_c", "N_m");
      for (const Knob* k : knobs) {
        KnobCost c = knob_cost(report, *k);
        std::printf("  %5d  %-24s %-18s %-8s %12s %12s\n", k->id, k->name.c_str(), family_name(k->family),
                    unit_name(k->unit), human_count(c.compute).c_str(), format_bytes(c.memory).c_str());
      }
    }
    if (!found) throw BadInput(model_ + ": no op named '" + op_ + "'");
    if (json_) {
      nlohmann::json doc{{"model", model_}, {"catalog", catalog.source()}, {"ops", ops}};
      std::printf("%s\n", doc.dump(2).c_str());
    }
    return 0;
  }

 private:
  int list_catalog(const KnobCatalog& catalog) const {
    if (json_) {
      nlohmann::json list = nlohmann::json::array();
      for (const Knob& k : catalog.knobs()) list.push_back(knob_json(k));
      std::printf("%s\n", nlohmann::json{{"catalog", catalog.source()}, {"knobs", list}}.dump(2).c_str());
      return 0;
    }
    std::printf("knob catalog %s: %zu knobs\n", catalog.source().c_str(), catalog.knobs().size());
    std::printf("%5s  %-24s %-18s %-5s %-8s %9s %9s  %s\n", "id", "name", "family", "prec", "unit", "r_compute",
                "r_memory", "applies to");
    for (const Knob& k : catalog.knobs()) {
      std::string applies;
      for (const std::string& op : k.applies_to) applies += (applies.empty() ? "" : ",") + op;
      std::printf("%5d  %-24s %-18s %-5s %-8s %9.3g %9.3g  %s\n", k.id, k.name.c_str(), family_name(k.family),
                  k.precision == Arithmetic::Fp16 ? "fp16" : "fp32", unit_name(k.unit), k.r_compute, k.r_memory,
                  applies.empty() ? "all" : applies.c_str());
    }
    return 0;
  }

  std::string model_;
  std::string op_;
  std::vector<std::string> shapes_;
  bool summary_ = false;
  bool json_ = false;
};

CODA_REGISTER_COMMAND(KnobsCommand);

}  // namespace
}  // namespace coda::cli
