// `coda prune` as a user runs it: a small ONNX CNN with a symbolic batch and a synthetic .npy data
// set. The written model is smaller, computes what the library's pruning computes, runs at any
// batch size under `coda run` and `coda eval`; LeGR transforms written by a search prune the same
// way when read back; bad options end with exit code 2 and one line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/approx/pruning.h"
#include "kernels/executor.h"
#include "kernels/onnx_import.h"
#include "kernels/tensor.h"
#include "kernels/tensor_io.h"
#include "tests/support/graph_runner.h"
#include "tests/support/onnx_builder.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda::test {
namespace {

namespace fs = std::filesystem;

constexpr int kImages = 48;

class PruneCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // x [N, 1, 6, 6] -> conv 6 -> ReLU -> conv 8 + BN + ReLU -> global pool -> flatten -> fc 3.
    ModelBuilder b(13, 7);
    b.input("x", {-1, 1, 6, 6});
    std::string y = b.conv_relu("x", 1, 6, 3, 1, 1);
    y = b.conv_bn_relu(y, 6, 8, 3, 1, 1);
    y = b.linear(b.flatten(b.global_avg_pool(y)), 8, 3);
    b.output(y);
    model_ = path("m.onnx");
    b.write(model_);

    // Labels follow the brightest third of the image, so training has something to learn.
    Tensor images({kImages, 1, 6, 6});
    std::vector<int64_t> labels;
    std::mt19937_64 rng(3);
    std::normal_distribution<float> noise(0.0f, 0.2f);
    for (int i = 0; i < kImages; ++i) {
      int label = i % 3;
      labels.push_back(label);
      for (int p = 0; p < 36; ++p) images.f32()[i * 36 + p] = (p / 12 == label ? 1.0f : 0.0f) + noise(rng);
    }
    write_tensor_file(images, path("images.npy"));
    write_tensor_file(Tensor::from_int64({kImages}, labels), path("labels.npy"));
    data_ = "npy:" + path("images.npy") + "," + path("labels.npy");
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  ProcessResult run(const std::vector<std::string>& args) const { return run_process(CODA_BINARY, args, dir_.string()); }

  static void expect_bad_input(const ProcessResult& p, const std::vector<std::string>& needles) {
    EXPECT_EQ(p.exit_code, 2) << p.err;
    EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << "want exactly one line, got: " << p.err;
    for (const std::string& n : needles)
      EXPECT_NE(p.err.find(n), std::string::npos) << "'" << n << "' missing from: " << p.err;
  }

  TempDir tmp_{"coda_prune_"};
  const fs::path dir_{tmp_.path()};
  std::string model_, data_;
};

