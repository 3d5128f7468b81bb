// `coda eval` as a user runs it: a tiny model whose predictions the test can work out by hand (a
// Gemm that compares two pixels) on a synthetic .npy data set, in every batching situation
// (symbolic batch, batch fixed at 1, a batch baked into a Reshape), with the model's stored
// preprocessing, and with bad data (exit 2, one line).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/tensor.h"
#include "kernels/tensor_io.h"
#include "tests/support/onnx_builder.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda::test {
namespace {

namespace fs = std::filesystem;

// The synthetic data set: image i is 1x2x2 with pixel 0 = (i % 10) / 10 and pixel 1 = 0.45 (the
// others are distractors), label i % 3 == 0 ? 0 : 1. The model scores class 0 with pixel 0 and
// class 1 with pixel 1, so it predicts 0 exactly when i % 10 >= 5.
constexpr int kImages = 37;
int label_of(int i) { return i % 3 == 0 ? 0 : 1; }
int prediction_of(int i) { return i % 10 >= 5 ? 0 : 1; }

int expected_correct(int n) {
  int correct = 0;
  for (int i = 0; i < n; ++i) correct += label_of(i) == prediction_of(i);
  return correct;
}

class EvalCli : public ::testing::Test {
 protected:
  void SetUp() override {
    Tensor images({kImages, 1, 2, 2}, DType::Float32);
    std::vector<int64_t> labels;
    for (int i = 0; i < kImages; ++i) {
      float* p = images.f32() + i * 4;
      p[0] = static_cast<float>(i % 10) / 10.0f;
      p[1] = 0.45f;
      p[2] = 0.9f;  // larger than both, but the model ignores it
      p[3] = -1.0f;
      labels.push_back(label_of(i));
    }
    write_tensor_file(images, path("images.npy"));
    write_tensor_file(Tensor::from_int64({kImages}, labels), path("labels.npy"));
    data_ = "npy:" + path("images.npy") + "," + path("labels.npy");
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  ProcessResult run(const std::vector<std::string>& args) const {
    return run_process(CODA_BINARY, args, dir_.string());
  }

  // x [batch, 1, side, side] -> Flatten (or a Reshape to a constant shape) -> Gemm whose two
  // rows pick pixels `first` and `second` of the flattened image.
  std::string write_model(const std::string& name, int64_t batch, int64_t side = 2, int first = 0, int second = 1,
                          bool reshape_to_constant = false, const std::string& preprocess = "") const {
    ModelBuilder b(13);
    b.input("x", {batch, 1, side, side});
    const int64_t features = side * side;
    std::string flat = reshape_to_constant ? b.reshape("x", {batch, features}) : b.flatten("x");
    std::vector<float> w(static_cast<std::size_t>(2 * features), 0.0f);
    w[static_cast<std::size_t>(first)] = 1.0f;
    w[static_cast<std::size_t>(features + second)] = 1.0f;
    b.initializer("w", {2, features}, w);
    b.initializer("bias", {2}, {0.0f, 0.0f});
    b.node("Gemm", {flat, "w", "bias"}, {"y"}, {attr_int("transB", 1)});
    b.output("y");
    if (!preprocess.empty()) {
      auto* prop = b.proto().add_metadata_props();
      prop->set_key("coda.preprocess");
      prop->set_value(preprocess);
    }
    const std::string p = path(name);
    b.write(p);
    return p;
  }

  // x [N, 4] -> Gemm: a model that takes flattened images.
  std::string write_flat_model() const {
    ModelBuilder b(13);
    b.input("x", {-1, 4});
    b.initializer("w", {2, 4}, {1, 0, 0, 0, 0, 1, 0, 0});
    b.initializer("bias", {2}, {0.0f, 0.0f});
    b.node("Gemm", {"x", "w", "bias"}, {"y"}, {attr_int("transB", 1)});
    b.output("y");
    const std::string p = path("flat.onnx");
    b.write(p);
    return p;
  }

  static std::string accuracy_line(int correct, int n) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "accuracy %.4f (%d/%d)", static_cast<double>(correct) / n, correct, n);
    return buffer;
  }

