// coda import: real board measurements as an op trace. A per-layer timing log (CUDA events, a
// TensorRT profiler) and a power log (tegrastats or nvidia-smi) are put on one clock and each layer
// gets the average power of every rail over its run (traces/power_alignment.h), written as the
// trace `coda fit --traces` reads. Everything is read and checked before anything is written.
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "kernels/error.h"
#include "traces/layer_timing_csv.h"
#include "traces/nvidia_smi_log.h"
#include "traces/op_trace_csv.h"
#include "traces/op_trace_jsonl.h"
#include "traces/power_alignment.h"
#include "traces/tegrastats_log.h"

namespace coda::cli {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string counts_text(const std::map<std::string, int>& counts) {
  std::string text;
  for (const auto& [what, count] : counts) text += (text.empty() ? "" : ", ") + fmt::format("{} {}", count, what);
  return text;
}

// What was read from the power log, for the report.
struct PowerLogReport {
  std::string format;
  int samples = 0;
  int samples_without_reading = 0;
  std::map<std::string, int> skipped_fields;     // tegrastats fields or nvidia-smi columns
  bool renamed_r28_rails = false;
  int other_gpu_rows = 0;
  int clock_not_available = 0;
};

class ImportCommand : public Command {
 public:
  std::string name() const override { return "import"; }
  std::string summary() const override {
    return "Per-layer power from board logs (layer timing + tegrastats or nvidia-smi) as an op trace for coda fit";
  }

  void configure(CLI::App& app) override {
    app.add_option("--layers", layers_, "Per-layer timing CSV (name,op_type,start_ms,latency_ms,...; docs/traces.md)")
        ->required();
    auto* tegrastats = app.add_option("--tegrastats", tegrastats_, "tegrastats log (L4T R28 or R32 lines)");
    auto* smi = app.add_option("--nvidia-smi", nvidia_smi_,
                               "nvidia-smi --query-gpu=timestamp,power.draw[,index,clocks.sm] --format=csv log");
    tegrastats->excludes(smi);
    app.add_option("--interval-ms", interval_ms_,
                   "Sampling interval (tegrastats --interval, nvidia-smi -lms): times of untimestamped lines and "
                   "the first sample's window")
        ->check(CLI::PositiveNumber);
    app.add_option("--log-start", log_start_,
                   "When tegrastats started, for lines without timestamps (MM-DD-YYYY HH:MM:SS, ISO-8601 or epoch "
                   "seconds; default 0)");
    app.add_option("--offset-s", offset_s_, "Seconds added to the timing log's times to put them on the power log's clock");
    app.add_flag("--skip-unknown", skip_unknown_, "Skip (and count) unknown tegrastats fields or nvidia-smi columns");
    app.add_option("--rail", rail_, "Rail name for nvidia-smi's board power (default GPU_BOARD)");
    app.add_option("--gpu-index", gpu_index_, "The GPU to read from an nvidia-smi log with an index column")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--idle-w", idle_w_,
                   "Idle power of the input rail (W); default: measured from samples that overlap no layer")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--out", out_, "Op trace to write: .csv or .jsonl (written atomically)")->required();
    app.add_flag("--json", json_, "Print the report as JSON");
  }

  int execute(const CommonOptions&) override {
    if (tegrastats_.empty() == nvidia_smi_.empty()) throw BadInput("coda import: give --tegrastats or --nvidia-smi");
    const double interval_s = interval_ms_.value_or(0) * 1e-3;

    std::vector<sim::OpRecord> layers = traces::read_layer_timing_csv(layers_);
    PowerLogReport report;
    traces::PowerTimeline timeline;
    traces::AlignmentOptions options;
    options.offset_s = offset_s_;
    options.idle_input_w = idle_w_;
    if (!tegrastats_.empty()) {
      traces::TegrastatsOptions parse;
      parse.interval_s = interval_s;
      parse.skip_unknown = skip_unknown_;
      if (!log_start_.empty()) {
        std::optional<double> start = traces::parse_log_time(log_start_);
        if (!start) throw BadInput("--log-start: not a date and time or epoch seconds ('" + log_start_ + "')");
        parse.start_s = *start;
      }
      traces::TegrastatsLog log = traces::read_tegrastats_log(tegrastats_, parse);
      if (log.timestamped && !log_start_.empty())
        throw BadInput(tegrastats_ + ": the lines carry timestamps; --log-start is for logs without");
      timeline = traces::power_timeline(log, interval_s);
      report.format = "tegrastats";
      report.skipped_fields = log.skipped_unknown;
      report.renamed_r28_rails = log.renamed_r28_rails;
    } else {
      if (!log_start_.empty()) throw BadInput(nvidia_smi_ + ": nvidia-smi rows carry timestamps; --log-start is for tegrastats logs without");
      traces::NvidiaSmiOptions parse;
      parse.gpu_index = gpu_index_;
      parse.skip_unknown = skip_unknown_;
      traces::NvidiaSmiLog log = traces::read_nvidia_smi_log(nvidia_smi_, parse);
      timeline = traces::power_timeline(log, rail_, interval_s);
      options.input_rail = rail_;  // the board power is all nvidia-smi measures
      report.format = "nvidia-smi";
      for (const std::string& column : log.skipped_columns) ++report.skipped_fields[column];
      report.other_gpu_rows = log.other_gpu_rows;
      report.clock_not_available = log.clock_not_available;
    }
    report.samples = static_cast<int>(timeline.samples.size());
    for (const auto& sample : timeline.samples) report.samples_without_reading += sample.rail_w.empty();

    traces::Alignment alignment = traces::align_layers(layers, timeline, options);

    sim::SimResult result;
    result.platform = report.format;
    std::set<std::string> networks;
    for (const sim::OpRecord& op : alignment.ops)
      if (!op.network.empty()) networks.insert(op.network);
    for (const std::string& network : networks) result.model += (result.model.empty() ? "" : ",") + network;
    result.rails.push_back(options.input_rail);  // the input rail first, as simulated results have it
    for (const std::string& rail : timeline.rails)
      if (rail != options.input_rail) result.rails.push_back(rail);
    result.ops = alignment.ops;
    if (ends_with(out_, ".jsonl")) traces::write_op_trace_jsonl(out_, result);
    else traces::write_op_trace_csv(out_, result);

    if (json_) print_json(layers.size(), alignment, report, result.rails, options.input_rail);
    else print_text(layers.size(), alignment, report, result.rails, options.input_rail);
    return 0;
  }

