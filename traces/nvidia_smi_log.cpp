#include "traces/nvidia_smi_log.h"

#include <algorithm>
#include <map>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "traces/csv_text.h"
#include "traces/number_text.h"

namespace coda::traces {

namespace {

constexpr const char* kNotAvailable = "[N/A]";

std::string trimmed(const std::string& text) {
  std::size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  std::size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

enum class Column { Timestamp, Power, Index, SmClock, Other };

Column column_of(const std::string& header) {
  if (header == "timestamp") return Column::Timestamp;
  if (header == "power.draw [W]" || header == "power.draw" || header == "power.draw.instant [W]" ||
      header == "power.draw.instant" || header == "power.draw.average [W]" || header == "power.draw.average")
    return Column::Power;
  if (header == "index") return Column::Index;
  if (header == "clocks.sm [MHz]" || header == "clocks.sm") return Column::SmClock;
  return Column::Other;
}

// "45.67 W" or "45.67" (nounits): a finite non-negative number, nothing otherwise.
std::optional<double> quantity(const std::string& cell, const std::string& unit) {
  std::string number = cell;
  const std::string suffix = " " + unit;
  if (number.size() > suffix.size() && number.compare(number.size() - suffix.size(), suffix.size(), suffix) == 0)
    number.resize(number.size() - suffix.size());
  std::optional<double> value = parse_finite(number);
  if (value && *value < 0) return std::nullopt;
  return value;
}

}  // namespace

NvidiaSmiLog parse_nvidia_smi(const std::string& text, const std::string& source, const NvidiaSmiOptions& options) {
  NvidiaSmiLog log;
  log.source = source;
  std::vector<CsvRecord> records = parse_csv(text, 1, source);
  if (records.empty()) throw BadInput(source + ": empty nvidia-smi log (expected the header 'timestamp, power.draw [W]')");

  const CsvRecord& header = records.front();
  std::map<Column, std::size_t> at;
  for (std::size_t c = 0; c < header.fields.size(); ++c) {
    const std::string name = trimmed(header.fields[c]);
    Column column = column_of(name);
    if (column == Column::Other) {
      if (!options.skip_unknown)
        throw BadInput(source + ":" + std::to_string(header.line) + ": unknown column '" + name +
                       "' (coda reads timestamp, power.draw [W], index, clocks.sm [MHz]; --skip-unknown ignores others)");
      log.skipped_columns.push_back(name);
      continue;
    }
    if (!at.emplace(column, c).second)
      throw BadInput(source + ":" + std::to_string(header.line) + ": column '" + name + "' appears twice");
  }
  for (auto [column, name] : {std::pair{Column::Timestamp, "timestamp"}, std::pair{Column::Power, "power.draw [W]"}})
    if (!at.count(column))
      throw BadInput(source + ":" + std::to_string(header.line) + ": no '" + name +
                     "' column (is this `nvidia-smi --query-gpu=timestamp,power.draw --format=csv` output?)");
  log.has_index = at.count(Column::Index) > 0;
  log.has_sm_clock = at.count(Column::SmClock) > 0;

  for (std::size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    const std::string where = source + ":" + std::to_string(record.line);
    if (record.fields.size() != header.fields.size())
      throw BadInput(where + ": " + std::to_string(record.fields.size()) + " cells where the header has " +
                     std::to_string(header.fields.size()));
    auto cell = [&](Column column) { return trimmed(record.fields[at.at(column)]); };

    if (log.has_index) {
      std::optional<int64_t> index = parse_integer(cell(Column::Index));
      if (!index || *index < 0) throw BadInput(where + ": index: not a GPU index ('" + cell(Column::Index) + "')");
      if (*index != options.gpu_index) {
        ++log.other_gpu_rows;
        continue;
      }
    }
    NvidiaSmiSample sample;
    sample.line = record.line;
    std::optional<double> time = parse_log_time(cell(Column::Timestamp));
    if (!time) throw BadInput(where + ": timestamp: not a date and time ('" + cell(Column::Timestamp) + "')");
    sample.time_s = *time;
    if (!log.samples.empty() && !(sample.time_s > log.samples.back().time_s))
      throw BadInput(where + ": timestamp " + cell(Column::Timestamp) + " is not after the previous row's (line " +
                     std::to_string(log.samples.back().line) + ")");

    const std::string power = cell(Column::Power);
    if (power == kNotAvailable) {
      ++log.power_not_available;
    } else {
      sample.power_w = quantity(power, "W");
      if (!sample.power_w) throw BadInput(where + ": power.draw: not a power in W ('" + power + "')");
    }
    if (log.has_sm_clock) {
      const std::string clock = cell(Column::SmClock);
      if (clock == kNotAvailable) {
        ++log.clock_not_available;
      } else {
        sample.sm_clock_mhz = quantity(clock, "MHz");
        if (!sample.sm_clock_mhz) throw BadInput(where + ": clocks.sm: not a clock in MHz ('" + clock + "')");
      }
    }
    log.samples.push_back(sample);
  }
  if (log.samples.empty() && log.other_gpu_rows > 0)
    throw BadInput(source + ": no rows of GPU " + std::to_string(options.gpu_index) + " (coda import --gpu-index)");
  return log;
}

NvidiaSmiLog read_nvidia_smi_log(const std::string& path, const NvidiaSmiOptions& options) {
  return parse_nvidia_smi(read_file(path), path, options);
}

PowerTimeline power_timeline(const NvidiaSmiLog& log, const std::string& rail, double interval_s) {
  if (log.samples.empty()) throw BadInput(log.source + ": no power samples");
  PowerTimeline timeline;
  timeline.source = log.source;
  timeline.rails = {rail};
  if (interval_s > 0) timeline.first_window_s = interval_s;
  else if (log.samples.size() >= 2) timeline.first_window_s = log.samples[1].time_s - log.samples[0].time_s;
  else throw BadInput(log.source + ": one sample and no sampling interval (coda import --interval-ms)");
  for (const NvidiaSmiSample& sample : log.samples) {
    PowerTimeline::Sample out;
    out.time_s = sample.time_s;
    if (sample.power_w) out.rail_w = {*sample.power_w};
    out.clock_mhz = sample.sm_clock_mhz;
    timeline.samples.push_back(std::move(out));
  }
  return timeline;
}

}  // namespace coda::traces
