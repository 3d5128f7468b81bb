// Per-layer timing logs (name, op_type, start, latency, optional unit/knob/clock/batch/network/
// features): defaults, units of time, repetitions, and every kind of bad row.
#include <gtest/gtest.h>

#include "kernels/approx/knob_catalog.h"
#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "traces/layer_timing_csv.h"

namespace coda {
namespace {

using test::expect_bad_input;

std::vector<sim::OpRecord> read_text(const test::TempDir& dir, const std::string& text) {
  test::write_bytes(dir.file("timing.csv"), text);
  return traces::read_layer_timing_csv(dir.file("timing.csv"));
}

TEST(LayerTimingCsv, ReadsMillisecondsDefaultsFeaturesAndRepetitions) {
  test::TempDir dir;
  std::vector<sim::OpRecord> layers = read_text(dir,
                                                "# board: jetson-tx2, nvpmodel 0\n"
                                                "# harness: cuda events\n"
                                                "name,op_type,start_ms,latency_ms,feature_in_channels,feature_macs\n"
                                                "conv1,Conv,0.25,1.5,3,118013952\n"
                                                "relu1,Relu,1.75,0.125,,\n"
                                                "conv1,Conv,10.25,1.25,3,118013952\n");
  ASSERT_EQ(layers.size(), 3u);
  const sim::OpRecord& conv = layers[0];
  EXPECT_EQ(conv.name, "conv1");
  EXPECT_EQ(conv.op_type, "Conv");
  EXPECT_EQ(conv.unit, "gpu");
  EXPECT_EQ(conv.knob, 11);
  EXPECT_EQ(conv.knob_name, knob_catalog().require(11).name);
  EXPECT_EQ(conv.batch, 1);
  EXPECT_EQ(conv.network, "");
  EXPECT_EQ(conv.freq_mhz, 0);
  EXPECT_EQ(conv.fidelity, "measured");
  EXPECT_DOUBLE_EQ(conv.start_s, 0.25e-3);
  EXPECT_DOUBLE_EQ(conv.latency_s, 1.5e-3);
  EXPECT_EQ(conv.features, (std::map<std::string, double>{{"in_channels", 3}, {"macs", 118013952}}));
  EXPECT_EQ(conv.macs, 118013952);
  EXPECT_TRUE(layers[1].features.empty());  // empty cells leave features out
  // A repetition is its own record of the same layer.
  EXPECT_EQ(layers[2].node, conv.node);
  EXPECT_NE(layers[1].node, conv.node);
  EXPECT_DOUBLE_EQ(layers[2].latency_s, 1.25e-3);
}

TEST(LayerTimingCsv, ReadsSecondsAndEveryOptionalColumn) {
  test::TempDir dir;
  const Knob& other = knob_catalog().knobs().back();
  std::vector<sim::OpRecord> layers =
      read_text(dir, "network, name, op_type, unit, knob, freq_mhz, batch, start_s, latency_s\n"
                     "resnet18, fc, Gemm, cpu, " + std::to_string(other.id) + ", 2035.2, 8, 1763719200.5, 0.002\n"
                     "lenet5, fc, Gemm, gpu, , , , 1763719201, 0.001\n");
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].network, "resnet18");
  EXPECT_EQ(layers[0].unit, "cpu");
  EXPECT_EQ(layers[0].knob, other.id);
  EXPECT_EQ(layers[0].knob_name, other.name);
  EXPECT_EQ(layers[0].freq_mhz, 2035.2);
  EXPECT_EQ(layers[0].batch, 8);
  EXPECT_EQ(layers[0].start_s, 1763719200.5);
  EXPECT_EQ(layers[0].latency_s, 0.002);
  // Empty optional cells take the defaults; the same name in another network is another layer.
  EXPECT_EQ(layers[1].knob, 11);
  EXPECT_EQ(layers[1].batch, 1);
  EXPECT_NE(layers[1].node, layers[0].node);
}

TEST(LayerTimingCsv, BadLogsNameTheFileLineAndColumn) {
  test::TempDir dir;
  const std::string path = dir.file("timing.csv");
  const std::string header = "name,op_type,start_ms,latency_ms,knob,batch,freq_mhz,feature_macs\n";
  auto expect_rejected = [&](const std::string& text, const std::vector<std::string>& fragments) {
    expect_bad_input([&] { read_text(dir, text); }, [&] {
      std::vector<std::string> with_path = fragments;
      with_path.insert(with_path.begin(), path);
      return with_path;
    }());
  };
  expect_rejected("", {"no header line"});
  expect_rejected("name,op_type,start_ms\n", {":1: missing column 'latency_s' (or 'latency_ms')"});
  expect_rejected("name,start_ms,latency_ms\n", {":1: missing column 'op_type'"});
  expect_rejected("name,op_type,start_ms,start_s,latency_ms\n", {":1: both 'start_s' and 'start_ms'"});
  expect_rejected("name,op_type,start_ms,latency_ms,colour\n", {":1: unknown column 'colour'"});
  expect_rejected("name,op_type,start_ms,latency_ms,name\n", {":1: column 'name' appears twice"});
  expect_rejected(header + "conv1,Conv,0,0,11,1,1300,5\n", {":2: latency_ms: zero or negative duration (0)"});
  expect_rejected(header + "conv1,Conv,0,-1,11,1,1300,5\n", {":2: latency_ms: zero or negative duration (-1)"});
  expect_rejected(header + "conv1,Conv,0,nan,11,1,1300,5\n", {":2: latency_ms: not a number ('nan')"});
  expect_rejected(header + "conv1,Conv,inf,1,11,1,1300,5\n", {":2: start_ms: not a number ('inf')"});
  expect_rejected(header + "conv1,Conv,,1,11,1,1300,5\n", {":2: start_ms: not a number ('')"});
  expect_rejected(header + ",Conv,0,1,11,1,1300,5\n", {":2: name: empty"});
  expect_rejected(header + "conv1,,0,1,11,1,1300,5\n", {":2: op_type: empty"});
  expect_rejected(header + "conv1,Conv,0,1,99999,1,1300,5\n", {":2: knob: unknown knob id 99999"});
  expect_rejected(header + "conv1,Conv,0,1,11.5,1,1300,5\n", {":2: knob: not an integer"});
  expect_rejected(header + "conv1,Conv,0,1,11,0,1300,5\n", {":2: batch: out of range"});
  expect_rejected(header + "conv1,Conv,0,1,11,1,0,5\n", {":2: freq_mhz: not positive"});
  expect_rejected(header + "conv1,Conv,0,1,11,1,1300,many\n", {":2: feature_macs: not a number ('many')"});
  expect_rejected(header + "conv1,Conv,0,1,11,1,1300\n", {":2: 7 cells where the header has 8"});
  expect_rejected("# comment\n" + header + "conv1,Conv,0,1,11,1,1300,5\nconv2,Conv,1,0,11,1,1300,5\n",
                  {":4: latency_ms: zero or negative"});
  expect_bad_input([&] { traces::read_layer_timing_csv(dir.file("absent.csv")); }, {dir.file("absent.csv")});
}

}  // namespace
}  // namespace coda
