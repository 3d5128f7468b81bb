// ONNX export: the written ModelProto, and import(export(g)) == g for built, imported, prepared
// and conformance graphs.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <type_traits>

#include <onnx/onnx_pb.h>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph.h"
#include "kernels/onnx_export.h"
#include "kernels/onnx_import.h"
#include "kernels/op.h"
#include "tests/support/graph_runner.h"
#include "tests/support/temp_files.h"

namespace coda {
namespace {

// The copying test op of tests/support/graph_runner.h, under a name of this suite.
CODA_REGISTER_OP(CodaExportTestOp, test::CopyInputOp);
constexpr const char* kOp = "CodaExportTestOp";

std::string raw_bytes(const Tensor& t) { return std::string(static_cast<const char*>(t.raw()), t.bytes()); }

std::string value_name(const Graph& g, int id) {
  return id < 0 ? std::string("<omitted>") : g.values[static_cast<std::size_t>(id)].name;
}

bool tensors_identical(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && raw_bytes(a) == raw_bytes(b);
}

bool attributes_equal(const AttrValue& a, const AttrValue& b) {
  if (a.index() != b.index()) return false;
  // Floats compare by bits, so NaN payloads and signed zeros count.
  return std::visit(
      [&](const auto& va) {
        using T = std::decay_t<decltype(va)>;
        const T& vb = std::get<T>(b);
        if constexpr (std::is_same_v<T, Tensor>) {
          return tensors_identical(va, vb);
        } else if constexpr (std::is_same_v<T, float>) {
          return std::memcmp(&va, &vb, sizeof(float)) == 0;
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          return va.size() == vb.size() && std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
        } else {
          return va == vb;
        }
      },
      a);
}

// Structural equality by names (value ids may be numbered differently): nodes in order with their
// op, name, opset, input/output names and attributes; graph inputs with shapes and dtypes; graph
// outputs; and, bit for bit, every constant a node or output reads.
void expect_same_graph(const Graph& a, const Graph& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.inputs.size(), b.inputs.size());
  for (std::size_t i = 0; i < a.inputs.size(); ++i) {
    const Value& va = a.values[static_cast<std::size_t>(a.inputs[i])];
    const Value& vb = b.values[static_cast<std::size_t>(b.inputs[i])];
    EXPECT_EQ(va.name, vb.name);
    EXPECT_EQ(va.shape, vb.shape) << va.name;
    EXPECT_EQ(va.dtype, vb.dtype) << va.name;
    EXPECT_EQ(va.shape_known, vb.shape_known) << va.name;
  }
  ASSERT_EQ(a.outputs.size(), b.outputs.size());
  for (std::size_t i = 0; i < a.outputs.size(); ++i) EXPECT_EQ(value_name(a, a.outputs[i]), value_name(b, b.outputs[i]));
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  std::set<std::string> read;
  for (std::size_t n = 0; n < a.nodes.size(); ++n) {
    const Node& na = a.nodes[n];
    const Node& nb = b.nodes[n];
    SCOPED_TRACE(na.describe());
    EXPECT_EQ(na.name, nb.name);
    EXPECT_EQ(na.op_type, nb.op_type);
    EXPECT_EQ(na.opset, nb.opset);
    ASSERT_EQ(na.inputs.size(), nb.inputs.size());
    for (std::size_t i = 0; i < na.inputs.size(); ++i) {
      EXPECT_EQ(value_name(a, na.inputs[i]), value_name(b, nb.inputs[i]));
      if (na.inputs[i] >= 0) read.insert(value_name(a, na.inputs[i]));
    }
    ASSERT_EQ(na.outputs.size(), nb.outputs.size());
    for (std::size_t i = 0; i < na.outputs.size(); ++i) EXPECT_EQ(value_name(a, na.outputs[i]), value_name(b, nb.outputs[i]));
    ASSERT_EQ(na.attrs.all().size(), nb.attrs.all().size());
    for (const auto& entry : na.attrs.all()) {
      ASSERT_TRUE(nb.attrs.has(entry.first)) << entry.first;
      EXPECT_TRUE(attributes_equal(entry.second, nb.attrs.all().at(entry.first))) << entry.first;
    }
  }
  for (int id : a.outputs) read.insert(value_name(a, id));
  for (const std::string& name : read) {
    const Value& va = a.values[static_cast<std::size_t>(a.find_value(name))];
    int idb = b.find_value(name);
    ASSERT_GE(idb, 0) << name;
    const Value& vb = b.values[static_cast<std::size_t>(idb)];
    ASSERT_EQ(va.constant.has_value(), vb.constant.has_value()) << name;
    if (va.constant) {
      EXPECT_TRUE(tensors_identical(*va.constant, *vb.constant)) << name;
    }
  }
}

Graph round_trip(const Graph& g) { return import_onnx(export_onnx(g), "exported.onnx"); }

float bits_to_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// A graph built through the Graph API with everything export must carry.
Graph rich_graph() {
  Graph g;
  g.name = "rich";
  g.metadata["coda.preprocess"] = "pad=2;mean=0.286;std=0.353";
  g.metadata["empty"] = "";
  int x = g.value_id("x");
  g.values[static_cast<std::size_t>(x)].shape = {-1, 3, -1, 8};
  g.values[static_cast<std::size_t>(x)].shape_known = true;
  int mask = g.value_id("mask");
  g.values[static_cast<std::size_t>(mask)].dtype = DType::Int64;
  g.inputs = {x, mask};
  int w = g.add_constant("w", Tensor::from_floats({2, 3}, {0.0f, -0.0f, bits_to_float(0x7fc00001),
                                                          std::numeric_limits<float>::denorm_min(),
                                                          std::numeric_limits<float>::infinity(), 1.0f / 3.0f}));
  int axes = g.add_constant("axes", Tensor::from_int64({2}, {std::numeric_limits<int64_t>::min(), 7}));
  g.add_constant("unused", Tensor::from_floats({1}, {1.0f}));
  int a = g.value_id("a");
  int b = g.value_id("b");
  int c = g.value_id("c");
  Node& n0 = g.add_node(kOp, "n0", {x, w, -1, axes}, {a, -1});
  n0.opset = 13;
  n0.attrs.set("i", int64_t{-5});
  n0.attrs.set("f", 1e-5f);
  n0.attrs.set("s", std::string("NOTSET"));
  n0.attrs.set("ints", std::vector<int64_t>{1, 1, 0, 0});
  n0.attrs.set("floats", std::vector<float>{0.25f, -0.0f});
  n0.attrs.set("strings", std::vector<std::string>{"x", ""});
  n0.attrs.set("empty", std::vector<int64_t>{});
  n0.attrs.set("t", Tensor::from_int64({1, 2}, {3, 4}));
  Node& n1 = g.add_node(kOp, "n1", {a, mask}, {b});
  n1.opset = 13;
  Node& n2 = g.add_node(kOp, "n2", {b}, {c});
  n2.opset = 13;
  g.outputs = {c, w};  // a constant can be an output, too
  return g;
}

TEST(OnnxExport, RoundTripGivesTheSameGraph) {
  Graph g = rich_graph();
  Graph back = round_trip(g);
  expect_same_graph(g, back);
  // Exporting the re-imported graph again gives the same bytes: export is deterministic.
  EXPECT_EQ(export_onnx(back), export_onnx(round_trip(back)));
}

TEST(OnnxExport, WritesTheModelFields) {
  Graph graph = rich_graph();
  graph.nodes[1].opset = 11;  // ONNX has one opset per domain: the model declares the highest
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(export_onnx(graph)));
  EXPECT_EQ(m.ir_version(), 8);
  EXPECT_EQ(m.producer_name(), "coda");
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).domain(), "");
  EXPECT_EQ(m.opset_import(0).version(), 13);  // the highest node opset
  const onnx::GraphProto& g = m.graph();
  EXPECT_EQ(g.name(), "rich");

  std::set<std::string> initializers;
  for (const auto& t : g.initializer()) initializers.insert(t.name());
  EXPECT_EQ(initializers, (std::set<std::string>{"w", "axes"}));  // not "unused"

  ASSERT_EQ(g.input_size(), 2);
  const auto& shape = g.input(0).type().tensor_type().shape();
  ASSERT_EQ(shape.dim_size(), 4);
  EXPECT_EQ(shape.dim(0).dim_param(), "N");
  EXPECT_EQ(shape.dim(1).dim_value(), 3);
  EXPECT_EQ(shape.dim(2).dim_param(), "N_2");  // a second unknown size is not declared equal to the first
  EXPECT_EQ(g.input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  EXPECT_FALSE(g.input(1).type().tensor_type().has_shape());
  EXPECT_EQ(g.input(1).type().tensor_type().elem_type(), onnx::TensorProto::INT64);

  const onnx::NodeProto& n0 = g.node(0);
  EXPECT_EQ(n0.op_type(), kOp);
  ASSERT_EQ(n0.input_size(), 4);
  EXPECT_EQ(n0.input(2), "");
  ASSERT_EQ(n0.output_size(), 2);
  EXPECT_EQ(n0.output(1), "");
  std::map<std::string, onnx::AttributeProto::AttributeType> types;
  for (const auto& a : n0.attribute()) types[a.name()] = a.type();
  EXPECT_EQ(types["i"], onnx::AttributeProto::INT);
  EXPECT_EQ(types["f"], onnx::AttributeProto::FLOAT);
  EXPECT_EQ(types["s"], onnx::AttributeProto::STRING);
  EXPECT_EQ(types["ints"], onnx::AttributeProto::INTS);
  EXPECT_EQ(types["empty"], onnx::AttributeProto::INTS);
  EXPECT_EQ(types["floats"], onnx::AttributeProto::FLOATS);
  EXPECT_EQ(types["strings"], onnx::AttributeProto::STRINGS);
  EXPECT_EQ(types["t"], onnx::AttributeProto::TENSOR);
}

