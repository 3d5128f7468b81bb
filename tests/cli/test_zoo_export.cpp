// `coda export` of zoo networks and ONNX models, zoo specs in `coda inspect` / `coda run`, and
// `coda zoo`. The central check: a network built in this process and run by the executor gives
// bit-identical logits to the same network exported by `coda export` and run by `coda run` in a
// separate process (same kernels, same thread count).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/executor.h"
#include "kernels/onnx_import.h"
#include "kernels/parallel.h"
#include "kernels/tensor_io.h"
#include "kernels/zoo.h"
#include "tests/support/graph_runner.h"
#include "tests/support/subprocess.h"

namespace coda {
namespace {

namespace fs = std::filesystem;

using Result = test::ProcessResult;

class ZooExport : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("coda_zoo_export_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path path(const std::string& name) const { return dir_ / name; }

  Result coda(const std::vector<std::string>& args) const {
    return test::run_process(CODA_BINARY, args, dir_.string());
  }

  void expect_bad_input(const Result& r, const std::string& needle) const {
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "'" << needle << "' missing from: " << r.err;
  }

  fs::path dir_;
};

const Shape& input_shape(const Graph& g) { return g.values[static_cast<std::size_t>(g.inputs.front())].shape; }
// The importer leaves output shapes to shape inference.
Shape output_shape(Graph g) {
  fill_symbolic_dims(g, 1);
  prepare_graph(g);
  return g.values[static_cast<std::size_t>(g.outputs.front())].shape;
}

// Every network small enough for a unit test, plus one ImageNet form (MobileNet v1, 0.57 G MACs).
TEST_F(ZooExport, ExportedNetworksRunBitIdenticallyInCodaRun) {
  const std::vector<std::string> names = {"lenet5",         "alexnet_cifar", "alexnet2_cifar",  "vgg16_cifar",
                                          "resnet18_cifar", "resnet20",      "mobilenet_cifar", "mobilenet_v1"};
  const std::string threads = std::to_string(thread_count());
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const fs::path model = path(name + ".onnx"), input = path(name + "_x.npy"), output = path(name + "_y.npy");
    Result exported = coda({"export", "--model", "zoo:" + name, "--out", model.string(), "--seed", "17"});
    ASSERT_EQ(exported.exit_code, 0) << exported.err;
    EXPECT_NE(exported.out.find(model.string()), std::string::npos) << exported.out;

    ZooOptions options;
    options.seed = 17;
    Graph built = build_zoo_model(name, options);
    const Tensor x = test::seeded_input(input_shape(built), 5);
    write_tensor_file(x, input.string());
    const Tensor expected = test::run_graph(built, x);

    Result ran = coda({"run", "--model", model.string(), "--input", input.string(), "--output", output.string(),
                       "--threads", threads});
    ASSERT_EQ(ran.exit_code, 0) << ran.err;
    const Tensor got = read_tensor_file(output.string());
    ASSERT_EQ(got.shape(), expected.shape());
    EXPECT_EQ(std::memcmp(got.f32(), expected.f32(), got.bytes()), 0) << "logits differ";

    // The file carries the spec that rebuilds it.
    Graph reimported = load_onnx(model.string());
    EXPECT_EQ(reimported.metadata.at("coda.zoo"), built.metadata.at("coda.zoo"));
  }
}

TEST_F(ZooExport, FlagsSetBatchClassesAndChannelsAndOverrideTheSpec) {
  const fs::path model = path("r.onnx");
  Result r = coda({"export", "--model", "zoo:resnet20?classes=5,batch=9", "--out", model.string(), "--batch", "4",
                   "--classes", "100", "--in-channels", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Graph g = load_onnx(model.string());
  EXPECT_EQ(input_shape(g), (Shape{4, 1, 32, 32}));
  EXPECT_EQ(output_shape(g), (Shape{4, 100}));
  EXPECT_EQ(g.metadata.at("coda.zoo"), "resnet20?batch=4,classes=100,in_channels=1,seed=0");

  // The spec alone.
  r = coda({"export", "--model", "zoo:lenet5?classes=3,in_channels=2", "--out", model.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  g = load_onnx(model.string());
  EXPECT_EQ(input_shape(g), (Shape{1, 2, 28, 28}));
  EXPECT_EQ(output_shape(g), (Shape{1, 3}));
}

TEST_F(ZooExport, SymbolicBatchAndFixingItOnAnOnnxModel) {
  const fs::path symbolic = path("sym.onnx"), fixed = path("fixed.onnx");
  Result r = coda({"export", "--model", "zoo:alexnet2_cifar", "--batch", "0", "--out", symbolic.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Graph g = load_onnx(symbolic.string());
  EXPECT_EQ(input_shape(g), (Shape{-1, 3, 32, 32}));

  r = coda({"export", "--model", symbolic.string(), "--batch", "6", "--out", fixed.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Graph f = load_onnx(fixed.string());
  EXPECT_EQ(input_shape(f), (Shape{6, 3, 32, 32}));
  EXPECT_EQ(output_shape(f), (Shape{6, 10}));

  // Runs at the new batch and gives the same logits as the symbolic model bound to it.
  const Tensor x = test::seeded_input({6, 3, 32, 32}, 8);
  const Tensor a = test::run_graph(g, x), b = test::run_graph(f, x);
  EXPECT_EQ(std::memcmp(a.f32(), b.f32(), a.bytes()), 0);

  // An ONNX model without --batch is re-written as it is.
  const fs::path copy = path("copy.onnx");
  r = coda({"export", "--model", fixed.string(), "--out", copy.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(input_shape(load_onnx(copy.string())), (Shape{6, 3, 32, 32}));
}

TEST_F(ZooExport, BadRequestsAreOneLineErrors) {
  const fs::path out = path("never.onnx");
  expect_bad_input(coda({"export", "--model", "zoo:resnet19", "--out", out.string()}), "no such network");
  expect_bad_input(coda({"export", "--model", "zoo:resnet20?depth=56", "--out", out.string()}), "unknown option 'depth'");
  expect_bad_input(coda({"export", "--model", "zoo:resnet20?classes=x", "--out", out.string()}), "classes='x'");
  EXPECT_FALSE(fs::exists(out));

  // Zoo-only flags on an ONNX model, and a batch that contradicts a fixed one.
  const fs::path fixed = path("fixed.onnx");
  ASSERT_EQ(coda({"export", "--model", "zoo:lenet5", "--out", fixed.string()}).exit_code, 0);
  expect_bad_input(coda({"export", "--model", fixed.string(), "--classes", "3", "--out", out.string()}),
                   "zoo networks only");
  expect_bad_input(coda({"export", "--model", fixed.string(), "--batch", "4", "--out", out.string()}),
                   "fixed batch of 1");
  EXPECT_FALSE(fs::exists(out));
  // Flag validation by the parser.
  EXPECT_EQ(coda({"export", "--model", "zoo:lenet5", "--classes", "0", "--out", out.string()}).exit_code, 2);
  EXPECT_EQ(coda({"export", "--model", "zoo:lenet5"}).exit_code, 2);
}

TEST_F(ZooExport, InspectAndRunAcceptZooSpecs) {
  Result r = coda({"inspect", "--model", "zoo:mobilenet_v1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  const int64_t macs = doc["totals"]["macs"].get<int64_t>();
  // Howard et al. 2017, Table 8: 569 million mult-adds.
  EXPECT_NEAR(static_cast<double>(macs) / 569e6, 1.0, 0.01);
  EXPECT_EQ(doc["outputs"][0]["shape"], nlohmann::json::array({1, 1000}));

  r = coda({"inspect", "--model", "zoo:resnet20?classes=100,in_channels=1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc2 = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc2["inputs"][0]["shape"], nlohmann::json::array({1, 1, 32, 32}));
  EXPECT_EQ(doc2["outputs"][0]["shape"], nlohmann::json::array({1, 100}));

  const fs::path y = path("y.npy");
  r = coda({"run", "--model", "zoo:lenet5?batch=3", "--output", y.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_tensor_file(y.string()).shape(), (Shape{3, 10}));
  expect_bad_input(coda({"inspect", "--model", "zoo:lenet5?batch=-1"}), "batch='-1'");
}

TEST_F(ZooExport, ZooListsEveryNetworkWithInspectsFigures) {
  Result r = coda({"zoo", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto list = nlohmann::json::parse(r.out);
  ASSERT_EQ(list.size(), zoo_models().size());
  for (const auto& row : list) {
    const std::string name = row["name"].get<std::string>();
    SCOPED_TRACE(name);
    ZooOptions options;
    options.shapes_only = true;
    Graph g = build_zoo_model(name, options);
    prepare_graph(g);
    int64_t macs = 0;
    for (const NodeReport& report : analyse_graph(g)) macs += report.cost.macs;
    EXPECT_EQ(row["macs"].get<int64_t>(), macs);
    EXPECT_EQ(row["params"].get<int64_t>(), g.parameter_count());
    EXPECT_EQ(row["input"], nlohmann::json(input_shape(g)));
  }
  r = coda({"zoo", "resnet20", "lenet5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("resnet20"), std::string::npos);
  EXPECT_EQ(r.out.find("vgg16"), std::string::npos);
  expect_bad_input(coda({"zoo", "resnet21"}), "no such network");
}

}  // namespace
}  // namespace coda
