// NumPy .npy image and label arrays, decoded by kernels/tensor_io.h except for uint8 images,
// which are scaled straight from the file's bytes (decode_npy widens integers to int64, eight
// times the memory of the pixels).
#include <algorithm>
#include <cstring>

#include "kernels/atomic_file.h"
#include "kernels/dataset_formats.h"
#include "kernels/error.h"
#include "kernels/tensor_io.h"

namespace coda::dataset_detail {

namespace {

// What the header of a well-formed C-order .npy file says (numpy/lib/format.py: magic
// "\x93NUMPY", version, little-endian header length, dict literal). `ok` is false for anything
// unusual; decode_npy then reads the file and reports the problem precisely.
struct NpyPeek {
  bool ok = false;
  std::string descr;
  Shape shape;
  std::size_t data_offset = 0;
};

std::string quoted_value_after(const std::string& header, const std::string& key) {
  std::size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) return "";
  std::size_t q = header.find_first_of("'\"", header.find(':', k));
  if (q == std::string::npos) return "";
  std::size_t e = header.find(header[q], q + 1);
  return e == std::string::npos ? "" : header.substr(q + 1, e - q - 1);
}

NpyPeek peek_npy(const std::string& bytes) {
  NpyPeek p;
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return p;
  const int major = static_cast<unsigned char>(bytes[6]);
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  if (major < 1 || major > 3 || bytes.size() < 8 + length_bytes) return p;
  std::size_t header_length = 0;
  for (std::size_t b = 0; b < length_bytes; ++b)
    header_length |= static_cast<std::size_t>(static_cast<unsigned char>(bytes[8 + b])) << (8 * b);
  if (bytes.size() - 8 - length_bytes < header_length) return p;
  const std::string header = bytes.substr(8 + length_bytes, header_length);
  p.descr = quoted_value_after(header, "descr");
  std::size_t fortran = header.find("'fortran_order'");
  std::size_t shape_key = header.find("'shape'");
  if (p.descr.size() < 3 || fortran == std::string::npos || shape_key == std::string::npos) return p;
  if (header.compare(header.find(':', fortran) + 1, 6, " False") != 0) return p;
  std::size_t open = header.find('(', shape_key), close = header.find(')', shape_key);
  if (open == std::string::npos || close == std::string::npos || close < open) return p;
  int64_t dim = -1;
  for (std::size_t i = open + 1; i <= close; ++i) {
    const char c = header[i];
    if (c >= '0' && c <= '9') {
      if (dim > (int64_t{1} << 40)) return p;
      dim = (dim < 0 ? 0 : dim * 10) + (c - '0');
    } else if (c == ',' || c == ')') {
      if (dim >= 0) p.shape.push_back(dim);
      dim = -1;
    } else if (c != ' ' && c != 'L') {
      return p;
    }
  }
  p.data_offset = 8 + length_bytes + header_length;
  p.ok = true;
  return p;
}

bool is_byte_descr(const std::string& descr) { return descr.size() == 3 && descr.compare(1, 2, "u1") == 0; }

Tensor images_from_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  const NpyPeek peek = peek_npy(bytes);
  Tensor images;
  if (peek.ok && is_byte_descr(peek.descr)) {
    int64_t count = 0;
    try {
      count = element_count(peek.shape);
    } catch (const BadInput&) {
      count = -1;
    }
    if (count >= 0 && bytes.size() - peek.data_offset == static_cast<uint64_t>(count)) {
      images = Tensor(peek.shape, DType::Float32);
      bytes_to_unit_floats(reinterpret_cast<const unsigned char*>(bytes.data() + peek.data_offset), images.f32(),
                           count);
    }
  }
  if (images.empty()) {
    // Everything else (and any malformed uint8 file, for decode_npy's precise message).
    images = decode_npy(bytes, path);
    const bool float_kind = peek.ok ? peek.descr[1] == 'f' : images.dtype() == DType::Float32;
    if (!float_kind || images.dtype() != DType::Float32)
      throw BadInput(path + ": images of dtype '" + (peek.ok ? peek.descr : std::string("integer")) +
                     "' are not supported; use float32, float64 or uint8 (scaled to [0, 1])");
  }
  if (images.rank() == 3) images = images.reshaped({images.dim(0), 1, images.dim(1), images.dim(2)});
  if (images.rank() != 4)
    throw BadInput(path + ": images must be N x C x H x W or N x H x W, the array is " + shape_string(images.shape()));
  for (int d = 1; d < 4; ++d)
    if (images.dim(d) == 0) throw BadInput(path + ": images of shape " + shape_string(images.shape()) + " are empty");
  return images;
}

std::vector<int64_t> labels_from_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  const NpyPeek peek = peek_npy(bytes);
  Tensor labels = decode_npy(bytes, path);
  const bool integer = peek.ok ? (peek.descr[1] == 'i' || peek.descr[1] == 'u') : labels.dtype() == DType::Int64;
  if (!integer || labels.dtype() != DType::Int64)
    throw BadInput(path + ": labels of dtype '" + (peek.ok ? peek.descr : std::string(dtype_name(labels.dtype()))) +
                   "' are not supported; labels must be integers");
  if (labels.rank() != 1)
    throw BadInput(path + ": labels must be a 1-D array, the array is " + shape_string(labels.shape()));
  return std::vector<int64_t>(labels.i64(), labels.i64() + labels.size());
}

}  // namespace

Decoded load_npy(const std::string& images_path, const std::string& labels_path, int64_t limit) {
  Tensor images = images_from_npy(images_path);
  Decoded d;
  d.labels_source = labels_path;
  d.labels = labels_from_npy(labels_path);
  const int64_t n = images.dim(0);
  if (static_cast<int64_t>(d.labels.size()) != n)
    throw BadInput(labels_path + ": " + std::to_string(d.labels.size()) + " labels for the " + std::to_string(n) +
                   " images of " + images_path);
  if (limit > 0 && limit < n) {
    Shape shape = images.shape();
    shape[0] = limit;
    Tensor kept(shape, DType::Float32);
    std::memcpy(kept.f32(), images.f32(), kept.bytes());
    images = kept;
  }
  d.images = images;
  return d;
}

}  // namespace coda::dataset_detail
