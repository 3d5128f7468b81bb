#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "tests/traces/sample_results.h"
#include "traces/op_trace_csv.h"

namespace coda {
namespace {

using test::expect_bad_input;
using test::TempDir;

void expect_same_record(const sim::OpRecord& expected, const sim::OpRecord& actual) {
  SCOPED_TRACE("op " + expected.name);
  EXPECT_EQ(actual.node, expected.node);
  EXPECT_EQ(actual.name, expected.name);
  EXPECT_EQ(actual.network, expected.network);
  EXPECT_EQ(actual.fidelity, expected.fidelity);
  EXPECT_EQ(actual.op_type, expected.op_type);
  EXPECT_EQ(actual.unit, expected.unit);
  EXPECT_EQ(actual.knob, expected.knob);
  EXPECT_EQ(actual.knob_name, expected.knob_name);
  EXPECT_EQ(actual.batch, expected.batch);
  // Exact equality: the trace promises numbers that read back to the same double.
  EXPECT_EQ(actual.freq_mhz, expected.freq_mhz);
  EXPECT_EQ(actual.start_s, expected.start_s);
  EXPECT_EQ(actual.latency_s, expected.latency_s);
  EXPECT_EQ(actual.compute_s, expected.compute_s);
  EXPECT_EQ(actual.memory_s, expected.memory_s);
  EXPECT_EQ(actual.cycles, expected.cycles);
  EXPECT_EQ(actual.macs, expected.macs);
  EXPECT_EQ(actual.dram_bytes, expected.dram_bytes);
  EXPECT_EQ(actual.energy_j, expected.energy_j);
  EXPECT_EQ(actual.energy_by_component_j, expected.energy_by_component_j);
  EXPECT_EQ(actual.avg_power_w, expected.avg_power_w);
  EXPECT_EQ(actual.features, expected.features);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A valid trace of one op with the given header and row, for the bad-input cases.
const char* const kHeader =
    "node,name,op_type,unit,knob,knob_name,batch,freq_mhz,start_s,latency_s,compute_s,memory_s,cycles,macs,"
    "dram_bytes,energy_j,power_VDD_IN_w,feature_C_in";
const char* const kRow = "0,conv1,Conv,gpu,11,exact,1,1300,0,0.001,0.0007,0.0003,1300000,1000,2000,0.002,3.5,16";

std::string trace_text(const std::string& header = kHeader, const std::string& row = kRow) {
  return std::string("# coda op trace v1\n") + header + "\n" + row + "\n";
}

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
  return fields;
}

std::string join(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? "," : "") + fields[i];
  return out;
}

// `line` with field `index` (0-based) replaced by `value`.
std::string with_field(const std::string& line, std::size_t index, const std::string& value) {
  std::vector<std::string> fields = split(line);
  fields.at(index) = value;
  return join(fields);
}

// `line` without field `index`.
std::string without_field(const std::string& line, std::size_t index) {
  std::vector<std::string> fields = split(line);
  fields.erase(fields.begin() + static_cast<std::ptrdiff_t>(index));
  return join(fields);
}

TEST(OpTraceCsv, ReadsBackEveryRecordExactly) {
  TempDir dir;
  const sim::SimResult result = test::two_unit_result();
  traces::write_op_trace_csv(dir.file("ops.csv"), result);
  std::vector<sim::OpRecord> back = traces::read_op_trace_csv(dir.file("ops.csv"));
  ASSERT_EQ(back.size(), result.ops.size());
  for (std::size_t i = 0; i < back.size(); ++i) expect_same_record(result.ops[i], back[i]);
  EXPECT_EQ(dir.entries(), std::set<std::string>{"ops.csv"});  // no temporary file left behind
}

TEST(OpTraceCsv, ExtremeNumbersSurviveTheRoundTrip) {
  TempDir dir;
  sim::SimResult result = test::two_unit_result();
  sim::OpRecord& op = result.ops[0];
  op.freq_mhz = std::numeric_limits<double>::max();
  op.start_s = std::numeric_limits<double>::denorm_min();
  op.latency_s = 0.1 + 0.2;  // 0.30000000000000004, which a 15-digit format would lose
  op.compute_s = std::nextafter(1e-3, 1.0);
  op.energy_j = -0.0;
  op.cycles = std::numeric_limits<int64_t>::max();
  op.node = std::numeric_limits<int>::min();
  op.features["tiny"] = -std::numeric_limits<double>::min();
  traces::write_op_trace_csv(dir.file("ops.csv"), result);
  std::vector<sim::OpRecord> back = traces::read_op_trace_csv(dir.file("ops.csv"));
  ASSERT_EQ(back.size(), result.ops.size());
  expect_same_record(op, back[0]);
}

TEST(OpTraceCsv, StartsWithTheVersionAndAHeaderOfEveryColumn) {
  TempDir dir;
  const sim::SimResult result = test::two_unit_result();
  traces::write_op_trace_csv(dir.file("ops.csv"), result);
  std::vector<std::string> lines = lines_of(test::read_bytes(dir.file("ops.csv")));
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "# coda op trace v1");
  // Rails in the result's order, components and features sorted; one row per op (the quoted name
  // holds no line break, so rows are lines).
  EXPECT_EQ(lines[1],
            "node,name,network,op_type,unit,knob,knob_name,batch,fidelity,freq_mhz,start_s,latency_s,compute_s,"
            "memory_s,cycles,macs,dram_bytes,energy_j,power_VDD_IN_w,power_VDD_GPU_w,power_VDD_DDR_w,energy_dram_j,"
            "energy_gpu.compute_j,energy_promise.compute_j,feature_C_in,feature_H_in,feature_kernel,"
            "feature_units_out");
  EXPECT_EQ(lines.size(), 2 + result.ops.size());
  EXPECT_NE(lines[3].find("\"relu,\"\"1\"\"\""), std::string::npos) << lines[3];  // RFC 4180 quoting
}

