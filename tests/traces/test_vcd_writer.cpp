#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "tests/support/temp_files.h"
#include "tests/traces/sample_results.h"
#include "traces/vcd_writer.h"

namespace coda {
namespace {

// A VCD read back token by token (IEEE 1364-2005 18.2), strictly enough to catch what GTKWave
// would reject.
struct Vcd {
  struct Variable {
    std::string type;
    int size = 0;
    std::string code;
    std::string reference;
  };
  std::map<std::string, std::string> blocks;  // "$date" -> its text, "$timescale" -> "1 ns", ...
  std::vector<std::string> scopes;            // "module soc"
  std::vector<Variable> variables;
  std::vector<int64_t> times;
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> changes;  // by code

  const Variable& named(const std::string& reference) const {
    for (const Variable& v : variables)
      if (v.reference == reference) return v;
    throw std::runtime_error("no variable " + reference);
  }
  // The value `reference` holds at `time`, once every change at that time is applied.
  std::string value_at(const std::string& reference, int64_t time) const {
    std::string value = "?";
    for (const auto& [at, v] : changes.at(named(reference).code))
      if (at <= time) value = v;
    return value;
  }
  double real_at(const std::string& reference, int64_t time) const {
    std::string text = value_at(reference, time);
    char* end = nullptr;
    double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') throw std::runtime_error("not a real: '" + text + "'");
    return value;
  }
};

Vcd parse_vcd(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> tokens;
  for (std::string token; in >> token;) tokens.push_back(token);
  Vcd vcd;
  std::size_t i = 0;
  auto until_end = [&]() {
    std::string body;
    while (i < tokens.size() && tokens[i] != "$end") body += (body.empty() ? "" : " ") + tokens[i++];
    if (i == tokens.size()) throw std::runtime_error("a block is missing its $end");
    ++i;
    return body;
  };
  while (i < tokens.size() && tokens[i] != "$enddefinitions") {
    std::string keyword = tokens[i++];
    if (keyword == "$var") {
      Vcd::Variable v;
      std::istringstream fields(until_end());
      fields >> v.type >> v.size >> v.code >> v.reference;
      vcd.variables.push_back(v);
    } else if (keyword == "$scope") {
      vcd.scopes.push_back(until_end());
    } else if (keyword == "$date" || keyword == "$version" || keyword == "$comment" || keyword == "$timescale" ||
               keyword == "$upscope") {
      vcd.blocks[keyword] = until_end();
    } else {
      throw std::runtime_error("unexpected token in the header: " + keyword);
    }
  }
  if (i + 1 >= tokens.size() || tokens[i + 1] != "$end") throw std::runtime_error("no $enddefinitions $end");
  i += 2;
  std::map<std::string, std::string> type_of;
  for (const Vcd::Variable& v : vcd.variables) type_of[v.code] = v.type;
  int64_t now = -1;
  while (i < tokens.size()) {
    const std::string& token = tokens[i++];
    if (token == "$dumpvars" || token == "$end") continue;
    if (token[0] == '#') {
      now = std::stoll(token.substr(1));
      vcd.times.push_back(now);
    } else if (token[0] == 'r') {
      if (i == tokens.size()) throw std::runtime_error("real change without an identifier");
      const std::string& code = tokens[i++];
      if (type_of[code] != "real") throw std::runtime_error("real change of a non-real identifier " + code);
      vcd.changes[code].emplace_back(now, token.substr(1));
    } else if (token[0] == '0' || token[0] == '1' || token[0] == 'x' || token[0] == 'z') {
      std::string code = token.substr(1);
      if (type_of[code] != "wire") throw std::runtime_error("scalar change of a non-wire identifier " + code);
      vcd.changes[code].emplace_back(now, token.substr(0, 1));
    } else {
      throw std::runtime_error("unexpected token in the changes: " + token);
    }
    if (now < 0) throw std::runtime_error("value change before the first timestamp");
  }
  return vcd;
}

int64_t ns(double seconds) { return std::llround(seconds * 1e9); }

Vcd write_and_parse(const sim::SimResult& result) {
  test::TempDir dir;
  traces::write_power_vcd(dir.file("power.vcd"), result);
  return parse_vcd(test::read_bytes(dir.file("power.vcd")));
}

TEST(VcdWriter, HeaderDeclaresEverySignalOnce) {
  const sim::SimResult result = test::two_unit_result();
  Vcd vcd = write_and_parse(result);
  EXPECT_FALSE(vcd.blocks["$date"].empty());
  EXPECT_NE(vcd.blocks["$version"].find("coda"), std::string::npos);
  EXPECT_EQ(vcd.blocks["$timescale"], "1 ns");
  EXPECT_EQ(vcd.scopes, std::vector<std::string>{"module soc"});
  EXPECT_TRUE(vcd.blocks.count("$upscope"));

  std::set<std::string> references, codes;
  for (const Vcd::Variable& v : vcd.variables) {
    references.insert(v.reference);
    EXPECT_TRUE(codes.insert(v.code).second) << "identifier " << v.code << " declared twice";
    for (char c : v.code) EXPECT_TRUE(c >= '!' && c <= '~') << "identifier " << v.code;
    EXPECT_TRUE((v.type == "real" && v.size == 64) || (v.type == "wire" && v.size == 1)) << v.reference;
  }
  // Names reduced to identifier characters ("GPU-therm", "CPU therm").
  EXPECT_EQ(references, (std::set<std::string>{"power_VDD_IN_W", "power_VDD_GPU_W", "power_VDD_DDR_W",
                                               "temp_GPU_therm_C", "temp_CPU_therm_C", "clock_gpu_MHz",
                                               "clock_promise_MHz", "busy_gpu", "busy_promise"}));
  for (const auto& entry : vcd.changes) EXPECT_TRUE(codes.count(entry.first)) << "undeclared " << entry.first;
  EXPECT_EQ(vcd.changes.size(), vcd.variables.size());  // every signal has a value from time 0
  for (const auto& entry : vcd.changes) EXPECT_EQ(entry.second.front().first, 0);
}

TEST(VcdWriter, TimesIncreaseAndValuesChangeWhenTheyChange) {
  const sim::SimResult result = test::two_unit_result();
  Vcd vcd = write_and_parse(result);
  ASSERT_FALSE(vcd.times.empty());
  EXPECT_EQ(vcd.times.front(), 0);
  for (std::size_t i = 1; i < vcd.times.size(); ++i) EXPECT_LT(vcd.times[i - 1], vcd.times[i]);
  EXPECT_GE(vcd.times.back(), ns(result.latency_s));
  for (const auto& [code, changes] : vcd.changes)
    for (std::size_t i = 1; i < changes.size(); ++i) {
      EXPECT_LT(changes[i - 1].first, changes[i].first) << code << " changes twice at one time";
      EXPECT_NE(changes[i - 1].second, changes[i].second) << code << " repeats its value";
    }
}

TEST(VcdWriter, BusyWiresFollowTheOps) {
  sim::SimResult result = test::two_unit_result();
  result.ops.push_back(test::sample_op(4, "conv1_b", "Conv", "gpu", 0.2e-3, 0.5e-3, 1300.5));  // overlaps
  Vcd vcd = write_and_parse(result);
  for (const std::string& unit : result.units) {
    SCOPED_TRACE(unit);
    std::set<int64_t> boundaries;
    for (const sim::OpRecord& op : result.ops)
      if (op.unit == unit) boundaries.insert({ns(op.start_s), ns(op.start_s + op.latency_s)});
    auto busy_at = [&](int64_t t) {
      for (const sim::OpRecord& op : result.ops)
        if (op.unit == unit && ns(op.start_s) <= t && t < ns(op.start_s + op.latency_s)) return true;
      return false;
    };
    for (int64_t t : boundaries) EXPECT_EQ(vcd.value_at("busy_" + unit, t), busy_at(t) ? "1" : "0") << "at " << t;
    EXPECT_EQ(vcd.value_at("busy_" + unit, 0), busy_at(0) ? "1" : "0");
    for (const auto& [at, value] : vcd.changes.at(vcd.named("busy_" + unit).code)) {
      if (at > 0) {
        EXPECT_TRUE(boundaries.count(at)) << "change at " << at << " is no op's start or end";
      }
    }
  }
  // gpu's back-to-back ops keep the wire at 1 from conv1's start to relu1's end: one rise, one fall.
  EXPECT_EQ(vcd.changes.at(vcd.named("busy_gpu").code).size(), 4u);  // 1 at 0, 0, 1 for fc1, 0
}

TEST(VcdWriter, RealValuesReadBackAsTheSamples) {
  const sim::SimResult result = test::two_unit_result();
  Vcd vcd = write_and_parse(result);
  for (const sim::PowerSample& sample : result.samples) {
    const int64_t window_start = ns(sample.time_s - sample.window_s), window_end = ns(sample.time_s);
    EXPECT_EQ(vcd.real_at("power_VDD_IN_W", window_start), sample.rail_w[0]);
    EXPECT_EQ(vcd.real_at("power_VDD_GPU_W", window_start), sample.rail_w[1]);
    EXPECT_EQ(vcd.real_at("power_VDD_DDR_W", window_start), sample.rail_w[2]);
    EXPECT_EQ(vcd.real_at("temp_GPU_therm_C", window_end), sample.zone_c[0]);
    EXPECT_EQ(vcd.real_at("temp_CPU_therm_C", window_end), sample.zone_c[1]);
  }
  EXPECT_EQ(vcd.real_at("clock_gpu_MHz", 0), 1300.5);
  EXPECT_EQ(vcd.real_at("clock_gpu_MHz", ns(2.1e-3) - 1), 1300.5);
  EXPECT_EQ(vcd.real_at("clock_gpu_MHz", ns(2.1e-3)), 900.0);
  EXPECT_EQ(vcd.real_at("clock_promise_MHz", ns(result.latency_s)), 1000.0);
}

TEST(VcdWriter, ClashingNamesGetDistinctReferences) {
  sim::SimResult result = test::two_unit_result();
  result.zones = {"soc.0", "soc-0"};
  Vcd vcd = write_and_parse(result);
  EXPECT_NO_THROW(vcd.named("temp_soc_0_C"));
  EXPECT_NO_THROW(vcd.named("temp_soc_0_C_2"));
}

TEST(VcdWriter, WithoutSamplesOnlyClocksAndBusyWires) {
  sim::SimResult result = test::two_unit_result();
  result.samples.clear();
  Vcd vcd = write_and_parse(result);
  EXPECT_EQ(vcd.variables.size(), 2 * result.units.size());
  EXPECT_EQ(vcd.real_at("clock_gpu_MHz", 0), 1300.5);
}

TEST(VcdWriter, InconsistentResultIsAnInternalError) {
  test::TempDir dir;
  sim::SimResult result = test::two_unit_result();
  result.samples[1].unit_freq_mhz.pop_back();
  EXPECT_THROW(traces::write_power_vcd(dir.file("power.vcd"), result), std::logic_error);
  result = test::two_unit_result();
  result.ops[0].start_s = -1e-3;
  EXPECT_THROW(traces::write_power_vcd(dir.file("power.vcd"), result), std::logic_error);
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace coda
