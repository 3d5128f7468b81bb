// Tensor files (.npy, .pb), TensorProto decoding and crash-safe file writes.
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <set>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/onnx_tensor.h"
#include "kernels/tensor.h"
#include "kernels/tensor_io.h"
#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"

namespace coda {
namespace {

using test::expect_bad_input;
using test::TempDir;
using test::write_bytes;

std::string raw_bytes(const Tensor& t) { return std::string(static_cast<const char*>(t.raw()), t.bytes()); }

// Bit patterns, not values: NaN payloads, signed zeros and subnormals must survive a round trip.
float float_from_bits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Tensor sample_float32() {
  return Tensor::from_floats({2, 3, 2}, {0.0f, -0.0f, 1.5f, -3.25e-3f, std::numeric_limits<float>::infinity(),
                                        -std::numeric_limits<float>::infinity(), float_from_bits(0x7fc12345),
                                        std::numeric_limits<float>::denorm_min(), 3.4e38f, -1e-30f, 7.0f, 1e10f});
}

Tensor sample_int64() {
  return Tensor::from_int64({5}, {0, -1, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                                  1234567890123LL});
}

Tensor sample_float16() {
  Tensor half({2, 2}, DType::Float16);
  const uint16_t bits[] = {0x3c00, 0x8000, 0x0001, 0x7bff};  // 1, -0, smallest subnormal, largest finite
  std::memcpy(half.raw(), bits, sizeof bits);
  return half;
}

void expect_identical(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.dtype(), want.dtype());
  EXPECT_EQ(got.shape(), want.shape());
  EXPECT_EQ(raw_bytes(got), raw_bytes(want));
}

// A .npy file assembled from the format description (numpy/lib/format.py), independently of the
// writer under test.
std::string npy_file(int major, const std::string& header_dict, const std::string& data, bool pad = true) {
  std::string header = header_dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  if (pad) {
    while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  }
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t n = header.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major != 1) {
    out += static_cast<char>((n >> 16) & 0xff);
    out += static_cast<char>((n >> 24) & 0xff);
  }
  return out + header + data;
}

template <typename T>
std::string le_bytes(const std::vector<T>& values) {
  std::string out;
  for (T v : values) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    // The test host is little endian (x86-64, aarch64); the assertion keeps this honest.
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tests assume a little-endian host");
    out.append(reinterpret_cast<const char*>(b), sizeof(T));
  }
  return out;
}

template <typename T>
std::string be_bytes(const std::vector<T>& values) {
  std::string out = le_bytes(values);
  for (std::size_t i = 0; i < out.size(); i += sizeof(T)) std::reverse(out.begin() + static_cast<long>(i),
                                                                      out.begin() + static_cast<long>(i + sizeof(T)));
  return out;
}

// --- .npy -------------------------------------------------------------------------------------

TEST(Npy, RoundTripsEveryDTypeBitExactly) {
  TempDir dir;
  for (const Tensor& t : {sample_float32(), sample_int64(), sample_float16(), Tensor::from_floats({}, {2.5f}),
                          Tensor::zeros({3, 0, 2}), Tensor::from_int64({1}, {42})}) {
    std::string path = dir.file("t.npy");
    write_tensor_file(t, path);
    expect_identical(read_tensor_file(path, /*keep_float16=*/true), t);
  }
}

TEST(Npy, Float16WidensToFloat32ByDefault) {
  TempDir dir;
  write_tensor_file(sample_float16(), dir.file("h.npy"));
  Tensor t = read_tensor_file(dir.file("h.npy"));
  ASSERT_EQ(t.dtype(), DType::Float32);
  EXPECT_EQ(t.f32()[0], 1.0f);
  EXPECT_TRUE(std::signbit(t.f32()[1]));
  EXPECT_EQ(t.f32()[2], std::ldexp(1.0f, -24));
  EXPECT_EQ(t.f32()[3], 65504.0f);
}

