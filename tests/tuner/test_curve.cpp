// Tradeoff curves: the JSON round trip, every malformed field, model mismatch detection and the
// HPVM/ApproxTuner export, checked line by line.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kernels/error.h"
#include "tuner/curve.h"

namespace coda::tuner {
namespace {

using nlohmann::json;

// conv1 -> relu -> maxpool -> flatten -> fc1 -> relu -> fc2 -> bias add: the shape of LeNet's tail.
Graph small_network() {
  Graph graph;
  graph.name = "small";
  int x = graph.value_id("x");
  graph.inputs.push_back(x);
  auto constant = [&](const std::string& name) { return graph.add_constant(name, Tensor(Shape{1})); };
  int conv_out = graph.value_id("conv1_out"), relu_out = graph.value_id("relu1_out"), pool_out = graph.value_id("pool_out");
  int flat = graph.value_id("flat"), fc1_out = graph.value_id("fc1_out"), relu2_out = graph.value_id("relu2_out");
  int fc2_out = graph.value_id("fc2_out"), y = graph.value_id("y");
  graph.add_node("Conv", "conv1", {x, constant("w1"), constant("b1")}, {conv_out});
  graph.add_node("Relu", "conv1.relu", {conv_out}, {relu_out});
  graph.add_node("MaxPool", "pool1", {relu_out}, {pool_out});
  graph.add_node("Flatten", "flatten", {pool_out}, {flat});
  graph.add_node("Gemm", "fc1", {flat, constant("w2"), constant("b2")}, {fc1_out});
  graph.add_node("Relu", "fc1.relu", {fc1_out}, {relu2_out});
  graph.add_node("MatMul", "fc2", {relu2_out, constant("w3")}, {fc2_out});
  graph.add_node("Add", "fc2.bias", {fc2_out, constant("b3")}, {y});
  graph.outputs.push_back(y);
  return graph;
}

std::vector<std::string> node_names(const Graph& graph) {
  std::vector<std::string> names;
  for (const Node& node : graph.nodes) names.push_back(node.name);
  return names;
}

Curve two_point_curve() {
  Curve curve;
  curve.model = "small.onnx";
  curve.op_names = node_names(small_network());
  curve.data = "fashion-mnist:test";
  curve.phase = "install";
  curve.objective = "speed";
  curve.cost_model = "sim";
  curve.platform = "tx2";
  curve.tuning = "p2";
  curve.qos_metric = "accuracy";
  curve.qos_unit = "%";
  curve.threshold = "1 point";
  curve.max_loss = 1.0;
  curve.baseline_qos_calibration = 90.25;
  curve.baseline_qos_test = 90.5;
  curve.baseline_latency = 0.002;
  curve.baseline_energy = std::numeric_limits<double>::quiet_NaN();
  curve.tuning_seconds = 12.5;
  curve.evaluations = 321;

  CurvePoint first;
  first.name = "conf1";
  first.predicted_qos = 89.5;
  first.qos_calibration = 89.75;
  first.qos_test = 89.25;
  first.speedup = 1.5;
  first.energy_reduction = std::numeric_limits<double>::quiet_NaN();
  first.latency = 0.002 / 1.5;
  first.energy = std::numeric_limits<double>::quiet_NaN();
  first.config = ApproxConfig::parse(R"({"default": {"knob": 12}, "ops": {"conv1": {"knob": 155}}})", "conf1");

  CurvePoint second;
  second.name = "conf2";
  second.predicted_qos = 88.0;
  second.qos_calibration = 88.25;
  second.qos_test = 88.5;
  second.speedup = 2.5;
  second.energy_reduction = 3.0;
  second.latency = 0.0008;
  second.energy = 0.001;
  second.config = ApproxConfig::parse(
      R"({"default": {"knob": 12}, "ops": {"conv1": {"knob": 261}, "fc1": {"knob": 3}},
          "ranges": {"fc1": {"input": [-1.5, 4.0], "output": [-8.0, 9.0]}}})",
      "conf2");
  curve.points = {first, second};
  return curve;
}

