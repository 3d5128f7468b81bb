// `coda knobs`, `coda calibrate` and `--config` as a user meets them: the catalog listing, the per-op
// knob table with ApproxTuner's op counts, configurations that change the computation reproducibly,
// and bad configurations or catalogs (exit 2, one line naming the file, nothing written).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/approx/knob_catalog.h"
#include "kernels/atomic_file.h"
#include "kernels/tensor.h"
#include "kernels/tensor_io.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda::test {
namespace {

namespace fs = std::filesystem;

const std::string kLeNet = std::string(CODA_SOURCE_DIR) + "/kernels/zoo/lenet5-fashion-mnist.onnx";

class KnobsCli : public ::testing::Test {
 protected:
  ProcessResult run(const std::vector<std::string>& args) const { return run_process(CODA_BINARY, args, dir_.path()); }
  std::string write(const std::string& name, const std::string& text) const {
    write_bytes(dir_.file(name), text);
    return dir_.file(name);
  }
  void expect_one_line_error(const ProcessResult& r, const std::vector<std::string>& fragments) const {
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
    for (const std::string& f : fragments) EXPECT_NE(r.err.find(f), std::string::npos) << "'" << f << "' in " << r.err;
  }
  TempDir dir_{"coda_knobs_cli_"};
};

TEST_F(KnobsCli, ListsTheCatalogFromTheShippedFile) {
  ProcessResult r = run({"knobs", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json doc = nlohmann::json::parse(r.out);
  KnobCatalog shipped = KnobCatalog::load(std::string(CODA_SOURCE_DIR) + "/kernels/knobs.yaml");
  ASSERT_EQ(doc["knobs"].size(), shipped.knobs().size());
  for (std::size_t i = 0; i < shipped.knobs().size(); ++i) {
    EXPECT_EQ(doc["knobs"][i]["id"].get<int>(), shipped.knobs()[i].id);
    EXPECT_DOUBLE_EQ(doc["knobs"][i]["r_compute"].get<double>(), shipped.knobs()[i].r_compute);
  }
  // --knobs replaces the catalog for every command.
  std::string custom = write("mini.yaml",
                             "knobs:\n"
                             "  - {id: 11, name: fp32, family: exact, applies_to: [all], r_compute: 1, r_memory: 1}\n"
                             "  - {id: 121, name: p, family: perforation, axis: rows, k: 2, offset: 0, applies_to: "
                             "[Conv], r_compute: 1.7, r_memory: 1}\n");
  r = run({"--knobs", custom, "knobs", "--model", kLeNet, "--op", "conv1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["ops"].size(), 1u);
  const nlohmann::json& knobs = doc["ops"][0]["knobs"];
  ASSERT_EQ(knobs.size(), 2u);
  EXPECT_DOUBLE_EQ(knobs[1]["n_c"].get<double>(), doc["ops"][0]["n_c"].get<double>() / 1.7);
  expect_one_line_error(run({"--knobs", write("bad.yaml", "knobs: [{id: 11}]\n"), "knobs"}), {"bad.yaml", "name"});
  expect_one_line_error(run({"--knobs", dir_.file("missing.yaml"), "knobs"}), {"missing.yaml"});
}

TEST_F(KnobsCli, PerOpTableHasEveryOpWithItsKnobCounts) {
  ProcessResult r = run({"knobs", "--model", kLeNet, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json doc = nlohmann::json::parse(r.out);
  ProcessResult inspect = run({"inspect", "--model", kLeNet, "--json"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  nlohmann::json ops = nlohmann::json::parse(inspect.out)["ops"];
  ASSERT_EQ(doc["ops"].size(), ops.size());
  const KnobCatalog& catalog = knob_catalog();
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const nlohmann::json& op = doc["ops"][i];
    EXPECT_EQ(op["name"], ops[i]["name"]);
    EXPECT_EQ(op["knobs"].size(), catalog.applicable(op["op_type"].get<std::string>()).size());
    for (const nlohmann::json& k : op["knobs"]) {
      const Knob& knob = catalog.require(k["id"].get<int>());
      EXPECT_NEAR(k["n_c"].get<double>() * knob.r_compute, op["n_c"].get<double>(), 1e-6 * op["n_c"].get<double>());
      EXPECT_NEAR(k["n_m"].get<double>() * knob.r_memory, op["n_m"].get<double>(), 1e-6 * op["n_m"].get<double>());
    }
  }
  expect_one_line_error(run({"knobs", "--model", kLeNet, "--op", "conv7"}), {"conv7"});
}

TEST_F(KnobsCli, BadConfigurationsExitTwoWithOneLineAndWriteNothing) {
  const std::string out = dir_.file("out.npy");
  auto run_with = [&](const std::string& name, const std::string& text) {
    return run({"run", "--model", kLeNet, "--config", write(name, text), "--output", out});
  };
  expect_one_line_error(run_with("unknown_op.json", R"({"ops": {"conv9": {"knob": 12}}})"),
                        {"unknown_op.json", "conv9", "not in the model"});
  expect_one_line_error(run_with("not_applicable.json", R"({"ops": {"pool1": {"knob": 121}}})"),
                        {"not_applicable.json", "pool1", "121", "does not apply"});
  expect_one_line_error(run_with("unknown_unit.json", R"({"ops": {"conv1": {"knob": 12, "unit": "npu"}}})"),
                        {"unknown_unit.json", "conv1", "unknown unit 'npu'"});
  expect_one_line_error(run_with("wrong_unit.json", R"({"ops": {"conv1": {"knob": 81, "unit": "gpu"}}})"),
                        {"wrong_unit.json", "conv1", "lightnn"});
  expect_one_line_error(run_with("unknown_knob.json", R"({"ops": {"conv1": {"knob": 500}}})"),
                        {"unknown_knob.json", "500"});
  expect_one_line_error(run_with("unprunable.json", R"({"ops": {"fc3": {"knob": 93}}})"),
                        {"unprunable.json", "fc3", "93", "cannot be pruned"});
  expect_one_line_error(run_with("broken.json", R"({"ops": )"), {"broken.json", "JSON"});
  expect_one_line_error(run({"run", "--model", kLeNet, "--config", dir_.file("absent.json")}), {"absent.json"});
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(KnobsCli, ConfigurationsChangeTheComputationReproducibly) {
  auto output_of = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"run", "--model", kLeNet, "--output", dir_.file("y.npy")};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return read_tensor_file(dir_.file("y.npy"));
  };
  auto same = [](const Tensor& a, const Tensor& b) {
    return a.size() == b.size() && std::equal(a.f32(), a.f32() + a.size(), b.f32());
  };
  Tensor exact = output_of({});
  std::string promise = write("promise.json", R"({"ops": {"conv1": {"knob": 1}, "fc1": {"knob": 1}}})");
  Tensor noisy = output_of({"--config", promise, "--seed", "0"});
  EXPECT_FALSE(same(exact, noisy));
  EXPECT_TRUE(same(noisy, output_of({"--config", promise, "--seed", "0"})));
  // The seed draws the inputs and the noise: with the same inputs a new seed changes only the noise.
  std::string exact_config = write("exact.json", R"({"default": {"knob": 11}})");
  EXPECT_TRUE(same(exact, output_of({"--config", exact_config})));

  // coda calibrate stores the ranges, so a run needs no data to calibrate on.
  std::string calibrated = dir_.file("calibrated.json");
  ProcessResult r = run({"calibrate", "--model", kLeNet, "--data", "fashion-mnist:train", "--limit", "200", "--config",
                         promise, "--out", calibrated});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json doc = nlohmann::json::parse(read_file(calibrated));
  EXPECT_EQ(doc["ops"]["conv1"]["knob"].get<int>(), 1);
  for (const char* op : {"conv1", "conv2", "fc1", "fc2", "fc3"}) {
    ASSERT_TRUE(doc["ranges"].contains(op)) << op;
    EXPECT_LT(doc["ranges"][op]["input"][0].get<double>(), doc["ranges"][op]["input"][1].get<double>());
  }
  // The network input is calibrated on its full range: Fashion-MNIST pixels span [0, 1].
  EXPECT_DOUBLE_EQ(doc["ranges"]["conv1"]["input"][0].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(doc["ranges"]["conv1"]["input"][1].get<double>(), 1.0);
  r = run({"run", "--model", kLeNet, "--config", calibrated, "--log-level", "info"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("calibrated"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coda::test
