// coda prune: structured filter pruning to a FLOPs (MAC) target with L1, L2 or LeGR ranking
// (kernels/approx/pruning.h, tuner/legr.h), an optional fine-tune, and the smaller model written
// as ONNX.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/model_source.h"
#include "cli/progress.h"
#include "kernels/approx/pruning.h"
#include "kernels/atomic_file.h"
#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/executor.h"
#include "kernels/onnx_export.h"
#include "kernels/trainer.h"
#include "tuner/legr.h"
#include "tuner/pruning_curve.h"

namespace coda::cli {
namespace {


// Images [begin, end) of a dataset.
Dataset slice(const Dataset& data, int64_t begin, int64_t end) {
  Dataset out;
  out.name = data.name;
  out.classes = data.classes;
  out.images = data.batch(begin, end);
  out.labels.assign(data.labels.begin() + begin, data.labels.begin() + end);
  return out;
}

std::string percent(int64_t after, int64_t before) {
  return before > 0 ? fmt::format("{:.1f}%", 100.0 * static_cast<double>(after) / static_cast<double>(before)) : "-";
}

class PruneCommand : public Command {
 public:
  std::string name() const override { return "prune"; }
  std::string summary() const override {
    return "Prune whole filters to a FLOPs target (L1, L2 or LeGR ranking), optionally fine-tune";
  }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file or zoo:NAME[?KEY=VALUE,...]")->required();
    app.add_option("--out", out_, "Where to write the pruned ONNX model")->required();
    app.add_option("--flops-target", target_, "Fraction of the model's MACs to keep, in (0, 1] (required unless --curve)");
    app.add_option("--ranking", ranking_, "Filter ranking: l1, l2 (Li et al. 2017) or legr (Chin et al. 2020)");
    app.add_option("--legr-params", legr_params_, "LeGR per-group affine transforms (JSON from --legr-out)");
    app.add_option("--legr-out", legr_out_, "Write the LeGR transforms (learned or read) to this JSON file");
    app.add_option("--data", data_,
                   "Training data SPEC (the :train split is implied) for the LeGR search and the fine-tune; the "
                   "model's stored preprocessing applies unless the spec has its own");
    app.add_option("--limit", limit_, "Use only the first N training images")->check(CLI::NonNegativeNumber);
    app.add_option("--legr-population", legr_.population, "LeGR population size (paper: 64)");
    app.add_option("--legr-tournament", legr_.tournament, "LeGR tournament size (paper: 16)");
    app.add_option("--legr-generations", legr_.generations,
                   "LeGR candidates evaluated in all, the initial population included (paper: 400)");
    app.add_option("--legr-steps", legr_.finetune_steps, "Fine-tune mini-batches per LeGR candidate");
    app.add_option("--legr-lr", legr_.learning_rate, "Learning rate of the LeGR candidates' fine-tunes");
    app.add_option("--legr-validation", legr_validation_,
                   "Training images held out (from the end of the split) to score LeGR candidates")
        ->check(CLI::PositiveNumber);
    app.add_option("--finetune-epochs", finetune_.epochs, "Fine-tune the pruned model for N epochs (0: none)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--lr", finetune_.learning_rate, "Fine-tune learning rate (cosine schedule)");
    app.add_option("--batch", finetune_.batch, "Fine-tune (and LeGR) mini-batch size");
    app.add_option("--momentum", finetune_.momentum, "Fine-tune SGD momentum");
    app.add_option("--weight-decay", finetune_.weight_decay, "Fine-tune L2 penalty on conv/fc weights");
    app.add_flag("--json", json_, "Print the result as one JSON object");
    app.add_option("--curve", curve_,
                   "FLOPs targets (comma-separated) for LeGR's FLOPs-vs-accuracy curve: --out is then a folder that "
                   "receives one fine-tuned model per target and pruning_curve.json (accuracy on the test split of "
                   "--data); --flops-target is not used")
        ->delimiter(',');
    app.add_option("--eval-limit", eval_limit_, "Test images the curve's accuracy is measured on")
        ->check(CLI::PositiveNumber);
  }

