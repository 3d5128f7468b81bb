#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

#include "tests/support/temp_files.h"
#include "tests/traces/sample_results.h"
#include "traces/chrome_trace.h"

namespace coda {
namespace {

using nlohmann::json;

json write_and_parse(const sim::SimResult& result) {
  test::TempDir dir;
  traces::write_chrome_trace(dir.file("trace.json"), result);
  return json::parse(test::read_bytes(dir.file("trace.json")));
}

std::map<int, std::string> process_names(const json& trace) {
  std::map<int, std::string> names;
  for (const json& event : trace.at("traceEvents"))
    if (event.at("ph") == "M" && event.at("name") == "process_name")
      names[event.at("pid").get<int>()] = event.at("args").at("name").get<std::string>();
  return names;
}

std::vector<json> events_named(const json& trace, const std::string& phase, const std::string& name) {
  std::vector<json> found;
  for (const json& event : trace.at("traceEvents"))
    if (event.at("ph") == phase && event.at("name") == name) found.push_back(event);
  return found;
}

TEST(ChromeTrace, IsTheJsonObjectFormWithMetadata) {
  const sim::SimResult result = test::two_unit_result();
  json trace = write_and_parse(result);
  ASSERT_TRUE(trace.at("traceEvents").is_array());
  EXPECT_EQ(trace.at("displayTimeUnit"), "ns");
  EXPECT_EQ(trace.at("metadata").at("platform"), result.platform);
  EXPECT_EQ(trace.at("metadata").at("model"), result.model);
  EXPECT_EQ(trace.at("metadata").at("latency_s").get<double>(), result.latency_s);
  // Every event belongs to a named process.
  std::map<int, std::string> names = process_names(trace);
  for (const json& event : trace.at("traceEvents")) {
    ASSERT_TRUE(event.contains("ph") && event.contains("pid")) << event.dump();
    EXPECT_EQ(names.count(event.at("pid").get<int>()), 1u) << event.dump();
  }
  std::set<std::string> processes;
  for (const auto& entry : names) processes.insert(entry.second);
  EXPECT_EQ(processes, (std::set<std::string>{"gpu", "promise", "soc"}));
}

TEST(ChromeTrace, OneCompleteEventPerOpOnItsUnitsProcess) {
  const sim::SimResult result = test::two_unit_result();
  json trace = write_and_parse(result);
  std::map<int, std::string> names = process_names(trace);
  std::vector<json> complete;
  for (const json& event : trace.at("traceEvents"))
    if (event.at("ph") == "X") complete.push_back(event);
  ASSERT_EQ(complete.size(), result.ops.size());
  for (const sim::OpRecord& op : result.ops) {
    SCOPED_TRACE(op.name);
    auto event = std::find_if(complete.begin(), complete.end(),
                              [&](const json& e) { return e.at("args").at("node") == op.node; });
    ASSERT_NE(event, complete.end());
    EXPECT_EQ(event->at("name"), op.name);
    EXPECT_EQ(event->at("cat"), op.op_type);
    EXPECT_DOUBLE_EQ(event->at("ts").get<double>(), op.start_s * 1e6);  // microseconds
    EXPECT_DOUBLE_EQ(event->at("dur").get<double>(), op.latency_s * 1e6);
    EXPECT_EQ(names.at(event->at("pid").get<int>()), op.unit);
    const json& args = event->at("args");
    EXPECT_EQ(args.at("knob"), op.knob);
    EXPECT_EQ(args.at("energy_j").get<double>(), op.energy_j);
    EXPECT_EQ(args.at("macs").get<int64_t>(), op.macs);
    EXPECT_EQ(args.at("dram_bytes").get<int64_t>(), op.dram_bytes);
    EXPECT_EQ(args.at("freq_mhz").get<double>(), op.freq_mhz);
  }
}

TEST(ChromeTrace, OverlappingOpsOnAUnitGoToSeparateThreads) {
  sim::SimResult result = test::two_unit_result();
  // A second GPU stream: an op that starts while conv1 and relu1 run.
  result.ops.push_back(test::sample_op(4, "conv1_b", "Conv", "gpu", 0.2e-3, 0.5e-3, 1300.5));
  json trace = write_and_parse(result);
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> by_thread;
  for (const json& event : trace.at("traceEvents"))
    if (event.at("ph") == "X")
      by_thread[{event.at("pid").get<int>(), event.at("tid").get<int>()}].emplace_back(
          event.at("ts").get<double>(), event.at("ts").get<double>() + event.at("dur").get<double>());
  EXPECT_EQ(by_thread.size(), 3u);  // gpu's two threads and promise's one
  for (auto& [thread, spans] : by_thread) {
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i)
      EXPECT_LE(spans[i - 1].second, spans[i].first) << "pid " << thread.first << " tid " << thread.second;
  }
}

TEST(ChromeTrace, CountersFollowEverySampleAndClockChange) {
  const sim::SimResult result = test::two_unit_result();
  json trace = write_and_parse(result);
  for (std::size_t r = 0; r < result.rails.size(); ++r) {
    std::vector<json> power = events_named(trace, "C", "power " + result.rails[r]);
    ASSERT_EQ(power.size(), result.samples.size()) << result.rails[r];
    for (std::size_t s = 0; s < power.size(); ++s) {
      const sim::PowerSample& sample = result.samples[s];
      // The window's average holds from the window's start.
      EXPECT_DOUBLE_EQ(power[s].at("ts").get<double>(), (sample.time_s - sample.window_s) * 1e6);
      EXPECT_EQ(power[s].at("args").at("W").get<double>(), sample.rail_w[r]);
    }
  }
  for (std::size_t z = 0; z < result.zones.size(); ++z) {
    std::vector<json> temperature = events_named(trace, "C", "temperature " + result.zones[z]);
    ASSERT_EQ(temperature.size(), result.samples.size()) << result.zones[z];
    for (std::size_t s = 0; s < temperature.size(); ++s) {
      EXPECT_DOUBLE_EQ(temperature[s].at("ts").get<double>(), result.samples[s].time_s * 1e6);
      EXPECT_EQ(temperature[s].at("args").at("C").get<double>(), result.samples[s].zone_c[z]);
    }
  }
  // The fixture's clocks: gpu starts at 1300.5 MHz and the governor drops it to 900 at 2.1 ms;
  // promise never changes, so it shows the 1000 MHz its op ran at, from time 0.
  std::map<int, std::string> names = process_names(trace);
  std::map<std::string, std::vector<std::pair<double, double>>> clocks;
  for (const json& event : events_named(trace, "C", "clock"))
    clocks[names.at(event.at("pid").get<int>())].emplace_back(event.at("ts").get<double>(),
                                                              event.at("args").at("MHz").get<double>());
  using Steps = std::vector<std::pair<double, double>>;
  EXPECT_EQ(clocks["gpu"], (Steps{{0.0, 1300.5}, {2.1e-3 * 1e6, 900.0}}));
  EXPECT_EQ(clocks["promise"], (Steps{{0.0, 1000.0}}));
  std::vector<json> dvfs = events_named(trace, "i", "DVFS");
  ASSERT_EQ(dvfs.size(), result.dvfs_events.size());
  EXPECT_EQ(dvfs[1].at("args").at("cause"), "governor");
}

TEST(ChromeTrace, InconsistentResultIsAnInternalError) {
  test::TempDir dir;
  sim::SimResult result = test::two_unit_result();
  result.samples[0].zone_c.push_back(41.0);
  EXPECT_THROW(traces::write_chrome_trace(dir.file("trace.json"), result), std::logic_error);
  result = test::two_unit_result();
  result.dvfs_events[1].time_s = -1;
  EXPECT_THROW(traces::write_chrome_trace(dir.file("trace.json"), result), std::logic_error);
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace coda
