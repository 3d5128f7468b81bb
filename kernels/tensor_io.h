// Tensor files: NumPy .npy (what Python users hand over) and serialized onnx.TensorProto .pb (the
// ONNX test-data format). The file type follows the extension.
#pragma once

#include <string>

#include "kernels/tensor.h"

namespace coda {

// Reads a .npy (format versions 1.0, 2.0, 3.0; C order; dtypes f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8
// b1 in either byte order) or a .pb file. Floating types become Float32 (float16 stays Float16 if
// `keep_float16`), integer and boolean types Int64. Every problem throws BadInput "PATH: ...".
Tensor read_tensor_file(const std::string& path, bool keep_float16 = false);

// Writes .npy (float32 '<f4', float16 '<f2', int64 '<i8'; header laid out as numpy writes it) or
// .pb, atomically (see write_file_atomically).
void write_tensor_file(const Tensor& tensor, const std::string& path);

// In-memory forms of the .npy codec; `source` names the data in messages.
std::string encode_npy(const Tensor& tensor);
Tensor decode_npy(const std::string& bytes, const std::string& source, bool keep_float16 = false);

}  // namespace coda