TEST(OnnxExport, GraphWithoutNodesUsesOpset17) {
  Graph g;
  int x = g.value_id("x");
  g.values[static_cast<std::size_t>(x)].shape = {2};
  g.values[static_cast<std::size_t>(x)].shape_known = true;
  g.inputs = {x};
  g.outputs = {x};
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(export_onnx(g)));
  EXPECT_EQ(m.opset_import(0).version(), 17);
  EXPECT_EQ(m.graph().name(), "coda");
  Graph back = import_onnx(export_onnx(g), "identity.onnx");
  ASSERT_EQ(back.inputs.size(), 1u);
  EXPECT_EQ(back.outputs, back.inputs);
}

TEST(OnnxExport, Float16ConstantsComeBackAsTheSameValuesInFloat32) {
  Graph g;
  int x = g.value_id("x");
  g.inputs = {x};
  Tensor half = Tensor::from_floats({3}, {1.0f, -2.5f, 65504.0f}).to(DType::Float16);
  int h = g.add_constant("h", half);
  int y = g.value_id("y");
  g.add_node(kOp, "", {x, h}, {y});  // an unnamed node gets a name on import
  g.outputs = {y};
  Graph back = round_trip(g);
  const Value& hb = back.values[static_cast<std::size_t>(back.find_value("h"))];
  ASSERT_TRUE(hb.constant);
  EXPECT_EQ(hb.constant->dtype(), DType::Float32);
  EXPECT_EQ(hb.constant->to_float_vector(), (std::vector<float>{1.0f, -2.5f, 65504.0f}));
  EXPECT_EQ(back.nodes[0].name, std::string(kOp) + "_0");
}