TEST(Npy, HeaderIsLaidOutAsNumpyWritesIt) {
  // numpy >= 1.23 np.save(np.zeros((2, 3), np.float32)): sorted keys, 21 - len("2") spaces of
  // growth room, padding to a 64-byte boundary, '\n'; the data starts at byte 128.
  std::string bytes = encode_npy(Tensor::zeros({2, 3}));
  ASSERT_EQ(bytes.size(), 128u + 24u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8, 118);
  std::string header = bytes.substr(10, 118);
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_EQ(header.substr(0, dict.size()), dict);
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(header.find_first_not_of(' ', dict.size()), header.size() - 1);

  EXPECT_NE(encode_npy(Tensor::from_int64({7}, {0, 1, 2, 3, 4, 5, 6})).find("'descr': '<i8'"), std::string::npos);
  EXPECT_NE(encode_npy(Tensor::from_int64({7}, {0, 1, 2, 3, 4, 5, 6})).find("'shape': (7,), }"), std::string::npos);
  EXPECT_NE(encode_npy(Tensor::scalar(1)).find("'shape': (), }"), std::string::npos);
  EXPECT_NE(encode_npy(sample_float16()).find("'descr': '<f2'"), std::string::npos);
  for (const Tensor& t : {Tensor::scalar(1), sample_int64(), sample_float32(), Tensor::zeros({123456789012LL, 0})}) {
    std::string b = encode_npy(t);
    std::size_t header_len = static_cast<unsigned char>(b[8]) | static_cast<unsigned char>(b[9]) << 8;
    EXPECT_EQ((10 + header_len) % 64, 0u);
    EXPECT_EQ(b.size(), 10 + header_len + t.bytes());
  }
}

TEST(Npy, ReadsHandWrittenFilesOfEveryDType) {
  TempDir dir;
  struct Case {
    std::string name;
    std::string file;
    Shape shape;
    std::vector<double> values;  // expected, as float32 or int64 values
    bool is_float;
  };
  const std::vector<Case> cases = {
      {"f4_v1", npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                         le_bytes<float>({1.5f, -2.0f, 0.25f, 8.0f})),
       {2, 2}, {1.5, -2.0, 0.25, 8.0}, true},
      {"f8_v2", npy_file(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                         le_bytes<double>({0.1, -1e300, 2.0})),
       {3}, {static_cast<double>(0.1f), -INFINITY, 2.0}, true},
      {"f8_big", npy_file(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }",
                          be_bytes<double>({3.0, -0.5})),
       {2}, {3.0, -0.5}, true},
      {"f4_big", npy_file(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }",
                          be_bytes<float>({6.0f, -7.5f})),
       {1, 2}, {6.0, -7.5}, true},
      {"f2", npy_file(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                      le_bytes<uint16_t>({0x3c00, 0xc000})),
       {2}, {1.0, -2.0}, true},
      {"i8", npy_file(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                      le_bytes<int64_t>({-9000000000LL, 5})),
       {2}, {-9000000000.0, 5}, false},
      {"i4_v3", npy_file(3, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1), }",
                         le_bytes<int32_t>({-2147483647 - 1, 77})),
       {2, 1}, {-2147483648.0, 77}, false},
      {"i4_big", npy_file(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
                          be_bytes<int32_t>({-3, 65536})),
       {2}, {-3, 65536}, false},
      {"i2", npy_file(1, "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }",
                      le_bytes<int16_t>({-32768, 1, 32767})),
       {3}, {-32768, 1, 32767}, false},
      {"i1", npy_file(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }", le_bytes<int8_t>({-128, 127})),
       {2}, {-128, 127}, false},
      {"u1", npy_file(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }",
                      le_bytes<uint8_t>({0, 200, 255})),
       {3}, {0, 200, 255}, false},
      {"b1", npy_file(1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", le_bytes<uint8_t>({1, 0, 1})),
       {3}, {1, 0, 1}, false},
      {"u4", npy_file(1, "{'descr': '<u4', 'fortran_order': False, 'shape': (1,), }",
                      le_bytes<uint32_t>({4000000000u})),
       {1}, {4000000000.0}, false},
      // Scalar; double quotes, no trailing comma, Python 2 long, unpadded header: all valid literals.
      {"scalar", npy_file(1, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": ()}",
                          le_bytes<float>({9.0f}), false),
       {}, {9.0}, true},
      {"py2_long", npy_file(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1L, 2L), }",
                            le_bytes<int64_t>({1, 2})),
       {1, 2}, {1, 2}, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = dir.file(c.name + ".npy");
    write_bytes(path, c.file);
    Tensor t = read_tensor_file(path);
    EXPECT_EQ(t.shape(), c.shape);
    ASSERT_EQ(t.dtype(), c.is_float ? DType::Float32 : DType::Int64);
    ASSERT_EQ(t.size(), static_cast<int64_t>(c.values.size()));
    for (std::size_t i = 0; i < c.values.size(); ++i) {
      if (c.is_float) EXPECT_EQ(t.f32()[i], static_cast<float>(c.values[i])) << i;
      else EXPECT_EQ(t.i64()[i], static_cast<int64_t>(c.values[i])) << i;
    }
  }
}

