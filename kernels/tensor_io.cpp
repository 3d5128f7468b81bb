#include "kernels/tensor_io.h"

#include <cctype>
#include <climits>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/onnx_tensor.h"

namespace coda {

namespace {

// The .npy layout, from numpy/lib/format.py (NEP 1): magic "\x93NUMPY", major and minor version
// bytes, the header length (uint16 LE in 1.0, uint32 LE in 2.0 and 3.0), then the header: the
// repr of a dict {'descr', 'fortran_order', 'shape'} padded with spaces and ended by '\n' so that
// the data starts on a 64-byte boundary (ARRAY_ALIGN).
const char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicLength = 6;
constexpr std::size_t kArrayAlign = 64;
// numpy >= 1.23 leaves room for the first dimension to grow to this many digits in place.
constexpr std::size_t kGrowthAxisMaxDigits = 21;

// A parsed Python literal: just the kinds a .npy header uses.
struct Literal {
  enum Kind { String, Bool, Int, Sequence, None } kind = None;
  std::string text;
  bool flag = false;
  int64_t number = 0;
  std::vector<Literal> items;
};

// Recursive-descent parser for the header's dict literal (what ast.literal_eval accepts for it).
class HeaderParser {
 public:
  explicit HeaderParser(const std::string& text) : s_(text) {}

  std::map<std::string, Literal> dict() {
    std::map<std::string, Literal> entries;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      Literal key = value();
      if (key.kind != Literal::String) fail("dict keys must be strings");
      expect(':');
      Literal v = value();
      if (!entries.emplace(key.text, std::move(v)).second) fail("key '" + key.text + "' appears twice");
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() != '}') fail("expected ',' or '}'");
    }
    ++pos_;
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the dict");
    return entries;
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw BadInput("bad header: " + message + " at offset " + std::to_string(pos_));
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  bool keyword(const char* word) {
    std::size_t n = std::strlen(word);
    if (s_.compare(pos_, n, word) != 0) return false;
    pos_ += n;
    return true;
  }

  Literal value() {
    skip_space();
    Literal v;
    char c = peek();
    if (c == '\'' || c == '"') {
      v.kind = Literal::String;
      ++pos_;
      while (pos_ < s_.size() && s_[pos_] != c) {
        if (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ++pos_;
        v.text += s_[pos_++];
      }
      if (pos_ >= s_.size()) fail("unterminated string");
      ++pos_;
    } else if (c == '(' || c == '[') {
      v.kind = Literal::Sequence;
      const char close = c == '(' ? ')' : ']';
      ++pos_;
      while (true) {
        skip_space();
        if (peek() == close) break;
        v.items.push_back(value());
        skip_space();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        if (peek() != close) fail(std::string("expected ',' or '") + close + "'");
      }
      ++pos_;
    } else if (keyword("True")) {
      v.kind = Literal::Bool;
      v.flag = true;
    } else if (keyword("False")) {
      v.kind = Literal::Bool;
    } else if (c == '-' || std::isdigit(static_cast<unsigned char>(c))) {
      v.kind = Literal::Int;
      bool negative = c == '-';
      if (negative) ++pos_;
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a digit");
      uint64_t magnitude = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        magnitude = magnitude * 10 + static_cast<uint64_t>(s_[pos_++] - '0');
        if (magnitude > static_cast<uint64_t>(INT64_MAX)) fail("integer too large");
      }
      if (peek() == 'L') ++pos_;  // Python 2 long literals, as old numpy wrote them
      v.number = negative ? -static_cast<int64_t>(magnitude) : static_cast<int64_t>(magnitude);
    } else {
      fail("unexpected character");
    }
    return v;
  }

  const std::string& s_;
  std::size_t pos_ = 0;
};

struct NpyType {
  int32_t onnx_type;
  std::size_t size;
};

// dtype.str kind and size -> the ONNX element type with the same encoding.
bool npy_type(char kind, int size, NpyType& out) {
  using onnx::TensorProto;
  struct Entry {
    char kind;
    int size;
    int32_t type;
  };
  static const Entry table[] = {
      {'f', 2, TensorProto::FLOAT16}, {'f', 4, TensorProto::FLOAT},  {'f', 8, TensorProto::DOUBLE},
      {'i', 1, TensorProto::INT8},    {'i', 2, TensorProto::INT16},  {'i', 4, TensorProto::INT32},
      {'i', 8, TensorProto::INT64},   {'u', 1, TensorProto::UINT8},  {'u', 2, TensorProto::UINT16},
      {'u', 4, TensorProto::UINT32},  {'u', 8, TensorProto::UINT64}, {'b', 1, TensorProto::BOOL},
  };
  for (const Entry& e : table)
    if (e.kind == kind && e.size == size) {
      out = NpyType{e.type, static_cast<std::size_t>(size)};
      return true;
    }
  return false;
}

uint32_t load_u32_le(const std::string& bytes, std::size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(bytes[at])) |
         static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(bytes[at + 3])) << 24;
}

