// Private to the dataset loaders (kernels/dataset*.cpp): one decoder per file format. Each one
// validates the whole file(s) before returning, so a caller never sees part of a bad data set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/tensor.h"

namespace coda::dataset_detail {

struct Decoded {
  Tensor images;                // the first `limit` samples (all if limit is 0), N x C x H x W Float32
  std::vector<int64_t> labels;  // every label of the file(s), so the class count does not depend on limit
  std::string labels_source;    // file named in label range errors
};

// IDX images (magic 0x00000803, unsigned bytes, N x H x W) and labels (0x00000801), each plain or
// gzip-compressed (recognised by the gzip magic bytes 1f 8b, RFC 1952 section 2.3.1).
Decoded load_idx(const std::string& images_path, const std::string& labels_path, int64_t limit);

// CIFAR-10 binary version: `path` is a directory (train = data_batch_1..5.bin, test =
// test_batch.bin) or a single .bin batch file.
Decoded load_cifar(const std::string& path, bool train, int64_t limit);

// NumPy arrays: images N x C x H x W or N x H x W (float16/32/64 or uint8), labels 1-D integers.
Decoded load_npy(const std::string& images_path, const std::string& labels_path, int64_t limit);

// Pixel bytes to floats in [0, 1] as PyTorch's ToTensor computes them (value / 255), in parallel.
void bytes_to_unit_floats(const unsigned char* bytes, float* out, int64_t count);
// The same on the calling thread, for callers that parallelise over images themselves.
void bytes_to_unit_floats_serial(const unsigned char* bytes, float* out, int64_t count);

}  // namespace coda::dataset_detail
