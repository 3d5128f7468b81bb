// coda eval: top-1 accuracy of a classifier on a labelled image data set.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/model_source.h"
#include "cli/progress.h"
#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/onnx_import.h"
#include "kernels/zoo.h"

namespace coda::cli {
namespace {

// Key of the model metadata holding the preprocessing the model was trained with (kernels/dataset.h).
const char kPreprocessKey[] = "coda.preprocess";
// A confusion matrix beyond this many classes is unreadable and its counts no longer small.
constexpr int64_t kMaxConfusionClasses = 1000;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The image geometry of a model input: N x C x H x W, or N x F (a flattened image), or an input
// without a declared shape (taken to be N x C x H x W).
struct InputLayout {
  bool flat = false;
  int64_t batch = -1;  // -1: symbolic
  Shape dims;          // C, H, W (or F) as declared; -1 for symbolic dimensions
};

// Runs the model on batches of one fixed size, one prepared graph copy per size.
class BatchRunner {
 public:
  BatchRunner(Graph graph, int64_t batch, const Shape& image) : graph_(std::move(graph)), batch_(batch) {
    layout_ = input_layout(graph_);
    Shape shape{batch};
    if (layout_.flat)
      shape.push_back(element_count(image));
    else
      shape.insert(shape.end(), image.begin(), image.end());
    Value& in = graph_.values[static_cast<std::size_t>(graph_.inputs.front())];
    if (!in.shape.empty()) in.shape[0] = -1;  // the caller decided the batch size
    bind_input_shapes(graph_, {shape});
    prepare_graph(graph_);
    const Value& out = graph_.values[static_cast<std::size_t>(graph_.outputs.front())];
    if (out.shape.empty() || out.shape[0] != batch)
      throw BadInput("output '" + out.name + "' has shape " + shape_string(out.shape) + " for a batch of " +
                     std::to_string(batch) + "; expected one row of class scores per image");
    executor_ = std::make_unique<Executor>(graph_);
  }

  static InputLayout input_layout(const Graph& graph) {
    const Value& in = graph.values[static_cast<std::size_t>(graph.inputs.front())];
    InputLayout layout;
    if (in.shape.empty()) return layout;
    if (in.shape.size() != 4 && in.shape.size() != 2)
      throw BadInput("input '" + in.name + "' has shape " + shape_string(in.shape) +
                     "; an image classifier takes N x C x H x W (or N x features) inputs");
    layout.flat = in.shape.size() == 2;
    layout.batch = in.shape[0];
    layout.dims.assign(in.shape.begin() + 1, in.shape.end());
    return layout;
  }

  int64_t batch() const { return batch_; }

  // Scores for images [begin, end) of `data` (zero-padded to the runner's batch), batch x K.
  Tensor scores(const Dataset& data, int64_t begin, int64_t end) {
    Tensor x = data.batch(begin, end);
    if (end - begin < batch_) {
      Shape shape = x.shape();
      shape[0] = batch_;
      Tensor padded = Tensor::zeros(shape);
      std::copy(x.f32(), x.f32() + x.size(), padded.f32());
      x = padded;
    }
    if (layout_.flat) x = x.reshaped({batch_, x.size() / batch_});
    Tensor y = executor_->run({x}).front();
    if (y.dtype() != DType::Float32) y = y.to(DType::Float32);
    return y.reshaped({batch_, y.size() / batch_});
  }

 private:
  Graph graph_;
  int64_t batch_;
  InputLayout layout_;
  std::unique_ptr<Executor> executor_;
};

// Largest |a - b| over the first `rows` rows relative to the reference's scale: batched and
// single-image runs sum in different orders, so they agree to rounding, not bit for bit.
bool same_scores(const Tensor& a, const Tensor& b, int64_t rows) {
  const int64_t k = a.dim(1);
  if (b.dim(1) != k) return false;
  float scale = 0, diff = 0;
  for (int64_t i = 0; i < rows * k; ++i) {
    scale = std::max(scale, std::fabs(b.f32()[i]));
    diff = std::max(diff, std::fabs(a.f32()[i] - b.f32()[i]));
  }
  return diff <= 1e-3f * scale + 1e-5f;  // finite and within single-precision rounding noise
}

std::string dims_text(const Shape& dims) {
  std::string s;
  for (int64_t d : dims) s += (s.empty() ? "" : "x") + (d < 0 ? std::string("?") : std::to_string(d));
  return s;
}

class EvalCommand : public Command {
 public:
  std::string name() const override { return "eval"; }
  std::string summary() const override { return "Top-1 accuracy of a classifier on a labelled data set"; }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file, or zoo:NAME (weights from --seed)")->required();
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
  }

