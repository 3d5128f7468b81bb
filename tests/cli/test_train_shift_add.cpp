// `coda train --shift-add ID`: quantization-aware training for a shift-add knob, as a user runs it
// on a tiny synthetic data set. The saved model's conv and fc weights are signed powers of two
// (LightNN-1) or sums of two (LightNN-2, FLightNN), quantizing them again changes nothing (so the
// knob evaluates the model with the numerics it trained with), a QAT model fine-tunes further
// from its file, and knobs of other families are refused with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/shift_add_training.h"
#include "kernels/onnx_import.h"
#include "kernels/tensor.h"
#include "kernels/tensor_io.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda::test {
namespace {

// 0, +-2^a or +-(2^a +- 2^b), checked by peeling off the nearest power of two below or above.
int power_terms(float v) {
  double rest = std::fabs(static_cast<double>(v));
  for (int terms = 0; terms <= 2; ++terms) {
    if (rest == 0.0) return terms;
    const double below = std::pow(2.0, std::floor(std::log2(rest)));
    // The representation may overshoot (0.75 = 1 - 0.25): try the power above as well.
    rest = std::min(rest - below, 2 * below - rest);
  }
  return 3;
}

class TrainShiftAddCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // 40 grey 28x28 images whose label is the brightest of ten horizontal bands.
    constexpr int64_t kImages = 40;
    Tensor images({kImages, 1, 28, 28});
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < kImages; ++i) {
      const int64_t label = i % 10;
      labels.push_back(label);
      for (int64_t y = 0; y < 28; ++y)
        for (int64_t x = 0; x < 28; ++x)
          images.f32()[(i * 28 + y) * 28 + x] =
              (y / 3 == label ? 1.0f : 0.1f) + 0.05f * static_cast<float>((i * 7 + y * 3 + x) % 5);
    }
    write_tensor_file(images, path("images.npy"));
    write_tensor_file(Tensor::from_int64({kImages}, labels), path("labels.npy"));
    data_ = "npy:" + path("images.npy") + "," + path("labels.npy");
    // coda train wants a held-out set in files of its own; the same images do here.
    write_tensor_file(images, path("test_images.npy"));
    write_tensor_file(Tensor::from_int64({kImages}, labels), path("test_labels.npy"));
    test_data_ = "npy:" + path("test_images.npy") + "," + path("test_labels.npy");
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  ProcessResult train(const std::string& model, const std::string& out, const std::string& knob) const {
    return run_process(CODA_BINARY,
                       {"train", "--model", model, "--data", data_, "--test-data", test_data_, "--epochs", "1", "--batch",
                        "8", "--limit", "24", "--lr", "0.02", "--shift-add", knob, "--out", out, "--log-json",
                        out + ".json"},
                       dir_.string());
  }

  TempDir tmp_{"coda_train_shift_add_"};
  const std::filesystem::path dir_{tmp_.path()};
  std::string data_, test_data_;
};

TEST_F(TrainShiftAddCli, SavedWeightsAreShiftAddAndRequantizeToThemselves) {
  for (int id : {81, 82, 83}) {
    const std::string out = path("lenet_" + std::to_string(id) + ".onnx");
    ProcessResult r = train("zoo:lenet5", out, std::to_string(id));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("shift-add knob " + std::to_string(id)), std::string::npos) << r.out;
    const nlohmann::json log = nlohmann::json::parse(read_bytes(out + ".json"));
    EXPECT_EQ(log["shift_add"]["knob"].get<int>(), id);

    const Knob& knob = knob_catalog().require(id);
    Graph graph = load_onnx(out);
    const auto targets = shift_add_targets(graph);
    ASSERT_EQ(targets.size(), 5u);  // conv1, conv2, fc1, fc2, fc3
    int64_t two_term_weights = 0;
    for (const auto& [name, target] : targets) {
      const Tensor& w = *graph.values[static_cast<std::size_t>(graph.find_value(name))].constant;
      for (int64_t i = 0; i < w.size(); ++i) {
        const int terms = power_terms(w.f32()[i]);
        ASSERT_LE(terms, knob.terms) << name << "[" << i << "] = " << w.f32()[i] << ", knob " << id;
        two_term_weights += terms == 2;
      }
    }
    if (knob.terms == 2) {
      EXPECT_GT(two_term_weights, 0);
    }
    // The knob quantizes the saved weights to themselves.
    Graph again = load_onnx(out);
    EXPECT_EQ(quantize_graph_weights(again, ShiftAddParams::from_knob(knob)), 5);
    for (const auto& [name, target] : targets) {
      const Tensor& a = *graph.values[static_cast<std::size_t>(graph.find_value(name))].constant;
      const Tensor& b = *again.values[static_cast<std::size_t>(again.find_value(name))].constant;
      ASSERT_EQ(0, std::memcmp(a.raw(), b.raw(), a.bytes())) << name << ", knob " << id;
    }
  }
  // A QAT model fine-tunes from its file, here under another shift-add knob.
  const std::string tuned = path("tuned.onnx");
  ProcessResult r = train(path("lenet_82.onnx"), tuned, "81");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Graph graph = load_onnx(tuned);
  for (const auto& [name, target] : shift_add_targets(graph)) {
    const Tensor& w = *graph.values[static_cast<std::size_t>(graph.find_value(name))].constant;
    for (int64_t i = 0; i < w.size(); ++i) ASSERT_LE(power_terms(w.f32()[i]), 1) << name << "[" << i << "]";
  }
}

TEST_F(TrainShiftAddCli, OtherKnobsAreRefusedWithOneLine) {
  for (const auto& [knob, needle] : std::vector<std::pair<std::string, std::string>>{
           {"12", "not a shift-add knob"}, {"99999", "unknown knob id 99999"}}) {
    ProcessResult r = train("zoo:lenet5", path("bad.onnx"), knob);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(path("bad.onnx")));
  }
}

}  // namespace
}  // namespace coda::test