  void expect_accuracy(const ProcessResult& p, int n = kImages) const {
    ASSERT_EQ(p.exit_code, 0) << p.err;
    EXPECT_NE(p.out.find(accuracy_line(expected_correct(n), n)), std::string::npos)
        << "want '" << accuracy_line(expected_correct(n), n) << "' in: " << p.out;
  }

  static void expect_bad_input(const ProcessResult& p, const std::vector<std::string>& needles) {
    EXPECT_EQ(p.exit_code, 2) << p.err;
    EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << "want exactly one line, got: " << p.err;
    for (const std::string& n : needles)
      EXPECT_NE(p.err.find(n), std::string::npos) << "'" << n << "' missing from: " << p.err;
    EXPECT_EQ(p.out, "");
  }

  TempDir tmp_{"coda_eval_"};
  const fs::path dir_{tmp_.path()};
  std::string data_;
};

TEST_F(EvalCli, AccuracyOfAPixelComparingModelIsExact) {
  const std::string model = write_model("m.onnx", -1);
  ASSERT_GT(expected_correct(kImages), 0);
  ASSERT_LT(expected_correct(kImages), kImages);
  // 37 images in batches of 8 (a partial last batch), of 64 (one batch) and of 1.
  for (const char* batch : {"8", "64", "1"}) expect_accuracy(run({"eval", "--model", model, "--data", data_, "--batch", batch}));
  expect_accuracy(run({"eval", "--model", model, "--data", data_, "--limit", "10"}), 10);
}

