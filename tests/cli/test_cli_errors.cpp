// Bad input to `coda run` must end with exit code 2, exactly one line on stderr that names the
// file and the problem, and no output file: never a crash, a stack trace or a half-written result.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/tensor.h"
#include "kernels/tensor_io.h"
#include "tests/support/onnx_builder.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_files.h"

namespace coda::test {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

class CliErrors : public ::testing::Test {
 protected:
  fs::path path(const std::string& name) const { return dir_ / name; }

  // Runs the coda binary, its stdout and stderr captured in files of the test's directory.
  ProcessResult run(const std::vector<std::string>& args) const {
    return run_process(CODA_BINARY, args, dir_.string());
  }

  // `coda run --model M [--input I...] --output out.npy`
  ProcessResult run_model(const fs::path& model, const std::vector<fs::path>& inputs) const {
    std::vector<std::string> args{"run", "--model", model.string()};
    for (const auto& in : inputs) {
      args.push_back("--input");
      args.push_back(in.string());
    }
    args.push_back("--output");
    args.push_back(out_.string());
    return run(args);
  }

  // The contract: exit 2, one line, every `needles` entry present (case-insensitive), no output.
  void expect_bad_input(const ProcessResult& p, const std::vector<std::string>& needles) const {
    EXPECT_EQ(p.exit_code, 2) << "stderr: " << p.err;
    EXPECT_EQ(std::count(p.err.begin(), p.err.end(), '\n'), 1) << "want exactly one line, got: " << p.err;
    EXPECT_TRUE(!p.err.empty() && p.err.back() == '\n') << p.err;
    for (const std::string& n : needles)
      EXPECT_NE(lower(p.err).find(lower(n)), std::string::npos) << "'" << n << "' missing from: " << p.err;
    EXPECT_FALSE(fs::exists(out_)) << "no output may be written on bad input";
  }

  // A valid model: x[1,3,8,8] -> Conv 3->4 (3x3, pad 1) -> Relu -> y.
  fs::path write_small_model(const std::string& name = "model.onnx") const {
    ModelBuilder b(13);
    b.input("x", {1, 3, 8, 8});
    std::string y = b.relu(b.conv("x", 3, 4, 3, 1, 1));
    b.output(y, {1, 4, 8, 8});
    fs::path p = path(name);
    b.write(p.string());
    return p;
  }

  fs::path write_input(const std::string& name, const Shape& shape) const {
    fs::path p = path(name);
    Tensor t = Tensor::filled(shape, 0.5f);
    write_tensor_file(t, p.string());
    return p;
  }

