// coda calibrate: measures the activation ranges that PROMISE, fixed-point and shift-add knobs
// quantize to (0.1/99.9 percentiles, the network input at its full range; Srivastava et al. 2018
// as used by HPVM) on data, and writes them into a configuration so later runs are reproducible
// without the data.
#include <algorithm>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "cli/approx_options.h"
#include "cli/command.h"
#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/atomic_file.h"
#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/executor.h"
#include "kernels/onnx_import.h"

namespace coda::cli {
namespace {

class CalibrateCommand : public Command {
 public:
  std::string name() const override { return "calibrate"; }
  std::string summary() const override {
    return "Measure activation ranges for quantizing knobs on data and write them into a configuration";
  }

  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file")->required();
    app.add_option("--data", data_, "Calibration data set (see coda eval), preferably a training split")->required();
    app.add_option("--config", config_path_, "Configuration to add the ranges to (default: an empty one)");
    app.add_option("--out", out_, "Where to write the configuration with ranges (JSON)")->required();
    app.add_option("--limit", limit_, "Images to calibrate on")->check(CLI::PositiveNumber);
    app.add_option("--batch", batch_, "Images per run")->check(CLI::PositiveNumber);
    app.add_option("--low", low_, "Lower percentile")->check(CLI::Range(0.0, 50.0));
    app.add_option("--high", high_, "Upper percentile")->check(CLI::Range(50.0, 100.0));
  }

  int execute(const CommonOptions&) override {
    ApproxConfig config;
    if (!config_path_.empty()) config = ApproxConfig::load(config_path_);
    Graph graph = load_onnx(model_);
    Dataset data = load_dataset(data_, limit_);
    try {
      check_classifier(graph);
      apply_transform_choice(data, resolve_transform(graph, data_));
      Value& in = graph.values[static_cast<std::size_t>(graph.inputs.front())];
      const int64_t batch = std::min(batch_, data.size());
      Shape shape{batch};
      if (in.shape.size() == 2) shape.push_back(data.images.size() / data.images.dim(0));
      else for (int i = 1; i < 4; ++i) shape.push_back(data.images.dim(i));
      if (!in.shape.empty()) in.shape[0] = -1;
      bind_input_shapes(graph, {shape});
      prepare_graph(graph);
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    resolve_config(config, graph, knob_catalog());  // the configuration must fit the model

    std::vector<std::size_t> nodes;
    for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
      const std::string& type = graph.nodes[n].op_type;
      if (type == "Conv" || type == "Gemm" || type == "MatMul") nodes.push_back(n);
    }
    const Shape& input = graph.values[static_cast<std::size_t>(graph.inputs.front())].shape;
    std::vector<std::vector<Tensor>> batches = calibration_batches(data.images, input.front(), limit_);
    for (auto& b : batches) b.front() = b.front().reshaped(input);
    std::map<std::string, OpRanges> ranges = calibrate_ranges(graph, batches, nodes, low_, high_);
    for (auto& [name, r] : ranges) config.ranges[name] = r;
    write_file_atomically(out_, config.to_json());
    std::printf("calibrated %zu op(s) of %s on %lld image(s) of %s (percentiles %g/%g); wrote %s\n", ranges.size(),
                model_.c_str(), static_cast<long long>(std::min<int64_t>(limit_, data.size())), data_.c_str(), low_,
                high_, out_.c_str());
    return 0;
  }

 private:
  std::string model_;
  std::string data_;
  std::string config_path_;
  std::string out_;
  int64_t limit_ = 500;
  int64_t batch_ = 100;
  double low_ = 0.1;
  double high_ = 99.9;
};

CODA_REGISTER_COMMAND(CalibrateCommand);

}  // namespace
}  // namespace coda::cli