TEST(Npy, RejectsMalformedFilesNamingThePath) {
  TempDir dir;
  const std::string good = npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                                    le_bytes<float>({1, 2, 3, 4}));
  struct Case {
    std::string name;
    std::string bytes;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {"empty", "", "empty file"},
      {"magic_only", "\x93NUM", "truncated"},
      {"text", "hello, this is not numpy\n", "bad magic"},
      {"version", std::string("\x93NUMPY\x04\x00", 8) + good.substr(8), "version 4.0"},
      {"fortran", npy_file(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
                           le_bytes<float>({1, 2, 3, 4})),
       "Fortran"},
      {"complex", npy_file(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
       "unsupported dtype '<c8'"},
      {"object", npy_file(1, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0')),
       "unsupported dtype '|O'"},
      {"structured", npy_file(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                              std::string(4, '\0')),
       "structured"},
      {"syntax", npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), ", le_bytes<float>({1, 2, 3, 4})),
       "bad header"},
      {"missing_key", npy_file(1, "{'descr': '<f4', 'shape': (4,), }", le_bytes<float>({1, 2, 3, 4})), "fortran_order"},
      {"extra_key", npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1, }",
                             le_bytes<float>({1})),
       "'x'"},
      {"negative_dim", npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", ""), "bad header"},
      {"shape_not_tuple", npy_file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': 4, }", le_bytes<float>({1})),
       "bad header"},
      {"trailing", good + "xx", "2 bytes after the data"},
      {"header_overrun", std::string("\x93NUMPY\x01\x00\xff\x00{}", 12), "truncated .npy header"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = dir.file(c.name + ".npy");
    write_bytes(path, c.bytes);
    expect_bad_input([&] { read_tensor_file(path); }, {path + ": ", c.fragment});
  }
}

TEST(Npy, EveryTruncationIsRejected) {
  TempDir dir;
  const std::string good = encode_npy(sample_float32());
  const std::string path = dir.file("cut.npy");
  for (std::size_t len = 0; len < good.size(); ++len) {
    write_bytes(path, good.substr(0, len));
    expect_bad_input([&] { read_tensor_file(path); }, {path + ": "});
  }
  write_bytes(path, good);
  expect_identical(read_tensor_file(path), sample_float32());
}

// --- TensorProto and .pb ---------------------------------------------------------------------

TEST(TensorProto, PbFilesRoundTripBitExactly) {
  TempDir dir;
  for (const Tensor& t : {sample_float32(), sample_int64(), sample_float16(), Tensor::scalar(-4.0f),
                          Tensor::zeros({0, 5})}) {
    write_tensor_file(t, dir.file("input_0.pb"));
    expect_identical(read_tensor_file(dir.file("input_0.pb"), true), t);
  }
  onnx::TensorProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_file(dir.file("input_0.pb"))));
  EXPECT_EQ(proto.name(), "input_0");
  EXPECT_EQ(proto.data_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(std::vector<int64_t>(proto.dims().begin(), proto.dims().end()), (std::vector<int64_t>{0, 5}));
}

