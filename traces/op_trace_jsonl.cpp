#include "traces/op_trace_jsonl.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "traces/result_checks.h"
#include "traces/sim_result_json.h"

namespace coda::traces {

namespace {

using nlohmann::json;
using sim::OpRecord;

constexpr const char* kSchema = "coda-op-trace";
constexpr int kVersion = 1;

// One line of JSON; invalid UTF-8 in a name is replaced rather than refused.
std::string json_line(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

// A value short enough to quote in an error message.
std::string excerpt(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  return text.size() > 40 ? text.substr(0, 37) + "..." : text;
}

// One field of a line being read, with what an error message about it needs.
class Field {
 public:
  Field(const std::string& where, const std::string& name, const json& value)
      : where_(where), name_(name), value_(value) {}

  std::string text() const {
    if (!value_.is_string()) fail("not a string (" + excerpt(value_) + ")");
    return value_.get<std::string>();
  }
  double number() const {
    if (!value_.is_number()) fail("not a number (" + excerpt(value_) + ")");
    double value = value_.get<double>();
    if (!std::isfinite(value)) fail("not a finite number (" + excerpt(value_) + ")");
    return value;
  }
  double non_negative() const {
    double value = number();
    if (value < 0) fail("negative (" + excerpt(value_) + ")");
    return value;
  }
  int64_t integer() const {
    if (value_.is_number_integer() && !value_.is_number_unsigned()) return value_.get<int64_t>();
    if (value_.is_number_unsigned()) {
      if (value_.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("out of range (" + excerpt(value_) + ")");
      return static_cast<int64_t>(value_.get<uint64_t>());
    }
    fail("not an integer (" + excerpt(value_) + ")");
  }
  int64_t count() const {
    int64_t value = integer();
    if (value < 0) fail("negative (" + excerpt(value_) + ")");
    return value;
  }
  int small_integer(int lowest) const {
    int64_t value = integer();
    if (value < lowest || value > std::numeric_limits<int>::max())
      fail("out of range (" + excerpt(value_) + ", expected " + std::to_string(lowest) + " or more, at most " +
           std::to_string(std::numeric_limits<int>::max()) + ")");
    return static_cast<int>(value);
  }
  std::string fidelity() const {
    std::string value = text();
    if (value != "model" && value != "rtl" && value != "measured")
      fail("unknown fidelity '" + value + "' (expected model, rtl or measured)");
    return value;
  }
  std::map<std::string, double> number_map() const {
    if (!value_.is_object()) fail("not an object (" + excerpt(value_) + ")");
    std::map<std::string, double> entries;
    for (const auto& [key, entry] : value_.items()) entries[key] = Field(where_, name_ + "." + key, entry).number();
    return entries;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw BadInput(where_ + ": " + name_ + ": " + problem); }
  const std::string& where_;
  const std::string& name_;
  const json& value_;
};

// Every field of an op line: how it is read, and whether an older file may lack it.
struct FieldReader {
  const char* name;
  void (*read)(OpRecord&, const Field&);
  bool optional = false;
};

const FieldReader kFields[] = {
    {"node", [](OpRecord& op, const Field& f) { op.node = f.small_integer(std::numeric_limits<int>::min()); }},
    {"network", [](OpRecord& op, const Field& f) { op.network = f.text(); }, true},
    {"name", [](OpRecord& op, const Field& f) { op.name = f.text(); }},
    {"op_type", [](OpRecord& op, const Field& f) { op.op_type = f.text(); }},
    {"unit", [](OpRecord& op, const Field& f) { op.unit = f.text(); }},
    {"knob", [](OpRecord& op, const Field& f) { op.knob = f.small_integer(std::numeric_limits<int>::min()); }},
    {"knob_name", [](OpRecord& op, const Field& f) { op.knob_name = f.text(); }},
    {"batch", [](OpRecord& op, const Field& f) { op.batch = f.small_integer(1); }},
    {"fidelity", [](OpRecord& op, const Field& f) { op.fidelity = f.fidelity(); }, true},
    {"freq_mhz", [](OpRecord& op, const Field& f) { op.freq_mhz = f.non_negative(); }},
    {"start_s", [](OpRecord& op, const Field& f) { op.start_s = f.non_negative(); }},
    {"latency_s", [](OpRecord& op, const Field& f) { op.latency_s = f.non_negative(); }},
    {"compute_s", [](OpRecord& op, const Field& f) { op.compute_s = f.non_negative(); }},
    {"memory_s", [](OpRecord& op, const Field& f) { op.memory_s = f.non_negative(); }},
    {"cycles", [](OpRecord& op, const Field& f) { op.cycles = f.count(); }},
    {"macs", [](OpRecord& op, const Field& f) { op.macs = f.count(); }},
    {"dram_bytes", [](OpRecord& op, const Field& f) { op.dram_bytes = f.count(); }},
    {"energy_j", [](OpRecord& op, const Field& f) { op.energy_j = f.number(); }},
    {"energy_by_component_j", [](OpRecord& op, const Field& f) { op.energy_by_component_j = f.number_map(); }},
    {"avg_power_w", [](OpRecord& op, const Field& f) { op.avg_power_w = f.number_map(); }},
    {"features", [](OpRecord& op, const Field& f) { op.features = f.number_map(); }},
};

json parse_line(const std::string& where, const std::string& line) {
  json value;
  try {
    value = json::parse(line);
  } catch (const json::exception& e) {
    // nlohmann's message starts "[json.exception.parse_error.101] parse error at line 1, ...".
    std::string message = e.what();
    std::size_t bracket = message.find("] ");
    throw BadInput(where + ": not JSON (" + (bracket == std::string::npos ? message : message.substr(bracket + 2)) + ")");
  }
  if (!value.is_object()) throw BadInput(where + ": not a JSON object");
  return value;
}

void check_schema_line(const std::string& path, const std::string& line) {
  const std::string where = path + ":1";
  json header;
  try {
    header = parse_line(where, line);
  } catch (const BadInput&) {
    throw BadInput(path + ": not a coda op trace (the first line is not {\"schema\": \"" + kSchema + "\", ...})");
  }
  if (!header.contains("schema") || header["schema"] != kSchema)
    throw BadInput(path + ": not a coda op trace (the first line's schema is not \"" + kSchema + "\")");
  if (!header.contains("version")) throw BadInput(where + ": missing field 'version'");
  const json& version = header["version"];
  if (!version.is_number_integer()) throw BadInput(where + ": version: not an integer (" + excerpt(version) + ")");
  if (version != kVersion)
    throw BadInput(path + ": op trace version " + excerpt(version) + " is not supported (this coda reads version " +
                   std::to_string(kVersion) + ")");
  for (const auto& [key, value] : header.items()) {
    if (key == "schema" || key == "version") continue;
    if (key != "platform" && key != "model") throw BadInput(where + ": unknown field '" + key + "'");
    if (!value.is_string()) throw BadInput(where + ": " + key + ": not a string (" + excerpt(value) + ")");
  }
}

OpRecord read_op_line(const std::string& where, const std::string& line) {
  const json object = parse_line(where, line);
  std::set<std::string> known;
  OpRecord op;
  for (const FieldReader& reader : kFields) {
    known.insert(reader.name);
    auto found = object.find(reader.name);
    if (found == object.end()) {
      if (reader.optional) continue;
      throw BadInput(where + ": missing field '" + reader.name + "'");
    }
    const std::string name = reader.name;
    reader.read(op, Field(where, name, *found));
  }
  for (const auto& [key, value] : object.items())
    if (!known.count(key)) throw BadInput(where + ": unknown field '" + key + "'");
  return op;
}

}  // namespace

void write_op_trace_jsonl(const std::string& path, const sim::SimResult& result) {
  check_result(path, result);
  std::string text =
      json_line({{"schema", kSchema}, {"version", kVersion}, {"platform", result.platform}, {"model", result.model}});
  // Each op as in `coda simulate --json`, so both formats carry the same fields.
  for (const sim::OpRecord& op : result.ops) text += json_line(op_record_json(op));
  write_file_atomically(path, text);
}

std::vector<sim::OpRecord> read_op_trace_jsonl(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<OpRecord> ops;
  std::size_t begin = 0;
  for (int line_number = 1; begin <= text.size(); ++line_number) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    begin = end + 1;
    if (line_number == 1) {
      check_schema_line(path, line);
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ops.push_back(read_op_line(path + ":" + std::to_string(line_number), line));
  }
  return ops;
}

}  // namespace coda::traces
