// coda eval: top-1 accuracy of a classifier on a labelled image data set.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/approx_options.h"
#include "cli/command.h"
#include "cli/progress.h"
#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/executor.h"
#include "kernels/onnx_import.h"
#include "kernels/zoo.h"

namespace coda::cli {
namespace {

// A confusion matrix beyond this many classes is unreadable and its counts no longer small.
constexpr int64_t kMaxConfusionClasses = 1000;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string dims_text(const Shape& dims) {
  std::string s;
  for (int64_t d : dims) s += (s.empty() ? "" : "x") + std::to_string(d);
  return s;
}

class EvalCommand : public Command {
 public:
  std::string name() const override { return "eval"; }
  std::string summary() const override { return "Top-1 accuracy of a classifier on a labelled data set"; }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file, or zoo:NAME[?KEY=VALUE,...] (weights from --seed)")->required();
    app.add_option("--data", data_,
                   "Data set: fashion-mnist[:train|:test], idx:IMAGES,LABELS, cifar:DIR[:train|:test] or "
                   "npy:IMAGES,LABELS, optionally with a transform after '@', e.g. "
                   "fashion-mnist:test@pad=2;mean=0.286;std=0.353 (without one, the model's stored "
                   "preprocessing applies)")
        ->required();
    app.add_option("--limit", limit_, "Evaluate only the first N samples")->check(CLI::PositiveNumber);
    app.add_option("--batch", batch_, "Images per inference batch")->check(CLI::PositiveNumber);
    app.add_flag("--json", json_, "Print the result as one JSON object");
    app.add_flag("--confusion", confusion_, "Also print the confusion matrix and per-class accuracy");
    approx_.add_to(app);
    app.add_option("--calibration-data", calibration_data_,
                   "Data set whose first images calibrate activation ranges for knobs that need them "
                   "(PROMISE, fixed point, shift-add) when --config has none (default: --data; prefer a "
                   "training split)");
    app.add_option("--calibration-size", calibration_size_, "Images used for calibration")
        ->check(CLI::PositiveNumber);
  }