  int execute(const CommonOptions& common) override {
    const auto load_start = std::chrono::steady_clock::now();
    Dataset data = load_dataset(data_, limit_);
    const int64_t n = data.size();
    const double load_seconds = seconds_since(load_start);
    spdlog::info("{}: {} images of {}, {} classes, loaded in {:.2f} s", data_, n,
                 dims_text({data.images.dim(1), data.images.dim(2), data.images.dim(3)}), data.classes, load_seconds);

    const bool zoo = model_.compare(0, 4, "zoo:") == 0;
    ZooOptions zoo_options;
    zoo_options.seed = common.seed;
    zoo_options.in_channels = data.images.dim(1);
    zoo_options.classes = data.classes;
    Graph base = zoo ? build_zoo_model(model_.substr(4), zoo_options) : load_onnx(model_);
    if (base.inputs.size() != 1)
      throw BadInput(model_ + ": the model has " + std::to_string(base.inputs.size()) +
                     " inputs; an image classifier takes one");
    if (base.outputs.empty()) throw BadInput(model_ + ": the model has no outputs");
    {
      const Value& in = base.values[static_cast<std::size_t>(base.inputs.front())];
      if (in.dtype != DType::Float32)
        throw BadInput(model_ + ": input '" + in.name + "' is " + dtype_name(in.dtype) + "; images are float32");
    }

    std::string transform_text;
    const bool spec_transform = data_.find('@') != std::string::npos;
    if (spec_transform) transform_text = data_.substr(data_.rfind('@') + 1);
    auto stored = base.metadata.find(kPreprocessKey);
    if (stored != base.metadata.end() && !stored->second.empty()) {
      if (spec_transform) {
        spdlog::info("the transform of --data replaces the model's preprocessing '{}'", stored->second);
      } else {
        ImageTransform t = ImageTransform::parse(stored->second, model_ + ": metadata '" + kPreprocessKey + "'");
        spdlog::info("applying the model's preprocessing '{}'", stored->second);
        try {
          data.images = apply_transform(data.images, t);
        } catch (const BadInput& e) {
          rethrow_with_context(model_ + ": preprocessing '" + stored->second + "'", e);
        }
        transform_text = t.to_string();
      }
    }
    const Shape image{data.images.dim(1), data.images.dim(2), data.images.dim(3)};

    InputLayout layout;
    try {
      layout = BatchRunner::input_layout(base);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    check_geometry(layout, image, transform_text, !spec_transform && stored != base.metadata.end());

    std::unique_ptr<BatchRunner> runner = make_runner(base, layout, zoo, zoo_options, image, data, n);
    const int64_t run_batch = runner->batch();
    const int64_t batches = (n + run_batch - 1) / run_batch;

    int64_t correct = 0, scores_per_image = 0;
    std::vector<int64_t> per_class_total(static_cast<std::size_t>(data.classes), 0);
    std::vector<int64_t> per_class_correct(per_class_total.size(), 0);
    std::vector<std::vector<int64_t>> confusion;
    ProgressBar progress("eval", n, "images");
    const auto start = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t begin = b * run_batch, end = std::min(n, begin + run_batch);
      Tensor scores;
      try {
        scores = runner->scores(data, begin, end);
      } catch (const BadInput& e) {
        rethrow_with_context(model_, e);
      }
      if (b == 0) {
        scores_per_image = scores.dim(1);
        if (scores_per_image == 0) throw BadInput(model_ + ": the first output holds no class scores");
        if (scores_per_image < data.classes)
          spdlog::warn("{}: the model gives {} score(s) per image, {} has {} classes", model_, scores_per_image,
                       data_, data.classes);
        if (confusion_) {
          const int64_t columns = std::max<int64_t>(scores_per_image, data.classes);
          if (columns > kMaxConfusionClasses)
            throw BadInput("--confusion: " + std::to_string(columns) + " classes are too many to tabulate (at most " +
                           std::to_string(kMaxConfusionClasses) + ")");
          confusion.assign(static_cast<std::size_t>(data.classes),
                           std::vector<int64_t>(static_cast<std::size_t>(columns), 0));
        }
      }
      for (int64_t i = begin; i < end; ++i) {
        const float* row = scores.f32() + (i - begin) * scores_per_image;
        // First maximum on ties, as numpy.argmax and torch.argmax.
        const int64_t predicted = std::max_element(row, row + scores_per_image) - row;
        const auto label = static_cast<std::size_t>(data.labels[static_cast<std::size_t>(i)]);
        const bool hit = predicted == static_cast<int64_t>(label);
        correct += hit;
        per_class_total[label] += 1;
        per_class_correct[label] += hit;
        if (!confusion.empty()) confusion[label][static_cast<std::size_t>(predicted)] += 1;
      }
      progress.update(end, fmt::format("batch {}/{}, accuracy {:.4f}", b + 1, batches,
                                       static_cast<double>(correct) / static_cast<double>(end)));
    }
    const double seconds = seconds_since(start);
    progress.finish();

    const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
    const double rate = seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
    if (json_) {
      nlohmann::json out;
      out["accuracy"] = accuracy;
      out["n"] = n;
      out["correct"] = correct;
      out["model"] = model_;
      out["data"] = data_;
      out["seconds"] = seconds;
      out["load_seconds"] = load_seconds;
      out["images_per_second"] = rate;
      out["batch"] = run_batch;
      out["classes"] = data.classes;
      out["transform"] = transform_text;
      std::vector<nlohmann::json> per_class;
      for (std::size_t c = 0; c < per_class_total.size(); ++c)
        per_class.push_back(per_class_total[c] ? nlohmann::json(static_cast<double>(per_class_correct[c]) /
                                                                static_cast<double>(per_class_total[c]))
                                               : nlohmann::json(nullptr));
      out["per_class_accuracy"] = per_class;
      if (!confusion.empty()) out["confusion"] = confusion;
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      std::printf("accuracy %.4f (%lld/%lld) %s on %s, %.2f s, %.0f images/s\n", accuracy,
                  static_cast<long long>(correct), static_cast<long long>(n), model_.c_str(), data_.c_str(), seconds,
                  rate);
      if (!confusion.empty()) print_confusion(confusion, per_class_total, per_class_correct);
    }
    return 0;
  }

