// coda simulate: how long a network takes on a platform and how much energy and power it uses,
// per op, per unit and over time, from the SystemC SoC model.
#include <cstdio>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cli/approx_options.h"
#include "cli/command.h"
#include "cli/model_source.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "sim/simulate.h"
#include "traces/chrome_trace.h"
#include "traces/op_trace_csv.h"
#include "traces/op_trace_jsonl.h"
#include "traces/sim_result_json.h"
#include "traces/vcd_writer.h"

namespace coda::cli {
namespace {

std::string si_seconds(double s) {
  if (s >= 1) return fmt::format("{:.3f} s", s);
  if (s >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  return fmt::format("{:.2f} us", s * 1e6);
}

std::string si_joules(double j) {
  if (j >= 1) return fmt::format("{:.3f} J", j);
  if (j >= 1e-3) return fmt::format("{:.3f} mJ", j * 1e3);
  return fmt::format("{:.2f} uJ", j * 1e6);
}

void print_ops(const sim::SimResult& r) {
  std::printf("%-28s %-18s %-8s %-14s %10s %11s %11s %9s\n", "op", "type", "unit", "knob", "start ms",
              "latency ms", "energy mJ", "power W");
  for (const auto& op : r.ops) {
    auto power = op.avg_power_w.find(r.rails.front());
    std::printf("%-28.28s %-18.18s %-8s %-14.14s %10.4f %11.4f %11.4f %9.3f\n", op.name.c_str(), op.op_type.c_str(),
                op.unit.c_str(), fmt::format("{} {}", op.knob, op.knob_name).c_str(), op.start_s * 1e3,
                op.latency_s * 1e3, op.energy_j * 1e3, power == op.avg_power_w.end() ? 0.0 : power->second);
  }
}

void print_summary(const sim::SimResult& r) {
  std::printf("\nplatform %s, model %s, batch %d: %zu ops\n", r.platform.c_str(), r.model.c_str(), r.batch, r.ops.size());
  std::printf("latency   %s\n", si_seconds(r.latency_s).c_str());
  std::printf("energy    %s (ops %s + static %s)\n", si_joules(r.energy_j).c_str(), si_joules(r.ops_energy_j).c_str(),
              si_joules(r.idle_energy_j).c_str());
  std::printf("average power per rail:\n");
  for (const auto& rail : r.rails) std::printf("  %-14s %8.3f W\n", rail.c_str(), r.avg_power_w.at(rail));
  std::printf("utilisation per unit:\n");
  for (const auto& unit : r.units) std::printf("  %-14s %7.1f %%\n", unit.c_str(), 100 * r.utilisation.at(unit));
  std::printf("energy by component (at %s):\n", r.rails.front().c_str());
  for (const auto& [component, joules] : r.energy_breakdown_j)
    std::printf("  %-20s %12s %6.1f %%\n", component.c_str(), si_joules(joules).c_str(),
                r.energy_j > 0 ? 100 * joules / r.energy_j : 0.0);
  std::printf("peak temperature %.2f C (%s)", r.peak_temp_c, r.peak_zone.c_str());
  if (r.time_to_limit_s >= 0) std::printf(", sustained back to back it reaches the limit after %.1f s\n", r.time_to_limit_s);
  else std::printf(", sustained back to back it stays below the limit\n");
  for (const auto& e : r.dvfs_events)
    std::printf("dvfs at %s: %s -> %.2f MHz (%s)\n", si_seconds(e.time_s).c_str(), e.unit.c_str(), e.freq_mhz, e.cause.c_str());
  std::printf("simulated %lld unit cycles in %.3f s wall (%.3g cycles/s)\n", static_cast<long long>(r.simulated_cycles),
              r.wall_s, r.wall_s > 0 ? static_cast<double>(r.simulated_cycles) / r.wall_s : 0.0);
}

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
    std::unique_ptr<ApproxSession> session = approx_.make_session(common.seed);

    Graph graph = load_model(model_, common.seed);
    std::vector<OpChoice> choices;
    try {
      // --batch re-binds the leading dimension of every input, also for models exported at batch 1.
      if (batch_ > 1)
        for (int id : graph.inputs) {
          Value& input = graph.values[static_cast<std::size_t>(id)];
          if (!input.shape.empty()) input.shape[0] = -1;
        }
      std::vector<Shape> shapes = resolve_input_shapes(graph, parse_shape_overrides(shapes_), batch_);
      bind_input_shapes(graph, shapes);
      prepare_graph(graph);
      if (session) session->apply_pruning(graph);
      choices = session ? session->resolve(graph) : std::vector<OpChoice>(graph.nodes.size());
    } catch (const BadInput& e) {
      rethrow_with_context(model_, e);
    }
    sim::SimResult result = sim::simulate(graph, choices, platform, options);

    if (!trace_out_.empty()) {
      if (trace_out_.size() > 6 && trace_out_.substr(trace_out_.size() - 6) == ".jsonl") traces::write_op_trace_jsonl(trace_out_, result);
      else traces::write_op_trace_csv(trace_out_, result);
    }
    if (!timeline_.empty()) traces::write_chrome_trace(timeline_, result);
    if (!vcd_.empty()) traces::write_power_vcd(vcd_, result);
    if (json_) {
      std::printf("%s\n", traces::sim_result_json(result, true).dump(2).c_str());
    } else {
      print_ops(result);
      print_summary(result);
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
