// coda simulate: how long a network takes on a platform and how much energy and power it uses,
// per op, per unit and over time, from the SystemC SoC model.
#include <cstdio>
#include <map>

#include "cli/approx_options.h"
#include "cli/command.h"
#include "cli/network_setup.h"
#include "cli/result_text.h"
#include "kernels/error.h"
#include "sim/simulate.h"
#include "traces/chrome_trace.h"
#include "traces/op_trace_csv.h"
#include "traces/op_trace_jsonl.h"
#include "traces/sim_result_json.h"
#include "traces/vcd_writer.h"

namespace coda::cli {
namespace {

class SimulateCommand : public Command {
 public:
  std::string name() const override { return "simulate"; }
  std::string summary() const override { return "Latency, energy and power of a network on a platform (SystemC SoC model)"; }
  void configure(CLI::App& app) override {
    app.add_option("--model", model_, "ONNX model file, or zoo:NAME[?...] (see coda zoo)")->required();
    approx_.add_to(app);
    app.add_option("--platform", platform_, "Platform YAML (default: the built-in sim/platforms/tx2.yaml)");
    app.add_option("--set", sets_, "KEY=VALUE platform override, repeatable (gpu.freq_mhz=624.75, nvpmodel=MAXQ)");
    app.add_option("--batch", batch_, "Batch size (the first input dimension)")->check(CLI::PositiveNumber);
    app.add_option("--shape", shapes_, "NAME=DIMS for inputs with symbolic dimensions");
    app.add_option("--placement", placement_, "configured (ops on the units the configuration names) or auto")
        ->check(CLI::IsMember({"configured", "auto"}));
    app.add_option("--fidelity", fidelity_, "model, or rtl: small LightNN layers run on the Verilated array")
        ->check(CLI::IsMember({"model", "rtl"}));
    app.add_option("--dvfs-schedule", dvfs_, "YAML schedule of clock changes and/or a governor");
    app.add_flag("--json", json_, "Print the result as JSON");
    app.add_option("--trace-out", trace_out_, "Per-op trace: .csv or .jsonl");
    app.add_option("--timeline", timeline_, "Chrome trace event JSON (opens in Perfetto)");
    app.add_option("--vcd", vcd_, "Rail power, temperatures, clocks and busy signals as VCD (opens in GTKWave)");
  }

  int execute(const CommonOptions& common) override {
    sim::Platform platform = sim::Platform::from_option(platform_, sets_);
    sim::SimOptions options;
    options.model_name = model_;
    options.batch = batch_;
    options.placement = placement_ == "auto" ? sim::Placement::Auto : sim::Placement::Configured;
    options.rtl_fidelity = fidelity_ == "rtl";
    options.seed = common.seed;
    if (!dvfs_.empty()) options.dvfs = sim::DvfsPlan::load(dvfs_, platform);
    NetworkSetup network = load_network(model_, batch_, shapes_, approx_, common.seed);
    sim::SimResult result = sim::simulate(network.graph, network.choices, platform, options);

    if (!trace_out_.empty()) {
      if (trace_out_.size() > 6 && trace_out_.substr(trace_out_.size() - 6) == ".jsonl") traces::write_op_trace_jsonl(trace_out_, result);
      else traces::write_op_trace_csv(trace_out_, result);
    }
    if (!timeline_.empty()) traces::write_chrome_trace(timeline_, result);
    if (!vcd_.empty()) traces::write_power_vcd(vcd_, result);
    if (json_) {
      std::printf("%s\n", traces::sim_result_json(result, true).dump(2).c_str());
    } else {
      print_op_table(result);
      print_result_summary(result, ResultKind::Simulated);
    }
    return 0;
  }

 private:
  std::string model_, platform_, placement_ = "configured", fidelity_ = "model", dvfs_;
  std::vector<std::string> sets_, shapes_;
  int batch_ = 1;
  bool json_ = false;
  std::string trace_out_, timeline_, vcd_;
  ApproxOptions approx_;
};

CODA_REGISTER_COMMAND(SimulateCommand);

}  // namespace
}  // namespace coda::cli