  int execute(const CommonOptions& common) override {
    const auto load_start = std::chrono::steady_clock::now();
    Dataset data = load_dataset(data_, limit_);
    const int64_t n = data.size();
    const double load_seconds = seconds_since(load_start);
    spdlog::info("{}: {} images of {}, {} classes, loaded in {:.2f} s", data_, n,
                 dims_text({data.images.dim(1), data.images.dim(2), data.images.dim(3)}), data.classes, load_seconds);

    Graph graph = load_graph(common.seed, data);
    TransformChoice transform;
    try {
      check_classifier(graph);
      transform = resolve_transform(graph, data_);
      if (transform.from_spec && !transform.stored.empty())
        spdlog::info("the transform of --data replaces the model's preprocessing '{}'", transform.stored);
      if (transform.from_model) spdlog::info("applying the model's preprocessing '{}'", transform.stored);
      apply_transform_choice(data, transform);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    check_geometry(graph, data, transform);

    std::unique_ptr<ApproxSession> session = approx_.make_session(common.seed);
    BatchedClassifier::RunnerSetup setup;
    if (session) {
      prune_for_config(*session, graph, data);
      session->set_calibration_source(
          [this, &data](const Graph& prepared) { return calibration_inputs(prepared, data); });
      setup = [&session](const Graph& prepared, Executor& executor) { session->install(prepared, executor); };
    }
    std::unique_ptr<BatchedClassifier> classifier;
    try {
      classifier = std::make_unique<BatchedClassifier>(graph, data, batch_, setup);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    if (session && session->calibrated())
      spdlog::info("calibrated activation ranges on {} image(s) of {}", calibration_size_,
                   calibration_data_.empty() ? data_ : calibration_data_);
    if (!classifier->batch_note().empty()) spdlog::info("{}: {}", model_, classifier->batch_note());
    const int64_t scores_per_image = classifier->scores_per_image();
    if (scores_per_image < data.classes)
      spdlog::warn("{}: the model gives {} score(s) per image, {} has {} classes", model_, scores_per_image, data_,
                   data.classes);
    if (confusion_) {
      const int64_t columns = std::max<int64_t>(scores_per_image, data.classes);
      if (columns > kMaxConfusionClasses)
        throw BadInput("--confusion: " + std::to_string(columns) + " classes are too many to tabulate (at most " +
                       std::to_string(kMaxConfusionClasses) + ")");
    }

    ProgressBar progress("eval", n, "images");
    const auto start = std::chrono::steady_clock::now();
    Evaluation result;
    try {
      result = evaluate_classifier(*classifier, data, [&](const EvalStatus& s) {
        progress.update(s.images_done, fmt::format("batch {}/{}, accuracy {:.4f}", s.batches_done, s.batches,
                                                   static_cast<double>(s.correct) /
                                                       static_cast<double>(s.images_done)));
      });
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    const double seconds = seconds_since(start);
    progress.finish();

    const double rate = seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
    const std::vector<ClassResult> per_class = result.per_class();
    if (json_) {
      nlohmann::json out;
      out["accuracy"] = result.accuracy();
      out["n"] = result.n;
      out["correct"] = result.correct;
      out["model"] = model_;
      out["data"] = data_;
      out["seconds"] = seconds;
      out["load_seconds"] = load_seconds;
      out["images_per_second"] = rate;
      out["batch"] = result.batch;
      out["classes"] = data.classes;
      out["transform"] = transform.text;
      if (session) out["config"] = nlohmann::json::parse(session->config().to_json());
      std::vector<nlohmann::json> accuracies;
      for (const ClassResult& c : per_class)
        accuracies.push_back(c.samples ? nlohmann::json(c.accuracy()) : nlohmann::json(nullptr));
      out["per_class_accuracy"] = accuracies;
      if (confusion_) out["confusion"] = result.confusion();
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      std::printf("accuracy %.4f (%lld/%lld) %s on %s, %.2f s, %.0f images/s\n", result.accuracy(),
                  static_cast<long long>(result.correct), static_cast<long long>(result.n), model_.c_str(),
                  data_.c_str(), seconds, rate);
      if (confusion_) print_confusion(result.confusion(), per_class);
    }
    return 0;
  }

 private:
  // zoo:NAME[?KEY=VALUE,...] gets a symbolic batch and the data's channels and classes unless the
  // spec says otherwise.
  Graph load_graph(std::uint64_t seed, const Dataset& data) const {
    if (model_.compare(0, 4, "zoo:") != 0) return load_onnx(model_);
    ZooOptions options;
    options.seed = seed;
    options.batch = 0;
    options.in_channels = data.images.dim(1);
    options.classes = data.classes;
    return build_zoo_model_from_spec(model_.substr(4), options);
  }

  // Pruning knobs shrink the weights; they act on the graph prepared for one image, which the
  // classifier then re-binds to its batch size.
  void prune_for_config(const ApproxSession& session, Graph& graph, const Dataset& data) const {
    Graph prepared = graph;
    try {
      Value& in = prepared.values[static_cast<std::size_t>(prepared.inputs.front())];
      Shape shape{1};
      if (in.shape.size() == 2) shape.push_back(data.images.size() / data.images.dim(0));
      else for (int i = 1; i < 4; ++i) shape.push_back(data.images.dim(i));
      if (!in.shape.empty()) in.shape[0] = -1;
      bind_input_shapes(prepared, {shape});
      prepare_graph(prepared);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    if (session.apply_pruning(prepared)) {
      spdlog::info("pruned the model as {} asks", session.config().source);
      graph = std::move(prepared);
    }
  }

  // The first --calibration-size images of the calibration data, preprocessed as the evaluated
  // ones, in batches shaped as the prepared graph's input.
  std::vector<std::vector<Tensor>> calibration_inputs(const Graph& prepared, const Dataset& data) const {
    Tensor images;
    if (calibration_data_.empty() || calibration_data_ == data_) {
      images = data.images;
    } else {
      Dataset calibration = load_dataset(calibration_data_, calibration_size_);
      try {
        apply_transform_choice(calibration, resolve_transform(prepared, calibration_data_));
      } catch (const BadInput& e) {
        rethrow_with_context(model_, e);
      }
      images = calibration.images;
    }
    const Shape& input = prepared.values[static_cast<std::size_t>(prepared.inputs.front())].shape;
    std::vector<std::vector<Tensor>> batches = calibration_batches(images, input.front(), calibration_size_);
    for (auto& batch : batches) {
      if (batch.front().size() != element_count(input))
        throw BadInput((calibration_data_.empty() ? data_ : calibration_data_) + ": calibration images of shape " +
                       shape_string(batch.front().shape()) + " do not fit the model input " + shape_string(input));
      batch.front() = batch.front().reshaped(input);
    }
    return batches;
  }

  // Says exactly what differs between the images and the model input, with the transform that
  // would fix it, in the terms of --data.
  void check_geometry(const Graph& graph, const Dataset& data, const TransformChoice& transform) const {
    std::string data_name = data_;
    if (transform.from_model) data_name += " (after the model's preprocessing '" + transform.text + "')";
    std::string fix, mismatch;
    try {
      mismatch = classifier_input_mismatch(graph, {data.images.dim(1), data.images.dim(2), data.images.dim(3)},
                                           data_name, &fix);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    if (mismatch.empty()) return;
    if (!fix.empty()) mismatch += transform.from_spec ? "; add " + fix + " to its transform" : "; add @" + fix;
    throw BadInput(model_ + ": " + mismatch);
  }

  static void print_confusion(const std::vector<std::vector<int64_t>>& confusion,
                              const std::vector<ClassResult>& per_class) {
    int64_t largest = 0;
    for (const auto& row : confusion)
      for (int64_t v : row) largest = std::max(largest, v);
    const int width = static_cast<int>(std::max(std::to_string(largest).size(),
                                                std::to_string(confusion.front().size() - 1).size())) + 1;
    const int label_width = static_cast<int>(std::to_string(confusion.size() - 1).size()) + 1;
    std::string line = "confusion matrix (rows: true label, columns: predicted label)\n";
    line += fmt::format("{:>{}} ", "", label_width);
    for (std::size_t c = 0; c < confusion.front().size(); ++c) line += fmt::format("{:>{}}", c, width);
    line += "  accuracy\n";
    for (std::size_t r = 0; r < confusion.size(); ++r) {
      line += fmt::format("{:>{}} ", r, label_width);
      for (int64_t v : confusion[r]) line += fmt::format("{:>{}}", v, width);
      const ClassResult& c = per_class[r];
      line += c.samples ? fmt::format("  {:.4f} ({}/{})\n", c.accuracy(), c.correct, c.samples) : std::string("  -\n");
    }
    std::fputs(line.c_str(), stdout);
  }

  std::string model_;
  std::string data_;
  int64_t limit_ = 0;
  int64_t batch_ = 64;
  bool json_ = false;
  bool confusion_ = false;
  ApproxOptions approx_;
  std::string calibration_data_;
  int64_t calibration_size_ = 500;
};

CODA_REGISTER_COMMAND(EvalCommand);

}  // namespace
}  // namespace coda::cli