TEST(OnnxExport, PreparedGraphsCarryShapesOfOutputsAndIntermediates) {
  Graph g = rich_graph();
  g.outputs = {g.find_value("c")};
  bind_input_shapes(g, {{2, 3, 5, 8}, {4}});
  prepare_graph(g);
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(export_onnx(g)));
  ASSERT_EQ(m.graph().output_size(), 1);
  const auto& out = m.graph().output(0).type().tensor_type();
  ASSERT_TRUE(out.has_shape());
  ASSERT_EQ(out.shape().dim_size(), 4);
  EXPECT_EQ(out.shape().dim(2).dim_value(), 5);
  std::set<std::string> infos;
  for (const auto& vi : m.graph().value_info()) infos.insert(vi.name());
  EXPECT_EQ(infos, (std::set<std::string>{"a", "b"}));
  expect_same_graph(g, round_trip(g));
}

TEST(OnnxExport, ConformanceModelsRoundTrip) {
  const std::string root = std::string(CODA_SHARED_DIR) + "/onnx-conformance";
  DIR* dir = ::opendir(root.c_str());
  ASSERT_NE(dir, nullptr);
  int checked = 0;
  while (dirent* e = ::readdir(dir)) {
    if (std::strncmp(e->d_name, "test_", 5) != 0) continue;
    const std::string path = root + "/" + e->d_name + "/model.onnx";
    SCOPED_TRACE(path);
    Graph g;
    try {
      g = load_onnx(path);
    } catch (const BadInput& error) {
      // Ops not registered yet; the import test checks the message.
      continue;
    }
    expect_same_graph(g, round_trip(g));
    ++checked;
  }
  ::closedir(dir);
  std::cout << "[ info ] " << checked << " conformance models round-tripped\n";
}

TEST(OnnxExport, SaveWritesAtomicallyAndReportsFailures) {
  test::TempDir tmp("coda_onnx_export_");
  const std::string path = tmp.file("model.onnx");
  Graph g = rich_graph();
  save_onnx(g, path);
  expect_same_graph(g, load_onnx(path));
  // The target is a directory: nothing is written and no temporary file stays behind.
  const std::string blocked = tmp.file("blocked.onnx");
  ASSERT_EQ(::mkdir(blocked.c_str(), 0755), 0);
  try {
    save_onnx(g, blocked);
    ADD_FAILURE() << "no BadInput";
  } catch (const BadInput& error) {
    EXPECT_EQ(std::string(error.what()).rfind(blocked + ": cannot write: ", 0), 0u) << error.what();
  }
  EXPECT_EQ(tmp.entries(), (std::set<std::string>{"model.onnx", "blocked.onnx"}));
}

}  // namespace
}  // namespace coda