TEST(OpTraceCsv, AMissingEntryIsAnEmptyCellAndStaysMissing) {
  TempDir dir;
  const sim::SimResult result = test::two_unit_result();
  traces::write_op_trace_csv(dir.file("ops.csv"), result);
  std::vector<sim::OpRecord> back = traces::read_op_trace_csv(dir.file("ops.csv"));
  EXPECT_EQ(back[1].features.count("kernel"), 0u);
  EXPECT_EQ(back[0].features.count("units_out"), 0u);
  EXPECT_EQ(back[2].avg_power_w.count("VDD_GPU"), 0u);
  std::vector<std::string> lines = lines_of(test::read_bytes(dir.file("ops.csv")));
  // C_in, H_in, kernel, units_out last: conv1 has no units_out, relu1 no kernel either.
  EXPECT_EQ(lines[2].substr(lines[2].size() - 9), ",16,32,3,") << lines[2];
  EXPECT_EQ(lines[3].substr(lines[3].size() - 8), ",32,32,,") << lines[3];
}

TEST(OpTraceCsv, RailsOnlyOpsMentionStillGetAColumn) {
  TempDir dir;
  sim::SimResult result = test::two_unit_result();
  result.ops[2].avg_power_w["VDD_SOC"] = 0.75;
  traces::write_op_trace_csv(dir.file("ops.csv"), result);
  std::vector<sim::OpRecord> back = traces::read_op_trace_csv(dir.file("ops.csv"));
  EXPECT_EQ(back[2].avg_power_w, result.ops[2].avg_power_w);
}

TEST(OpTraceCsv, ReadsWindowsLineEndingsAndAnEmptyTrace) {
  TempDir dir;
  std::string text = trace_text();
  std::string crlf;
  for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  test::write_bytes(dir.file("crlf.csv"), crlf);
  std::vector<sim::OpRecord> ops = traces::read_op_trace_csv(dir.file("crlf.csv"));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].latency_s, 0.001);
  EXPECT_EQ(ops[0].features.at("C_in"), 16);

  sim::SimResult empty = test::two_unit_result();
  empty.ops.clear();
  traces::write_op_trace_csv(dir.file("empty.csv"), empty);
  EXPECT_TRUE(traces::read_op_trace_csv(dir.file("empty.csv")).empty());
}

TEST(OpTraceCsv, BadFilesNameTheFileLineAndColumn) {
  TempDir dir;
  const std::string path = dir.file("bad.csv");
  auto expect_rejected = [&](const std::string& text, const std::vector<std::string>& fragments) {
    test::write_bytes(path, text);
    std::vector<std::string> with_path = fragments;
    with_path.insert(with_path.begin(), path + ":");
    expect_bad_input([&] { traces::read_op_trace_csv(path); }, with_path);
  };
  expect_rejected(trace_text(without_field(kHeader, 9), without_field(kRow, 9)), {"missing column 'latency_s'"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 9, "nan")), {":3: latency_s: not a number"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 9, "inf")), {":3: latency_s: not a number"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 9, "")), {":3: latency_s: not a number"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 9, " 0.001")), {":3: latency_s: not a number"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 9, "-0.001")), {":3: latency_s: negative"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 16, "high")), {":3: power_VDD_IN_w: not a number"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 12, "1.5")), {":3: cycles: not an integer"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 13, "-4")), {":3: macs: negative"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 6, "0")), {":3: batch: out of range"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 4, "99999999999")), {":3: knob: out of range"});
  expect_rejected(std::string("# coda op trace v2\n") + kHeader + "\n" + kRow + "\n", {"version 'v2'", "v1"});
  expect_rejected(std::string(kHeader) + "\n" + kRow + "\n", {"not a coda op trace"});
  expect_rejected("", {"not a coda op trace"});
  expect_rejected("# coda op trace v1\n", {"no header line"});
  expect_rejected(trace_text(std::string(kHeader) + ",colour"), {"unknown column 'colour'"});
  expect_rejected(trace_text(std::string(kHeader) + ",feature_C_in", std::string(kRow) + ",16"),
                  {"column 'feature_C_in' appears twice"});
  expect_rejected(trace_text(kHeader, std::string(kRow) + ",1"), {":3: 19 fields where the header has 18"});
  expect_rejected(trace_text(kHeader, std::string(kRow) + "\n" + std::string(kRow).substr(0, 10)), {":4: 3 fields"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 1, "\"conv1")), {":3: quoted field is never closed"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 1, "con\"v1")), {":3: quote inside an unquoted field"});
  expect_rejected(trace_text(kHeader, with_field(kRow, 1, "\"conv\"1")), {":3: text after the closing quote"});
}

