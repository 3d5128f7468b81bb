// coda export: write a network as an ONNX file. The source is a zoo network (zoo:NAME, with the
// zoo options as flags or in the spec) or an ONNX file, which is re-serialised by coda's exporter
// (optionally with its symbolic batch fixed).
#include <cstdio>

#include "cli/command.h"
#include "cli/model_source.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/onnx_export.h"
#include "kernels/onnx_import.h"
#include "kernels/zoo.h"

namespace coda::cli {
namespace {

bool is_zoo(const std::string& spec) { return spec.rfind("zoo:", 0) == 0; }

class ExportCommand : public Command {
 public:
  std::string name() const override { return "export"; }
  std::string summary() const override { return "Write a zoo network (or re-write an ONNX model) as an ONNX file"; }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_,
                   "zoo:NAME[?batch=B,classes=K,in_channels=C,seed=S] (see `coda zoo`) or an ONNX file")
        ->required();
    app.add_option("--out", out_, "Where to write the ONNX model (written atomically)")->required();
    batch_opt_ = app.add_option("--batch", batch_,
                                "Batch dimension of the input (0: symbolic 'N'); overrides the spec. For an "
                                "ONNX model, fixes its symbolic batch dimension")
                     ->check(CLI::NonNegativeNumber);
    classes_opt_ = app.add_option("--classes", classes_, "Zoo only: number of output classes (logits)")
                       ->check(CLI::PositiveNumber);
    channels_opt_ = app.add_option("--in-channels", in_channels_, "Zoo only: input channels (1 grey, 3 RGB, ...)")
                        ->check(CLI::PositiveNumber);
    app.footer(
        "Quote a spec with options (zsh globs '?', every shell backgrounds at '&'):\n"
        "  coda export --model 'zoo:resnet20?classes=100' --out resnet20.onnx\n"
        "Weights are He-initialised from --seed (or the spec's seed); the file's metadata 'coda.zoo' records\n"
        "the spec that rebuilds it. Networks and their options: `coda zoo`, docs/zoo.md.");
  }

  int execute(const CommonOptions& common) override {
    Graph graph = is_zoo(model_) ? build_from_zoo(common) : load_and_rebatch();
    save_onnx(graph, out_);
    std::string io;
    for (int id : graph.inputs) io += describe(graph, id, "input");
    for (int id : graph.outputs) io += describe(graph, id, "output");
    std::printf("wrote %s: %s (%s),%s, %lld parameters\n", out_.c_str(), model_.c_str(), graph.name.c_str(),
                io.c_str(), static_cast<long long>(graph.parameter_count()));
    return 0;
  }

 private:
  static std::string describe(const Graph& graph, int id, const char* role) {
    const Value& v = graph.values[static_cast<std::size_t>(id)];
    std::string text;
    for (int64_t d : v.shape) text += (text.empty() ? "" : "x") + (d < 0 ? std::string("N") : std::to_string(d));
    return std::string(" ") + role + " " + v.name + " " + (text.empty() ? "?" : text);
  }

  Graph build_from_zoo(const CommonOptions& common) {
    ZooOptions options;
    options.seed = common.seed;
    const std::string name = parse_zoo_spec(model_.substr(4), options);
    if (batch_opt_->count()) options.batch = batch_;
    if (classes_opt_->count()) options.classes = classes_;
    if (channels_opt_->count()) options.in_channels = in_channels_;
    Graph graph = build_zoo_model(name, options);
    // Shape inference by the kernels themselves, on a copy (constants are shared, not copied), so
    // that a network no kernel accepts is never written.
    Graph check = graph;
    fill_symbolic_dims(check, 1);
    try {
      prepare_graph(check);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    return graph;
  }

  Graph load_and_rebatch() {
    if (classes_opt_->count() || channels_opt_->count())
      throw BadInput(model_ + ": --classes and --in-channels apply to zoo networks only");
    Graph graph = load_onnx(model_);
    if (!batch_opt_->count()) return graph;
    if (batch_ == 0) throw BadInput(model_ + ": --batch 0 (symbolic) applies to zoo networks only");
    std::vector<Shape> shapes;
    for (int id : graph.inputs) {
      const Value& v = graph.values[static_cast<std::size_t>(id)];
      if (v.shape.empty())
        throw BadInput(model_ + ": input '" + v.name + "' has no declared shape, so --batch cannot be applied");
      if (v.shape[0] >= 0 && v.shape[0] != batch_)
        throw BadInput(model_ + ": input '" + v.name + "' has a fixed batch of " + std::to_string(v.shape[0]) +
                       "; --batch can only fix a symbolic batch dimension");
      Shape s = v.shape;
      s[0] = batch_;
      for (std::size_t d = 1; d < s.size(); ++d)
        if (s[d] < 0)
          throw BadInput(model_ + ": input '" + v.name + "' has a symbolic dimension " + std::to_string(d) +
                         " besides the batch; coda export cannot fix it");
      shapes.push_back(s);
    }
    // Re-inferring every shape keeps the written value_info consistent with the new batch.
    try {
      bind_input_shapes(graph, shapes);
      prepare_graph(graph);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    return graph;
  }

  std::string model_;
  std::string out_;
  int64_t batch_ = 1;
  int64_t classes_ = 0;
  int64_t in_channels_ = 0;
  CLI::Option* batch_opt_ = nullptr;
  CLI::Option* classes_opt_ = nullptr;
  CLI::Option* channels_opt_ = nullptr;
};

CODA_REGISTER_COMMAND(ExportCommand);

}  // namespace
}  // namespace coda::cli
