// ONNX import: validation of what protobuf accepts, opsets, attributes, initializers, inputs,
// unsupported ops, and every model of the ONNX conformance set.
#include <gtest/gtest.h>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>

#include <onnx/onnx_pb.h>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/graph.h"
#include "kernels/onnx_import.h"
#include "kernels/onnx_tensor.h"
#include "kernels/op.h"
#include "kernels/tensor_io.h"
#include "tests/support/bad_input.h"
#include "tests/support/graph_runner.h"
#include "tests/support/temp_files.h"

namespace coda {
namespace {

// The copying test op (tests/support/graph_runner.h), so these tests do not depend on which real
// kernels exist yet.
CODA_REGISTER_OP(CodaImportTestOp, test::CopyInputOp);
constexpr const char* kOp = "CodaImportTestOp";

using test::expect_bad_input;
using test::TempDir;
using test::write_bytes;

// --- a minimal model writer over the protobuf API ----------------------------------------------

onnx::ModelProto make_model(int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.set_producer_name("test");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

// dims: >= 0 fixed, -1 symbolic ("batch"), -2 a dim with neither value nor name.
void add_input(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims,
               int32_t elem_type = onnx::TensorProto::FLOAT) {
  auto* in = m.mutable_graph()->add_input();
  in->set_name(name);
  auto* t = in->mutable_type()->mutable_tensor_type();
  t->set_elem_type(elem_type);
  auto* shape = t->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d >= 0) dim->set_dim_value(d);
    else if (d == -1) dim->set_dim_param("batch");
  }
}

void add_output(onnx::ModelProto& m, const std::string& name) {
  auto* out = m.mutable_graph()->add_output();
  out->set_name(name);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
}

onnx::NodeProto& add_node(onnx::ModelProto& m, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs, const std::string& name = "",
                          const std::string& op_type = kOp) {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op_type);
  n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return *n;
}

onnx::TensorProto float_tensor(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<float>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  return t;
}

// x -> op -> y with a weight initializer; the reference model most tests vary.
onnx::ModelProto simple_model(int64_t opset = 13) {
  onnx::ModelProto m = make_model(opset);
  add_input(m, "x", {-1, 3, 4, 4});
  *m.mutable_graph()->add_initializer() = float_tensor("w", {3}, {1, 2, 3});
  add_node(m, {"x", "w"}, {"y"}, "first");
  add_output(m, "y");
  return m;
}

Graph import_model(const onnx::ModelProto& m, const std::string& source = "model.onnx") {
  return import_onnx(m.SerializeAsString(), source, ".");
}

const Value& value_named(const Graph& g, const std::string& name) {
  int id = g.find_value(name);
  if (id < 0) throw std::runtime_error("no value " + name);
  return g.values[static_cast<std::size_t>(id)];
}

// --- basic structure ---------------------------------------------------------------------------