TEST_F(PruneCli, BadOptionsExitWithTwo) {
  const std::string out = path("p.onnx");
  for (const char* target : {"0", "1.5", "-0.2", "nan"})
    expect_bad_input(run({"prune", "--model", model_, "--flops-target", target, "--out", out}), {"--flops-target"});
  expect_bad_input(run({"prune", "--model", model_, "--flops-target", "0.5", "--ranking", "l3", "--out", out}),
                   {"unknown ranking 'l3'"});
  expect_bad_input(run({"prune", "--model", model_, "--flops-target", "0.5", "--ranking", "legr", "--out", out}),
                   {"--legr-params", "--data"});
  expect_bad_input(run({"prune", "--model", model_, "--flops-target", "0.5", "--legr-params", "a.json", "--out", out}),
                   {"--legr-params needs --ranking legr"});
  expect_bad_input(run({"prune", "--model", model_, "--flops-target", "0.5", "--finetune-epochs", "1", "--out", out}),
                   {"--finetune-epochs needs --data"});
  expect_bad_input(run({"prune", "--model", model_, "--flops-target", "0.5", "--out", path("p.txt")}), {".onnx"});
  expect_bad_input(run({"prune", "--model", model_, "--flops-target", "0.001", "--out", out}), {"not reachable"});
  expect_bad_input(run({"prune", "--model", path("missing.onnx"), "--flops-target", "0.5", "--out", out}),
                   {"missing.onnx"});
  write_bytes(path("bad.json"), R"({"groups": [{"name": "nope", "alpha": 1, "kappa": 0}]})");
  expect_bad_input(run({"prune", "--model", model_, "--flops-target", "0.5", "--ranking", "legr", "--legr-params",
                        path("bad.json"), "--out", out}),
                   {"bad.json", "'nope'"});
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(PruneCli, PrunedModelIsSmallerAndComputesTheLibraryResult) {
  const std::string out = path("p.onnx");
  ProcessResult p = run({"prune", "--model", model_, "--flops-target", "0.5", "--ranking", "l2", "--out", out, "--json"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  nlohmann::json j = nlohmann::json::parse(p.out);
  const int64_t before = j["macs_before"], after = j["macs_after"];
  EXPECT_LE(after, static_cast<int64_t>(std::floor(0.5 * static_cast<double>(before) + 1e-6)));
  EXPECT_LT(j["params_after"].get<int64_t>(), j["params_before"].get<int64_t>());
  ASSERT_EQ(j["groups"].size(), 3u);  // two convs, and the classifier (fixed: graph output)
  EXPECT_FALSE(j["groups"][2]["prunable"].get<bool>());

  // The file holds smaller tensors and keeps the symbolic batch.
  Graph pruned = load_onnx(out);
  Graph original = load_onnx(model_);
  EXPECT_LT(pruned.parameter_count(), original.parameter_count());
  EXPECT_LT(pruned.values[static_cast<std::size_t>(pruned.inputs[0])].shape[0], 0);

  // `coda run` at batch 3 gives what pruning the original in-process gives.
  Tensor x = seeded_input({3, 1, 6, 6}, 11);
  write_tensor_file(x, path("x.npy"));
  ProcessResult r = run({"run", "--model", out, "--input", path("x.npy"), "--output", path("y.npy")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Tensor y = read_tensor_file(path("y.npy"));
  bind_input_shapes(original, {{3, 1, 6, 6}});
  prepare_graph(original);
  prune_to_flops(original, 0.5, PruneRanking::L2);
  Executor e(original);
  Tensor want = e.run({x}).front();
  ASSERT_EQ(y.shape(), want.shape());
  for (int64_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y.f32()[i], want.f32()[i], 1e-5);

  ProcessResult ev = run({"eval", "--model", out, "--data", data_, "--batch", "5"});
  EXPECT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_NE(ev.out.find("accuracy"), std::string::npos);

  // The table form names the groups and the totals.
  ProcessResult t = run({"prune", "--model", model_, "--flops-target", "0.7", "--out", path("q.onnx")});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("MACs"), std::string::npos);
  EXPECT_NE(t.out.find("graph output"), std::string::npos);
}

TEST_F(PruneCli, LegrSearchWritesTransformsThatPruneTheSameWay) {
  const std::vector<std::string> search_options = {"--legr-population", "3", "--legr-tournament", "2",
                                                   "--legr-generations", "5", "--legr-steps", "2",
                                                   "--legr-validation", "12", "--batch", "8"};
  std::vector<std::string> args = {"--seed", "5", "prune", "--model", model_, "--flops-target", "0.5", "--ranking",
                                   "legr", "--data", data_, "--legr-out", path("legr.json"), "--out",
                                   path("a.onnx"), "--json"};
  args.insert(args.end(), search_options.begin(), search_options.end());
  ProcessResult a = run(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  nlohmann::json ja = nlohmann::json::parse(a.out);
  EXPECT_EQ(ja["legr"]["candidates"].get<int>(), 5);
  nlohmann::json params = nlohmann::json::parse(read_bytes(path("legr.json")));
  EXPECT_EQ(params["format"], "coda-legr");
  EXPECT_EQ(params["groups"].size(), 2u);
  EXPECT_EQ(params["search"]["losses"].size(), 5u);

  ProcessResult b = run({"prune", "--model", model_, "--flops-target", "0.5", "--ranking", "legr", "--legr-params",
                         path("legr.json"), "--out", path("b.onnx"), "--json"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  nlohmann::json jb = nlohmann::json::parse(b.out);
  EXPECT_EQ(ja["macs_after"], jb["macs_after"]);
  for (std::size_t g = 0; g < ja["groups"].size(); ++g)
    EXPECT_EQ(ja["groups"][g]["channels_after"], jb["groups"][g]["channels_after"]);
  EXPECT_EQ(read_bytes(path("a.onnx")), read_bytes(path("b.onnx")));

  // The same seed searches the same way.
  ProcessResult again = run(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(nlohmann::json::parse(read_bytes(path("legr.json")))["groups"], params["groups"]);
}

TEST_F(PruneCli, FineTuneRunsOnThePrunedModel) {
  ProcessResult p = run({"prune", "--model", model_, "--flops-target", "0.6", "--data", data_, "--finetune-epochs", "2",
                         "--lr", "0.05", "--batch", "8", "--out", path("f.onnx"), "--json"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  nlohmann::json j = nlohmann::json::parse(p.out);
  ASSERT_EQ(j["finetune"].size(), 2u);
  // The fine-tuned weights are in the file: they differ from the pruned, untuned ones.
  ProcessResult u = run({"prune", "--model", model_, "--flops-target", "0.6", "--out", path("u.onnx")});
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_NE(read_bytes(path("f.onnx")), read_bytes(path("u.onnx")));
  Graph f = load_onnx(path("f.onnx")), untuned = load_onnx(path("u.onnx"));
  EXPECT_EQ(f.parameter_count(), untuned.parameter_count());
  ProcessResult ev = run({"eval", "--model", path("f.onnx"), "--data", data_});
  EXPECT_EQ(ev.exit_code, 0) << ev.err;
}

TEST_F(PruneCli, CurveWritesOneModelPerLevelAndTheCurve) {
  const std::string out = path("curve");
  ProcessResult p = run({"prune", "--model", model_, "--curve", "0.8,0.5", "--ranking", "l1", "--data", data_,
                         "--finetune-epochs", "1", "--batch", "8", "--json"});
  ASSERT_EQ(p.exit_code, 2) << "--out is still required";
  p = run({"prune", "--model", model_, "--curve", "0.8,0.5", "--ranking", "l1", "--data", data_, "--finetune-epochs",
           "1", "--batch", "8", "--out", out, "--json"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const nlohmann::json curve = nlohmann::json::parse(read_bytes(out + "/pruning_curve.json"));
  ASSERT_EQ(curve["levels"].size(), 3u);
  int64_t previous = -1;
  for (const nlohmann::json& level : curve["levels"]) {
    const std::string model = out + "/" + level["model"].get<std::string>();
    ASSERT_TRUE(fs::exists(model)) << model;
    const int64_t macs = level["macs"];
    if (previous >= 0) {
      EXPECT_LT(macs, previous);
    }
    previous = macs;
    // Each written model runs under coda eval and scores what the curve says.
    ProcessResult e = run({"eval", "--model", model, "--data", data_, "--json"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    EXPECT_NEAR(nlohmann::json::parse(e.out)["accuracy"].get<double>(), level["accuracy"].get<double>(), 1e-9);
  }
  // The pruned models join the unpruned one on a single tuned front.
  p = run({"tune", "--model", model_, "--data", data_, "--calibration-size", "24", "--test-size", "24", "--qos-loss",
           "30", "--budget", "40", "--patience", "40", "--alpha-samples", "4", "--max-configs", "6", "--pruning-curve",
           out + "/pruning_curve.json", "--out", path("tuned.json")});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const nlohmann::json tuned = nlohmann::json::parse(read_bytes(path("tuned.json")));
  ASSERT_FALSE(tuned["points"].empty());
  double previous_speedup = 0;
  for (const nlohmann::json& point : tuned["points"]) {
    if (point.contains("model")) {
      EXPECT_TRUE(fs::exists(point["model"].get<std::string>()));
    }
    EXPECT_GE(point["qos_calibration"].get<double>(), tuned["baseline_qos_calibration"].get<double>() - 30 - 1e-9);
    EXPECT_GT(point["speedup"].get<double>(), previous_speedup);
    previous_speedup = point["speedup"];
  }
  expect_bad_input(run({"prune", "--model", model_, "--curve", "0.8,1.5", "--data", data_, "--out", out}),
                   {"--curve", "1.5"});
  expect_bad_input(run({"prune", "--model", model_, "--curve", "0.8", "--out", out}), {"--curve needs --data"});
}

}  // namespace
}  // namespace coda::test
