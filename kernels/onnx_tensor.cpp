#include "kernels/onnx_tensor.h"

#include <cstring>
#include <fstream>
#include <limits>

#include "kernels/error.h"

namespace coda {

namespace {

using onnx::TensorProto;

constexpr bool kLittleEndianHost = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// Size in bytes of one element in raw_data (onnx.proto: "fixed-width, little-endian"); 0 for
// types without a fixed-width raw encoding.
std::size_t raw_element_size(int32_t type) {
  switch (type) {
    case TensorProto::BOOL:
    case TensorProto::INT8:
    case TensorProto::UINT8: return 1;
    case TensorProto::INT16:
    case TensorProto::UINT16:
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: return 2;
    case TensorProto::FLOAT:
    case TensorProto::INT32:
    case TensorProto::UINT32: return 4;
    case TensorProto::DOUBLE:
    case TensorProto::INT64:
    case TensorProto::UINT64: return 8;
    default: return 0;
  }
}

template <typename T>
T load_le(const char* p) {
  T value;
  if (kLittleEndianHost) {
    std::memcpy(&value, p, sizeof(T));
  } else {
    char swapped[sizeof(T)];
    for (std::size_t i = 0; i < sizeof(T); ++i) swapped[i] = p[sizeof(T) - 1 - i];
    std::memcpy(&value, swapped, sizeof(T));
  }
  return value;
}

// Copies `count` elements of `size` bytes between little-endian (file) order and host order; the
// conversion is its own inverse, so it serves reading and writing.
void copy_from_le(void* dst, const char* src, std::size_t count, std::size_t size) {
  std::memcpy(dst, src, count * size);
  if (!kLittleEndianHost && size > 1) {
    auto* bytes = static_cast<unsigned char*>(dst);
    for (std::size_t i = 0; i < count; ++i)
      for (std::size_t a = 0, b = size - 1; a < b; ++a, --b) std::swap(bytes[i * size + a], bytes[i * size + b]);
  }
}

float bfloat16_to_float(uint16_t bits) {
  // bfloat16 is the upper half of an IEEE float32 (Google Brain's format, as in onnx.proto).
  uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof value);
  return value;
}

Eigen::half half_from_bits(uint16_t bits) {
  return Eigen::half(Eigen::half_impl::raw_uint16_to_half(bits));
}

int64_t checked_uint64(uint64_t value) {
  if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw BadInput("UINT64 value " + std::to_string(value) + " does not fit in int64");
  return static_cast<int64_t>(value);
}

// Widens float16 stored in a Float16 tensor as needed (vectorised by Tensor::to).
Tensor finish_float16(Tensor half, bool keep_float16) {
  return keep_float16 ? half : half.to(DType::Float32);
}

Tensor decode_raw(const char* data, std::size_t bytes, int32_t type, const Shape& shape, bool keep_float16,
                  const char* what) {
  const std::size_t esize = raw_element_size(type);
  const auto count = static_cast<std::size_t>(element_count(shape));
  if (count > std::numeric_limits<std::size_t>::max() / esize || bytes != count * esize)
    throw BadInput(std::string(what) + " has " + std::to_string(bytes) + " bytes, shape " + shape_string(shape) +
                   " of " + onnx_type_name(type) + " needs " + std::to_string(count * esize));
  switch (type) {
    case TensorProto::FLOAT: {
      Tensor out(shape, DType::Float32);
      copy_from_le(out.raw(), data, count, 4);
      return out;
    }
    case TensorProto::FLOAT16: {
      Tensor half(shape, DType::Float16);
      copy_from_le(half.raw(), data, count, 2);
      return finish_float16(std::move(half), keep_float16);
    }
    case TensorProto::INT64: {
      Tensor out(shape, DType::Int64);
      copy_from_le(out.raw(), data, count, 8);
      return out;
    }
    default: break;
  }
  if (type == TensorProto::DOUBLE || type == TensorProto::BFLOAT16) {
    Tensor out(shape, DType::Float32);
    float* dst = out.f32();
    for (std::size_t i = 0; i < count; ++i)
      dst[i] = type == TensorProto::DOUBLE ? static_cast<float>(load_le<double>(data + 8 * i))
                                           : bfloat16_to_float(load_le<uint16_t>(data + 2 * i));
    return out;
  }
  Tensor out(shape, DType::Int64);
  int64_t* dst = out.i64();
  for (std::size_t i = 0; i < count; ++i) {
    const char* p = data + esize * i;
    switch (type) {
      case TensorProto::BOOL: dst[i] = *p != 0 ? 1 : 0; break;
      case TensorProto::INT8: dst[i] = static_cast<int8_t>(*p); break;
      case TensorProto::UINT8: dst[i] = static_cast<uint8_t>(*p); break;
      case TensorProto::INT16: dst[i] = load_le<int16_t>(p); break;
      case TensorProto::UINT16: dst[i] = load_le<uint16_t>(p); break;
      case TensorProto::INT32: dst[i] = load_le<int32_t>(p); break;
      case TensorProto::UINT32: dst[i] = load_le<uint32_t>(p); break;
      case TensorProto::UINT64: dst[i] = checked_uint64(load_le<uint64_t>(p)); break;
      default: throw std::logic_error("decode_raw: unhandled type");
    }
  }
  return out;
}

template <typename Field>
void check_field_size(const Field& field, const char* field_name, std::size_t count, const Shape& shape) {
  if (static_cast<std::size_t>(field.size()) != count)
    throw BadInput(std::string(field_name) + " has " + std::to_string(field.size()) + " values, shape " +
                   shape_string(shape) + " needs " + std::to_string(count));
}

// The typed repeated fields, as onnx.proto assigns them to data types.
Tensor decode_typed(const TensorProto& proto, const Shape& shape, bool keep_float16) {
  const int32_t type = proto.data_type();
  const auto count = static_cast<std::size_t>(element_count(shape));
  switch (type) {
    case TensorProto::FLOAT: {
      check_field_size(proto.float_data(), "float_data", count, shape);
      Tensor out(shape, DType::Float32);
      std::copy(proto.float_data().begin(), proto.float_data().end(), out.f32());
      return out;
    }
    case TensorProto::DOUBLE: {
      check_field_size(proto.double_data(), "double_data", count, shape);
      Tensor out(shape, DType::Float32);
      for (std::size_t i = 0; i < count; ++i) out.f32()[i] = static_cast<float>(proto.double_data(static_cast<int>(i)));
      return out;
    }
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16: {
      // onnx.proto: 16-bit floats are stored bit-for-bit in the low half of int32_data.
      check_field_size(proto.int32_data(), "int32_data", count, shape);
      if (type == TensorProto::FLOAT16) {
        Tensor half(shape, DType::Float16);
        for (std::size_t i = 0; i < count; ++i)
          half.f16()[i] = half_from_bits(static_cast<uint16_t>(proto.int32_data(static_cast<int>(i))));
        return finish_float16(std::move(half), keep_float16);
      }
      Tensor out(shape, DType::Float32);
      for (std::size_t i = 0; i < count; ++i)
        out.f32()[i] = bfloat16_to_float(static_cast<uint16_t>(proto.int32_data(static_cast<int>(i))));
      return out;
    }
    case TensorProto::INT64: {
      check_field_size(proto.int64_data(), "int64_data", count, shape);
      Tensor out(shape, DType::Int64);
      std::copy(proto.int64_data().begin(), proto.int64_data().end(), out.i64());
      return out;
    }
    case TensorProto::UINT32:
    case TensorProto::UINT64: {
      check_field_size(proto.uint64_data(), "uint64_data", count, shape);
      Tensor out(shape, DType::Int64);
      for (std::size_t i = 0; i < count; ++i) out.i64()[i] = checked_uint64(proto.uint64_data(static_cast<int>(i)));
      return out;
    }
    default: {
      // INT32, INT16, INT8, UINT16, UINT8, BOOL: one value per int32_data entry.
      check_field_size(proto.int32_data(), "int32_data", count, shape);
      Tensor out(shape, DType::Int64);
      for (std::size_t i = 0; i < count; ++i) {
        int32_t v = proto.int32_data(static_cast<int>(i));
        out.i64()[i] = type == TensorProto::BOOL ? (v != 0 ? 1 : 0) : v;
      }
      return out;
    }
  }
}

bool escapes_directory(const std::string& location) {
  if (location.empty() || location.front() == '/') return true;
  std::size_t start = 0;
  while (start <= location.size()) {
    std::size_t end = location.find('/', start);
    if (end == std::string::npos) end = location.size();
    if (location.compare(start, end - start, "..") == 0 && end - start == 2) return true;
    start = end + 1;
  }
  return false;
}

uint64_t parse_size_entry(const std::string& key, const std::string& text) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    if (text.empty() || text.front() == '-') throw std::invalid_argument(text);
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw BadInput("external_data '" + key + "' is '" + text + "', not a byte count");
  return value;
}

