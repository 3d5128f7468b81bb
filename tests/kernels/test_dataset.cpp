// Data set loading: IDX (plain and gzip), CIFAR-10 binary, NumPy; the real Fashion-MNIST files;
// the image transform against independent computations; and every kind of bad file.
//
// Test files are written byte by byte from the format specifications (the MNIST page's IDX
// description, RFC 1951/1952 for gzip, the CIFAR-10 page, numpy's format.py), not with coda's
// own writers, so a misreading of a format cannot cancel out.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "kernels/dataset.h"
#include "kernels/error.h"
#include "tests/support/temp_files.h"

namespace coda::test {
namespace {

namespace fs = std::filesystem;

// --- byte-level writers -------------------------------------------------------------------------

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string le32(uint32_t v) {
  return {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
}

// IDX: 00 00 08 NDIMS, big-endian sizes, bytes.
std::string idx_file(const std::vector<uint32_t>& dims, const std::string& data, unsigned char type = 0x08) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) s += be32(d);
  return s + data;
}

// CRC-32 of RFC 1952 section 8 (reflected polynomial 0xEDB88320).
uint32_t crc32_of(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

// One gzip member (RFC 1952) whose deflate stream (RFC 1951) uses stored blocks of at most
// `block` bytes; `name` sets the FNAME field as the gzip tool does.
std::string gzip_member(const std::string& data, std::size_t block = 65535, const std::string& name = "") {
  std::string s{'\x1f', '\x8b', '\x08', static_cast<char>(name.empty() ? 0 : 0x08), 0, 0, 0, 0, 0, '\xff'};
  if (!name.empty()) s += name + '\0';
  std::size_t pos = 0;
  do {
    const std::size_t len = std::min(block, data.size() - pos);
    const bool final = pos + len == data.size();
    s += static_cast<char>(final ? 0x01 : 0x00);  // BFINAL, BTYPE = 00 (stored), then byte alignment
    s += static_cast<char>(len & 0xFF);
    s += static_cast<char>(len >> 8);
    s += static_cast<char>(~len & 0xFF);
    s += static_cast<char>((~len >> 8) & 0xFF);
    s += data.substr(pos, len);
    pos += len;
  } while (pos < data.size());
  return s + le32(crc32_of(data)) + le32(static_cast<uint32_t>(data.size()));
}

// A version 1.0 .npy file as numpy's format.py writes it: header padded to a multiple of 64.
std::string npy_file(const std::string& descr, const std::vector<int64_t>& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) header += (i ? ", " : "") + std::to_string(shape[i]);
  header += shape.size() == 1 ? ",), }" : "), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string s = std::string("\x93NUMPY\x01\x00", 8);
  s += static_cast<char>(header.size() & 0xFF);
  s += static_cast<char>(header.size() >> 8);
  return s + header + data;
}

template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// --- fixtures ------------------------------------------------------------------------------------

// Pixel (i, y, x) of the synthetic IDX images: every value differs from its neighbours.
unsigned char idx_pixel(int i, int y, int x) { return static_cast<unsigned char>((i * 31 + y * 7 + x * 3 + 5) % 256); }

class DatasetTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& bytes) const {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    write_bytes(p.string(), bytes);
    return p.string();
  }

  // 5 images of 3x4 and labels {3, 0, 2, 2, 1}.
  static constexpr int kN = 5, kH = 3, kW = 4;
  std::string image_bytes() const {
    std::string data;
    for (int i = 0; i < kN; ++i)
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x) data += static_cast<char>(idx_pixel(i, y, x));
    return data;
  }
  std::string image_idx() const { return idx_file({kN, kH, kW}, image_bytes()); }
  std::string label_idx() const { return idx_file({kN}, std::string{3, 0, 2, 2, 1}); }

  void expect_synthetic_idx(const Dataset& d, int64_t n = kN) const {
    ASSERT_EQ(d.images.shape(), (Shape{n, 1, kH, kW}));
    ASSERT_EQ(d.images.dtype(), DType::Float32);
    const std::vector<int> labels{3, 0, 2, 2, 1};
    EXPECT_EQ(d.labels, std::vector<int>(labels.begin(), labels.begin() + n));
    EXPECT_EQ(d.classes, 4);  // max label + 1 over the whole file
    for (int i = 0; i < n; ++i)
      for (int y = 0; y < kH; ++y)
        for (int x = 0; x < kW; ++x)
          ASSERT_EQ(d.images.f32()[(i * kH + y) * kW + x], static_cast<float>(idx_pixel(i, y, x)) / 255.0f)
              << i << " " << y << " " << x;
  }

  // The contract for bad data: BadInput, one line, naming what is wrong.
  static void expect_bad(const std::string& spec, const std::vector<std::string>& needles) {
    try {
      load_dataset(spec);
      ADD_FAILURE() << spec << ": no error";
    } catch (const BadInput& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      for (const std::string& n : needles)
        EXPECT_NE(message.find(n), std::string::npos) << "'" << n << "' missing from: " << message;
    }
  }

  TempDir tmp_{"coda_dataset_"};
  const fs::path dir_{tmp_.path()};
};