TEST_F(EvalCli, JsonOutputParsesAndCarriesTheConfusionMatrix) {
  const std::string model = write_model("m.onnx", -1);
  ProcessResult p = run({"eval", "--model", model, "--data", data_, "--json", "--confusion", "--batch", "5"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  nlohmann::json j = nlohmann::json::parse(p.out);
  EXPECT_EQ(j["n"].get<int>(), kImages);
  EXPECT_EQ(j["correct"].get<int>(), expected_correct(kImages));
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), static_cast<double>(expected_correct(kImages)) / kImages);
  EXPECT_EQ(j["model"].get<std::string>(), model);
  EXPECT_EQ(j["data"].get<std::string>(), data_);
  EXPECT_GE(j["seconds"].get<double>(), 0.0);
  EXPECT_EQ(j["classes"].get<int>(), 2);
  std::vector<std::vector<int>> confusion(2, std::vector<int>(2, 0));
  for (int i = 0; i < kImages; ++i) ++confusion[static_cast<std::size_t>(label_of(i))][static_cast<std::size_t>(prediction_of(i))];
  EXPECT_EQ(j["confusion"].get<std::vector<std::vector<int>>>(), confusion);
  const double class0 = static_cast<double>(confusion[0][0]) / (confusion[0][0] + confusion[0][1]);
  EXPECT_DOUBLE_EQ(j["per_class_accuracy"][0].get<double>(), class0);

  // The text form prints the same matrix.
  ProcessResult text = run({"eval", "--model", model, "--data", data_, "--confusion"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("confusion matrix"), std::string::npos) << text.out;
  // Rows read "LABEL COUNT COUNT ACCURACY (...)".
  std::istringstream lines(text.out);
  std::string line;
  int rows_found = 0;
  while (std::getline(lines, line)) {
    std::istringstream tokens(line);
    std::string label, a, b;
    tokens >> label >> a >> b;
    for (std::size_t r = 0; r < 2; ++r)
      if (label == std::to_string(r) && a == std::to_string(confusion[r][0]) && b == std::to_string(confusion[r][1]))
        ++rows_found;
  }
  EXPECT_EQ(rows_found, 2) << text.out;
}

TEST_F(EvalCli, ModelsWithAFixedBatchDimension) {
  // Batch fixed at 1, as many exporters write it: re-bound to the requested batch.
  expect_accuracy(run({"eval", "--model", write_model("one.onnx", 1), "--data", data_, "--batch", "8"}));
  // Batch 1 baked into a Reshape's constant shape: re-binding fails, batches of 1 run instead.
  expect_accuracy(run({"eval", "--model", write_model("baked.onnx", 1, 2, 0, 1, true), "--data", data_, "--batch", "8"}));
  // Fixed at 4 (not a divisor of 37): the last batch is padded.
  expect_accuracy(run({"eval", "--model", write_model("four.onnx", 4, 2, 0, 1, true), "--data", data_, "--batch", "8"}));
  // A model taking flattened images.
  expect_accuracy(run({"eval", "--model", write_flat_model(), "--data", data_}));
}

TEST_F(EvalCli, StoredPreprocessingAppliesUnlessTheSpecHasATransform) {
  // A 4x4 model reading pixels (1,1) and (1,2): the 2x2 images padded by one.
  const std::string with = write_model("pre.onnx", -1, 4, 5, 6, false, "pad=1");
  expect_accuracy(run({"eval", "--model", with, "--data", data_}));
  const std::string without = write_model("nopre.onnx", -1, 4, 5, 6);
  expect_bad_input(run({"eval", "--model", without, "--data", data_}),
                   {without, "model expects 1x4x4 images", data_ + " has 1x2x2", "add @pad=1"});
  expect_accuracy(run({"eval", "--model", without, "--data", data_ + "@pad=1"}));
  // A transform in the spec replaces the stored one (here: shifting the pixels the model reads).
  ProcessResult replaced = run({"eval", "--model", with, "--data", data_ + "@resize=4", "--json"});
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_EQ(nlohmann::json::parse(replaced.out)["transform"].get<std::string>(), "resize=4");
  expect_bad_input(run({"eval", "--model", without, "--data", data_ + "@resize=3"}),
                   {"model expects 1x4x4 images", "has 1x3x3", "add resize=4"});
}

TEST_F(EvalCli, BadDataOrMismatchedModelsExitWithOneLine) {
  const std::string model = write_model("m.onnx", -1);
  const std::string missing = path("missing.npy");
  expect_bad_input(run({"eval", "--model", model, "--data", "npy:" + path("images.npy") + "," + missing}),
                   {missing, "cannot open"});
  const std::string bytes = encode_npy(Tensor::filled({5, 1, 2, 2}, 0.5f));
  write_bytes(path("short.npy"), bytes.substr(0, bytes.size() - 8));
  expect_bad_input(run({"eval", "--model", model, "--data", "npy:" + path("short.npy") + "," + path("labels.npy")}),
                   {path("short.npy"), "truncated"});
  write_tensor_file(Tensor::from_int64({3}, {0, 1, 1}), path("three.npy"));
  expect_bad_input(run({"eval", "--model", model, "--data", "npy:" + path("images.npy") + "," + path("three.npy")}),
                   {path("three.npy"), "3 labels", "37 images"});
  expect_bad_input(run({"eval", "--model", model, "--data", "imagenet:/x"}), {"unknown dataset 'imagenet'"});
  expect_bad_input(run({"eval", "--model", path("nope.onnx"), "--data", data_}), {path("nope.onnx")});
  // Three channels wanted, one present.
  ModelBuilder rgb(13);
  rgb.input("x", {-1, 3, 2, 2});
  std::string y = rgb.global_avg_pool("x");
  rgb.output(y);
  rgb.write(path("rgb.onnx"));
  expect_bad_input(run({"eval", "--model", path("rgb.onnx"), "--data", data_}),
                   {"model expects 3x2x2 images", "has 1x2x2", "3 channel(s) wanted"});
}

}  // namespace
}  // namespace coda::test