TEST(TensorProto, DecodesTypedFieldsAndRawDataOfEveryNumericType) {
  using onnx::TensorProto;
  auto make = [](int32_t type, std::vector<int64_t> dims) {
    TensorProto p;
    p.set_name("t");
    p.set_data_type(type);
    for (int64_t d : dims) p.add_dims(d);
    return p;
  };
  {
    TensorProto p = make(TensorProto::FLOAT, {2});
    p.add_float_data(1.25f);
    p.add_float_data(-3.0f);
    Tensor t = tensor_from_proto(p);
    EXPECT_EQ(t.to_float_vector(), (std::vector<float>{1.25f, -3.0f}));
  }
  {
    TensorProto p = make(TensorProto::DOUBLE, {1});
    p.add_double_data(0.5);
    EXPECT_EQ(tensor_from_proto(p).to_float_vector(), (std::vector<float>{0.5f}));
  }
  {
    TensorProto p = make(TensorProto::FLOAT16, {2});
    p.add_int32_data(0x3c00);  // 1.0
    p.add_int32_data(0xc400);  // -4.0
    EXPECT_EQ(tensor_from_proto(p).to_float_vector(), (std::vector<float>{1.0f, -4.0f}));
    TensorProtoOptions keep;
    keep.keep_float16 = true;
    EXPECT_EQ(tensor_from_proto(p, keep).dtype(), DType::Float16);
  }
  {
    TensorProto p = make(TensorProto::BFLOAT16, {2});
    p.add_int32_data(0x3fc0);  // 1.5
    p.add_int32_data(0xc020);  // -2.5
    EXPECT_EQ(tensor_from_proto(p).to_float_vector(), (std::vector<float>{1.5f, -2.5f}));
  }
  for (int32_t type : {TensorProto::INT32, TensorProto::INT16, TensorProto::INT8, TensorProto::UINT8,
                       TensorProto::UINT16}) {
    TensorProto p = make(type, {3});
    const bool is_unsigned = type == TensorProto::UINT8 || type == TensorProto::UINT16;
    for (int32_t v : {is_unsigned ? 200 : -100, 0, 7}) p.add_int32_data(v);
    Tensor t = tensor_from_proto(p);
    ASSERT_EQ(t.dtype(), DType::Int64);
    EXPECT_EQ(t.to_int64_vector(), (std::vector<int64_t>{is_unsigned ? 200 : -100, 0, 7}));
  }
  {
    TensorProto p = make(TensorProto::BOOL, {3});
    for (int32_t v : {1, 0, 1}) p.add_int32_data(v);
    EXPECT_EQ(tensor_from_proto(p).to_int64_vector(), (std::vector<int64_t>{1, 0, 1}));
  }
  {
    TensorProto p = make(TensorProto::INT64, {2, 1});
    p.add_int64_data(-5);
    p.add_int64_data(1LL << 40);
    Tensor t = tensor_from_proto(p);
    EXPECT_EQ(t.shape(), (Shape{2, 1}));
    EXPECT_EQ(t.to_int64_vector(), (std::vector<int64_t>{-5, 1LL << 40}));
  }
  {
    TensorProto p = make(TensorProto::UINT64, {1});
    p.add_uint64_data(123);
    EXPECT_EQ(tensor_from_proto(p).to_int64_vector(), (std::vector<int64_t>{123}));
    p.set_uint64_data(0, std::numeric_limits<uint64_t>::max());
    expect_bad_input([&] { tensor_from_proto(p); }, {"tensor 't'", "does not fit"});
  }
  // raw_data, little endian, for the types exporters store that way.
  struct Raw {
    int32_t type;
    std::string bytes;
    std::vector<double> want;
  };
  const std::vector<Raw> raws = {
      {TensorProto::FLOAT, le_bytes<float>({2.5f, -1.0f}), {2.5, -1.0}},
      {TensorProto::DOUBLE, le_bytes<double>({-0.25, 4.0}), {-0.25, 4.0}},
      {TensorProto::FLOAT16, le_bytes<uint16_t>({0x3800, 0x4200}), {0.5, 3.0}},
      {TensorProto::BFLOAT16, le_bytes<uint16_t>({0x4040, 0xbf80}), {3.0, -1.0}},
      {TensorProto::INT64, le_bytes<int64_t>({-7, 1LL << 50}), {-7, static_cast<double>(1LL << 50)}},
      {TensorProto::INT32, le_bytes<int32_t>({-70000, 3}), {-70000, 3}},
      {TensorProto::INT16, le_bytes<int16_t>({-300, 3}), {-300, 3}},
      {TensorProto::UINT16, le_bytes<uint16_t>({65535, 3}), {65535, 3}},
      {TensorProto::INT8, le_bytes<int8_t>({-3, 3}), {-3, 3}},
      {TensorProto::UINT8, le_bytes<uint8_t>({255, 3}), {255, 3}},
      {TensorProto::BOOL, le_bytes<uint8_t>({0, 1}), {0, 1}},
      {TensorProto::UINT32, le_bytes<uint32_t>({4000000000u, 3}), {4000000000.0, 3}},
      {TensorProto::UINT64, le_bytes<uint64_t>({1ULL << 62, 3}), {static_cast<double>(1ULL << 62), 3}},
  };
  for (const Raw& r : raws) {
    SCOPED_TRACE(onnx_type_name(r.type));
    TensorProto p = make(r.type, {2});
    p.set_raw_data(r.bytes);
    Tensor t = tensor_from_proto(p);
    ASSERT_EQ(t.size(), 2);
    for (int i = 0; i < 2; ++i) {
      if (t.dtype() == DType::Float32) EXPECT_EQ(t.f32()[i], static_cast<float>(r.want[static_cast<std::size_t>(i)]));
      else EXPECT_EQ(t.i64()[i], static_cast<int64_t>(r.want[static_cast<std::size_t>(i)]));
    }
    // One byte short of the dims: a clear error naming the tensor.
    p.set_raw_data(r.bytes.substr(0, r.bytes.size() - 1));
    expect_bad_input([&] { tensor_from_proto(p); }, {"tensor 't'", "raw_data has"});
  }
}