 private:
  void print_text(std::size_t layer_count, const traces::Alignment& alignment, const PowerLogReport& report,
                  const std::vector<std::string>& rails, const std::string& input_rail) const {
    const std::string& power_log = tegrastats_.empty() ? nvidia_smi_ : tegrastats_;
    std::printf("aligned %zu of %zu layers (%s) with %d %s samples (%s)\n", alignment.ops.size(), layer_count,
                layers_.c_str(), report.samples, report.format.c_str(), power_log.c_str());
    int skipped = 0;
    for (const auto& [reason, count] : alignment.skipped) skipped += count;
    if (skipped > 0) std::printf("skipped %d layers: %s\n", skipped, counts_text(alignment.skipped).c_str());
    if (report.samples_without_reading > 0)
      std::printf("samples without a power reading ([N/A]): %d\n", report.samples_without_reading);
    if (!report.skipped_fields.empty())
      std::printf("skipped unknown %s: %s\n", report.format == "tegrastats" ? "fields" : "columns",
                  counts_text(report.skipped_fields).c_str());
    if (report.other_gpu_rows > 0) std::printf("rows of other GPUs left out: %d\n", report.other_gpu_rows);
    if (report.clock_not_available > 0) std::printf("clock readings [N/A]: %d\n", report.clock_not_available);
    std::string rail_list;
    for (const std::string& rail : rails) rail_list += (rail_list.empty() ? "" : ", ") + rail;
    std::printf("rails: %s%s\n", rail_list.c_str(), report.renamed_r28_rails ? " (L4T R28 names read as R32)" : "");
    if (alignment.idle_samples > 0)
      std::printf("idle %s: %.4f W, measured over %d samples (%.4f s) that overlap no layer\n", input_rail.c_str(),
                  alignment.idle_input_w, alignment.idle_samples, alignment.idle_time_s);
    else
      std::printf("idle %s: %.4f W, as given\n", input_rail.c_str(), alignment.idle_input_w);
    if (alignment.layers_without_clock > 0)
      std::printf("gpu layers without a clock (freq_mhz 0): %d\n", alignment.layers_without_clock);
    std::printf("wrote %s (%zu records)\n", out_.c_str(), alignment.ops.size());
  }

  void print_json(std::size_t layer_count, const traces::Alignment& alignment, const PowerLogReport& report,
                  const std::vector<std::string>& rails, const std::string& input_rail) const {
    nlohmann::json doc;
    doc["layers"] = {{"path", layers_}, {"rows", layer_count}};
    doc["power_log"] = {{"path", tegrastats_.empty() ? nvidia_smi_ : tegrastats_},
                        {"format", report.format},
                        {"samples", report.samples},
                        {"samples_without_reading", report.samples_without_reading},
                        {"skipped_unknown", report.skipped_fields},
                        {"renamed_r28_rails", report.renamed_r28_rails},
                        {"other_gpu_rows", report.other_gpu_rows},
                        {"clock_not_available", report.clock_not_available},
                        {"rails", rails}};
    doc["aligned"] = alignment.ops.size();
    doc["skipped"] = alignment.skipped;
    doc["input_rail"] = input_rail;
    doc["idle_input_w"] = alignment.idle_input_w;
    doc["idle_source"] = alignment.idle_samples > 0 ? "measured" : "given";
    doc["idle_samples"] = alignment.idle_samples;
    doc["idle_time_s"] = alignment.idle_time_s;
    doc["layers_without_clock"] = alignment.layers_without_clock;
    doc["offset_s"] = offset_s_;
    doc["out"] = out_;
    std::printf("%s\n", doc.dump(2).c_str());
  }

  std::string layers_, tegrastats_, nvidia_smi_, log_start_, out_;
  std::string rail_ = "GPU_BOARD";
  std::optional<double> interval_ms_, idle_w_;
  double offset_s_ = 0;
  int gpu_index_ = 0;
  bool skip_unknown_ = false, json_ = false;
};

CODA_REGISTER_COMMAND(ImportCommand);

}  // namespace
}  // namespace coda::cli
