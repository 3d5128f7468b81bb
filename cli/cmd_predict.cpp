// coda predict: a network's per-op and total latency, power and energy from a fitted layer-wise
// predictor (microseconds instead of a simulation), in the same form as `coda simulate`.
// --compare also simulates it and prints the predictor's error on the network.
#include <chrono>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/network_setup.h"
#include "cli/result_text.h"
#include "kernels/error.h"
#include "models/network_prediction.h"
#include "models/predictor_fit.h"
#include "sim/simulate.h"
#include "traces/op_trace_csv.h"
#include "traces/op_trace_jsonl.h"
#include "traces/sim_result_json.h"

namespace coda::cli {
namespace {

double relative_error(double predicted, double measured) { return measured != 0 ? predicted / measured - 1 : 0; }

class PredictCommand : public Command {
 public:
  std::string name() const override { return "predict"; }
  std::string summary() const override { return "Latency, power and energy of a network from a fitted predictor"; }
  void configure(CLI::App& app) override {
    app.add_option("--predictor", predictor_, "Predictor file written by coda fit")->required();
    app.add_option("--model", model_, "ONNX model file, or zoo:NAME[?...] (see coda zoo)")->required();
    approx_.add_to(app);
    app.add_option("--platform", platform_, "Platform YAML for unit clocks and idle power (default: built-in tx2.yaml)");
    app.add_option("--set", sets_, "KEY=VALUE platform override, repeatable (gpu.freq_mhz=624.75, nvpmodel=MAXQ)");
    app.add_option("--batch", batch_, "Batch size (the first input dimension)")->check(CLI::PositiveNumber);
    app.add_option("--shape", shapes_, "NAME=DIMS for inputs with symbolic dimensions");
    app.add_flag("--compare", compare_, "Also simulate the network and report the prediction's error");
    app.add_flag("--json", json_, "Print the result as JSON (the keys of coda simulate --json)");
    app.add_option("--trace-out", trace_out_, "Per-op predictions as an op trace: .csv or .jsonl");
  }

  int execute(const CommonOptions& common) override {
    sim::Platform platform = sim::Platform::from_option(platform_, sets_);
    std::unique_ptr<models::LayerPredictor> predictor = models::load_predictor(predictor_);
    NetworkSetup network = load_network(model_, batch_, shapes_, approx_, common.seed);
    models::PredictOptions options;
    options.model_name = model_;
    options.batch = batch_;
    // Describing the network (shapes, knobs, clocks) belongs to loading it; the prediction is timed
    // on its own (the result's wall_s).
    models::NetworkDescription description = models::describe_network(network.graph, network.choices, platform);
    sim::SimResult result = models::predict_network(network.graph, description, *predictor, options);

    nlohmann::json comparison;
    if (compare_) {
      sim::SimOptions sim_options;
      sim_options.model_name = model_;
      sim_options.batch = batch_;
      sim_options.seed = common.seed;
      sim::SimResult simulated = sim::simulate(network.graph, network.choices, platform, sim_options);
      comparison = {{"simulated_latency_s", simulated.latency_s},
                    {"simulated_energy_j", simulated.energy_j},
                    {"latency_error", relative_error(result.latency_s, simulated.latency_s)},
                    {"energy_error", relative_error(result.energy_j, simulated.energy_j)},
                    {"simulation_wall_s", simulated.wall_s}};
    }
    if (!trace_out_.empty()) {
      if (trace_out_.size() > 6 && trace_out_.substr(trace_out_.size() - 6) == ".jsonl")
        traces::write_op_trace_jsonl(trace_out_, result);
      else
        traces::write_op_trace_csv(trace_out_, result);
    }
    if (json_) {
      nlohmann::json doc = traces::sim_result_json(result, false);
      doc["predictor"] = {{"file", predictor_}, {"kind", predictor->kind()}};
      if (compare_) doc["comparison"] = comparison;
      std::printf("%s\n", doc.dump(2).c_str());
      return 0;
    }
    print_op_table(result);
    print_result_summary(result, ResultKind::Predicted);
    std::printf("predicted by %s (%s) in %s\n", predictor_.c_str(), predictor->kind().c_str(),
                si_seconds(result.wall_s).c_str());
    if (compare_)
      std::printf("simulated: latency %s (predicted %+.2f%%), energy %s (predicted %+.2f%%); simulation took %s\n",
                  si_seconds(comparison["simulated_latency_s"]).c_str(), 100 * comparison["latency_error"].get<double>(),
                  si_joules(comparison["simulated_energy_j"]).c_str(), 100 * comparison["energy_error"].get<double>(),
                  si_seconds(comparison["simulation_wall_s"]).c_str());
    return 0;
  }

 private:
  std::string predictor_, model_, platform_, trace_out_;
  std::vector<std::string> sets_, shapes_;
  int batch_ = 1;
  bool json_ = false, compare_ = false;
  ApproxOptions approx_;
};

CODA_REGISTER_COMMAND(PredictCommand);

}  // namespace
}  // namespace coda::cli