TEST(Curve, JsonRoundTripKeepsEveryFieldAndNan) {
  const Curve curve = two_point_curve();
  const std::string text = curve.to_json();
  const Curve back = Curve::parse(text, "c.json");
  EXPECT_EQ(back.model, curve.model);
  EXPECT_EQ(back.op_names, curve.op_names);
  EXPECT_EQ(back.data, curve.data);
  EXPECT_EQ(back.phase, "install");
  EXPECT_EQ(back.tuning, "p2");
  EXPECT_EQ(back.qos_unit, "%");
  EXPECT_TRUE(back.higher_is_better);
  EXPECT_EQ(back.threshold, "1 point");
  EXPECT_EQ(back.baseline_qos_calibration, 90.25);
  EXPECT_EQ(back.baseline_latency, 0.002);
  EXPECT_TRUE(std::isnan(back.baseline_energy));
  EXPECT_EQ(back.evaluations, 321);
  ASSERT_EQ(back.points.size(), 2u);
  EXPECT_EQ(back.points[0].latency, 0.002 / 1.5);  // doubles survive exactly
  EXPECT_TRUE(std::isnan(back.points[0].energy_reduction));
  EXPECT_TRUE(std::isnan(back.points[0].energy));
  EXPECT_EQ(back.points[1].energy_reduction, 3.0);
  EXPECT_EQ(back.points[1].config.ops.at("fc1").knob, 3);
  EXPECT_EQ(back.points[1].config.ranges.at("fc1").input.high, 4.0f);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(back.points[i].config.to_json(), curve.points[i].config.to_json());
  // A second round trip writes the same bytes.
  EXPECT_EQ(back.to_json(), text);

  const json doc = json::parse(text);
  EXPECT_EQ(doc["format"], "coda-curve");
  EXPECT_EQ(doc["version"], 1);
  EXPECT_TRUE(doc["points"][0]["energy"].is_null());
  EXPECT_TRUE(doc["baseline_energy"].is_null());
  // The configuration is embedded in the --config form, so it can be cut out and used directly.
  EXPECT_EQ(doc["points"][0]["config"]["ops"]["conv1"]["knob"], 155);
}

// Each case changes the valid document and names what the error must say.
struct Malformed {
  std::string what;
  std::function<void(json&)> change;
  std::string message;
};

TEST(Curve, EveryMalformedFieldIsRejectedNamingTheSourceAndField) {
  const std::vector<Malformed> cases = {
      {"other format", [](json& d) { d["format"] = "coda-config"; }, "not a coda curve"},
      {"no format", [](json& d) { d.erase("format"); }, "not a coda curve"},
      {"version", [](json& d) { d["version"] = 2; }, "unsupported curve version 2"},
      {"unknown field", [](json& d) { d["speed"] = 1; }, "unknown field 'speed'"},
      {"missing model", [](json& d) { d.erase("model"); }, "missing field 'model'"},
      {"model type", [](json& d) { d["model"] = 3; }, "\"model\" must be a string"},
      {"op_names empty", [](json& d) { d["op_names"] = json::array(); }, "\"op_names\" must be a non-empty list"},
      {"op_names type", [](json& d) { d["op_names"][1] = 7; }, "\"op_names\" must hold non-empty strings"},
      {"phase", [](json& d) { d["phase"] = "runtime"; }, "\"phase\" is 'runtime' (expected dev, install)"},
      {"objective", [](json& d) { d["objective"] = "latency"; }, "\"objective\" is 'latency'"},
      {"tuning", [](json& d) { d["tuning"] = "p3"; }, "\"tuning\" is 'p3' (expected empirical, p1, p2)"},
      {"higher_is_better", [](json& d) { d["higher_is_better"] = "yes"; }, "\"higher_is_better\" must be true or false"},
      {"max_loss", [](json& d) { d["max_loss"] = -1; }, "\"max_loss\" must not be negative"},
      {"baseline latency", [](json& d) { d["baseline_latency"] = 0; }, "\"baseline_latency\" must be positive"},
      {"baseline qos", [](json& d) { d["baseline_qos_test"] = nullptr; }, "\"baseline_qos_test\" must be a number"},
      {"evaluations", [](json& d) { d["evaluations"] = -2; }, "\"evaluations\" must be a non-negative integer"},
      {"points type", [](json& d) { d["points"] = json::object(); }, "\"points\" must be a list"},
      {"point type", [](json& d) { d["points"][1] = 5; }, "points[1]: must be an object"},
      {"point missing", [](json& d) { d["points"][0].erase("qos_test"); }, "points[0]: missing field 'qos_test'"},
      {"point unknown", [](json& d) { d["points"][1]["knobs"] = 1; }, "points[1]: unknown field 'knobs'"},
      {"point name", [](json& d) { d["points"][0]["name"] = ""; }, "points[0]: \"name\" must not be empty"},
      {"duplicate name", [](json& d) { d["points"][1]["name"] = "conf1"; }, "points[1]: name 'conf1' is used twice"},
      {"speedup zero", [](json& d) { d["points"][0]["speedup"] = 0; }, "points[0]: \"speedup\" must be positive"},
      {"speedup null", [](json& d) { d["points"][0]["speedup"] = nullptr; }, "points[0]: \"speedup\" must be a number"},
      {"energy type", [](json& d) { d["points"][1]["energy"] = "x"; }, "points[1]: \"energy\" must be a number or null"},
      {"qos type", [](json& d) { d["points"][1]["qos_test"] = "88"; }, "points[1]: \"qos_test\" must be a number"},
      {"config type", [](json& d) { d["points"][0]["config"] = 12; }, "points[0]: \"config\" must be a configuration object"},
      {"config field", [](json& d) { d["points"][1]["config"]["knobs"] = 1; }, "points[1].config: unknown field 'knobs'"},
  };
  const json valid = json::parse(two_point_curve().to_json());
  for (const Malformed& c : cases) {
    json doc = valid;
    c.change(doc);
    try {
      Curve::parse(doc.dump(), "c.json");
      ADD_FAILURE() << c.what << ": accepted";
    } catch (const BadInput& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("c.json: ", 0), 0u) << c.what << ": " << message;
      EXPECT_NE(message.find(c.message), std::string::npos) << c.what << ": " << message;
    }
  }
  EXPECT_THROW(Curve::parse("{not json", "c.json"), BadInput);
  EXPECT_THROW(Curve::parse("[1, 2]", "c.json"), BadInput);
}

