// An independent, deliberately naive interpreter of ONNX models: the oracle the tests compare
// coda's kernels against. Every op is a direct transcription of the ONNX operator specification
// (https://github.com/onnx/onnx/blob/main/docs/Operators.md) with nested loops, explicit index
// arithmetic and double precision throughout. It shares no code with coda's kernels, importer or
// tensor type; speed is not a goal, obviousness is.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace coda::test {

// A tensor of the reference interpreter: float data kept in double, integer data in int64.
struct RefTensor {
  std::vector<int64_t> shape;
  bool is_int = false;
  std::vector<double> f;   // when !is_int
  std::vector<int64_t> i;  // when is_int

  int64_t size() const;
  static RefTensor floats(std::vector<int64_t> shape, const std::vector<float>& values);
  static RefTensor doubles(std::vector<int64_t> shape, std::vector<double> values);
  static RefTensor ints(std::vector<int64_t> shape, std::vector<int64_t> values);
  std::vector<float> to_floats() const;
};

// Decodes FLOAT, DOUBLE, FLOAT16, INT32, INT64 and BOOL tensors (typed fields or raw_data).
RefTensor ref_from_proto(const onnx::TensorProto& proto);

// Work the reference saw while running, for cross-checking cost models.
struct RefStats {
  int64_t macs = 0;                          // Conv, Gemm and MatMul multiply-accumulates
  std::map<std::string, int64_t> op_counts;  // nodes executed per op type
};

// Runs the model's main graph. `inputs` bind, in order, to the graph inputs that are not
// initializers. Returns the graph outputs in order. Throws std::runtime_error for an op or
// attribute combination the reference does not implement, so a test can never silently compare
// against nonsense.
std::vector<RefTensor> reference_run(const onnx::ModelProto& model, const std::vector<RefTensor>& inputs,
                                     RefStats* stats = nullptr);

// Deterministic pseudo-random input data: N(0, 1) values from a seeded generator.
std::vector<float> random_input(int64_t count, uint64_t seed);

}  // namespace coda::test