std::string lower_extension(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  std::size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

[[noreturn]] void unknown_extension(const std::string& path) {
  std::string ext = lower_extension(path);
  throw BadInput(path + ": unknown tensor file type " + (ext.empty() ? "(no extension)" : "'" + ext + "'") +
                 "; expected .npy or .pb");
}

std::string file_stem(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  std::size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

Tensor decode_pb(const std::string& bytes, const std::string& path, bool keep_float16) {
  if (bytes.empty()) throw BadInput(path + ": empty file, not a serialized onnx.TensorProto");
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    throw BadInput(path + ": larger than the 2 GiB protobuf limit");
  onnx::TensorProto proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw BadInput(path + ": not a serialized onnx.TensorProto (protobuf parse failed)");
  try {
    TensorProtoOptions options;
    options.base_dir = parent_directory(path);
    options.keep_float16 = keep_float16;
    return tensor_from_proto(proto, options);
  } catch (const BadInput& error) {
    rethrow_with_context(path, error);
  }
}

}  // namespace

Tensor decode_npy(const std::string& bytes, const std::string& source, bool keep_float16) {
  auto fail = [&](const std::string& message) -> void { throw BadInput(source + ": " + message); };
  if (bytes.empty()) fail("empty file, not a .npy array");
  if (bytes.size() < kMagicLength + 2 || bytes.compare(0, kMagicLength, kMagic, kMagicLength) != 0) {
    if (bytes.compare(0, std::min(bytes.size(), kMagicLength), kMagic, std::min(bytes.size(), kMagicLength)) == 0)
      fail("truncated .npy file (" + std::to_string(bytes.size()) + " bytes)");
    fail("not a .npy file (bad magic)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  if ((major != 1 && major != 2 && major != 3) || minor != 0)
    fail("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
         " (1.0, 2.0, 3.0 are known)");
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicLength + 2 + length_bytes;
  if (bytes.size() < prefix) fail("truncated .npy header");
  const std::size_t header_length =
      major == 1 ? static_cast<std::size_t>(static_cast<unsigned char>(bytes[8]) |
                                            static_cast<unsigned char>(bytes[9]) << 8)
                 : static_cast<std::size_t>(load_u32_le(bytes, 8));
  if (bytes.size() - prefix < header_length)
    fail("truncated .npy header (" + std::to_string(header_length) + " bytes announced, " +
         std::to_string(bytes.size() - prefix) + " present)");

  std::map<std::string, Literal> header;
  try {
    header = HeaderParser(bytes.substr(prefix, header_length)).dict();
  } catch (const BadInput& error) {
    fail(error.what());
  }
  for (const auto& entry : header)
    if (entry.first != "descr" && entry.first != "fortran_order" && entry.first != "shape")
      fail("bad header: unexpected key '" + entry.first + "'");
  for (const char* key : {"descr", "fortran_order", "shape"})
    if (!header.count(key)) fail(std::string("bad header: no '") + key + "'");
  const Literal& descr = header["descr"];
  const Literal& fortran = header["fortran_order"];
  const Literal& shape_literal = header["shape"];
  if (descr.kind != Literal::String) fail("unsupported dtype: structured arrays are not supported");
  if (fortran.kind != Literal::Bool) fail("bad header: 'fortran_order' is not True or False");
  if (fortran.flag)
    fail("Fortran-order arrays are not supported; save a C-order array (numpy.ascontiguousarray)");
  if (shape_literal.kind != Literal::Sequence) fail("bad header: 'shape' is not a tuple");
  Shape shape;
  for (const Literal& d : shape_literal.items) {
    if (d.kind != Literal::Int || d.number < 0) fail("bad header: 'shape' must hold non-negative integers");
    shape.push_back(d.number);
  }

  // descr is dtype.str: byte order ('<' little, '>' big, '|' not applicable, '=' native), kind, size.
  const std::string& code = descr.text;
  NpyType type{};
  bool parsed = code.size() >= 3 && std::strchr("<>|=", code[0]) != nullptr;
  int item_size = 0;
  for (std::size_t i = 2; parsed && i < code.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(code[i])) || item_size > 1000) parsed = false;
    else item_size = item_size * 10 + (code[i] - '0');
  }
  if (!parsed || !npy_type(code[1], item_size, type))
    fail("unsupported dtype '" + code + "' (float16/32/64, int8-64, uint8-64 and bool are supported)");
  const bool big_endian = code[0] == '>' || (code[0] == '=' && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);

  int64_t count = 0;
  try {
    count = element_count(shape);
  } catch (const BadInput& error) {
    fail(std::string("bad header: ") + error.what());
  }
  const std::size_t data_offset = prefix + header_length;
  const std::size_t present = bytes.size() - data_offset;
  const auto count_u = static_cast<uint64_t>(count);
  if (count_u > SIZE_MAX / type.size) fail("shape " + shape_string(shape) + " is too large");
  const std::size_t needed = static_cast<std::size_t>(count_u) * type.size;
  if (present < needed)
    fail("truncated data: shape " + shape_string(shape) + " of '" + code + "' needs " + std::to_string(needed) +
         " bytes, the file holds " + std::to_string(present));
  if (present > needed)
    fail(std::to_string(present - needed) + " bytes after the data that shape " + shape_string(shape) +
         " of '" + code + "' describes");

  const char* data = bytes.data() + data_offset;
  std::string swapped;
  if (big_endian && type.size > 1) {
    swapped.assign(data, needed);
    for (std::size_t i = 0; i < needed; i += type.size)
      for (std::size_t a = i, b = i + type.size - 1; a < b; ++a, --b) std::swap(swapped[a], swapped[b]);
    data = swapped.data();
  }
  try {
    return decode_little_endian(data, needed, type.onnx_type, shape, keep_float16, "data");
  } catch (const BadInput& error) {
    rethrow_with_context(source, error);
  }
}

std::string encode_npy(const Tensor& tensor) {
  if (tensor.size() > 0 && !tensor.raw()) throw std::logic_error("encode_npy: tensor has a shape but no data");
  const char* descr = tensor.dtype() == DType::Float32 ? "<f4" : tensor.dtype() == DType::Float16 ? "<f2" : "<i8";
  // Exactly numpy's _write_array_header: sorted keys, repr of the shape tuple, growth room, then
  // padding so that magic + length + header + '\n' is a multiple of 64 (at least one space).
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  const Shape& shape = tensor.shape();
  for (std::size_t i = 0; i < shape.size(); ++i) header += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) header += ",";
  header += "), }";
  if (!shape.empty()) {
    std::size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) header.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  std::size_t length_bytes = 2;
  std::size_t total = kMagicLength + 2 + length_bytes + header.size() + 1;
  std::size_t pad = kArrayAlign - total % kArrayAlign;
  if (header.size() + 1 + pad > 0xFFFF) {  // format 2.0 only when the 1.0 length field overflows
    length_bytes = 4;
    total = kMagicLength + 2 + length_bytes + header.size() + 1;
    pad = kArrayAlign - total % kArrayAlign;
  }
  header.append(pad, ' ');
  header += '\n';

  std::string out(kMagic, kMagicLength);
  out += static_cast<char>(length_bytes == 2 ? 1 : 2);
  out += '\0';
  const std::size_t n = header.size();
  for (std::size_t b = 0; b < length_bytes; ++b) out += static_cast<char>((n >> (8 * b)) & 0xFF);
  out += header;
  const std::size_t offset = out.size();
  out.resize(offset + tensor.bytes());
  if (tensor.bytes()) std::memcpy(&out[offset], tensor.raw(), tensor.bytes());
  if (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__) {
    const std::size_t esize = dtype_size(tensor.dtype());
    for (std::size_t i = offset; i < out.size(); i += esize)
      for (std::size_t a = i, b = i + esize - 1; a < b; ++a, --b) std::swap(out[a], out[b]);
  }
  return out;
}

Tensor read_tensor_file(const std::string& path, bool keep_float16) {
  const std::string ext = lower_extension(path);
  if (ext != ".npy" && ext != ".pb") unknown_extension(path);
  const std::string bytes = read_file(path);
  if (ext == ".npy") return decode_npy(bytes, path, keep_float16);
  return decode_pb(bytes, path, keep_float16);
}

void write_tensor_file(const Tensor& tensor, const std::string& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".npy") {
    write_file_atomically(path, encode_npy(tensor));
  } else if (ext == ".pb") {
    onnx::TensorProto proto = tensor_to_proto(tensor, file_stem(path));
    if (proto.ByteSizeLong() > static_cast<std::size_t>(INT_MAX))
      throw BadInput(path + ": a " + shape_string(tensor.shape()) +
                     " tensor exceeds the 2 GiB protobuf limit of .pb files; write .npy instead");
    write_file_atomically(path, proto.SerializeAsString());
  } else {
    unknown_extension(path);
  }
}

}  // namespace coda
