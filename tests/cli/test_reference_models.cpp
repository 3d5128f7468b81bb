// The trained reference models committed in kernels/zoo/ reach their documented accuracy on the
// Fashion-MNIST test set, measured through `coda eval` exactly as docs/zoo.md tells users to.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"

namespace coda {
namespace {

double eval_accuracy(const std::string& model, const std::string& scratch) {
  test::ProcessResult r = test::run_process(
      CODA_BINARY, {"eval", "--model", std::string(CODA_SOURCE_DIR) + "/" + model, "--data", "fashion-mnist:test", "--json"},
      ::testing::TempDir() + scratch);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["n"].get<int>(), 10000);
  return doc["accuracy"].get<double>();
}

TEST(ReferenceModels, LeNet5ReachesEightyNinePercent) {
  EXPECT_GE(eval_accuracy("kernels/zoo/lenet5-fashion-mnist.onnx", "coda_ref_lenet5"), 0.89);
}

// ResNet-20 takes 28x28 images padded to 32x32: the model's metadata carries "pad=2", which
// `coda eval` applies by itself, so the plain test split is the right input.
TEST(ReferenceModels, ResNet20ReachesNinetyTwoPercent) {
  EXPECT_GE(eval_accuracy("kernels/zoo/resnet20-fashion-mnist.onnx", "coda_ref_resnet20"), 0.92);
}

}  // namespace
}  // namespace coda