// --- IDX -----------------------------------------------------------------------------------------

TEST_F(DatasetTest, IdxPlainFilesRoundTrip) {
  const std::string images = write("images-idx3-ubyte", image_idx());
  const std::string labels = write("labels-idx1-ubyte", label_idx());
  Dataset d = load_dataset("idx:" + images + "," + labels);
  EXPECT_EQ(d.name, "idx:" + images + "," + labels);
  EXPECT_EQ(d.size(), kN);
  expect_synthetic_idx(d);
}

TEST_F(DatasetTest, IdxGzipIsRecognisedByMagicBytesNotExtension) {
  // Images as two gzip members (split mid-image, several stored blocks), labels with an FNAME
  // field; neither file name ends in .gz.
  const std::string raw = image_idx();
  const std::string images =
      write("images.bin", gzip_member(raw.substr(0, 23), 7) + gzip_member(raw.substr(23), 10, "images"));
  const std::string labels = write("labels.bin", gzip_member(label_idx(), 65535, "labels-idx1-ubyte"));
  expect_synthetic_idx(load_dataset("idx:" + images + "," + labels));
  // A plain file named .gz is read as plain.
  const std::string plain = write("plain.gz", image_idx());
  expect_synthetic_idx(load_dataset("idx:" + plain + "," + labels));
}

TEST_F(DatasetTest, LimitKeepsTheFirstSamplesAndTheClassCount) {
  const std::string images = write("i", image_idx()), labels = write("l", label_idx());
  Dataset d = load_dataset("idx:" + images + "," + labels, 2);
  expect_synthetic_idx(d, 2);
  EXPECT_EQ(d.classes, 4);
  EXPECT_EQ(load_dataset("idx:" + images + "," + labels, 100).size(), kN);
}

TEST_F(DatasetTest, BatchCopiesARangeOfImages) {
  Dataset d = load_dataset("idx:" + write("i", image_idx()) + "," + write("l", label_idx()));
  Tensor b = d.batch(1, 4);
  ASSERT_EQ(b.shape(), (Shape{3, 1, kH, kW}));
  for (int64_t k = 0; k < b.size(); ++k) EXPECT_EQ(b.f32()[k], d.images.f32()[kH * kW + k]);
  EXPECT_EQ(d.batch(2, 2).shape(), (Shape{0, 1, kH, kW}));
  EXPECT_THROW(d.batch(3, 6), BadInput);
  EXPECT_THROW(d.batch(-1, 2), BadInput);
}

// --- Fashion-MNIST (the installed Debian package) -------------------------------------------------

const char kFashionDir[] = "/usr/share/datasets/fashion-mnist";