TEST(OpTraceCsv, NetworkAndFidelityRoundTrip) {
  TempDir dir;
  sim::SimResult result = test::two_unit_result();
  result.ops[0].network = "resnet18";
  result.ops[1].network = "a, \"quoted\" net";
  result.ops[2].fidelity = "rtl";
  result.ops[3].fidelity = "measured";
  traces::write_op_trace_csv(dir.file("ops.csv"), result);
  std::vector<sim::OpRecord> back = traces::read_op_trace_csv(dir.file("ops.csv"));
  ASSERT_EQ(back.size(), result.ops.size());
  for (std::size_t i = 0; i < back.size(); ++i) expect_same_record(result.ops[i], back[i]);
  EXPECT_EQ(back[2].network, "");
}

TEST(OpTraceCsv, TracesWithoutNetworkAndFidelityColumnsStillRead) {
  TempDir dir;
  // kHeader is the layout before those columns existed.
  test::write_bytes(dir.file("old.csv"), trace_text());
  std::vector<sim::OpRecord> ops = traces::read_op_trace_csv(dir.file("old.csv"));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].network, "");
  EXPECT_EQ(ops[0].fidelity, "model");
  EXPECT_EQ(ops[0].name, "conv1");

  // Each may also come alone, anywhere.
  test::write_bytes(dir.file("some.csv"), trace_text(std::string(kHeader) + ",fidelity,network",
                                                     std::string(kRow) + ",measured,lenet5"));
  ops = traces::read_op_trace_csv(dir.file("some.csv"));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].network, "lenet5");
  EXPECT_EQ(ops[0].fidelity, "measured");

  const std::string path = dir.file("bad.csv");
  test::write_bytes(path, trace_text(std::string(kHeader) + ",fidelity", std::string(kRow) + ",guessed"));
  expect_bad_input([&] { traces::read_op_trace_csv(path); },
                   {path + ":3: fidelity: unknown fidelity 'guessed' (expected model, rtl or measured)"});
  test::write_bytes(path, trace_text(std::string(kHeader) + ",network,network", std::string(kRow) + ",a,b"));
  expect_bad_input([&] { traces::read_op_trace_csv(path); }, {path + ": column 'network' appears twice"});
}

TEST(OpTraceCsv, LineNumbersCountLineBreaksInsideQuotedFields) {
  TempDir dir;
  const std::string path = dir.file("multiline.csv");
  std::string first = with_field(kRow, 1, "\"conv\n1\"");
  test::write_bytes(path, trace_text(kHeader, first + "\n" + with_field(kRow, 9, "x")));
  expect_bad_input([&] { traces::read_op_trace_csv(path); }, {path + ":5: latency_s"});
}

TEST(OpTraceCsv, MissingFileIsBadInput) {
  TempDir dir;
  expect_bad_input([&] { traces::read_op_trace_csv(dir.file("absent.csv")); }, {dir.file("absent.csv")});
  expect_bad_input([&] { traces::write_op_trace_csv(dir.file("no/such/dir/ops.csv"), test::two_unit_result()); },
                   {dir.file("no/such/dir/ops.csv")});
}

TEST(OpTraceCsv, InconsistentResultIsAnInternalErrorAndWritesNothing) {
  TempDir dir;
  sim::SimResult result = test::two_unit_result();
  result.ops[1].latency_s = std::nan("");
  EXPECT_THROW(traces::write_op_trace_csv(dir.file("ops.csv"), result), std::logic_error);
  result = test::two_unit_result();
  result.samples[2].rail_w.pop_back();
  EXPECT_THROW(traces::write_op_trace_csv(dir.file("ops.csv"), result), std::logic_error);
  result = test::two_unit_result();
  result.ops[0].features["C_in"] = std::numeric_limits<double>::infinity();
  EXPECT_THROW(traces::write_op_trace_csv(dir.file("ops.csv"), result), std::logic_error);
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace coda
