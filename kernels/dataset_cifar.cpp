// CIFAR-10 "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html): each batch file is a
// sequence of 3073-byte records, one label byte (0..9) then 1024 red, 1024 green and 1024 blue
// pixel bytes of a 32x32 image in row-major order, i.e. already C x H x W.
#include <algorithm>
#include <filesystem>

#include "kernels/atomic_file.h"
#include "kernels/dataset_formats.h"
#include "kernels/error.h"

namespace coda::dataset_detail {

namespace {

constexpr int64_t kChannels = 3, kSide = 32;
constexpr int64_t kPixels = kChannels * kSide * kSide;
constexpr int64_t kRecord = 1 + kPixels;
// CIFAR-100's binary records carry a coarse and a fine label byte.
constexpr int64_t kCifar100Record = 2 + kPixels;
// data_batch_1.bin .. data_batch_5.bin hold the 50000 training images, test_batch.bin the 10000
// test images (the dataset page).
constexpr int kTrainBatches = 5;

std::vector<std::string> batch_files(const std::string& path, bool train) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return {path};
  std::string dir = path;
  // Accept the directory the archive was unpacked in as well as the batches folder itself.
  const std::string probe = train ? "/data_batch_1.bin" : "/test_batch.bin";
  if (!fs::exists(dir + probe, ec) && fs::exists(dir + "/cifar-10-batches-bin" + probe, ec))
    dir += "/cifar-10-batches-bin";
  if (!train) return {dir + "/test_batch.bin"};
  std::vector<std::string> files;
  for (int i = 1; i <= kTrainBatches; ++i) files.push_back(dir + "/data_batch_" + std::to_string(i) + ".bin");
  return files;
}

}  // namespace

Decoded load_cifar(const std::string& path, bool train, int64_t limit) {
  std::vector<std::string> files = batch_files(path, train);
  std::vector<std::string> contents;
  int64_t total = 0;
  for (const std::string& file : files) {
    contents.push_back(read_file(file));
    const auto size = static_cast<int64_t>(contents.back().size());
    if (size == 0) throw BadInput(file + ": empty file, not a CIFAR-10 binary batch");
    if (size % kRecord != 0) {
      if (size % kCifar100Record == 0)
        throw BadInput(file + ": looks like CIFAR-100 (" + std::to_string(kCifar100Record) +
                       "-byte records); only CIFAR-10 binary batches are supported");
      throw BadInput(file + ": truncated or not a CIFAR-10 binary batch: " + std::to_string(size) +
                     " bytes is not a whole number of " + std::to_string(kRecord) +
                     "-byte records (1 label byte + 3x32x32 pixels)");
    }
    total += size / kRecord;
  }

  Decoded d;
  d.labels_source = files.size() == 1 ? files.front() : path;
  d.labels.reserve(static_cast<std::size_t>(total));
  for (std::size_t f = 0; f < files.size(); ++f) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(contents[f].data());
    const int64_t records = static_cast<int64_t>(contents[f].size()) / kRecord;
    for (int64_t r = 0; r < records; ++r) {
      const int label = bytes[r * kRecord];
      // Checked here rather than by the caller so that the message names the batch file.
      if (label >= 10)
        throw BadInput(files[f] + ": record " + std::to_string(r) + " has label " + std::to_string(label) +
                       "; CIFAR-10 labels are 0..9");
      d.labels.push_back(label);
    }
  }

  const int64_t kept = limit > 0 ? std::min(limit, total) : total;
  d.images = Tensor({kept, kChannels, kSide, kSide}, DType::Float32);
  float* out = d.images.f32();
  int64_t index = 0;
  for (std::size_t f = 0; f < files.size() && index < kept; ++f) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(contents[f].data());
    const int64_t records = std::min(static_cast<int64_t>(contents[f].size()) / kRecord, kept - index);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < records; ++r)
      bytes_to_unit_floats_serial(bytes + r * kRecord + 1, out + (index + r) * kPixels, kPixels);
    index += records;
  }
  return d;
}

}  // namespace coda::dataset_detail