TEST(TensorProto, RejectsInconsistentOrNonNumericTensors) {
  using onnx::TensorProto;
  TensorProto p;
  p.set_name("weights");
  p.set_data_type(TensorProto::FLOAT);
  p.add_dims(2);
  p.add_dims(3);
  for (int i = 0; i < 5; ++i) p.add_float_data(1.0f);
  expect_bad_input([&] { tensor_from_proto(p); }, {"tensor 'weights'", "float_data has 5 values", "2x3 needs 6"});
  p.clear_float_data();
  expect_bad_input([&] { tensor_from_proto(p); }, {"tensor 'weights'", "has 0 values"});
  p.set_dims(0, -2);
  expect_bad_input([&] { tensor_from_proto(p); }, {"tensor 'weights'", "negative"});

  TensorProto s;
  s.set_name("labels");
  s.set_data_type(TensorProto::STRING);
  s.add_string_data("cat");
  expect_bad_input([&] { tensor_from_proto(s); }, {"tensor 'labels'", "STRING"});
  TensorProto u;
  u.set_name("u");
  expect_bad_input([&] { tensor_from_proto(u); }, {"tensor 'u'", "no data type"});
}

TEST(TensorProto, ReadsExternalDataRelativeToTheBaseDirectory) {
  using onnx::TensorProto;
  TempDir dir;
  // Two tensors in one weights file, the second at an offset, as onnx.save_model writes them.
  std::string blob = le_bytes<float>({1, 2, 3}) + le_bytes<float>({4, 5});
  write_bytes(dir.file("weights.bin"), blob);
  TensorProto p;
  p.set_name("w2");
  p.set_data_type(TensorProto::FLOAT);
  p.add_dims(2);
  p.set_data_location(TensorProto::EXTERNAL);
  auto add_entry = [&](const std::string& k, const std::string& v) {
    auto* e = p.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add_entry("location", "weights.bin");
  add_entry("offset", "12");
  add_entry("length", "8");
  TensorProtoOptions options;
  options.base_dir = dir.path();
  EXPECT_EQ(tensor_from_proto(p, options).to_float_vector(), (std::vector<float>{4, 5}));

  p.mutable_external_data(1)->set_value("4");
  p.mutable_external_data(2)->set_value("12");
  expect_bad_input([&] { tensor_from_proto(p, options); }, {"tensor 'w2'", "12 bytes", "needs 8"});
  p.mutable_external_data(2)->set_value("800");
  expect_bad_input([&] { tensor_from_proto(p, options); }, {"tensor 'w2'", "truncated"});
  p.mutable_external_data(0)->set_value("missing.bin");
  expect_bad_input([&] { tensor_from_proto(p, options); }, {"tensor 'w2'", "missing.bin", "cannot open"});
  for (const char* escape : {"../weights.bin", "/etc/passwd", "a/../../b"}) {
    p.mutable_external_data(0)->set_value(escape);
    expect_bad_input([&] { tensor_from_proto(p, options); }, {"outside the model's directory"});
  }
}

TEST(TensorProto, DensifiesSparseTensors) {
  onnx::SparseTensorProto sparse;
  sparse.add_dims(2);
  sparse.add_dims(3);
  auto* values = sparse.mutable_values();
  values->set_name("s");
  values->set_data_type(onnx::TensorProto::FLOAT);
  values->add_dims(2);
  values->add_float_data(7);
  values->add_float_data(9);
  auto* indices = sparse.mutable_indices();
  indices->set_data_type(onnx::TensorProto::INT64);
  indices->add_dims(2);
  indices->add_int64_data(1);
  indices->add_int64_data(5);
  EXPECT_EQ(tensor_from_sparse_proto(sparse).to_float_vector(), (std::vector<float>{0, 7, 0, 0, 0, 9}));
  // The same positions as [NNZ, rank] coordinates.
  indices->clear_dims();
  indices->add_dims(2);
  indices->add_dims(2);
  indices->clear_int64_data();
  for (int64_t v : {0, 1, 1, 2}) indices->add_int64_data(v);
  EXPECT_EQ(tensor_from_sparse_proto(sparse).to_float_vector(), (std::vector<float>{0, 7, 0, 0, 0, 9}));
  indices->set_int64_data(3, 3);
  expect_bad_input([&] { tensor_from_sparse_proto(sparse); }, {"tensor 's'", "out of range"});
}

TEST(TensorFiles, ReadsEveryConformanceTensor) {
  const std::string root = std::string(CODA_SHARED_DIR) + "/onnx-conformance";
  DIR* dir = ::opendir(root.c_str());
  ASSERT_NE(dir, nullptr) << root;
  int files = 0;
  while (dirent* e = ::readdir(dir)) {
    if (std::strncmp(e->d_name, "test_", 5) != 0) continue;
    const std::string data_dir = root + "/" + e->d_name + "/test_data_set_0";
    for (const char* kind : {"input_", "output_"})
      for (int i = 0;; ++i) {
        const std::string path = data_dir + "/" + kind + std::to_string(i) + ".pb";
        if (::access(path.c_str(), R_OK) != 0) break;
        SCOPED_TRACE(path);
        onnx::TensorProto proto;
        ASSERT_TRUE(proto.ParseFromString(read_file(path)));
        Tensor t = read_tensor_file(path);
        ++files;
        int64_t count = 1;
        for (int64_t d : proto.dims()) count *= d;
        EXPECT_EQ(t.shape(), Shape(proto.dims().begin(), proto.dims().end()));
        EXPECT_EQ(t.size(), count);
        EXPECT_EQ(t.dtype(), *dtype_from_onnx(proto.data_type()));
        // Every value decodes to what the raw bytes hold.
        if (proto.data_type() == onnx::TensorProto::FLOAT && proto.has_raw_data()) {
          EXPECT_EQ(raw_bytes(t), proto.raw_data());
        }
        // And writing it out as .npy and reading it back changes nothing.
        TempDir tmp;
        write_tensor_file(t, tmp.file("x.npy"));
        expect_identical(read_tensor_file(tmp.file("x.npy")), t);
      }
  }
  ::closedir(dir);
  EXPECT_GE(files, 2 * 82);  // every case has at least one input and one output
}

TEST(TensorFiles, RejectsBadFilesWithThePath) {
  TempDir dir;
  expect_bad_input([&] { read_tensor_file(dir.file("absent.npy")); }, {dir.file("absent.npy"), "cannot open"});
  expect_bad_input([&] { read_tensor_file(dir.file("absent.pb")); }, {dir.file("absent.pb"), "cannot open"});
  write_bytes(dir.file("x.txt"), "1 2 3");
  expect_bad_input([&] { read_tensor_file(dir.file("x.txt")); }, {dir.file("x.txt"), "'.txt'", ".npy or .pb"});
  write_bytes(dir.file("noext"), "1 2 3");
  expect_bad_input([&] { read_tensor_file(dir.file("noext")); }, {"no extension"});
  expect_bad_input([&] { write_tensor_file(Tensor::scalar(1), dir.file("y.csv")); }, {"'.csv'"});
  write_bytes(dir.file("empty.pb"), "");
  expect_bad_input([&] { read_tensor_file(dir.file("empty.pb")); }, {dir.file("empty.pb"), "empty"});
  write_bytes(dir.file("text.pb"), "this is a text file, not a tensor\n");
  expect_bad_input([&] { read_tensor_file(dir.file("text.pb")); }, {dir.file("text.pb")});
  ::mkdir(dir.file("folder.npy").c_str(), 0755);
  expect_bad_input([&] { read_tensor_file(dir.file("folder.npy")); }, {dir.file("folder.npy"), "Is a directory"});

  // A valid tensor cut anywhere is rejected, never misread.
  write_tensor_file(sample_float32(), dir.file("whole.pb"));
  const std::string whole = read_file(dir.file("whole.pb"));
  for (std::size_t len = 1; len < whole.size(); ++len) {
    write_bytes(dir.file("cut.pb"), whole.substr(0, len));
    expect_bad_input([&] { read_tensor_file(dir.file("cut.pb")); }, {dir.file("cut.pb") + ": "});
  }
  // Random bytes are never taken for a tensor.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::string noise(64 + static_cast<std::size_t>(trial) * 13, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    write_bytes(dir.file("noise.pb"), noise);
    write_bytes(dir.file("noise.npy"), noise);
    expect_bad_input([&] { read_tensor_file(dir.file("noise.pb")); }, {dir.file("noise.pb") + ": "});
    expect_bad_input([&] { read_tensor_file(dir.file("noise.npy")); }, {dir.file("noise.npy") + ": "});
  }
}

