#include "traces/op_trace_csv.h"

#include <limits>
#include <map>
#include <set>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "traces/csv_text.h"
#include "traces/number_text.h"
#include "traces/result_checks.h"

namespace coda::traces {

namespace {

using sim::OpRecord;

// One cell of a trace being read, with what an error message about it needs.
class Cell {
 public:
  Cell(const std::string& path, int line, const std::string& column, const std::string& text)
      : path_(path), line_(line), column_(column), text_(text) {}

  const std::string& text() const { return text_; }

  double number() const {
    std::optional<double> value = parse_finite(text_);
    if (!value) fail("not a number ('" + text_ + "')");
    return *value;
  }
  double non_negative() const {
    double value = number();
    if (value < 0) fail("negative (" + text_ + ")");
    return value;
  }
  int64_t integer() const {
    std::optional<int64_t> value = parse_integer(text_);
    if (!value) fail("not an integer ('" + text_ + "')");
    return *value;
  }
  int64_t count() const {
    int64_t value = integer();
    if (value < 0) fail("negative (" + text_ + ")");
    return value;
  }
  // How the record was obtained: "model" (the simulator's unit models), "rtl" (cycles from the
  // Verilated array) or "measured" (imported from board logs, traces/power_alignment.h).
  const std::string& fidelity() const {
    if (text_ != "model" && text_ != "rtl" && text_ != "measured")
      fail("unknown fidelity '" + text_ + "' (expected model, rtl or measured)");
    return text_;
  }
  int small_integer(int lowest) const {
    int64_t value = integer();
    if (value < lowest || value > std::numeric_limits<int>::max())
      fail("out of range (" + text_ + ", expected " + std::to_string(lowest) + " or more, at most " +
           std::to_string(std::numeric_limits<int>::max()) + ")");
    return static_cast<int>(value);
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw BadInput(path_ + ":" + std::to_string(line_) + ": " + column_ + ": " + problem);
  }
  const std::string& path_;
  int line_;
  const std::string& column_;
  const std::string& text_;
};

// The columns every op trace has, in file order: how each is written and read back.
struct FixedColumn {
  const char* name;
  std::string (*write)(const OpRecord&);
  void (*read)(OpRecord&, const Cell&);
  // Columns added after the first traces were written: a file without them reads with the
  // OpRecord defaults (no network, fidelity "model").
  bool optional = false;
};

const FixedColumn kFixedColumns[] = {
    {"node", [](const OpRecord& op) { return std::to_string(op.node); },
     [](OpRecord& op, const Cell& c) { op.node = c.small_integer(std::numeric_limits<int>::min()); }},
    {"name", [](const OpRecord& op) { return op.name; }, [](OpRecord& op, const Cell& c) { op.name = c.text(); }},
    {"network", [](const OpRecord& op) { return op.network; },
     [](OpRecord& op, const Cell& c) { op.network = c.text(); }, true},
    {"op_type", [](const OpRecord& op) { return op.op_type; },
     [](OpRecord& op, const Cell& c) { op.op_type = c.text(); }},
    {"unit", [](const OpRecord& op) { return op.unit; }, [](OpRecord& op, const Cell& c) { op.unit = c.text(); }},
    {"knob", [](const OpRecord& op) { return std::to_string(op.knob); },
     [](OpRecord& op, const Cell& c) { op.knob = c.small_integer(std::numeric_limits<int>::min()); }},
    {"knob_name", [](const OpRecord& op) { return op.knob_name; },
     [](OpRecord& op, const Cell& c) { op.knob_name = c.text(); }},
    {"batch", [](const OpRecord& op) { return std::to_string(op.batch); },
     [](OpRecord& op, const Cell& c) { op.batch = c.small_integer(1); }},
    {"fidelity", [](const OpRecord& op) { return op.fidelity; },
     [](OpRecord& op, const Cell& c) { op.fidelity = c.fidelity(); }, true},
    {"freq_mhz", [](const OpRecord& op) { return number_text(op.freq_mhz); },
     [](OpRecord& op, const Cell& c) { op.freq_mhz = c.non_negative(); }},
    {"start_s", [](const OpRecord& op) { return number_text(op.start_s); },
     [](OpRecord& op, const Cell& c) { op.start_s = c.non_negative(); }},
    {"latency_s", [](const OpRecord& op) { return number_text(op.latency_s); },
     [](OpRecord& op, const Cell& c) { op.latency_s = c.non_negative(); }},
    {"compute_s", [](const OpRecord& op) { return number_text(op.compute_s); },
     [](OpRecord& op, const Cell& c) { op.compute_s = c.non_negative(); }},
    {"memory_s", [](const OpRecord& op) { return number_text(op.memory_s); },
     [](OpRecord& op, const Cell& c) { op.memory_s = c.non_negative(); }},
    {"cycles", [](const OpRecord& op) { return std::to_string(op.cycles); },
     [](OpRecord& op, const Cell& c) { op.cycles = c.count(); }},
    {"macs", [](const OpRecord& op) { return std::to_string(op.macs); },
     [](OpRecord& op, const Cell& c) { op.macs = c.count(); }},
    {"dram_bytes", [](const OpRecord& op) { return std::to_string(op.dram_bytes); },
     [](OpRecord& op, const Cell& c) { op.dram_bytes = c.count(); }},
    {"energy_j", [](const OpRecord& op) { return number_text(op.energy_j); },
     [](OpRecord& op, const Cell& c) { op.energy_j = c.number(); }},
};

// Column families with one column per name: "power_VDD_IN_w" -> avg_power_w["VDD_IN"].
struct MapColumns {
  const char* prefix;
  const char* suffix;
  std::map<std::string, double> OpRecord::*entries;
};

const MapColumns kPowerColumns{"power_", "_w", &OpRecord::avg_power_w};
const MapColumns kEnergyColumns{"energy_", "_j", &OpRecord::energy_by_component_j};
const MapColumns kFeatureColumns{"feature_", "", &OpRecord::features};
const MapColumns* const kMapColumns[] = {&kPowerColumns, &kEnergyColumns, &kFeatureColumns};

std::string column_name(const MapColumns& family, const std::string& entry) {
  return family.prefix + entry + family.suffix;
}

// The entry a column names in `family`, or nothing when it is not one of the family's columns.
std::optional<std::string> entry_of(const MapColumns& family, const std::string& column) {
  std::string prefix = family.prefix, suffix = family.suffix;
  if (column.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (column.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  if (column.compare(column.size() - suffix.size(), suffix.size(), suffix) != 0) return std::nullopt;
  return column.substr(prefix.size(), column.size() - prefix.size() - suffix.size());
}

// Where a column's cells go: a fixed column, or an entry of one of the map families.
struct ColumnTarget {
  const FixedColumn* fixed = nullptr;
  const MapColumns* family = nullptr;
  std::string entry;
};

ColumnTarget target_of(const std::string& path, const std::string& column) {
  for (const FixedColumn& fixed : kFixedColumns)
    if (column == fixed.name) return {&fixed, nullptr, {}};
  for (const MapColumns* family : kMapColumns)
    if (std::optional<std::string> entry = entry_of(*family, column)) return {nullptr, family, *entry};
  throw BadInput(path + ": unknown column '" + column + "'");
}

void check_version_line(const std::string& path, const std::string& line) {
  if (line == kOpTraceCsvVersionLine) return;
  const std::string versioned = "# coda op trace v";
  if (line.compare(0, versioned.size(), versioned) == 0)
    throw BadInput(path + ": op trace version '" + line.substr(versioned.size() - 1) +
                   "' is not supported (this coda reads v1)");
  throw BadInput(path + ": not a coda op trace (the first line is not '" + kOpTraceCsvVersionLine + "')");
}

}  // namespace

void write_op_trace_csv(const std::string& path, const sim::SimResult& result) {
  check_result(path, result);

  std::vector<std::string> rails;
  std::set<std::string> seen_rails, other_rails, components, features;
  for (const std::string& rail : result.rails)
    if (seen_rails.insert(rail).second) rails.push_back(rail);
  for (const OpRecord& op : result.ops) {
    for (const auto& entry : op.avg_power_w)
      if (!seen_rails.count(entry.first)) other_rails.insert(entry.first);
    for (const auto& entry : op.energy_by_component_j) components.insert(entry.first);
    for (const auto& entry : op.features) features.insert(entry.first);
  }
  rails.insert(rails.end(), other_rails.begin(), other_rails.end());
  const std::vector<std::pair<const MapColumns*, std::vector<std::string>>> map_columns = {
      {&kPowerColumns, rails},
      {&kEnergyColumns, {components.begin(), components.end()}},
      {&kFeatureColumns, {features.begin(), features.end()}}};

  std::vector<std::string> header;
  for (const FixedColumn& fixed : kFixedColumns) header.push_back(fixed.name);
  for (const auto& [family, entries] : map_columns)
    for (const std::string& entry : entries) header.push_back(column_name(*family, entry));

  std::string text = std::string(kOpTraceCsvVersionLine) + "\n" + csv_line(header);
  std::vector<std::string> row;
  for (const OpRecord& op : result.ops) {
    row.clear();
    for (const FixedColumn& fixed : kFixedColumns) row.push_back(fixed.write(op));
    for (const auto& [family, entries] : map_columns) {
      const std::map<std::string, double>& values = op.*(family->entries);
      for (const std::string& entry : entries) {
        auto found = values.find(entry);
        row.push_back(found == values.end() ? std::string() : number_text(found->second));
      }
    }
    text += csv_line(row);
  }
  write_file_atomically(path, text);
}

std::vector<sim::OpRecord> read_op_trace_csv(const std::string& path) {
  const std::string text = read_file(path);
  std::size_t end_of_first = text.find('\n');
  std::string first_line = text.substr(0, end_of_first);
  if (!first_line.empty() && first_line.back() == '\r') first_line.pop_back();
  check_version_line(path, first_line);

  const std::string_view rest =
      end_of_first == std::string::npos ? std::string_view() : std::string_view(text).substr(end_of_first + 1);
  std::vector<CsvRecord> records = parse_csv(rest, 2, path);
  if (records.empty()) throw BadInput(path + ": no header line after '" + kOpTraceCsvVersionLine + "'");

  const std::vector<std::string>& header = records.front().fields;
  std::vector<ColumnTarget> targets;
  std::set<std::string> columns;
  for (const std::string& column : header) {
    if (!columns.insert(column).second) throw BadInput(path + ": column '" + column + "' appears twice");
    targets.push_back(target_of(path, column));
  }
  for (const FixedColumn& fixed : kFixedColumns)
    if (!fixed.optional && !columns.count(fixed.name)) throw BadInput(path + ": missing column '" + fixed.name + "'");

  std::vector<OpRecord> ops;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const CsvRecord& record = records[r];
    if (record.fields.size() != header.size())
      throw BadInput(path + ":" + std::to_string(record.line) + ": " + std::to_string(record.fields.size()) +
                     " fields where the header has " + std::to_string(header.size()));
    OpRecord op;
    for (std::size_t c = 0; c < header.size(); ++c) {
      const ColumnTarget& target = targets[c];
      const Cell cell(path, record.line, header[c], record.fields[c]);
      if (target.fixed) {
        target.fixed->read(op, cell);
      } else if (!cell.text().empty()) {
        (op.*(target.family->entries))[target.entry] = cell.number();
      }
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace coda::traces
