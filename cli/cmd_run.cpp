// coda run: execute a network on given (or seeded random) inputs and write its first output.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/approx_options.h"
#include "cli/command.h"
#include "cli/model_source.h"
#include "cli/op_table.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/parallel.h"
#include "kernels/tensor_io.h"

namespace coda::cli {
namespace {

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class RunCommand : public Command {
 public:
  std::string name() const override { return "run"; }
  std::string summary() const override { return "Run a network on input tensors and write its first output"; }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file, or zoo:NAME[?batch=B,classes=K,in_channels=C,seed=S] (see coda zoo)")->required();
    app.add_option("--input", inputs_,
                   "Input tensor file (.pb TensorProto or .npy), one per graph input in order; "
                   "without --input, seeded standard-normal inputs are generated");
    app.add_option("--output", output_, "Where to write the first output (.npy or .pb)");
    app.add_option("--shape", shapes_, "NAME=DIMS for generated inputs with symbolic dimensions, e.g. data=8x3x224x224");
    app.add_option("--repeat", repeat_, "Run this many times and report the mean and best latency")
        ->check(CLI::PositiveNumber);
    app.add_flag("--profile", profile_, "Print per-op wall time (mean over repeats)");
    approx_.add_to(app);
  }

  int execute(const CommonOptions& common) override {
    if (!output_.empty() && !has_suffix(output_, ".npy") && !has_suffix(output_, ".pb"))
      throw BadInput(output_ + ": output must end in .npy or .pb");
    std::unique_ptr<ApproxSession> session = approx_.make_session(common.seed);
    Graph graph = load_model(model_, common.seed);

    std::vector<Tensor> inputs;
    if (!inputs_.empty()) {
      if (inputs_.size() != graph.inputs.size())
        throw BadInput(model_ + ": the model has " + std::to_string(graph.inputs.size()) + " input(s), " +
                       std::to_string(inputs_.size()) + " --input given");
      for (const std::string& path : inputs_) inputs.push_back(read_tensor_file(path));
    }
    std::vector<Shape> shapes;
    if (inputs.empty()) {
      shapes = resolve_input_shapes(graph, parse_shape_overrides(shapes_), 1);
    } else {
      for (const Tensor& t : inputs) shapes.push_back(t.shape());
    }
    try {
      bind_input_shapes(graph, shapes);
      prepare_graph(graph);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    if (inputs.empty()) {
      try {
        inputs = random_inputs(graph, shapes, common.seed);
      } catch (const BadInput& e) {
        rethrow_with_context(model_, e);
      }
      spdlog::info("no --input given: using standard-normal inputs (seed {})", common.seed);
    }

    // Configuration errors name the configuration file, so they are not prefixed with the model.
    if (session && session->apply_pruning(graph)) spdlog::info("pruned the model as the configuration asks");
    Executor executor(graph);
    if (session) {
      // Knobs that need activation ranges the configuration lacks are calibrated on this run's inputs.
      session->set_calibration_source([&inputs](const Graph&) { return std::vector<std::vector<Tensor>>{inputs}; });
      session->install(graph, executor);
      if (session->calibrated()) spdlog::info("calibrated activation ranges on the run's inputs");
    }
    std::vector<double> node_seconds(graph.nodes.size(), 0.0);
    if (profile_) executor.set_observer([&](std::size_t n, double s) { node_seconds[n] += s; });
    std::vector<Tensor> outputs;
    std::vector<double> latencies;
    for (int r = 0; r < repeat_; ++r) {
      auto start = std::chrono::steady_clock::now();
      try {
        outputs = executor.run(inputs);
      } catch (const BadInput& e) {
        rethrow_with_context(model_, e);
      }
      latencies.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    if (outputs.empty()) throw BadInput(model_ + ": the model has no outputs");
    if (!output_.empty()) write_tensor_file(outputs.front(), output_);

    double mean = 0;
    for (double s : latencies) mean += s;
    mean /= static_cast<double>(latencies.size());
    double best = *std::min_element(latencies.begin(), latencies.end());
    const Value& out = graph.values[static_cast<std::size_t>(graph.outputs.front())];
    std::string in_shapes;
    for (const Shape& s : shapes) in_shapes += (in_shapes.empty() ? "" : ", ") + shape_string(s);
    std::printf("%s: %s -> %s '%s' %s\n", model_.c_str(), in_shapes.c_str(), shape_string(out.shape).c_str(),
                out.name.c_str(), output_.empty() ? "(not written)" : ("written to " + output_).c_str());
    std::printf("latency: mean %.3f ms, best %.3f ms over %d run(s), %d thread(s); peak activations %s\n",
                mean * 1e3, best * 1e3, repeat_, thread_count(),
                format_bytes(static_cast<double>(executor.peak_bytes())).c_str());
    if (profile_) {
      for (double& s : node_seconds) s /= repeat_;
      print_profile(graph, node_seconds);
    }
    return 0;
  }

 private:
  std::string model_;
  std::vector<std::string> inputs_;
  std::string output_;
  std::vector<std::string> shapes_;
  int repeat_ = 1;
  bool profile_ = false;
  ApproxOptions approx_;
};

CODA_REGISTER_COMMAND(RunCommand);

}  // namespace
}  // namespace coda::cli

