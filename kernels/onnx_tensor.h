// Conversion between onnx::TensorProto and coda::Tensor, shared by the ONNX importer/exporter and
// the .pb tensor files. coda computes in float32 and does shape arithmetic in int64, so every
// floating type widens to Float32 (float16 may stay Float16 on request) and every integer or
// boolean type widens to Int64.
#pragma once

#include <optional>
#include <string>

#include <onnx/onnx_pb.h>

#include "kernels/tensor.h"

namespace coda {

struct TensorProtoOptions {
  // Directory that external-data locations are relative to (the model's directory).
  std::string base_dir = ".";
  // Keep FLOAT16 data as Float16 instead of widening it to Float32.
  bool keep_float16 = false;
};

// Decodes raw_data (little endian, per onnx.proto) or the typed repeated field, or external data.
// Throws BadInput naming the tensor when the data size does not match the dims, the data type is
// not numeric, or an external file cannot be read.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const TensorProtoOptions& options = {});
// Densifies a SparseTensorProto (sparse initializers, Constant's sparse_value).
Tensor tensor_from_sparse_proto(const onnx::SparseTensorProto& proto, const TensorProtoOptions& options = {});

// Decodes `bytes` little-endian elements of ONNX type `onnx_type` (any numeric type) into a
// tensor of `shape`, widening as tensor_from_proto does; BadInput if the size does not match.
// `what` names the data in that message ("raw_data"). Shared with the .npy reader.
Tensor decode_little_endian(const char* data, std::size_t bytes, int32_t onnx_type, const Shape& shape,
                            bool keep_float16, const char* what);

// Float32 -> FLOAT, Float16 -> FLOAT16, Int64 -> INT64, data in raw_data (bit-exact).
onnx::TensorProto tensor_to_proto(const Tensor& tensor, const std::string& name);

// The coda dtype a value of ONNX element type `elem_type` gets, or nullopt for types coda cannot
// hold (strings, complex numbers, undefined).
std::optional<DType> dtype_from_onnx(int32_t elem_type, bool keep_float16 = false);
int32_t onnx_elem_type(DType dtype);
// "FLOAT16", "STRING", ... or "type N" for values outside onnx.proto.
std::string onnx_type_name(int32_t elem_type);

}  // namespace coda