  TempDir tmp_{"coda_cli_errors_"};
  const fs::path dir_{tmp_.path()};
  const fs::path out_{dir_ / "out.npy"};
};

TEST_F(CliErrors, ValidModelRunsAndWritesItsOutput) {
  // The baseline the other tests perturb: without a fault the same command succeeds.
  fs::path model = write_small_model();
  ProcessResult p = run_model(model, {write_input("x.npy", {1, 3, 8, 8})});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  Tensor y = read_tensor_file(out_.string());
  EXPECT_EQ(y.shape(), (Shape{1, 4, 8, 8}));
}

TEST_F(CliErrors, TruncatedModel) {
  fs::path good = write_small_model("good.onnx");
  std::string bytes = read_bytes(good);
  fs::path model = path("truncated.onnx");
  write_bytes(model, bytes.substr(0, bytes.size() / 2));
  expect_bad_input(run_model(model, {write_input("x.npy", {1, 3, 8, 8})}), {model.string()});
}

TEST_F(CliErrors, NotAnOnnxFile) {
  fs::path model = path("notes.onnx");
  write_bytes(model, "{\"this\": \"is JSON, not a serialized onnx.ModelProto\"}\n");
  expect_bad_input(run_model(model, {write_input("x.npy", {1, 3, 8, 8})}), {model.string()});
}

TEST_F(CliErrors, MissingModel) {
  fs::path model = path("does_not_exist.onnx");
  expect_bad_input(run_model(model, {write_input("x.npy", {1, 3, 8, 8})}), {model.string()});
}

TEST_F(CliErrors, UnsupportedOpNamesOpTypeAndNode) {
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  b.node("FancyWarp", {"x"}, {"y"}, {attr_float("strength", 2.0f)}, "warp_node_7");
  b.output("y", {1, 3, 8, 8});
  fs::path model = path("custom.onnx");
  b.write(model.string());
  expect_bad_input(run_model(model, {write_input("x.npy", {1, 3, 8, 8})}),
                   {model.string(), "FancyWarp", "warp_node_7", "unsupported"});
}

TEST_F(CliErrors, InputOfTheWrongShape) {
  fs::path model = write_small_model();
  expect_bad_input(run_model(model, {write_input("x.npy", {1, 3, 9, 9})}), {model.string(), "shape", "1x3x9x9"});
}

TEST_F(CliErrors, InputOfTheWrongRank) {
  fs::path model = write_small_model();
  expect_bad_input(run_model(model, {write_input("x.npy", {3, 8, 8})}), {model.string(), "shape"});
}

TEST_F(CliErrors, Int64InputForAFloatInput) {
  fs::path model = write_small_model();
  fs::path in = path("x_int.npy");
  write_tensor_file(Tensor::from_int64({1, 3, 8, 8}, std::vector<int64_t>(192, 1)), in.string());
  expect_bad_input(run_model(model, {in}), {model.string(), "int64"});
}

TEST_F(CliErrors, TooManyInputs) {
  fs::path model = write_small_model();
  fs::path x = write_input("x.npy", {1, 3, 8, 8});
  expect_bad_input(run_model(model, {x, x}), {model.string(), "input"});
}

TEST_F(CliErrors, ShapeMismatchInsideTheModel) {
  // Conv weights expect 4 input channels; the data has 3.
  ModelBuilder b(13);
  b.input("x", {1, 3, 8, 8});
  b.initializer_normal("w", {2, 4, 3, 3}, 0.1);
  b.node("Conv", {"x", "w"}, {"y"}, {attr_ints("kernel_shape", {3, 3})}, "mismatched_conv");
  b.output("y", {1, 2, 6, 6});
  fs::path model = path("mismatch.onnx");
  b.write(model.string());
  expect_bad_input(run_model(model, {write_input("x.npy", {1, 3, 8, 8})}), {model.string(), "mismatched_conv"});
}

TEST_F(CliErrors, ConstantTooLargeForMemory) {
  // ConstantOfShape folds to a 1x3x100000x100000 float tensor: 120 GB.
  ModelBuilder b(13);
  b.input("x", {1});
  b.initializer_i64("big_shape", {4}, {1, 3, 100000, 100000});
  b.node("ConstantOfShape", {"big_shape"}, {"c"}, {attr_tensor("value", tensor_proto_f32("", {1}, {1.0f}))},
         "huge_fill");
  b.node("Add", {"c", "x"}, {"y"});
  b.output("y", {1, 3, 100000, 100000});
  fs::path model = path("huge_constant.onnx");
  b.write(model.string());
  expect_bad_input(run_model(model, {write_input("x.npy", {1})}), {model.string(), "memory"});
}

TEST_F(CliErrors, InputTooLargeForMemory) {
  // Without --input coda generates the input itself: 1x3x100000x100000 floats (120 GB).
  ModelBuilder b(13);
  b.input("x", {1, 3, 100000, 100000});
  b.output(b.relu("x"), {1, 3, 100000, 100000});
  fs::path model = path("huge_input.onnx");
  b.write(model.string());
  expect_bad_input(run({"run", "--model", model.string(), "--output", out_.string()}), {model.string(), "memory"});
}

TEST_F(CliErrors, MalformedNpyMagic) {
  fs::path model = write_small_model();
  fs::path in = path("bad_magic.npy");
  write_bytes(in, std::string("NOTNUMPY") + std::string(200, '\0'));
  expect_bad_input(run_model(model, {in}), {in.string()});
}

TEST_F(CliErrors, MalformedNpyTruncatedData) {
  fs::path model = write_small_model();
  fs::path good = write_input("good.npy", {1, 3, 8, 8});
  std::string bytes = read_bytes(good);
  fs::path in = path("truncated.npy");
  write_bytes(in, bytes.substr(0, bytes.size() - 100));
  expect_bad_input(run_model(model, {in}), {in.string()});
}

TEST_F(CliErrors, MalformedNpyHeader) {
  fs::path model = write_small_model();
  fs::path in = path("bad_header.npy");
  // Version 1.0 magic, a header length of 30 and a header that is not a Python dict literal.
  std::string header = "this is not a dict literal   \n";
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + std::string(1, static_cast<char>(header.size())) +
                      std::string(1, '\0') + header + std::string(768, '\0');
  write_bytes(in, bytes);
  expect_bad_input(run_model(model, {in}), {in.string()});
}

TEST_F(CliErrors, MissingInputFile) {
  fs::path model = write_small_model();
  fs::path in = path("nowhere.npy");
  expect_bad_input(run_model(model, {in}), {in.string()});
}

TEST_F(CliErrors, MissingModelFlag) {
  fs::path x = write_input("x.npy", {1, 3, 8, 8});
  expect_bad_input(run({"run", "--input", x.string(), "--output", out_.string()}), {"--model"});
}

}  // namespace
}  // namespace coda::test
