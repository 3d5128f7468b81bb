#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>
#include <stdexcept>

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

TEST(OpTraceJsonl, InconsistentResultIsAnInternalError) {
  test::TempDir dir;
  sim::SimResult result = test::two_unit_result();
  result.ops[0].energy_by_component_j["dram"] = std::nan("");
  EXPECT_THROW(traces::write_op_trace_jsonl(dir.file("ops.jsonl"), result), std::logic_error);
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace coda