// onnx/external_data_helper: keys "location" (relative to the model), "offset", "length".
Tensor decode_external(const TensorProto& proto, const Shape& shape, const TensorProtoOptions& options) {
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location") location = entry.value();
    else if (entry.key() == "offset") offset = parse_size_entry(entry.key(), entry.value());
    else if (entry.key() == "length") length = parse_size_entry(entry.key(), entry.value());
  }
  if (location.empty()) throw BadInput("external data has no location");
  // The ONNX checker refuses locations outside the model's directory; so do we, so that a model
  // cannot make coda read arbitrary files.
  if (escapes_directory(location))
    throw BadInput("external data location '" + location + "' is outside the model's directory");
  const std::string path = (options.base_dir.empty() ? std::string(".") : options.base_dir) + "/" + location;

  std::ifstream file(path, std::ios::binary);
  if (!file) throw BadInput("external data file '" + path + "': cannot open: " + std::strerror(errno));
  file.seekg(0, std::ios::end);
  const auto file_size = static_cast<uint64_t>(file.tellg());
  if (offset > file_size)
    throw BadInput("external data file '" + path + "' has " + std::to_string(file_size) + " bytes, offset " +
                   std::to_string(offset) + " is past its end");
  const uint64_t available = file_size - offset;
  const uint64_t want = length ? *length : available;
  if (want > available)
    throw BadInput("external data file '" + path + "' is truncated: " + std::to_string(want) + " bytes at offset " +
                   std::to_string(offset) + ", " + std::to_string(available) + " present");
  // Compare with the dims before reading, so a wrong length never allocates a huge buffer.
  const std::size_t esize = raw_element_size(proto.data_type());
  const auto count = static_cast<uint64_t>(element_count(shape));
  if (want != count * esize)
    throw BadInput("external data has " + std::to_string(want) + " bytes, shape " + shape_string(shape) + " of " +
                   onnx_type_name(proto.data_type()) + " needs " + std::to_string(count * esize));
  check_allocation(static_cast<std::size_t>(want), "external data of '" + proto.name() + "'");
  std::string bytes(static_cast<std::size_t>(want), '\0');
  file.seekg(static_cast<std::streamoff>(offset));
  file.read(bytes.data(), static_cast<std::streamsize>(want));
  if (!file) throw BadInput("external data file '" + path + "': cannot read");
  return decode_raw(bytes.data(), bytes.size(), proto.data_type(), shape, options.keep_float16, "external data");
}

