#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <limits>
#include <sstream>
#include <stdexcept>

#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "tests/traces/sample_results.h"
#include "traces/op_trace_jsonl.h"

namespace coda {
namespace {

using nlohmann::json;

TEST(OpTraceJsonl, FirstLineNamesTheSchemaThenOneObjectPerOp) {
  test::TempDir dir;
  const sim::SimResult result = test::two_unit_result();
  traces::write_op_trace_jsonl(dir.file("ops.jsonl"), result);

  std::istringstream in(test::read_bytes(dir.file("ops.jsonl")));
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(json::parse(line));
  ASSERT_EQ(lines.size(), 1 + result.ops.size());
  EXPECT_EQ(lines[0].at("schema"), "coda-op-trace");
  EXPECT_EQ(lines[0].at("version"), 1);
  EXPECT_EQ(lines[0].at("model"), result.model);

  for (std::size_t i = 0; i < result.ops.size(); ++i) {
    const sim::OpRecord& op = result.ops[i];
    const json& line = lines[i + 1];
    SCOPED_TRACE(op.name);
    EXPECT_EQ(line.at("node").get<int>(), op.node);
    EXPECT_EQ(line.at("name").get<std::string>(), op.name);
    EXPECT_EQ(line.at("op_type").get<std::string>(), op.op_type);
    EXPECT_EQ(line.at("unit").get<std::string>(), op.unit);
    EXPECT_EQ(line.at("knob").get<int>(), op.knob);
    EXPECT_EQ(line.at("knob_name").get<std::string>(), op.knob_name);
    EXPECT_EQ(line.at("batch").get<int>(), op.batch);
    EXPECT_EQ(line.at("freq_mhz").get<double>(), op.freq_mhz);
    EXPECT_EQ(line.at("start_s").get<double>(), op.start_s);
    EXPECT_EQ(line.at("latency_s").get<double>(), op.latency_s);
    EXPECT_EQ(line.at("compute_s").get<double>(), op.compute_s);
    EXPECT_EQ(line.at("memory_s").get<double>(), op.memory_s);
    EXPECT_EQ(line.at("cycles").get<int64_t>(), op.cycles);
    EXPECT_EQ(line.at("macs").get<int64_t>(), op.macs);
    EXPECT_EQ(line.at("dram_bytes").get<int64_t>(), op.dram_bytes);
    EXPECT_EQ(line.at("energy_j").get<double>(), op.energy_j);
    EXPECT_EQ((line.at("energy_by_component_j").get<std::map<std::string, double>>()), op.energy_by_component_j);
    EXPECT_EQ((line.at("avg_power_w").get<std::map<std::string, double>>()), op.avg_power_w);
    EXPECT_EQ((line.at("features").get<std::map<std::string, double>>()), op.features);
  }
}

void expect_same_record(const sim::OpRecord& expected, const sim::OpRecord& actual) {
  SCOPED_TRACE("op " + expected.name);
  EXPECT_EQ(actual.node, expected.node);
  EXPECT_EQ(actual.network, expected.network);
  EXPECT_EQ(actual.name, expected.name);
  EXPECT_EQ(actual.op_type, expected.op_type);
  EXPECT_EQ(actual.unit, expected.unit);
  EXPECT_EQ(actual.knob, expected.knob);
  EXPECT_EQ(actual.knob_name, expected.knob_name);
  EXPECT_EQ(actual.batch, expected.batch);
  EXPECT_EQ(actual.fidelity, expected.fidelity);
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

TEST(OpTraceJsonl, ReadsBackEveryRecordExactly) {
  test::TempDir dir;
  sim::SimResult result = test::two_unit_result();
  result.ops[0].network = "resnet18";
  result.ops[2].fidelity = "rtl";
  result.ops[3].fidelity = "measured";
  result.ops[3].cycles = std::numeric_limits<int64_t>::max();
  result.ops[3].latency_s = 0.1 + 0.2;
  traces::write_op_trace_jsonl(dir.file("ops.jsonl"), result);
  std::vector<sim::OpRecord> back = traces::read_op_trace_jsonl(dir.file("ops.jsonl"));
  ASSERT_EQ(back.size(), result.ops.size());
  for (std::size_t i = 0; i < back.size(); ++i) expect_same_record(result.ops[i], back[i]);

  result.ops.clear();
  traces::write_op_trace_jsonl(dir.file("empty.jsonl"), result);
  EXPECT_TRUE(traces::read_op_trace_jsonl(dir.file("empty.jsonl")).empty());
}

// One valid op line, for the bad-input cases to spoil one field at a time.
json valid_op() {
  return {{"node", 0},       {"network", "lenet5"}, {"name", "conv1"},     {"op_type", "Conv"},
          {"unit", "gpu"},   {"knob", 11},          {"knob_name", "exact"}, {"batch", 1},
          {"fidelity", "model"}, {"freq_mhz", 1300.5}, {"start_s", 0},    {"latency_s", 0.001},
          {"compute_s", 0.0007}, {"memory_s", 0.0003}, {"cycles", 1300500}, {"macs", 1000},
          {"dram_bytes", 2000}, {"energy_j", 0.002}, {"energy_by_component_j", {{"dram", 0.001}}},
          {"avg_power_w", {{"VDD_IN", 3.5}}}, {"features", {{"in_channels", 16}}}};
}

const char* const kSchemaLine = R"({"schema": "coda-op-trace", "version": 1, "platform": "tx2", "model": "m"})";

TEST(OpTraceJsonl, OlderLinesWithoutNetworkOrFidelityRead) {
  test::TempDir dir;
  json op = valid_op();
  op.erase("network");
  op.erase("fidelity");
  test::write_bytes(dir.file("old.jsonl"), std::string(kSchemaLine) + "\n" + op.dump() + "\n\n");
  std::vector<sim::OpRecord> ops = traces::read_op_trace_jsonl(dir.file("old.jsonl"));
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].network, "");
  EXPECT_EQ(ops[0].fidelity, "model");
  EXPECT_EQ(ops[0].freq_mhz, 1300.5);
  EXPECT_EQ(ops[0].features.at("in_channels"), 16);
}

TEST(OpTraceJsonl, BadFilesNameTheFileLineAndField) {
  test::TempDir dir;
  const std::string path = dir.file("bad.jsonl");
  auto expect_rejected = [&](const std::string& text, const std::vector<std::string>& fragments) {
    test::write_bytes(path, text);
    std::vector<std::string> with_path = fragments;
    with_path.insert(with_path.begin(), path + ":");
    test::expect_bad_input([&] { traces::read_op_trace_jsonl(path); }, with_path);
  };
  auto with = [](const std::string& field, const json& value) {
    json op = valid_op();
    op[field] = value;
    return std::string(kSchemaLine) + "\n" + op.dump() + "\n";
  };
  auto without = [](const std::string& field) {
    json op = valid_op();
    op.erase(field);
    return std::string(kSchemaLine) + "\n" + op.dump() + "\n";
  };
  expect_rejected("", {"not a coda op trace"});
  expect_rejected("node,name\n", {"not a coda op trace"});
  expect_rejected(R"({"schema": "other"})", {"not a coda op trace"});
  expect_rejected(R"({"schema": "coda-op-trace", "version": 2})", {"op trace version 2 is not supported"});
  expect_rejected(R"({"schema": "coda-op-trace", "version": "1"})", {":1: version: not an integer"});
  expect_rejected(R"({"schema": "coda-op-trace"})", {":1: missing field 'version'"});
  expect_rejected(R"({"schema": "coda-op-trace", "version": 1, "colour": "red"})", {":1: unknown field 'colour'"});
  expect_rejected(R"({"schema": "coda-op-trace", "version": 1, "model": 3})", {":1: model: not a string"});
  expect_rejected(without("latency_s"), {":2: missing field 'latency_s'"});
  expect_rejected(with("colour", "red"), {":2: unknown field 'colour'"});
  expect_rejected(with("latency_s", "0.001"), {":2: latency_s: not a number (\"0.001\")"});
  expect_rejected(with("latency_s", nullptr), {":2: latency_s: not a number (null)"});
  expect_rejected(with("latency_s", -0.001), {":2: latency_s: negative"});
  expect_rejected(with("cycles", 1.5), {":2: cycles: not an integer (1.5)"});
  expect_rejected(with("macs", -4), {":2: macs: negative"});
  expect_rejected(with("dram_bytes", 18446744073709551615ULL), {":2: dram_bytes: out of range"});
  expect_rejected(with("batch", 0), {":2: batch: out of range"});
  expect_rejected(with("knob", 99999999999LL), {":2: knob: out of range"});
  expect_rejected(with("name", 5), {":2: name: not a string (5)"});
  expect_rejected(with("fidelity", "guessed"), {":2: fidelity: unknown fidelity 'guessed'"});
  expect_rejected(with("avg_power_w", json::array({3.5})), {":2: avg_power_w: not an object"});
  expect_rejected(with("avg_power_w", {{"VDD_IN", "high"}}), {":2: avg_power_w.VDD_IN: not a number"});
  expect_rejected(std::string(kSchemaLine) + "\n" + valid_op().dump() + "\n[1, 2]\n", {":3: not a JSON object"});
  expect_rejected(std::string(kSchemaLine) + "\n{\"node\": 0,\n", {":2: not JSON"});
  expect_rejected(std::string(kSchemaLine) + "\n{\"latency_s\": 1e999}\n", {":2: not JSON"});
  test::expect_bad_input([&] { traces::read_op_trace_jsonl(dir.file("absent.jsonl")); }, {dir.file("absent.jsonl")});
}

TEST(OpTraceJsonl, InconsistentResultIsAnInternalError) {
  test::TempDir dir;
  sim::SimResult result = test::two_unit_result();
  result.ops[0].energy_by_component_j["dram"] = std::nan("");
  EXPECT_THROW(traces::write_op_trace_jsonl(dir.file("ops.jsonl"), result), std::logic_error);
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace coda
