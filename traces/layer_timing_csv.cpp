#include "traces/layer_timing_csv.h"

#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "kernels/approx/knob_catalog.h"
#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "traces/csv_text.h"
#include "traces/number_text.h"

namespace coda::traces {

namespace {

using sim::OpRecord;

constexpr const char* kFeaturePrefix = "feature_";

std::string trimmed(const std::string& text) {
  std::size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  std::size_t last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

bool is_feature(const std::string& column) {
  return column.size() > std::char_traits<char>::length(kFeaturePrefix) && column.rfind(kFeaturePrefix, 0) == 0;
}

// The columns a timing log may have; seconds or milliseconds for the times.
const char* const kColumns[] = {"name", "op_type", "start_s", "start_ms", "latency_s", "latency_ms",
                                "unit", "knob",    "freq_mhz", "batch",   "network"};

class Row {
 public:
  Row(const std::string& where, const std::map<std::string, std::size_t>& at, const std::vector<std::string>& cells)
      : where_(where), at_(at), cells_(cells) {}

  // The trimmed cell of `column`, nothing when the log has no such column.
  std::optional<std::string> cell(const std::string& column) const {
    auto found = at_.find(column);
    if (found == at_.end()) return std::nullopt;
    return trimmed(cells_[found->second]);
  }
  std::string text(const std::string& column) const {
    std::string value = cell(column).value_or("");
    if (value.empty()) fail(column, "empty");
    return value;
  }
  double number(const std::string& column, const std::string& text) const {
    std::optional<double> value = parse_finite(text);
    if (!value) fail(column, "not a number ('" + text + "')");
    return *value;
  }
  // A time in seconds from `seconds` or `milliseconds`, whichever the log has.
  double seconds(const std::string& seconds, const std::string& milliseconds) const {
    if (std::optional<std::string> s = cell(seconds)) return number(seconds, *s);
    return number(milliseconds, *cell(milliseconds)) * 1e-3;
  }
  int integer(const std::string& column, int fallback, int lowest) const {
    std::optional<std::string> value = cell(column);
    if (!value || value->empty()) return fallback;
    std::optional<int64_t> parsed = parse_integer(*value);
    if (!parsed) fail(column, "not an integer ('" + *value + "')");
    if (*parsed < lowest || *parsed > std::numeric_limits<int>::max())
      fail(column, "out of range (" + *value + ", expected " + std::to_string(lowest) + " or more)");
    return static_cast<int>(*parsed);
  }
  [[noreturn]] void fail(const std::string& column, const std::string& problem) const {
    throw BadInput(where_ + ": " + column + ": " + problem);
  }

 private:
  const std::string& where_;
  const std::map<std::string, std::size_t>& at_;
  const std::vector<std::string>& cells_;
};

OpRecord read_row(const Row& row, const std::vector<std::string>& feature_columns) {
  OpRecord op;
  op.fidelity = "measured";
  op.name = row.text("name");
  op.op_type = row.text("op_type");
  op.network = row.cell("network").value_or("");
  std::string unit = row.cell("unit").value_or("");
  op.unit = unit.empty() ? "gpu" : unit;
  op.knob = row.integer("knob", 11, std::numeric_limits<int>::min());
  const Knob* knob = knob_catalog().find(op.knob);
  if (!knob) row.fail("knob", "unknown knob id " + std::to_string(op.knob) + " (see coda knobs)");
  op.knob_name = knob->name;
  op.batch = row.integer("batch", 1, 1);
  std::string freq = row.cell("freq_mhz").value_or("");
  if (!freq.empty()) {
    op.freq_mhz = row.number("freq_mhz", freq);
    if (!(op.freq_mhz > 0)) row.fail("freq_mhz", "not positive (" + freq + ")");
  }
  op.start_s = row.seconds("start_s", "start_ms");
  op.latency_s = row.seconds("latency_s", "latency_ms");
  if (!(op.latency_s > 0))
    row.fail(row.cell("latency_s") ? "latency_s" : "latency_ms",
             "zero or negative duration (" + row.cell(row.cell("latency_s") ? "latency_s" : "latency_ms").value_or("") +
                 ")");
  for (const std::string& column : feature_columns) {
    std::string value = row.cell(column).value_or("");
    if (value.empty()) continue;
    op.features[column.substr(std::char_traits<char>::length(kFeaturePrefix))] = row.number(column, value);
  }
  auto macs = op.features.find("macs");
  if (macs != op.features.end() && macs->second >= 0 && macs->second < 9.2e18)
    op.macs = std::llround(macs->second);
  return op;
}

}  // namespace

std::vector<sim::OpRecord> read_layer_timing_csv(const std::string& path) {
  const std::string text = read_file(path);
  // '#' comment lines before the header (a harness noting the board, clocks, model).
  std::size_t body = 0;
  int first_line = 1;
  while (body < text.size() && text[body] == '#') {
    std::size_t end = text.find('\n', body);
    body = end == std::string::npos ? text.size() : end + 1;
    ++first_line;
  }
  std::vector<CsvRecord> records = parse_csv(std::string_view(text).substr(body), first_line, path);
  if (records.empty()) throw BadInput(path + ": no header line (expected name,op_type,start_ms,latency_ms,...)");

  const CsvRecord& header = records.front();
  const std::string header_where = path + ":" + std::to_string(header.line);
  std::map<std::string, std::size_t> at;
  std::vector<std::string> feature_columns;
  for (std::size_t c = 0; c < header.fields.size(); ++c) {
    const std::string column = trimmed(header.fields[c]);
    bool known = is_feature(column);
    for (const char* name : kColumns) known = known || column == name;
    if (!known)
      throw BadInput(header_where + ": unknown column '" + column +
                     "' (a timing log has name, op_type, start_s|start_ms, latency_s|latency_ms, unit, knob, "
                     "freq_mhz, batch, network, feature_*)");
    if (!at.emplace(column, c).second) throw BadInput(header_where + ": column '" + column + "' appears twice");
    if (is_feature(column)) feature_columns.push_back(column);
  }
  for (const char* required : {"name", "op_type"})
    if (!at.count(required)) throw BadInput(header_where + ": missing column '" + std::string(required) + "'");
  for (const std::string time : {"start", "latency"}) {
    bool seconds = at.count(time + "_s") > 0, milliseconds = at.count(time + "_ms") > 0;
    if (!seconds && !milliseconds)
      throw BadInput(header_where + ": missing column '" + time + "_s' (or '" + time + "_ms')");
    if (seconds && milliseconds)
      throw BadInput(header_where + ": both '" + time + "_s' and '" + time + "_ms'; give one");
  }

  std::vector<OpRecord> layers;
  std::map<std::pair<std::string, std::string>, int> node_of;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    const std::string where = path + ":" + std::to_string(record.line);
    if (record.fields.size() != header.fields.size())
      throw BadInput(where + ": " + std::to_string(record.fields.size()) + " cells where the header has " +
                     std::to_string(header.fields.size()));
    OpRecord op = read_row(Row(where, at, record.fields), feature_columns);
    op.node = node_of.emplace(std::make_pair(op.network, op.name), static_cast<int>(node_of.size())).first->second;
    layers.push_back(std::move(op));
  }
  return layers;
}

}  // namespace coda::traces