// --- atomic writes ---------------------------------------------------------------------------

TEST(AtomicFile, WritesReplacesAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("out.bin");
  write_file_atomically(path, "first");
  EXPECT_EQ(read_file(path), "first");
  std::string big(3 << 20, 'x');
  big[12345] = '\0';
  write_file_atomically(path, big);
  EXPECT_EQ(read_file(path), big);
  write_file_atomically(path, "");
  EXPECT_EQ(read_file(path), "");
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"out.bin"}));

  // New files get 0666 & ~umask, like any file a program creates.
  mode_t old_mask = ::umask(022);
  write_file_atomically(dir.file("perm.bin"), "p");
  ::umask(old_mask);
  struct stat info {};
  ASSERT_EQ(::stat(dir.file("perm.bin").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0644u);
  // Replacing a file keeps its permissions.
  ASSERT_EQ(::chmod(dir.file("perm.bin").c_str(), 0600), 0);
  write_file_atomically(dir.file("perm.bin"), "q");
  ASSERT_EQ(::stat(dir.file("perm.bin").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(read_file(dir.file("perm.bin")), "q");
}

TEST(AtomicFile, FailureLeavesTheTargetAndNoTemporaryFile) {
  TempDir dir;
  // The target is a directory: the temporary file is written, the rename fails, and the temporary
  // file must be gone afterwards.
  ::mkdir(dir.file("target").c_str(), 0755);
  expect_bad_input([&] { write_file_atomically(dir.file("target"), "data"); },
                   {dir.file("target") + ": cannot write: ", "Is a directory"});
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"target"}));
  // A directory that does not exist.
  expect_bad_input([&] { write_file_atomically(dir.file("nowhere/out.npy"), "data"); },
                   {dir.file("nowhere/out.npy") + ": cannot write: ", "No such file"});
  expect_bad_input([&] { write_tensor_file(Tensor::scalar(1), dir.file("nowhere/out.npy")); }, {"cannot write"});
  EXPECT_EQ(dir.entries(), (std::set<std::string>{"target"}));
}