TEST_F(DatasetTest, FashionMnistHasItsPublishedSizes) {
  if (!fs::exists(std::string(kFashionDir) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  auto start = std::chrono::steady_clock::now();
  Dataset train = load_dataset("fashion-mnist:train");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("loaded 60000 Fashion-MNIST training images in %.3f s\n", seconds);
  EXPECT_LT(seconds, 5.0) << "gzip decoding plus conversion should take about half a second";
  // Xiao, Rasul, Vollgraf 2017: 60000 training and 10000 test images of 28x28, ten classes,
  // 6000 / 1000 per class.
  ASSERT_EQ(train.images.shape(), (Shape{60000, 1, 28, 28}));
  EXPECT_EQ(train.classes, 10);
  std::vector<int> counts(10, 0);
  for (int label : train.labels) {
    ASSERT_GE(label, 0);
    ASSERT_LT(label, 10);
    ++counts[static_cast<std::size_t>(label)];
  }
  for (int c : counts) EXPECT_EQ(c, 6000);
  // First labels and the first image's pixel sum, read from the files with Python's gzip module.
  EXPECT_EQ(std::vector<int>(train.labels.begin(), train.labels.begin() + 10),
            (std::vector<int>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
  double sum = 0;
  for (int k = 0; k < 784; ++k) sum += train.images.f32()[k];
  EXPECT_NEAR(sum, 76247.0 / 255.0, 1e-3);
  float lo = 1, hi = 0;
  for (int64_t k = 0; k < train.images.size(); ++k) {
    lo = std::min(lo, train.images.f32()[k]);
    hi = std::max(hi, train.images.f32()[k]);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);

  Dataset test = load_dataset("fashion-mnist");  // the split defaults to test
  ASSERT_EQ(test.images.shape(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(std::vector<int>(test.labels.begin(), test.labels.begin() + 10),
            (std::vector<int>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
  std::vector<int> test_counts(10, 0);
  for (int label : test.labels) ++test_counts[static_cast<std::size_t>(label)];
  for (int c : test_counts) EXPECT_EQ(c, 1000);
  Dataset explicit_test = load_dataset("fashion-mnist:test", 100);
  EXPECT_EQ(explicit_test.size(), 100);
  EXPECT_EQ(std::memcmp(explicit_test.images.f32(), test.images.f32(), explicit_test.images.bytes()), 0);

  Dataset padded = load_dataset("fashion-mnist:test@pad=2;mean=0.286;std=0.353", 3);
  ASSERT_EQ(padded.images.shape(), (Shape{3, 1, 32, 32}));
  EXPECT_FLOAT_EQ(padded.images.f32()[0], (0.0f - 0.286f) / 0.353f);
}

// --- CIFAR-10 ------------------------------------------------------------------------------------

// Pixel of record r of batch file f at channel c, row y, column x.
unsigned char cifar_pixel(int f, int r, int c, int y, int x) {
  return static_cast<unsigned char>((f * 53 + r * 29 + c * 11 + y * 5 + x) % 256);
}

std::string cifar_batch(int f, const std::vector<int>& labels) {
  std::string s;
  for (std::size_t r = 0; r < labels.size(); ++r) {
    s += static_cast<char>(labels[r]);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) s += static_cast<char>(cifar_pixel(f, static_cast<int>(r), c, y, x));
  }
  return s;
}

TEST_F(DatasetTest, CifarBatchesInOrderWithChannelsFirst) {
  // Train: data_batch_1..5 with 2 records each; test: 3 records.
  std::vector<int> train_labels;
  for (int f = 1; f <= 5; ++f) {
    std::vector<int> labels{(2 * f) % 10, (2 * f + 1) % 10};
    write("cifar/data_batch_" + std::to_string(f) + ".bin", cifar_batch(f, labels));
    train_labels.insert(train_labels.end(), labels.begin(), labels.end());
  }
  write("cifar/test_batch.bin", cifar_batch(0, {7, 8, 9}));
  const std::string dir = (dir_ / "cifar").string();

  Dataset train = load_dataset("cifar:" + dir + ":train");
  ASSERT_EQ(train.images.shape(), (Shape{10, 3, 32, 32}));
  EXPECT_EQ(train.labels, train_labels);
  EXPECT_EQ(train.classes, 10);
  for (int i = 0; i < 10; ++i)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; y += 7)
        for (int x = 0; x < 32; x += 5)
          ASSERT_EQ(train.images.f32()[((i * 3 + c) * 32 + y) * 32 + x],
                    static_cast<float>(cifar_pixel(1 + i / 2, i % 2, c, y, x)) / 255.0f);

  Dataset test = load_dataset("cifar:" + dir);  // test by default
  EXPECT_EQ(test.labels, (std::vector<int>{7, 8, 9}));
  EXPECT_EQ(test.images.f32()[3 * 1024 + 1024 + 32 + 1], static_cast<float>(cifar_pixel(0, 1, 1, 1, 1)) / 255.0f);
  EXPECT_EQ(load_dataset("cifar:" + dir + ":test").labels, test.labels);

  // One batch file; the directory the archive unpacks into (holding cifar-10-batches-bin/).
  EXPECT_EQ(load_dataset("cifar:" + dir + "/data_batch_3.bin").labels, (std::vector<int>{6, 7}));
  fs::create_directories(dir_ / "unpacked");
  fs::rename(dir_ / "cifar", dir_ / "unpacked" / "cifar-10-batches-bin");
  EXPECT_EQ(load_dataset("cifar:" + (dir_ / "unpacked").string() + ":train").labels, train_labels);

  // A limit across batch files.
  Dataset three = load_dataset("cifar:" + (dir_ / "unpacked").string() + ":train", 3);
  ASSERT_EQ(three.size(), 3);
  EXPECT_EQ(three.images.f32()[2 * 3072], static_cast<float>(cifar_pixel(2, 0, 0, 0, 0)) / 255.0f);
}

// --- NumPy ---------------------------------------------------------------------------------------

TEST_F(DatasetTest, NpyImagesInEveryAcceptedDtype) {
  // float32 N x C x H x W with int32 labels.
  std::vector<float> f32{0.5f, -1.0f, 2.0f, 0.25f, 1.5f, 3.0f, -0.5f, 0.0f, 9.0f, 8.0f, 7.0f, 6.0f};
  const std::string a = write("a.npy", npy_file("<f4", {2, 3, 1, 2}, raw_bytes(f32)));
  const std::string la = write("la.npy", npy_file("<i4", {2}, raw_bytes(std::vector<int32_t>{1, 4})));
  Dataset d = load_dataset("npy:" + a + "," + la);
  ASSERT_EQ(d.images.shape(), (Shape{2, 3, 1, 2}));
  for (std::size_t k = 0; k < f32.size(); ++k) EXPECT_EQ(d.images.f32()[k], f32[k]);
  EXPECT_EQ(d.labels, (std::vector<int>{1, 4}));
  EXPECT_EQ(d.classes, 5);

  // float64 N x H x W gains C = 1; uint8 labels.
  std::vector<double> f64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6};
  const std::string b = write("b.npy", npy_file("<f8", {3, 1, 2}, raw_bytes(f64)));
  const std::string lb = write("lb.npy", npy_file("|u1", {3}, std::string{2, 0, 1}));
  d = load_dataset("npy:" + b + "," + lb);
  ASSERT_EQ(d.images.shape(), (Shape{3, 1, 1, 2}));
  for (std::size_t k = 0; k < f64.size(); ++k) EXPECT_EQ(d.images.f32()[k], static_cast<float>(f64[k]));
  EXPECT_EQ(d.labels, (std::vector<int>{2, 0, 1}));

  // uint8 pixels are scaled to [0, 1]; big-endian int64 labels.
  const std::string c = write("c.npy", npy_file("|u1", {3, 2, 1}, std::string{0, '\x80', '\xff', 1, 2, 3}));
  std::string be_labels;
  for (int64_t v : {0, 1, 0}) be_labels += std::string(4, '\0') + be32(static_cast<uint32_t>(v));
  const std::string lc = write("lc.npy", npy_file(">i8", {3}, be_labels));
  d = load_dataset("npy:" + c + "," + lc, 2);
  ASSERT_EQ(d.images.shape(), (Shape{2, 1, 2, 1}));
  EXPECT_EQ(d.images.f32()[1], 128.0f / 255.0f);
  EXPECT_EQ(d.images.f32()[2], 1.0f);
  EXPECT_EQ(d.labels, (std::vector<int>{0, 1}));
  EXPECT_EQ(d.classes, 2);
}

// --- transform -----------------------------------------------------------------------------------

TEST(ImageTransform, TextFormRoundTrips) {
  ImageTransform t = ImageTransform::parse("pad=2;mean=0.286;std=0.353", "ctx");
  EXPECT_EQ(t.pad, 2);
  EXPECT_EQ(t.resize, 0);
  EXPECT_EQ(t.mean, std::vector<float>{0.286f});
  EXPECT_EQ(t.std, std::vector<float>{0.353f});
  EXPECT_EQ(t.to_string(), "pad=2;mean=0.286;std=0.353");
  EXPECT_FALSE(t.is_identity());

  ImageTransform rgb = ImageTransform::parse(" resize=32 ; mean=0.4914,0.4822,0.4465;std=0.247,0.2435,0.2616;", "c");
  EXPECT_EQ(rgb.to_string(), "resize=32;mean=0.4914,0.4822,0.4465;std=0.247,0.2435,0.2616");
  ImageTransform again = ImageTransform::parse(rgb.to_string(), "c");
  EXPECT_EQ(again.mean, rgb.mean);
  EXPECT_EQ(again.std, rgb.std);
  // Values that need all nine significant digits still round-trip exactly.
  ImageTransform odd;
  odd.mean = {0.1f + 1e-8f, 1.0f / 3.0f};
  odd.std = {3.14159274f, 1e-7f};
  ImageTransform back = ImageTransform::parse(odd.to_string(), "c");
  EXPECT_EQ(back.mean, odd.mean);
  EXPECT_EQ(back.std, odd.std);

  EXPECT_TRUE(ImageTransform::parse("", "c").is_identity());
  EXPECT_EQ(ImageTransform().to_string(), "");
  ImageTransform only_mean = ImageTransform::parse("mean=0.5", "c");
  EXPECT_EQ(only_mean.std, std::vector<float>{1.0f});
}

TEST(ImageTransform, MalformedTextIsBadInputNamingTheContext) {
  for (const char* text : {"pad=-1", "pad=x", "pad=1.5", "pad", "resize=0", "foo=1", "mean=a", "mean=1,,2",
                           "std=0", "std=-1", "pad=1;pad=2", "mean=1,2;std=1,2,3", "mean=nan", "pad=99999999999"}) {
    try {
      ImageTransform::parse(text, "model.onnx");
      ADD_FAILURE() << text << ": accepted";
    } catch (const BadInput& e) {
      EXPECT_NE(std::string(e.what()).find("model.onnx"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  }
}

// Images with values that identify their position.
Tensor numbered_images(Shape shape) {
  Tensor t(shape, DType::Float32);
  for (int64_t k = 0; k < t.size(); ++k) t.f32()[k] = static_cast<float>((k * 37) % 101) / 100.0f;
  return t;
}

TEST(ImageTransform, PadsWithZerosThenNormalisesPerChannel) {
  Tensor in = numbered_images({2, 3, 4, 5});
  ImageTransform t = ImageTransform::parse("pad=2;mean=0.1,0.2,0.3;std=0.5,0.25,2", "c");
  Tensor out = apply_transform(in, t);
  ASSERT_EQ(out.shape(), (Shape{2, 3, 8, 9}));
  const float mean[] = {0.1f, 0.2f, 0.3f}, stdev[] = {0.5f, 0.25f, 2.0f};
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 9; ++x) {
          const bool inside = y >= 2 && y < 6 && x >= 2 && x < 7;
          const float v = inside ? in.f32()[((n * 3 + c) * 4 + (y - 2)) * 5 + (x - 2)] : 0.0f;
          ASSERT_FLOAT_EQ(out.f32()[((n * 3 + c) * 8 + y) * 9 + x], (v - mean[c]) / stdev[c]);
        }
  // One value applies to every channel; the identity returns the images unchanged.
  Tensor single = apply_transform(in, ImageTransform::parse("mean=0.5;std=0.25", "c"));
  for (int64_t k = 0; k < in.size(); ++k) ASSERT_FLOAT_EQ(single.f32()[k], (in.f32()[k] - 0.5f) / 0.25f);
  EXPECT_EQ(apply_transform(in, ImageTransform()).f32(), in.f32());
  // Per-channel values must match the channel count.
  EXPECT_THROW(apply_transform(numbered_images({1, 1, 2, 2}), t), BadInput);
}

TEST(ImageTransform, BilinearResizeMatchesPyTorchAlignCornersFalse) {
  // torch.nn.functional.interpolate(x, size=4, mode='bilinear', align_corners=False) of
  // [[0, 1], [2, 3]], and size=2 of arange(16).reshape(4, 4) (no antialiasing).
  Tensor up = apply_transform(Tensor::from_floats({1, 1, 2, 2}, {0, 1, 2, 3}), ImageTransform::parse("resize=4", "c"));
  const std::vector<float> want_up{0.0f, 0.25f, 0.75f, 1.0f, 0.5f, 0.75f, 1.25f, 1.5f,
                                   1.5f, 1.75f, 2.25f, 2.5f, 2.0f, 2.25f, 2.75f, 3.0f};
  ASSERT_EQ(up.shape(), (Shape{1, 1, 4, 4}));
  for (int k = 0; k < 16; ++k) EXPECT_FLOAT_EQ(up.f32()[k], want_up[static_cast<std::size_t>(k)]) << k;
  std::vector<float> ramp(16);
  for (int k = 0; k < 16; ++k) ramp[static_cast<std::size_t>(k)] = static_cast<float>(k);
  Tensor down = apply_transform(Tensor::from_floats({1, 1, 4, 4}, ramp), ImageTransform::parse("resize=2", "c"));
  EXPECT_EQ(down.to_float_vector(), (std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}));
}

// The sampling rule written out independently in double precision: output pixel d samples the
// input at (d + 0.5) * in / out - 0.5, clamped at 0, interpolating between floor and the next
// pixel (the last one repeating at the edge).
double reference_bilinear(const std::vector<double>& img, int ih, int iw, int oh, int ow, int y, int x) {
  auto coordinate = [](int d, int in, int out, int& i0, int& i1, double& w1) {
    double src = std::max((d + 0.5) * in / out - 0.5, 0.0);
    i0 = static_cast<int>(std::floor(src));
    i1 = std::min(i0 + 1, in - 1);
    w1 = src - i0;
  };
  int y0, y1, x0, x1;
  double wy, wx;
  coordinate(y, ih, oh, y0, y1, wy);
  coordinate(x, iw, ow, x0, x1, wx);
  auto at = [&](int r, int c) { return img[static_cast<std::size_t>(r * iw + c)]; };
  return (1 - wy) * ((1 - wx) * at(y0, x0) + wx * at(y0, x1)) + wy * ((1 - wx) * at(y1, x0) + wx * at(y1, x1));
}

TEST(ImageTransform, PadThenResizeThenNormaliseMatchesAReference) {
  for (int size : {3, 11, 13, 32}) {
    Tensor in = numbered_images({2, 2, 5, 7});
    ImageTransform t;
    t.pad = 1;
    t.resize = size;
    t.mean = {0.25f};
    t.std = {0.5f};
    Tensor out = apply_transform(in, t);
    ASSERT_EQ(out.shape(), (Shape{2, 2, size, size}));
    for (int p = 0; p < 4; ++p) {
      std::vector<double> padded(7 * 9, 0.0);
      for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 7; ++x)
          padded[static_cast<std::size_t>((y + 1) * 9 + x + 1)] = in.f32()[(p * 5 + y) * 7 + x];
      for (int y = 0; y < size; ++y)
        for (int x = 0; x < size; ++x) {
          const double want = (reference_bilinear(padded, 7, 9, size, size, y, x) - 0.25) / 0.5;
          ASSERT_NEAR(out.f32()[(p * size + y) * size + x], want, 1e-5) << size << " " << p << " " << y << " " << x;
        }
    }
  }
}

TEST_F(DatasetTest, SpecTransformAppliesAfterDecoding) {
  const std::string images = write("i", image_idx()), labels = write("l", label_idx());
  Dataset plain = load_dataset("idx:" + images + "," + labels);
  Dataset t = load_dataset("idx:" + images + "," + labels + "@pad=1;mean=0.5;std=0.25", 2);
  ASSERT_EQ(t.images.shape(), (Shape{2, 1, kH + 2, kW + 2}));
  EXPECT_FLOAT_EQ(t.images.f32()[0], (0.0f - 0.5f) / 0.25f);
  EXPECT_FLOAT_EQ(t.images.f32()[(kW + 2) + 1], (plain.images.f32()[0] - 0.5f) / 0.25f);
  EXPECT_EQ(t.classes, 4);
}

// --- bad data ------------------------------------------------------------------------------------

TEST_F(DatasetTest, BadIdxFilesNameTheFileAndTheProblem) {
  const std::string images = write("images", image_idx()), labels = write("labels", label_idx());
  const std::string missing = (dir_ / "missing").string();
  expect_bad("idx:" + missing + "," + labels, {missing, "cannot open"});
  // Labels where images belong, and the other way round.
  expect_bad("idx:" + labels + "," + labels, {labels, "0x00000801", "0x00000803"});
  expect_bad("idx:" + images + "," + images, {images, "0x00000803", "0x00000801"});
  const std::string garbage = write("garbage", "GARBAGE, NOT IDX");
  expect_bad("idx:" + garbage + "," + labels, {garbage, "not an IDX file", "magic"});
  const std::string floats = write("floats", idx_file({kN, kH, kW}, std::string(kN * kH * kW * 4, '\0'), 0x0D));
  expect_bad("idx:" + floats + "," + labels, {floats, "float32", "not supported"});
  const std::string raw = image_idx();
  const std::string short_data = write("short", raw.substr(0, raw.size() - 5));
  expect_bad("idx:" + short_data + "," + labels, {short_data, "truncated", "5x3x4"});
  const std::string long_data = write("long", raw + "xyz");
  expect_bad("idx:" + long_data + "," + labels, {long_data, "3 bytes after"});
  const std::string short_header = write("header", raw.substr(0, 10));
  expect_bad("idx:" + short_header + "," + labels, {short_header, "truncated IDX header"});
  const std::string tiny = write("tiny", std::string("\0\0", 2));
  expect_bad("idx:" + tiny + "," + labels, {tiny, "too short"});
  const std::string four = write("four", idx_file({4}, std::string{1, 2, 3, 4}));
  expect_bad("idx:" + images + "," + four, {four, "4 labels", "5 images", images});
  const std::string empty = write("empty", idx_file({0, kH, kW}, ""));
  const std::string no_labels = write("nolabels", idx_file({0}, ""));
  expect_bad("idx:" + empty + "," + no_labels, {no_labels, "no samples"});
}

TEST_F(DatasetTest, BadGzipDataIsReportedNotPartiallyRead) {
  const std::string labels = write("labels", label_idx());
  const std::string gz = gzip_member(image_idx());
  const std::string truncated = write("truncated.gz", gz.substr(0, gz.size() / 2));
  expect_bad("idx:" + truncated + "," + labels, {truncated, "truncated gzip"});
  std::string bad_lengths = gz;
  bad_lengths[11] ^= 0x5A;  // LEN of the stored block no longer matches NLEN
  const std::string corrupt = write("corrupt.gz", bad_lengths);
  expect_bad("idx:" + corrupt + "," + labels, {corrupt, "corrupt gzip"});
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 0x01;
  const std::string crc = write("crc.gz", bad_crc);
  expect_bad("idx:" + crc + "," + labels, {crc, "corrupt gzip"});
  const std::string trailing = write("trailing.gz", gz + "junk");
  expect_bad("idx:" + trailing + "," + labels, {trailing, "after the gzip stream"});
  // Zero padding after the stream is what block-padded copies carry: accepted.
  const std::string padded = write("padded.gz", gz + std::string(100, '\0'));
  expect_synthetic_idx(load_dataset("idx:" + padded + "," + labels));
}

TEST_F(DatasetTest, BadCifarFilesNameTheFile) {
  const std::string dir = (dir_ / "c").string();
  expect_bad("cifar:" + dir, {dir, "cannot open"});
  write("c/test_batch.bin", cifar_batch(0, {1, 2}).substr(0, 5000));
  expect_bad("cifar:" + dir + ":test", {dir + "/test_batch.bin", "truncated", "3073"});
  write("c/test_batch.bin", cifar_batch(0, {1, 10, 2}));
  expect_bad("cifar:" + dir, {dir + "/test_batch.bin", "record 1", "label 10", "0..9"});
  write("c/test_batch.bin", std::string(3074 * 2, '\0'));
  expect_bad("cifar:" + dir, {dir + "/test_batch.bin", "CIFAR-100"});
  write("c/test_batch.bin", "");
  expect_bad("cifar:" + dir, {dir + "/test_batch.bin", "empty"});
  for (int f = 1; f <= 4; ++f) write("c/data_batch_" + std::to_string(f) + ".bin", cifar_batch(f, {1}));
  expect_bad("cifar:" + dir + ":train", {dir + "/data_batch_5.bin", "cannot open"});
}

TEST_F(DatasetTest, BadNpyFilesNameTheFileAndTheProblem) {
  const std::string images = write("images.npy", npy_file("<f4", {2, 1, 2, 2}, std::string(32, '\0')));
  const std::string labels = write("labels.npy", npy_file("<i8", {2}, raw_bytes(std::vector<int64_t>{0, 1})));
  ASSERT_EQ(load_dataset("npy:" + images + "," + labels).size(), 2);

  const std::string float_labels = write("fl.npy", npy_file("<f4", {2}, raw_bytes(std::vector<float>{0, 1})));
  expect_bad("npy:" + images + "," + float_labels, {float_labels, "<f4", "integers"});
  const std::string bool_labels = write("bl.npy", npy_file("|b1", {2}, std::string{0, 1}));
  expect_bad("npy:" + images + "," + bool_labels, {bool_labels, "|b1"});
  const std::string int_images = write("ii.npy", npy_file("<i8", {2, 2, 2}, std::string(64, '\0')));
  expect_bad("npy:" + int_images + "," + labels, {int_images, "<i8", "float32, float64 or uint8"});
  const std::string three = write("three.npy", npy_file("<i8", {3}, raw_bytes(std::vector<int64_t>{0, 1, 1})));
  expect_bad("npy:" + images + "," + three, {three, "3 labels", "2 images"});
  const std::string negative = write("neg.npy", npy_file("<i4", {2}, raw_bytes(std::vector<int32_t>{0, -3})));
  expect_bad("npy:" + images + "," + negative, {negative, "-3", "negative"});
  const std::string huge = write("huge.npy", npy_file("<i4", {2}, raw_bytes(std::vector<int32_t>{0, 100000000})));
  expect_bad("npy:" + images + "," + huge, {huge, "100000000"});
  const std::string matrix = write("m.npy", npy_file("<i8", {2, 1}, raw_bytes(std::vector<int64_t>{0, 1})));
  expect_bad("npy:" + images + "," + matrix, {matrix, "1-D", "2x1"});
  const std::string flat = write("flat.npy", npy_file("<f4", {2, 4}, std::string(32, '\0')));
  expect_bad("npy:" + flat + "," + labels, {flat, "N x C x H x W", "2x4"});
  const std::string cut = write("cut.npy", npy_file("|u1", {2, 3, 3}, std::string(10, '\0')));
  expect_bad("npy:" + cut + "," + labels, {cut, "truncated"});
  const std::string cut_float = write("cutf.npy", npy_file("<f4", {2, 3, 3}, std::string(10, '\0')));
  expect_bad("npy:" + cut_float + "," + labels, {cut_float, "truncated"});
  const std::string not_npy = write("text.npy", "hello");
  expect_bad("npy:" + not_npy + "," + labels, {not_npy});
  const std::string missing = (dir_ / "none.npy").string();
  expect_bad("npy:" + images + "," + missing, {missing, "cannot open"});
}

TEST_F(DatasetTest, BadSpecsAreBadInput) {
  expect_bad("mnist:/tmp/x", {"mnist:/tmp/x", "unknown dataset 'mnist'", "fashion-mnist"});
  expect_bad("/tmp/some/file.npy", {"unknown dataset"});
  expect_bad("fashion-mnist:validation", {"unknown split 'validation'"});
  expect_bad("idx:only-one-file", {"idx:only-one-file", "IMAGES,LABELS"});
  expect_bad("npy:a,b,c", {"IMAGES,LABELS"});
  expect_bad("fashion-mnist@pad=two", {"fashion-mnist@pad=two", "pad=two"});
  expect_bad("cifar::train", {"missing path"});
  EXPECT_THROW(load_dataset("fashion-mnist", -1), BadInput);
}

}  // namespace
}  // namespace coda::test
