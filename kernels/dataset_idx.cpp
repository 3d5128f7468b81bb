// IDX files (the MNIST distribution format, http://yann.lecun.com/exdb/mnist/): a big-endian
// header 00 00 TYPE NDIMS, NDIMS big-endian uint32 sizes, then the data in row-major order.
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

#include "kernels/atomic_file.h"
#include "kernels/dataset_formats.h"
#include "kernels/error.h"

namespace coda::dataset_detail {

namespace {

// IDX type codes (the MNIST page's "THE IDX FILE FORMAT" table).
constexpr unsigned char kTypeUnsignedByte = 0x08;

const char* idx_type_name(unsigned char code) {
  switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return nullptr;
  }
}

std::string hex32(uint32_t v) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%08X", v);
  return buffer;
}

uint32_t load_u32_be(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         static_cast<uint32_t>(p[3]);
}

bool is_gzip(const std::string& bytes) {
  // ID1 ID2 of a gzip member (RFC 1952 section 2.3.1).
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

struct InflateStream {
  z_stream z{};
  bool open = false;
  ~InflateStream() {
    if (open) inflateEnd(&z);
  }
};

// Decompresses every gzip member of `in` (concatenated members form one file, RFC 1952 section
// 2.2); zero bytes after the last member (block padding) are ignored.
std::string gunzip(const std::string& in, const std::string& path) {
  // ISIZE, the last four bytes, is the uncompressed size modulo 2^32: the exact size to allocate
  // for a sound single-member file. In a damaged file those bytes are arbitrary, so the hint is
  // only believed up to deflate's largest possible expansion, 1032:1 (zlib's "Technical
  // Details", zlib.net/zlib_tech.html); the buffer grows as needed either way.
  constexpr std::size_t kMaxDeflateRatio = 1032;
  std::size_t capacity = std::max<std::size_t>(in.size() * 4, 4096);
  if (in.size() >= 18) {
    const auto* tail = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
    const std::size_t isize = static_cast<std::size_t>(tail[0]) | static_cast<std::size_t>(tail[1]) << 8 |
                              static_cast<std::size_t>(tail[2]) << 16 | static_cast<std::size_t>(tail[3]) << 24;
    // One byte more, so a complete stream never fills the buffer and forces a needless doubling.
    if (isize / kMaxDeflateRatio <= in.size()) capacity = isize + 1;
  }
  check_allocation(capacity, path + " decompressed");
  std::string out(capacity, '\0');

  InflateStream stream;
  // 16 + MAX_WBITS: expect a gzip wrapper (zlib.h, inflateInit2).
  if (inflateInit2(&stream.z, 16 + MAX_WBITS) != Z_OK) throw std::bad_alloc();
  stream.open = true;
  z_stream& z = stream.z;
  std::size_t in_pos = 0, out_pos = 0;
  // avail_in / avail_out are 32-bit: feed at most 1 GiB at a time.
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  while (true) {
    if (out_pos == out.size()) {
      check_allocation(out.size() * 2, path + " decompressed");
      out.resize(out.size() * 2);
    }
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + in_pos));
    z.avail_in = static_cast<uInt>(std::min(kChunk, in.size() - in_pos));
    z.next_out = reinterpret_cast<Bytef*>(&out[out_pos]);
    z.avail_out = static_cast<uInt>(std::min(kChunk, out.size() - out_pos));
    const uInt given_in = z.avail_in, given_out = z.avail_out;
    const int status = inflate(&z, Z_NO_FLUSH);
    in_pos += given_in - z.avail_in;
    out_pos += given_out - z.avail_out;
    if (status == Z_STREAM_END) {
      std::size_t rest = in_pos;
      while (rest < in.size() && in[rest] == '\0') ++rest;
      if (rest == in.size()) break;
      if (!is_gzip(in.substr(rest, 2)))
        throw BadInput(path + ": " + std::to_string(in.size() - in_pos) + " bytes of unexpected data after the gzip stream");
      in_pos = rest;
      inflateReset(&z);
      continue;
    }
    if (status == Z_DATA_ERROR || status == Z_NEED_DICT || status == Z_STREAM_ERROR)
      throw BadInput(path + ": corrupt gzip data (" + (z.msg ? z.msg : "inflate failed") + ")");
    if (status == Z_MEM_ERROR) throw std::bad_alloc();
    if (in_pos == in.size() && out_pos < out.size())
      throw BadInput(path + ": truncated gzip data (the compressed stream ends early)");
  }
  out.resize(out_pos);
  return out;
}