TEST(AtomicFile, ReadOnlyDirectoryKeepsTheOldFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  ::mkdir(dir.file("ro").c_str(), 0755);
  const std::string path = dir.file("ro/out.npy");
  write_tensor_file(sample_int64(), path);
  ::chmod(dir.file("ro").c_str(), 0555);
  expect_bad_input([&] { write_tensor_file(sample_float32(), path); }, {path + ": cannot write: "});
  ::chmod(dir.file("ro").c_str(), 0755);
  expect_identical(read_tensor_file(path), sample_int64());
  ::unlink(path.c_str());
}

TEST(AtomicFile, KilledWriterNeverLeavesAPartialFile) {
  TempDir dir;
  const std::string path = dir.file("victim.bin");
  // Two contents of 8 MiB each: a reader must always see one of them whole.
  const std::string a(8 << 20, 'a');
  const std::string b(8 << 20, 'b');
  write_file_atomically(path, a);
  for (int round = 0; round < 6; ++round) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (int i = 0;; ++i) write_file_atomically(path, i % 2 ? a : b);
    }
    ::usleep(static_cast<useconds_t>(5000 + 7000 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    std::string now = read_file(path);
    ASSERT_EQ(now.size(), a.size());
    EXPECT_TRUE(now == a || now == b);
  }
}

}  // namespace
}  // namespace coda