 private:
  // Says exactly what differs between the images and the model input, with the transform that
  // would fix it when there is one.
  void check_geometry(const InputLayout& layout, const Shape& image, const std::string& transform_text,
                      bool model_transform) const {
    if (layout.dims.empty()) return;
    std::string data_name = data_;
    if (model_transform) data_name += " (after the model's preprocessing '" + transform_text + "')";
    if (layout.flat) {
      const int64_t features = layout.dims[0];
      if (features >= 0 && features != element_count(image))
        throw BadInput(model_ + ": model expects " + std::to_string(features) + " features per image, " + data_name +
                       " has " + dims_text(image) + " = " + std::to_string(element_count(image)));
      return;
    }
    bool fits = true;
    for (std::size_t d = 0; d < 3; ++d) fits &= layout.dims[d] < 0 || layout.dims[d] == image[d];
    if (fits) return;
    std::string message =
        model_ + ": model expects " + dims_text(layout.dims) + " images, " + data_name + " has " + dims_text(image);
    const int64_t mh = layout.dims[1], mw = layout.dims[2];
    if (layout.dims[0] >= 0 && layout.dims[0] != image[0]) {
      message += " (" + std::to_string(layout.dims[0]) + " channel(s) wanted, " + std::to_string(image[0]) +
                 " present)";
    } else if (mh > 0 && mh == mw && image[1] == image[2]) {
      const int64_t want = mh, have = image[1];
      std::string fix = want > have && (want - have) % 2 == 0 ? "pad=" + std::to_string((want - have) / 2)
                                                             : "resize=" + std::to_string(want);
      message += data_.find('@') == std::string::npos ? "; add @" + fix : "; add " + fix + " to its transform";
    }
    throw BadInput(message);
  }

  std::unique_ptr<BatchRunner> make_runner(const Graph& base, const InputLayout& layout, bool zoo,
                                           ZooOptions zoo_options, const Shape& image, const Dataset& data,
                                           int64_t n) const {
    const int64_t wanted = std::min<int64_t>(batch_, n);
    try {
      if (zoo) {
        zoo_options.batch = wanted;
        return std::make_unique<BatchRunner>(build_zoo_model(model_.substr(4), zoo_options), wanted, image);
      }
      if (layout.batch < 0 || layout.batch == wanted) return std::make_unique<BatchRunner>(base, wanted, image);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    // The model's batch dimension is fixed (exporters often write 1). Re-binding it is right for
    // most networks but not for those whose reshapes bake the batch in; a graph that does not
    // prepare, or whose first images score differently than at the exported batch size, runs at
    // that size instead.
    std::unique_ptr<BatchRunner> fixed;
    try {
      fixed = std::make_unique<BatchRunner>(base, layout.batch, image);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    try {
      auto rebound = std::make_unique<BatchRunner>(base, wanted, image);
      const int64_t rows = std::min({layout.batch, wanted, n});
      Tensor a = rebound->scores(data, 0, std::min(n, wanted));
      Tensor b = fixed->scores(data, 0, std::min(n, layout.batch));
      if (same_scores(a, b, rows)) return rebound;
      spdlog::info("{}: scores at batch {} differ from the exported batch {}; running batches of {}", model_, wanted,
                   layout.batch, layout.batch);
    } catch (const BadInput& e) {
      spdlog::info("{}: the batch dimension is fixed at {} and cannot be re-bound ({}); running batches of {}",
                   model_, layout.batch, e.what(), layout.batch);
    }
    return fixed;
  }

  static void print_confusion(const std::vector<std::vector<int64_t>>& confusion,
                              const std::vector<int64_t>& totals, const std::vector<int64_t>& corrects) {
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
      line += totals[r] ? fmt::format("  {:.4f} ({}/{})\n", static_cast<double>(corrects[r]) /
                                                              static_cast<double>(totals[r]),
                                      corrects[r], totals[r])
                        : std::string("  -\n");
    }
    std::fputs(line.c_str(), stdout);
  }

  std::string model_;
  std::string data_;
  int64_t limit_ = 0;
  int64_t batch_ = 64;
  bool json_ = false;
  bool confusion_ = false;
};

CODA_REGISTER_COMMAND(EvalCommand);

}  // namespace
}  // namespace coda::cli