std::string tensor_label(const std::string& name) { return name.empty() ? "tensor" : "tensor '" + name + "'"; }

}  // namespace

Tensor decode_little_endian(const char* data, std::size_t bytes, int32_t onnx_type, const Shape& shape,
                            bool keep_float16, const char* what) {
  if (!dtype_from_onnx(onnx_type) || raw_element_size(onnx_type) == 0)
    throw BadInput(std::string(what) + " has data type " + onnx_type_name(onnx_type) + ", which coda does not support");
  return decode_raw(data, bytes, onnx_type, shape, keep_float16, what);
}

std::optional<DType> dtype_from_onnx(int32_t elem_type, bool keep_float16) {
  switch (elem_type) {
    case TensorProto::FLOAT:
    case TensorProto::DOUBLE:
    case TensorProto::BFLOAT16: return DType::Float32;
    case TensorProto::FLOAT16: return keep_float16 ? DType::Float16 : DType::Float32;
    case TensorProto::BOOL:
    case TensorProto::INT8:
    case TensorProto::UINT8:
    case TensorProto::INT16:
    case TensorProto::UINT16:
    case TensorProto::INT32:
    case TensorProto::UINT32:
    case TensorProto::INT64:
    case TensorProto::UINT64: return DType::Int64;
    default: return std::nullopt;
  }
}

int32_t onnx_elem_type(DType dtype) {
  switch (dtype) {
    case DType::Float32: return TensorProto::FLOAT;
    case DType::Float16: return TensorProto::FLOAT16;
    case DType::Int64: return TensorProto::INT64;
  }
  return TensorProto::UNDEFINED;
}

std::string onnx_type_name(int32_t elem_type) {
  if (TensorProto::DataType_IsValid(elem_type))
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(elem_type));
  return "type " + std::to_string(elem_type);
}

