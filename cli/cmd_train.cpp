// coda train: train (or fine-tune) a zoo network or an ONNX model on a labelled image dataset with
// SGD, checkpointing the model after every epoch.
#include <chrono>
#include <cstdio>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/command.h"
#include "cli/model_source.h"
#include "cli/progress.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/shift_add_training.h"
#include "kernels/atomic_file.h"
#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/onnx_export.h"
#include "kernels/parallel.h"
#include "kernels/trainer.h"
#include "kernels/zoo.h"

namespace coda::cli {
namespace {


class TrainCommand : public Command {
 public:
  std::string name() const override { return "train"; }
  std::string summary() const override { return "Train or fine-tune a network with SGD on an image dataset"; }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "zoo:NAME (input channels and classes follow the data) or an ONNX model to fine-tune")
        ->required();
    app.add_option("--data", data_, "Training data SPEC, e.g. fashion-mnist@pad=2 (the :train split is implied)")
        ->required();
    app.add_option("--test-data", test_data_, "Held-out data SPEC (default: the :test split of --data)");
    app.add_option("--out", out_, "Where to write the trained ONNX model (rewritten after every epoch)")->required();
    app.add_option("--epochs", options_.epochs, "Passes over the training data")->check(CLI::PositiveNumber);
    app.add_option("--batch", options_.batch, "Mini-batch size")->check(CLI::PositiveNumber);
    app.add_option("--lr", options_.learning_rate, "Initial learning rate")->check(CLI::PositiveNumber);
    app.add_option("--momentum", options_.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
    app.add_option("--weight-decay", options_.weight_decay, "L2 penalty on conv/fc weights")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--schedule", options_.schedule, "cosine, constant or step:E1,E2,...:GAMMA");
    app.add_option("--warmup", options_.warmup_epochs, "Epochs of linear learning-rate warm-up")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--crop-padding", options_.crop_padding, "Random-crop augmentation after padding by P pixels")
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--flip", options_.horizontal_flip, "Random horizontal-flip augmentation");
    app.add_option("--limit", limit_, "Use only the first N training samples")->check(CLI::NonNegativeNumber);
    app.add_option("--log-json", log_json_, "Write per-epoch statistics to this JSON file");
    app.add_option("--shift-add", shift_add_,
                   "Quantization-aware training for shift-add knob ID of the catalog (81 LightNN-1, 82 LightNN-2, "
                   "83 FLightNN, ...): conv/fc weights train as sums of powers of two and are saved quantized")
        ->check(CLI::PositiveNumber);
  }

  int execute(const CommonOptions& common) override {
    options_.seed = common.seed;
    if (out_.size() < 5 || out_.compare(out_.size() - 5, 5, ".onnx") != 0)
      throw BadInput(out_ + ": output must end in .onnx");
    const std::string train_spec = with_split(data_, "train");
    const std::string test_spec = test_data_.empty() ? with_split(data_, "test") : test_data_;
    if (test_spec == train_spec)
      throw BadInput("--data " + data_ + " has no separate test split; give one with --test-data");
    Dataset train = load_dataset(train_spec, limit_);
    Dataset test = load_dataset(test_spec);

    Graph graph;
    const std::string zoo_prefix = "zoo:";
    if (model_.compare(0, zoo_prefix.size(), zoo_prefix) == 0) {
      ZooOptions zoo;
      zoo.in_channels = train.images.dim(1);
      zoo.classes = std::max(train.classes, test.classes);
      zoo.seed = common.seed;
      graph = build_zoo_model_from_spec(model_.substr(zoo_prefix.size()), zoo);
    } else {
      graph = load_model(model_, common.seed);
    }
    auto at = data_.rfind('@');
    if (at != std::string::npos)
      graph.metadata["coda.preprocess"] = ImageTransform::parse(data_.substr(at + 1), data_).to_string();

    Trainer trainer(graph, options_);
    const Knob* shift_add = nullptr;
    if (shift_add_ != 0) {
      shift_add = &knob_catalog().require(shift_add_);
      if (shift_add->family != KnobFamily::ShiftAdd)
        throw BadInput("--shift-add " + std::to_string(shift_add_) + ": knob " + shift_add->name + " is " +
                       family_name(shift_add->family) + ", not a shift-add knob");
      if (shift_add_targets(graph).empty())
        throw BadInput("--shift-add: " + model_ + " has no Conv, Gemm or MatMul weights to quantize");
      trainer.set_weight_transform(make_shift_add_transform(graph, ShiftAddParams::from_knob(*shift_add)));
      std::printf("quantization-aware training for shift-add knob %d (%s)\n", shift_add->id, shift_add->name.c_str());
    }
    std::printf("training %s on %s (%lld images, %d classes), testing on %s (%lld); %d epochs, batch %lld, %d threads\n",
                model_.c_str(), train_spec.c_str(), static_cast<long long>(train.size()), train.classes,
                test_spec.c_str(), static_cast<long long>(test.size()), options_.epochs,
                static_cast<long long>(options_.batch), thread_count());
    nlohmann::json log = {{"model", model_}, {"data", train_spec}, {"test_data", test_spec},
                          {"epochs", options_.epochs}, {"batch", options_.batch}, {"lr", options_.learning_rate},
                          {"momentum", options_.momentum}, {"weight_decay", options_.weight_decay},
                          {"schedule", options_.schedule}, {"seed", common.seed}, {"threads", thread_count()},
                          {"history", nlohmann::json::array()}};
    if (shift_add) log["shift_add"] = {{"knob", shift_add->id}, {"name", shift_add->name}};
    double total_seconds = 0;
    for (int epoch = 0; epoch < options_.epochs; ++epoch) {
      ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, options_.epochs), options_.batch > 0
                                      ? train.size() / std::min<int64_t>(options_.batch, train.size()) : 0);
      EpochStats stats = trainer.train_epoch(train, epoch, [&](int64_t done, int64_t, double loss, double acc) {
        bar.update(done, fmt::format("loss {:.4f} acc {:.4f}", loss, acc));
      });
      bar.finish();
      auto eval_start = std::chrono::steady_clock::now();
      double test_accuracy = trainer.evaluate(test);
      double eval_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count();
      total_seconds += stats.seconds + eval_seconds;
      std::printf("epoch %d/%d: loss %.4f, train accuracy %.4f, test accuracy %.4f, lr %.5f, %.1f s\n", epoch + 1,
                  options_.epochs, stats.loss, stats.accuracy, test_accuracy, stats.learning_rate,
                  stats.seconds + eval_seconds);
      std::fflush(stdout);
      log["history"].push_back({{"epoch", epoch + 1}, {"loss", stats.loss}, {"train_accuracy", stats.accuracy},
                                {"test_accuracy", test_accuracy}, {"lr", stats.learning_rate},
                                {"seconds", stats.seconds + eval_seconds}});
      log["test_accuracy"] = test_accuracy;
      log["seconds"] = total_seconds;
      graph.metadata["coda.training"] = log.dump();
      save_onnx(graph, out_);
      if (!log_json_.empty()) write_file_atomically(log_json_, log.dump(2) + "\n");
    }
    std::printf("wrote %s (test accuracy %.4f, %.1f s)\n", out_.c_str(), log["test_accuracy"].get<double>(),
                total_seconds);
    return 0;
  }

 private:
  std::string model_, data_, test_data_, out_, log_json_;
  int64_t limit_ = 0;
  int shift_add_ = 0;
  TrainOptions options_;
};

CODA_REGISTER_COMMAND(TrainCommand);

}  // namespace
}  // namespace coda::cli