TEST(OnnxImport, ReadsInputsInitializersNodesAndOutputs) {
  onnx::ModelProto m = make_model(11);
  add_input(m, "image", {-1, 3, -2, 224});
  add_input(m, "ids", {5}, onnx::TensorProto::INT32);
  add_input(m, "half", {2}, onnx::TensorProto::FLOAT16);
  // IR version 3 style: the weight is listed as an input too; it must not become one.
  add_input(m, "w", {3});
  auto* no_shape = m.mutable_graph()->add_input();
  no_shape->set_name("free");
  no_shape->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  *m.mutable_graph()->add_initializer() = float_tensor("w", {3}, {0.5f, -1.0f, 2.0f});
  add_node(m, {"image", "w"}, {"a"}, "conv_like");
  add_node(m, {"a", "", "ids"}, {"b", ""});  // omitted input and output
  add_output(m, "b");

  Graph g = import_model(m);
  EXPECT_EQ(g.name, "g");
  ASSERT_EQ(g.inputs.size(), 4u);
  const Value& image = g.values[static_cast<std::size_t>(g.inputs[0])];
  EXPECT_EQ(image.name, "image");
  EXPECT_EQ(image.shape, (Shape{-1, 3, -1, 224}));
  EXPECT_TRUE(image.shape_known);
  EXPECT_EQ(image.dtype, DType::Float32);
  const Value& ids = g.values[static_cast<std::size_t>(g.inputs[1])];
  EXPECT_EQ(ids.dtype, DType::Int64);
  EXPECT_EQ(ids.shape, (Shape{5}));
  EXPECT_EQ(g.values[static_cast<std::size_t>(g.inputs[2])].dtype, DType::Float32);
  const Value& free = g.values[static_cast<std::size_t>(g.inputs[3])];
  EXPECT_EQ(free.name, "free");
  EXPECT_FALSE(free.shape_known);
  EXPECT_TRUE(free.shape.empty());

  const Value& w = value_named(g, "w");
  ASSERT_TRUE(w.constant.has_value());
  EXPECT_EQ(w.constant->to_float_vector(), (std::vector<float>{0.5f, -1.0f, 2.0f}));
  EXPECT_EQ(w.shape, (Shape{3}));

  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].name, "conv_like");
  EXPECT_EQ(g.nodes[1].name, std::string(kOp) + "_1");
  for (const Node& n : g.nodes) EXPECT_EQ(n.opset, 11);
  EXPECT_EQ(g.nodes[1].inputs[1], -1);
  EXPECT_EQ(g.nodes[1].inputs[2], g.inputs[1]);
  ASSERT_EQ(g.nodes[1].outputs.size(), 2u);
  EXPECT_EQ(g.nodes[1].outputs[1], -1);
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.values[static_cast<std::size_t>(g.outputs[0])].name, "b");
}

TEST(OnnxImport, SortsNodesTopologically) {
  onnx::ModelProto m = make_model();
  add_input(m, "x", {2});
  add_node(m, {"b"}, {"c"}, "third");
  add_node(m, {"a"}, {"b"}, "second");
  add_node(m, {"x"}, {"a"}, "first");
  add_output(m, "c");
  Graph g = import_model(m);
  ASSERT_EQ(g.nodes.size(), 3u);
  EXPECT_EQ(g.nodes[0].name, "first");
  EXPECT_EQ(g.nodes[1].name, "second");
  EXPECT_EQ(g.nodes[2].name, "third");
}

TEST(OnnxImport, SynthesizedNamesAreUnique) {
  onnx::ModelProto m = make_model();
  add_input(m, "x", {2});
  add_node(m, {"x"}, {"a"});  // would be "CodaImportTestOp_0"
  add_node(m, {"a"}, {"b"}, std::string(kOp) + "_0");
  add_node(m, {"b"}, {"c"});
  add_output(m, "c");
  Graph g = import_model(m);
  std::set<std::string> names;
  for (const Node& n : g.nodes) names.insert(n.name);
  EXPECT_EQ(names.size(), 3u);
  EXPECT_TRUE(names.count(std::string(kOp) + "_0"));
  EXPECT_TRUE(names.count(std::string(kOp) + "_2"));
}