Tensor tensor_from_proto(const TensorProto& proto, const TensorProtoOptions& options) {
  try {
    const int32_t type = proto.data_type();
    if (type == TensorProto::UNDEFINED) throw BadInput("has no data type");
    if (!dtype_from_onnx(type) || raw_element_size(type) == 0)
      throw BadInput("has data type " + onnx_type_name(type) + ", which coda does not support (numeric tensors only)");
    if (proto.has_segment()) throw BadInput("is split into segments, which coda does not support");
    Shape shape(proto.dims().begin(), proto.dims().end());
    element_count(shape);  // rejects negative dimensions and overflow before any decoding
    if (proto.data_location() == TensorProto::EXTERNAL) return decode_external(proto, shape, options);
    if (proto.has_raw_data())
      return decode_raw(proto.raw_data().data(), proto.raw_data().size(), type, shape, options.keep_float16,
                        "raw_data");
    return decode_typed(proto, shape, options.keep_float16);
  } catch (const BadInput& error) {
    // Messages from the helpers start with a field name or a verb ("has ..."); join accordingly.
    std::string message = error.what();
    bool verb = message.rfind("has ", 0) == 0 || message.rfind("is ", 0) == 0;
    throw BadInput(tensor_label(proto.name()) + (verb ? " " : ": ") + message);
  }
}

Tensor tensor_from_sparse_proto(const onnx::SparseTensorProto& proto, const TensorProtoOptions& options) {
  const std::string label = tensor_label(proto.values().name());
  Tensor values = tensor_from_proto(proto.values(), options);
  Tensor indices = tensor_from_proto(proto.indices(), options);
  Shape shape(proto.dims().begin(), proto.dims().end());
  int64_t dense_count = 0;
  try {
    dense_count = element_count(shape);
  } catch (const BadInput& error) {
    rethrow_with_context(label, error);
  }
  const int64_t nnz = values.size();
  if (values.rank() != 1) throw BadInput(label + ": sparse values must be 1-D, got " + shape_string(values.shape()));
  if (indices.dtype() != DType::Int64) throw BadInput(label + ": sparse indices must be integers");
  // onnx.proto: indices are either [NNZ] linearised or [NNZ, rank] coordinates.
  const bool linear = indices.rank() == 1 && indices.dim(0) == nnz;
  const bool coords = indices.rank() == 2 && indices.dim(0) == nnz && indices.dim(1) == static_cast<int64_t>(shape.size());
  if (!linear && !coords)
    throw BadInput(label + ": sparse indices of shape " + shape_string(indices.shape()) + " do not fit " +
                   std::to_string(nnz) + " values of a " + shape_string(shape) + " tensor");
  Tensor dense = Tensor::zeros(shape, values.dtype());
  const std::size_t esize = dtype_size(values.dtype());
  const int64_t* idx = indices.i64();
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t offset = 0;
    if (linear) {
      offset = idx[k];
    } else {
      for (std::size_t d = 0; d < shape.size(); ++d) {
        int64_t c = idx[k * static_cast<int64_t>(shape.size()) + static_cast<int64_t>(d)];
        if (c < 0 || c >= shape[d]) {
          offset = -1;
          break;
        }
        offset = offset * shape[d] + c;
      }
    }
    if (offset < 0 || offset >= dense_count)
      throw BadInput(label + ": sparse index " + std::to_string(k) + " is out of range for shape " + shape_string(shape));
    std::memcpy(static_cast<char*>(dense.raw()) + static_cast<std::size_t>(offset) * esize,
                static_cast<const char*>(values.raw()) + static_cast<std::size_t>(k) * esize, esize);
  }
  return dense;
}

TensorProto tensor_to_proto(const Tensor& tensor, const std::string& name) {
  TensorProto proto;
  proto.set_name(name);
  proto.set_data_type(onnx_elem_type(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto.add_dims(d);
  if (tensor.size() > 0 && !tensor.raw())
    throw std::logic_error("tensor_to_proto: tensor '" + name + "' has a shape but no data");
  std::string* raw = proto.mutable_raw_data();
  raw->resize(tensor.bytes());
  if (tensor.bytes()) copy_from_le(raw->data(), static_cast<const char*>(tensor.raw()), static_cast<std::size_t>(tensor.size()),
                                   dtype_size(tensor.dtype()));
  return proto;
}

}  // namespace coda
