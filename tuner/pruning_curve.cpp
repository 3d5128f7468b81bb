#include "tuner/pruning_curve.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/error.h"

namespace coda::tuner {

std::vector<PruningLevel> pruning_curve(const Graph& prepared, const Dataset& train, const Dataset& evaluation,
                                        const PruningCurveOptions& options, const PruningLevelSink& sink) {
  std::vector<double> targets = options.targets;
  for (double t : targets)
    if (!(t > 0.0 && t <= 1.0)) throw BadInput("pruning target " + std::to_string(t) + " is outside (0, 1]");
  targets.push_back(1.0);
  std::sort(targets.begin(), targets.end(), std::greater<double>());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());

  std::vector<PruningLevel> levels;
  for (double target : targets) {
    // Each level prunes (and fine-tunes) its own deep copy, so levels do not feed each other.
    Graph graph = clone_graph(prepared);
    PruningLevel level;
    level.flops_target = target;
    if (target < 1.0) {
      PruneReport report = prune_to_flops(graph, target, options.ranking, options.affine);
      level.macs = report.macs_after;
      level.params = report.params_after;
      if (options.finetune.epochs > 0) {
        Trainer trainer(graph, options.finetune);
        for (int epoch = 0; epoch < options.finetune.epochs; ++epoch) trainer.train_epoch(train, epoch);
      }
    } else {
      const ChannelAnalysis analysis = analyse_channels(graph);
      level.macs = planned_macs(analysis, full_plan(analysis));
      level.params = graph.parameter_count();
    }
    Trainer scorer(graph, options.finetune);
    level.accuracy = scorer.evaluate(evaluation, options.eval_batch);
    if (sink) sink(graph, level);
    levels.push_back(level);
  }
  return levels;
}

std::string pruning_curve_to_json(const std::string& base_model, PruneRanking ranking,
                                  const std::vector<PruningLevel>& levels) {
  nlohmann::json doc = {{"format", "coda-pruning-curve"},
                        {"version", 1},
                        {"base_model", base_model},
                        {"ranking", prune_ranking_name(ranking)}};
  nlohmann::json rows = nlohmann::json::array();
  for (const PruningLevel& l : levels)
    rows.push_back({{"flops_target", l.flops_target},
                    {"macs", l.macs},
                    {"params", l.params},
                    {"accuracy", l.accuracy},
                    {"model", l.model}});
  doc["levels"] = rows;
  return doc.dump(2) + "\n";
}

std::vector<PruningLevel> load_pruning_curve(const std::string& path, std::string* base_model) {
  std::ifstream in(path);
  if (!in) throw BadInput(path + ": cannot open the pruning curve");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    throw BadInput(path + ": not JSON (" + std::string(e.what()) + ")");
  }
  if (!doc.is_object() || doc.value("format", "") != "coda-pruning-curve" || doc.value("version", 0) != 1)
    throw BadInput(path + ": not a coda pruning curve (format coda-pruning-curve, version 1)");
  if (!doc.contains("levels") || !doc["levels"].is_array() || doc["levels"].empty())
    throw BadInput(path + ": 'levels' must be a non-empty array");
  const std::filesystem::path folder = std::filesystem::path(path).parent_path();
  std::vector<PruningLevel> levels;
  for (const nlohmann::json& row : doc["levels"]) {
    PruningLevel l;
    try {
      l.flops_target = row.at("flops_target").get<double>();
      l.macs = row.at("macs").get<int64_t>();
      l.params = row.at("params").get<int64_t>();
      l.accuracy = row.at("accuracy").get<double>();
      l.model = row.at("model").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw BadInput(path + ": level " + std::to_string(levels.size()) + ": " + e.what());
    }
    if (!(l.flops_target > 0 && l.flops_target <= 1))
      throw BadInput(path + ": level " + std::to_string(levels.size()) + ": flops_target outside (0, 1]");
    if (!l.model.empty() && std::filesystem::path(l.model).is_relative()) l.model = (folder / l.model).string();
    levels.push_back(l);
  }
  if (base_model) *base_model = doc.value("base_model", "");
  return levels;
}

}  // namespace coda::tuner