struct IdxArray {
  std::string bytes;  // the whole (decompressed) file
  std::vector<int64_t> dims;
  const unsigned char* data = nullptr;
};

IdxArray read_idx(const std::string& path, std::size_t want_dims, const char* what) {
  IdxArray a;
  a.bytes = read_file(path);
  if (is_gzip(a.bytes)) a.bytes = gunzip(a.bytes, path);
  const auto* p = reinterpret_cast<const unsigned char*>(a.bytes.data());
  const std::string expected_magic = hex32(0x800u | static_cast<uint32_t>(want_dims));
  if (a.bytes.size() < 4)
    throw BadInput(path + ": " + std::to_string(a.bytes.size()) + " bytes, too short for an IDX header");
  const uint32_t magic = load_u32_be(p);
  if (p[0] != 0 || p[1] != 0 || !idx_type_name(p[2]))
    throw BadInput(path + ": not an IDX file (magic number " + hex32(magic) + ", " + what + " files start with " +
                   expected_magic + ")");
  if (p[2] != kTypeUnsignedByte)
    throw BadInput(path + ": IDX element type " + idx_type_name(p[2]) + " (magic number " + hex32(magic) +
                   ") is not supported; " + what + " must be unsigned bytes (" + expected_magic + ")");
  if (p[3] != want_dims)
    throw BadInput(path + ": IDX magic number " + hex32(magic) + " announces " + std::to_string(p[3]) +
                   " dimension(s); " + what + " files have " + std::to_string(want_dims) + " (" + expected_magic + ")");
  const std::size_t header = 4 + 4 * want_dims;
  if (a.bytes.size() < header)
    throw BadInput(path + ": truncated IDX header (" + std::to_string(a.bytes.size()) + " bytes, " +
                   std::to_string(header) + " needed)");
  uint64_t count = 1;
  std::string shape;
  for (std::size_t d = 0; d < want_dims; ++d) {
    const uint32_t size = load_u32_be(p + 4 + 4 * d);
    if (size == 0 && d > 0) throw BadInput(path + ": IDX dimension " + std::to_string(d) + " is 0");
    a.dims.push_back(size);
    count *= size;  // at most 3 factors below 2^32 each: checked against the file size below
    shape += (d ? "x" : "") + std::to_string(size);
  }
  const std::size_t present = a.bytes.size() - header;
  if (count > present)
    throw BadInput(path + ": truncated: the header announces " + std::string(what) + " of shape " + shape + " (" +
                   std::to_string(count) + " bytes), the file holds " + std::to_string(present) + " bytes of data");
  if (count < present)
    throw BadInput(path + ": " + std::to_string(present - count) + " bytes after the " + shape +
                   " data the header announces");
  a.data = p + header;
  return a;
}

}  // namespace

Decoded load_idx(const std::string& images_path, const std::string& labels_path, int64_t limit) {
  IdxArray images = read_idx(images_path, 3, "images");
  IdxArray labels = read_idx(labels_path, 1, "labels");
  const int64_t n = images.dims[0];
  if (labels.dims[0] != n)
    throw BadInput(labels_path + ": " + std::to_string(labels.dims[0]) + " labels for the " + std::to_string(n) +
                   " images of " + images_path);
  Decoded d;
  d.labels_source = labels_path;
  d.labels.assign(labels.data, labels.data + n);
  const int64_t kept = limit > 0 ? std::min(limit, n) : n;
  const int64_t h = images.dims[1], w = images.dims[2];
  d.images = Tensor({kept, 1, h, w}, DType::Float32);
  bytes_to_unit_floats(images.data, d.images.f32(), d.images.size());
  return d;
}

}  // namespace coda::dataset_detail