  int execute(const CommonOptions& common) override {
    if (!curve_.empty()) {
      // LeGR learns its ranking at the deepest level of the curve, where the ranking matters most.
      if (std::isnan(target_)) target_ = *std::min_element(curve_.begin(), curve_.end());
      for (double t : curve_)
        if (!(t > 0.0 && t <= 1.0)) throw BadInput(fmt::format("--curve: target {} is outside (0, 1]", t));
      if (data_.empty()) throw BadInput("--curve needs --data SPEC (fine-tunes and accuracy)");
    }
    check_options();
    Graph loaded = load_model(model_, common.seed);
    Graph graph = loaded;
    ChannelAnalysis analysis;
    try {
      bind_input_shapes(graph, resolve_input_shapes(graph, {}, 1));
      prepare_graph(graph);
      analysis = analyse_channels(graph);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    const PruneRanking ranking = parse_prune_ranking(ranking_);
    if (analysis.prunable_groups().empty())
      throw BadInput(model_ + ": no layer's filters can be pruned" +
                     (analysis.groups.empty() ? std::string() : " (" + analysis.groups.front().name + ": " +
                                                                    analysis.groups.front().reason + ")"));

    // Checked before any search: one channel per prunable group is as small as pruning gets.
    std::vector<int64_t> smallest;
    for (const ChannelGroup& g : analysis.groups) smallest.push_back(g.prunable ? 1 : g.channels);
    const int64_t total = planned_macs(analysis, full_plan(analysis)), floor_macs = planned_macs(analysis, smallest);
    if (static_cast<double>(floor_macs) > std::floor(target_ * static_cast<double>(total) + 1e-6))
      throw BadInput(fmt::format("--flops-target {}: not reachable; one filter per prunable layer still leaves {} of {} "
                                 "MACs ({}), the rest being in layers pruning cannot shrink",
                                 target_, floor_macs, total, percent(floor_macs, total)));

    std::optional<Dataset> train;
    if (!data_.empty()) train = load_training_data(graph);

    std::vector<AffineParams> affine;
    std::optional<LegrResult> search;
    legr_.flops_target = target_;
    legr_.seed = common.seed;
    legr_.batch = finetune_.batch;
    if (ranking == PruneRanking::LeGR) {
      if (!legr_params_.empty()) {
        affine = load_legr_json(legr_params_, analysis);
      } else {
        search = run_search(graph, *train);
        affine = search->affine;
      }
      if (!legr_out_.empty())
        write_file_atomically(legr_out_, legr_to_json(graph, analysis, affine, legr_, search ? &*search : nullptr));
    }

    if (!curve_.empty()) return write_curve(graph, loaded, *train, ranking, affine);

    FlopsPlan plan = plan_to_flops(graph, analysis, target_, ranking, affine);
    if (!plan.met) throw std::logic_error("pruning plan misses a reachable FLOPs target");
    PruneReport report = apply_pruning_plan(graph, analysis, plan.plan);

    nlohmann::json history = nlohmann::json::array();
    if (finetune_.epochs > 0) history = fine_tune(graph, *train);

    nlohmann::json summary = {{"model", model_},
                              {"ranking", prune_ranking_name(ranking)},
                              {"flops_target", target_},
                              {"macs_before", report.macs_before},
                              {"macs_after", report.macs_after},
                              {"params_before", report.params_before},
                              {"params_after", report.params_after}};
    graph.metadata["coda.pruning"] = summary.dump();
    save_onnx(restore_interface(graph, loaded), out_);

    summary["out"] = out_;
    summary["target_macs"] = plan.target_macs;
    summary["mac_ratio"] = static_cast<double>(report.macs_after) / static_cast<double>(std::max<int64_t>(1, report.macs_before));
    summary["param_ratio"] =
        static_cast<double>(report.params_after) / static_cast<double>(std::max<int64_t>(1, report.params_before));
    if (ranking != PruneRanking::LeGR) summary["uniform_fraction"] = plan.fraction;
    if (search) summary["legr"] = {{"best_loss", search->best_loss}, {"identity_loss", search->identity_loss},
                                   {"candidates", search->losses.size()}, {"fine_tunes", search->fine_tunes}};
    if (finetune_.epochs > 0) summary["finetune"] = history;
    nlohmann::json groups = nlohmann::json::array();
    for (const GroupReport& g : report.groups) {
      nlohmann::json row = {{"name", g.name},
                            {"producers", g.producers},
                            {"channels_before", g.channels_before},
                            {"channels_after", g.channels_after},
                            {"macs_before", g.macs_before},
                            {"macs_after", g.macs_after},
                            {"params_before", g.params_before},
                            {"params_after", g.params_after},
                            {"prunable", g.prunable}};
      if (!g.prunable) row["reason"] = g.reason;
      groups.push_back(row);
    }
    summary["groups"] = groups;
    if (json_) {
      std::printf("%s\n", summary.dump(2).c_str());
    } else {
      print_table(report, ranking);
    }
    return 0;
  }

 private:
  void check_options() const {
    if (std::isnan(target_)) throw BadInput("--flops-target is required (or --curve for a pruning curve)");
    if (!(target_ > 0.0 && target_ <= 1.0))
      throw BadInput(fmt::format("--flops-target {} is outside (0, 1] (the fraction of MACs kept)", target_));
    const PruneRanking ranking = parse_prune_ranking(ranking_);
    if (curve_.empty() && (out_.size() < 5 || out_.compare(out_.size() - 5, 5, ".onnx") != 0))
      throw BadInput(out_ + ": output must end in .onnx");
    if (!legr_params_.empty() && ranking != PruneRanking::LeGR)
      throw BadInput("--legr-params needs --ranking legr");
    if (ranking == PruneRanking::LeGR && legr_params_.empty() && data_.empty())
      throw BadInput("--ranking legr needs --legr-params FILE or --data SPEC to learn the transforms");
    if (finetune_.epochs > 0 && data_.empty()) throw BadInput("--finetune-epochs needs --data SPEC");
    if (finetune_.batch <= 0) throw BadInput("--batch must be positive");
    if (!(finetune_.learning_rate > 0.0f)) throw BadInput("--lr must be positive");
  }

  // LeGR's curve: the model pruned to every target with the same ranking and fine-tune, each
  // written to the --out folder, with the curve as JSON beside them.
  int write_curve(const Graph& graph, const Graph& loaded, const Dataset& train, PruneRanking ranking,
                  const std::vector<AffineParams>& affine) {
    Dataset evaluation = load_dataset(with_split(data_, "test"), eval_limit_);
    try {
      apply_transform_choice(evaluation, resolve_transform(graph, with_split(data_, "test")));
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    std::filesystem::create_directories(out_);
    tuner::PruningCurveOptions options;
    options.targets = curve_;
    options.ranking = ranking;
    options.affine = affine;
    options.finetune = finetune_;
    ProgressBar bar("pruning curve", static_cast<int64_t>(curve_.size()) + 1, "levels");
    int64_t done = 0;
    const std::vector<tuner::PruningLevel> levels = tuner::pruning_curve(
        graph, train, evaluation, options, [&](const Graph& pruned, tuner::PruningLevel& level) {
          level.model = fmt::format("pruned_{:.3f}.onnx", level.flops_target);
          Graph out = restore_interface(pruned, loaded);
          out.metadata["coda.pruning"] = nlohmann::json({{"model", model_},
                                                         {"ranking", prune_ranking_name(ranking)},
                                                         {"flops_target", level.flops_target},
                                                         {"macs_after", level.macs}})
                                             .dump();
          save_onnx(out, (std::filesystem::path(out_) / level.model).string());
          bar.update(++done, fmt::format("{:.2f} of the MACs: accuracy {:.4f}", level.flops_target, level.accuracy));
        });
    bar.finish();
    const std::string curve_path = (std::filesystem::path(out_) / "pruning_curve.json").string();
    write_file_atomically(curve_path, tuner::pruning_curve_to_json(model_, ranking, levels));
    if (json_) {
      std::printf("%s", tuner::pruning_curve_to_json(model_, ranking, levels).c_str());
      return 0;
    }
    std::printf("%-12s %12s %12s %10s  %s\n", "flops target", "MACs", "params", "accuracy", "model");
    for (const tuner::PruningLevel& l : levels)
      std::printf("%-12.3f %12s %12s %10.4f  %s\n", l.flops_target, human_count(static_cast<double>(l.macs)).c_str(),
                  human_count(static_cast<double>(l.params)).c_str(), l.accuracy, l.model.c_str());
    std::printf("wrote %s\n", curve_path.c_str());
    return 0;
  }

  // The training split, preprocessed as the model expects (its stored preprocessing, unless the
  // spec brings its own, which the model then records).
  Dataset load_training_data(Graph& graph) const {
    const std::string spec = with_split(data_, "train");
    Dataset data = load_dataset(spec, limit_);
    try {
      TransformChoice choice = resolve_transform(graph, spec);
      apply_transform_choice(data, choice);
      if (choice.from_spec) graph.metadata[kPreprocessMetadataKey] = choice.transform.to_string();
      std::string fix;
      std::string mismatch = classifier_input_mismatch(
          graph, {data.images.dim(1), data.images.dim(2), data.images.dim(3)}, spec, &fix);
      if (!mismatch.empty()) throw BadInput(mismatch + (fix.empty() ? "" : " (try " + spec + "@" + fix + ")"));
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    return data;
  }

  LegrResult run_search(const Graph& graph, const Dataset& train) {
    const int64_t held_out = std::min<int64_t>(legr_validation_, train.size() / 2);
    if (held_out <= 0) throw BadInput(data_ + ": too few images to hold some out for LeGR's validation");
    Dataset tune = slice(train, 0, train.size() - held_out);
    Dataset validation = slice(train, train.size() - held_out, train.size());
    ProgressBar bar("legr", legr_.generations, "candidates");
    LegrResult result = legr_search(graph, tune, validation, legr_, [&](int done, int, double loss, double best) {
      bar.update(done, fmt::format("loss {:.4f}, best {:.4f}", loss, best));
    });
    bar.finish();
    spdlog::info("LeGR: best validation loss {:.4f} (identity transform {:.4f}) after {} candidates, {} fine-tunes",
                 result.best_loss, result.identity_loss, result.losses.size(), result.fine_tunes);
    return result;
  }

  nlohmann::json fine_tune(Graph& graph, const Dataset& train) {
    Trainer trainer(graph, finetune_);
    nlohmann::json history = nlohmann::json::array();
    for (int epoch = 0; epoch < finetune_.epochs; ++epoch) {
      ProgressBar bar(fmt::format("fine-tune {}/{}", epoch + 1, finetune_.epochs),
                      train.size() / std::min<int64_t>(finetune_.batch, std::max<int64_t>(1, train.size())));
      EpochStats s = trainer.train_epoch(train, epoch, [&](int64_t done, int64_t, double loss, double acc) {
        bar.update(done, fmt::format("loss {:.4f} acc {:.4f}", loss, acc));
      });
      bar.finish();
      if (!json_)
        std::printf("fine-tune epoch %d/%d: loss %.4f, train accuracy %.4f, %.1f s\n", epoch + 1, finetune_.epochs,
                    s.loss, s.accuracy, s.seconds);
      history.push_back({{"epoch", epoch + 1}, {"loss", s.loss}, {"train_accuracy", s.accuracy}, {"seconds", s.seconds}});
    }
    return history;
  }

  // The pruned graph with the loaded model's interface: inputs and outputs keep their declared
  // shapes (pruning never changes them), symbolic batch included, when the pruned graph still
  // prepares at another batch size; otherwise (a batch folded into a shape constant) the shapes it
  // was prepared with.
  Graph restore_interface(const Graph& pruned, const Graph& loaded) const {
    Graph out = pruned;
    std::vector<bool> io(out.values.size(), false);
    for (int id : out.inputs) io[static_cast<std::size_t>(id)] = true;
    for (int id : out.outputs) io[static_cast<std::size_t>(id)] = true;
    bool symbolic = false;
    for (std::size_t v = 0; v < io.size(); ++v) {
      if (!io[v]) continue;
      out.values[v].shape = loaded.values[v].shape;
      out.values[v].shape_known = loaded.values[v].shape_known;
      for (int64_t d : loaded.values[v].shape) symbolic = symbolic || d < 0;
    }
    if (!symbolic) return out;
    // Intermediate shapes were inferred for one image: leave them to the reader's inference.
    for (std::size_t v = 0; v < io.size(); ++v)
      if (!io[v] && !out.values[v].constant) out.values[v].shape_known = false;
    try {
      Graph check = out;
      fill_symbolic_dims(check, 2);
      prepare_graph(check);
      return out;
    } catch (const BadInput& e) {
      spdlog::warn("{}: the pruned model keeps the batch size it was prepared with ({})", model_, e.what());
    }
    Graph fixed = pruned;
    for (int id : fixed.inputs) fixed.values[static_cast<std::size_t>(id)].shape[0] = 1;
    return fixed;
  }

  void print_table(const PruneReport& r, PruneRanking ranking) const {
    std::printf("pruned %s to %s of its MACs (target %s, %s ranking)\n", model_.c_str(),
                percent(r.macs_after, r.macs_before).c_str(), fmt::format("{:g}", target_).c_str(),
                prune_ranking_name(ranking));
    std::printf("%-24s %9s %9s %10s %10s %10s %10s\n", "group", "producers", "channels", "MACs", "MACs", "params",
                "params");
    std::printf("%-24s %9s %9s %10s %10s %10s %10s\n", "", "", "kept", "before", "after", "before", "after");
    for (const GroupReport& g : r.groups) {
      std::string channels = g.prunable ? fmt::format("{}/{}", g.channels_after, g.channels_before)
                                        : fmt::format("{} (fixed)", g.channels_before);
      std::printf("%-24s %9zu %9s %10s %10s %10s %10s\n", g.name.c_str(), g.producers.size(), channels.c_str(),
                  human_count(static_cast<double>(g.macs_before)).c_str(),
                  human_count(static_cast<double>(g.macs_after)).c_str(),
                  human_count(static_cast<double>(g.params_before)).c_str(),
                  human_count(static_cast<double>(g.params_after)).c_str());
    }
    std::printf("MACs %lld -> %lld (%s kept, %.2fx fewer); parameters %lld -> %lld (%s kept)\n",
                static_cast<long long>(r.macs_before), static_cast<long long>(r.macs_after),
                percent(r.macs_after, r.macs_before).c_str(),
                r.macs_after > 0 ? static_cast<double>(r.macs_before) / static_cast<double>(r.macs_after) : 0.0,
                static_cast<long long>(r.params_before), static_cast<long long>(r.params_after),
                percent(r.params_after, r.params_before).c_str());
    for (const GroupReport& g : r.groups)
      if (!g.prunable) std::printf("fixed %s: %s\n", g.name.c_str(), g.reason.c_str());
    std::printf("wrote %s\n", out_.c_str());
  }

  std::string model_, out_, ranking_ = "l1", legr_params_, legr_out_, data_;
  double target_ = std::nan("");
  int64_t limit_ = 0;
  int64_t legr_validation_ = 1000;
  std::vector<double> curve_;
  int64_t eval_limit_ = 2000;
  bool json_ = false;
  LegrOptions legr_;
  TrainOptions finetune_ = [] {
    TrainOptions t;
    t.epochs = 0;
    t.learning_rate = 0.01f;  // a fine-tune starts from trained weights: a tenth of a training run's rate
    t.batch = 64;
    return t;
  }();
};

CODA_REGISTER_COMMAND(PruneCommand);

}  // namespace
}  // namespace coda::cli