TEST(Curve, CheckMatchesDetectsRenamedAndMissingOps) {
  const Curve curve = two_point_curve();
  Graph graph = small_network();
  EXPECT_NO_THROW(curve.check_matches(graph, "c.json"));

  graph.nodes[4].name = "dense1";
  try {
    curve.check_matches(graph, "c.json");
    ADD_FAILURE() << "a renamed op was accepted";
  } catch (const BadInput& e) {
    EXPECT_STREQ(e.what(),
                 "c.json: curve was tuned for small.onnx, whose ops differ from small's (op 4 is 'fc1' in the curve "
                 "but 'dense1' in the model)");
  }
  Graph shorter = small_network();
  shorter.nodes.pop_back();
  try {
    curve.check_matches(shorter, "c.json");
    ADD_FAILURE() << "a missing op was accepted";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("(8 ops in the curve, 7 in the model)"), std::string::npos) << e.what();
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Curve, HpvmExportOfTwoPointsLineByLine) {
  // Layers as HPVM fuses them: conv + relu + pool, fc1 (Gemm) + relu, fc2 (MatMul) + bias add;
  // the flatten gets no line. Knob names are HPVM's for the catalog's families; PROMISE lines
  // carry the swing level. The energy column is 1 where the curve has no energy figure.
  const std::vector<std::string> expected = {
      "2",
      "+++++",
      "conf0 1 1 90.5 0",
      "1 gpu conv fp32 11 relu fp32 11 pool_max fp32 11",
      "2 gpu mul fp32 11 relu fp32 11",
      "3 gpu mul fp32 11 add fp32 11",
      "-----",
      "+++++",
      "conf1 1.5 1 89.25 1.25",
      "1 gpu conv perf_fp16 155 relu fp16 12 pool_max fp16 12",
      "2 gpu mul fp16 12 relu fp16 12",
      "3 gpu mul fp16 12 add fp16 12",
      "-----",
      "+++++",
      "conf2 2.5 3 88.5 2",
      "1 gpu conv samp_fp16 261 relu fp16 12 pool_max fp16 12",
      "2 promise mul swing_level 3 relu fp16 12",
      "3 gpu mul fp16 12 add fp16 12",
      "-----",
  };
  const std::vector<std::string> lines = lines_of(to_hpvm_config(two_point_curve(), small_network()));
  ASSERT_EQ(lines.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) EXPECT_EQ(lines[i], expected[i]) << "line " << i + 1;
}

TEST(Curve, HpvmExportRefusesAnotherModel) {
  Graph graph = small_network();
  graph.nodes[0].name = "conv0";
  EXPECT_THROW(to_hpvm_config(two_point_curve(), graph), BadInput);
}

}  // namespace
}  // namespace coda::tuner