TEST(OnnxImport, ConvertsEveryAttributeKind) {
  onnx::ModelProto m = simple_model();
  onnx::NodeProto& n = *m.mutable_graph()->mutable_node(0);
  auto attr = [&](const std::string& name, onnx::AttributeProto::AttributeType type) {
    auto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  attr("i", onnx::AttributeProto::INT)->set_i(-(1LL << 40));
  attr("f", onnx::AttributeProto::FLOAT)->set_f(0.125f);
  attr("s", onnx::AttributeProto::STRING)->set_s("SAME_UPPER");
  auto* ints = attr("ints", onnx::AttributeProto::INTS);
  for (int64_t v : {1, -2, 3}) ints->add_ints(v);
  auto* floats = attr("floats", onnx::AttributeProto::FLOATS);
  for (float v : {0.5f, -1.5f}) floats->add_floats(v);
  auto* strings = attr("strings", onnx::AttributeProto::STRINGS);
  strings->add_strings("a");
  strings->add_strings("bc");
  *attr("t", onnx::AttributeProto::TENSOR)->mutable_t() = float_tensor("", {2}, {7, 8});
  attr("empty_ints", onnx::AttributeProto::INTS);
  // IR version 1 style: no type, the value field tells.
  auto* untyped = n.add_attribute();
  untyped->set_name("old");
  untyped->set_i(4);

  Graph g = import_model(m);
  const Attributes& a = g.nodes[0].attrs;
  EXPECT_EQ(a.get_int("i", 0), -(1LL << 40));
  EXPECT_EQ(a.get_float("f", 0), 0.125f);
  EXPECT_EQ(a.get_string("s", ""), "SAME_UPPER");
  EXPECT_EQ(a.get_ints("ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(a.get_floats("floats"), (std::vector<float>{0.5f, -1.5f}));
  EXPECT_EQ(std::get<std::vector<std::string>>(a.all().at("strings")), (std::vector<std::string>{"a", "bc"}));
  ASSERT_NE(a.get_tensor("t"), nullptr);
  EXPECT_EQ(a.get_tensor("t")->to_float_vector(), (std::vector<float>{7, 8}));
  ASSERT_TRUE(a.has("empty_ints"));
  EXPECT_TRUE(a.get_ints("empty_ints", {9}).empty());
  EXPECT_EQ(a.get_int("old", 0), 4);
}

TEST(OnnxImport, RejectsGraphAttributesAndBadAttributeTensors) {
  onnx::ModelProto m = simple_model();
  auto* g_attr = m.mutable_graph()->mutable_node(0)->add_attribute();
  g_attr->set_name("then_branch");
  g_attr->set_type(onnx::AttributeProto::GRAPH);
  g_attr->mutable_g()->set_name("sub");
  expect_bad_input([&] { import_model(m); }, {"model.onnx: node 'first'", "then_branch", "subgraph"});

  m = simple_model();
  auto* t_attr = m.mutable_graph()->mutable_node(0)->add_attribute();
  t_attr->set_name("value");
  t_attr->set_type(onnx::AttributeProto::TENSOR);
  *t_attr->mutable_t() = float_tensor("v", {4}, {1, 2, 3});
  expect_bad_input([&] { import_model(m); }, {"model.onnx: node 'first'", "'value'", "tensor 'v'"});
}

TEST(OnnxImport, ReadsSparseInitializers) {
  onnx::ModelProto m = simple_model();
  m.mutable_graph()->clear_initializer();
  auto* sparse = m.mutable_graph()->add_sparse_initializer();
  sparse->add_dims(3);
  *sparse->mutable_values() = float_tensor("w", {1}, {5});
  auto* idx = sparse->mutable_indices();
  idx->set_data_type(onnx::TensorProto::INT64);
  idx->add_dims(1);
  idx->add_int64_data(2);
  Graph g = import_model(m);
  EXPECT_EQ(value_named(g, "w").constant->to_float_vector(), (std::vector<float>{0, 0, 5}));
}

TEST(OnnxImport, LoadsExternalDataNextToTheModel) {
  TempDir dir;
  onnx::ModelProto m = simple_model();
  onnx::TensorProto* w = m.mutable_graph()->mutable_initializer(0);
  const std::vector<float> values = {4, 5, 6};
  write_bytes(dir.file("weights.data"),
              std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
  w->clear_raw_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = w->add_external_data();
  loc->set_key("location");
  loc->set_value("weights.data");
  write_bytes(dir.file("model.onnx"), m.SerializeAsString());
  Graph g = load_onnx(dir.file("model.onnx"));
  EXPECT_EQ(value_named(g, "w").constant->to_float_vector(), values);

  ::unlink(dir.file("weights.data").c_str());
  expect_bad_input([&] { load_onnx(dir.file("model.onnx")); }, {dir.file("model.onnx") + ": ", "weights.data"});
}

// --- opsets and op support ---------------------------------------------------------------------

TEST(OnnxImport, AcceptsOpsetsSixToEighteenOnly) {
  for (int64_t opset : {6, 7, 13, 17, 18}) EXPECT_EQ(import_model(simple_model(opset)).nodes[0].opset, opset);
  for (int64_t opset : {1, 5, 19, 100})
    expect_bad_input([&] { import_model(simple_model(opset)); },
                     {"model.onnx: opset " + std::to_string(opset) + " is not supported", "6-18"});
  // "ai.onnx" is the default domain's other spelling; other domains' opsets do not matter.
  onnx::ModelProto m = simple_model();
  m.mutable_opset_import(0)->set_domain("ai.onnx");
  auto* ml = m.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(3);
  EXPECT_EQ(import_model(m).nodes[0].opset, 13);
  // No default-domain opset while default-domain nodes exist.
  m.mutable_opset_import(0)->set_domain("com.example");
  expect_bad_input([&] { import_model(m); }, {"not a valid ONNX model", "default domain"});
}

TEST(OnnxImport, RejectsUnsupportedOpsNamingAllOfThem) {
  onnx::ModelProto m = simple_model();
  add_node(m, {"y"}, {"z1"}, "lstm_1", "NoSuchOpLSTM");
  add_node(m, {"z1"}, {"z2"}, "", "NoSuchOpLSTM");
  add_node(m, {"z2"}, {"z3"}, "attn", "NoSuchOpAttention").set_domain("com.microsoft");
  expect_bad_input([&] { import_model(m); },
                   {"model.onnx: unsupported op type 'NoSuchOpLSTM' at node 'lstm_1'",
                    "also unsupported: com.microsoft.NoSuchOpAttention)"});
  // A registered op type in a foreign domain is still foreign.
  onnx::ModelProto d = simple_model();
  d.mutable_graph()->mutable_node(0)->set_domain("com.example");
  expect_bad_input([&] { import_model(d); }, {"unsupported op type 'com.example.CodaImportTestOp' at node 'first'"});
}

// --- malformed models --------------------------------------------------------------------------

TEST(OnnxImport, RejectsStructurallyInvalidGraphs) {
  struct Case {
    std::string name;
    std::function<void(onnx::ModelProto&)> damage;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"no graph", [](onnx::ModelProto& m) { m.clear_graph(); }, "(no graph)"},
      {"no ir_version", [](onnx::ModelProto& m) { m.clear_ir_version(); }, "(no ir_version)"},
      {"no opset", [](onnx::ModelProto& m) { m.clear_opset_import(); }, "(no opset_import)"},
      {"unknown value", [](onnx::ModelProto& m) { m.mutable_graph()->mutable_node(0)->set_input(0, "ghost"); },
       "reads 'ghost'"},
      {"unproduced output", [](onnx::ModelProto& m) { m.mutable_graph()->mutable_output(0)->set_name("nothing"); },
       "graph output 'nothing'"},
      {"no outputs", [](onnx::ModelProto& m) { m.mutable_graph()->clear_output(); }, "no outputs"},
      {"duplicate initializer",
       [](onnx::ModelProto& m) { *m.mutable_graph()->add_initializer() = float_tensor("w", {1}, {1}); },
       "initializer 'w' is defined twice"},
      {"bad initializer", [](onnx::ModelProto& m) { m.mutable_graph()->mutable_initializer(0)->add_dims(2); },
       "tensor 'w'"},
      {"writes initializer", [](onnx::ModelProto& m) { add_node(m, {"x"}, {"w"}, "clobber"); },
       "node 'clobber' writes 'w', which is also an initializer"},
      {"writes input", [](onnx::ModelProto& m) { add_node(m, {"y"}, {"x"}, "loop"); }, "also a graph input"},
      {"two producers", [](onnx::ModelProto& m) { add_node(m, {"x"}, {"y"}, "again"); }, "produced by two nodes"},
      {"cycle",
       [](onnx::ModelProto& m) {
         m.mutable_graph()->mutable_node(0)->set_input(0, "z");
         add_node(m, {"y"}, {"z"}, "back");
       },
       "cycle"},
      {"sequence input",
       [](onnx::ModelProto& m) {
         auto* in = m.mutable_graph()->add_input();
         in->set_name("seq");
         in->mutable_type()->mutable_sequence_type();
       },
       "input 'seq' is a sequence"},
      {"string input",
       [](onnx::ModelProto& m) { add_input(m, "text", {1}, onnx::TensorProto::STRING); },
       "input 'text' has element type STRING"},
      {"duplicate input", [](onnx::ModelProto& m) { add_input(m, "x", {1}); }, "'x' is listed twice"},
      {"no op_type", [](onnx::ModelProto& m) { m.mutable_graph()->mutable_node(0)->clear_op_type(); }, "no op_type"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    onnx::ModelProto m = simple_model();
    c.damage(m);
    expect_bad_input([&] { import_model(m, "bad.onnx"); }, {"bad.onnx: ", c.fragment});
  }
}

TEST(OnnxImport, RejectsEveryTruncationOfAModel) {
  // Cutting anywhere must fail: inside a length-delimited field protobuf refuses the bytes, and at
  // a field boundary the validation finds the missing graph or opset.
  const std::string whole = simple_model().SerializeAsString();
  ASSERT_NO_THROW(import_onnx(whole, "m.onnx"));
  for (std::size_t len = 0; len < whole.size(); ++len)
    expect_bad_input([&] { import_onnx(whole.substr(0, len), "m.onnx"); }, {"m.onnx: not a valid ONNX model ("});
}

TEST(OnnxImport, RejectsTruncatedConformanceModelsAtSeveralLengths) {
  TempDir dir;
  const std::string source = std::string(CODA_SHARED_DIR) + "/onnx-conformance/test_Conv2d/model.onnx";
  const std::string whole = read_file(source);
  const std::string path = dir.file("cut.onnx");
  for (std::size_t len : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{20}, whole.size() / 4,
                          whole.size() / 2, whole.size() * 3 / 4, whole.size() - 20, whole.size() - 1}) {
    write_bytes(path, whole.substr(0, len));
    expect_bad_input([&] { load_onnx(path); }, {path + ": not a valid ONNX model ("});
  }
}

TEST(OnnxImport, RejectsFilesThatAreNotModels) {
  TempDir dir;
  expect_bad_input([&] { load_onnx(dir.path() + "/absent.onnx"); }, {dir.path() + "/absent.onnx: cannot open"});
  expect_bad_input([&] { load_onnx(dir.path()); }, {dir.path() + ": cannot open"});
  write_bytes(dir.file("empty.onnx"), "");
  expect_bad_input([&] { load_onnx(dir.file("empty.onnx")); }, {"empty.onnx: not a valid ONNX model (empty file)"});
  write_bytes(dir.file("readme.onnx"), "This is a README, not a model.\nIt has two lines.\n");
  expect_bad_input([&] { load_onnx(dir.file("readme.onnx")); }, {"readme.onnx: not a valid ONNX model ("});
  // A tensor file is a valid protobuf but not a model.
  write_tensor_file(Tensor::from_floats({2}, {1, 2}), dir.file("tensor.pb"));
  expect_bad_input([&] { load_onnx(dir.file("tensor.pb")); }, {"tensor.pb: not a valid ONNX model ("});
  std::mt19937 rng(11);
  for (int trial = 0; trial < 100; ++trial) {
    std::string noise(16 + static_cast<std::size_t>(trial) * 37, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    expect_bad_input([&] { import_onnx(noise, "noise.onnx"); }, {"noise.onnx: not a valid ONNX model ("});
  }
}

TEST(OnnxImport, CorruptedModelsImportOrFailCleanly) {
  // Random byte flips in real models: whatever protobuf makes of them, the importer either
  // returns a graph or throws BadInput naming the file; never another exception, never a crash.
  std::vector<std::string> models = {simple_model().SerializeAsString()};
  onnx::ModelProto rich = simple_model();
  auto* t = rich.mutable_graph()->mutable_node(0)->add_attribute();
  t->set_name("t");
  t->set_type(onnx::AttributeProto::TENSOR);
  *t->mutable_t() = float_tensor("v", {2}, {1, 2});
  models.push_back(rich.SerializeAsString());
  models.push_back(read_file(std::string(CODA_SHARED_DIR) + "/onnx-conformance/test_Conv2d/model.onnx"));
  std::mt19937 rng(3);
  int imported = 0, rejected = 0;
  for (const std::string& model : models)
    for (int trial = 0; trial < 400; ++trial) {
      std::string bytes = model;
      const int flips = 1 + trial % 4;
      for (int f = 0; f < flips; ++f)
        bytes[rng() % bytes.size()] = static_cast<char>(rng());
      try {
        import_onnx(bytes, "fuzz.onnx");
        ++imported;
      } catch (const BadInput& error) {
        ++rejected;
        EXPECT_EQ(std::string(error.what()).rfind("fuzz.onnx: ", 0), 0u) << error.what();
      }
    }
  EXPECT_GT(rejected, 0);
  std::cout << "[ info ] corrupted models: " << imported << " imported, " << rejected << " rejected\n";
}

// --- the ONNX conformance models ---------------------------------------------------------------

std::vector<std::string> conformance_cases() {
  std::vector<std::string> names;
  const std::string root = std::string(CODA_SHARED_DIR) + "/onnx-conformance";
  if (DIR* dir = ::opendir(root.c_str())) {
    while (dirent* e = ::readdir(dir))
      if (std::strncmp(e->d_name, "test_", 5) == 0) names.push_back(root + "/" + e->d_name);
    ::closedir(dir);
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST(OnnxImport, EveryConformanceModelImportsOrNamesItsUnsupportedOp) {
  const auto cases = conformance_cases();
  ASSERT_EQ(cases.size(), 82u);
  int imported = 0;
  for (const std::string& dir : cases) {
    SCOPED_TRACE(dir);
    const std::string path = dir + "/model.onnx";
    Graph g;
    try {
      g = load_onnx(path);
    } catch (const BadInput& error) {
      std::string message = error.what();
      EXPECT_EQ(message.rfind(path + ": unsupported op type '", 0), 0u) << message;
      continue;
    }
    ++imported;
    EXPECT_FALSE(g.nodes.empty());
    EXPECT_FALSE(g.outputs.empty());
    for (const Node& n : g.nodes) {
      EXPECT_NE(find_op(n.op_type), nullptr);
      EXPECT_GE(n.opset, kOldestOnnxOpset);
    }
    // The model's inputs are exactly the test data's inputs, with the same shapes and dtypes:
    // initializers listed as inputs (IR 3) were dropped, nothing else was.
    ASSERT_EQ(::access((dir + "/test_data_set_0/input_" + std::to_string(g.inputs.size()) + ".pb").c_str(), F_OK),
              -1);
    for (std::size_t i = 0; i < g.inputs.size(); ++i) {
      Tensor t = read_tensor_file(dir + "/test_data_set_0/input_" + std::to_string(i) + ".pb");
      const Value& v = g.values[static_cast<std::size_t>(g.inputs[i])];
      EXPECT_EQ(v.shape, t.shape()) << v.name;
      EXPECT_EQ(v.dtype, t.dtype()) << v.name;
    }
  }
  std::cout << "[ info ] " << imported << " of " << cases.size() << " conformance models import with the ops "
            << "registered now\n";
}

}  // namespace
}  // namespace coda
