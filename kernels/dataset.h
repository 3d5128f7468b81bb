// Labelled image datasets for training and for measuring quality (top-1 accuracy), read from the
// files the usual distributions ship: IDX (MNIST, Fashion-MNIST; plain or gzip), CIFAR-10 binary
// batches, and NumPy arrays.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/tensor.h"

namespace coda {

// Preprocessing applied after decoding: zero padding on each side, bilinear resize to a square
// size, then per-channel (x - mean) / std on pixel values scaled to [0, 1].
struct ImageTransform {
  int64_t pad = 0;
  int64_t resize = 0;          // 0: keep the size
  std::vector<float> mean;     // empty: no normalisation; one value applies to every channel
  std::vector<float> std;

  bool is_identity() const { return pad == 0 && resize == 0 && mean.empty(); }
  // "pad=2;mean=0.286;std=0.353" — the form stored in model metadata (key "coda.preprocess").
  std::string to_string() const;
  // Parses the form above; throws BadInput naming `context` on a malformed string.
  static ImageTransform parse(const std::string& text, const std::string& context);
};

struct Dataset {
  std::string name;          // the spec it came from
  Tensor images;             // N x C x H x W, Float32, transformed
  std::vector<int> labels;   // N values in [0, classes)
  int classes = 0;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  // Copies images [begin, end) into a batch tensor.
  Tensor batch(int64_t begin, int64_t end) const;
};

// SPEC is one of
//   fashion-mnist[:train|:test]            the Debian package dataset-fashion-mnist
//                                          (/usr/share/datasets/fashion-mnist)
//   idx:IMAGES,LABELS                      IDX files, plain or .gz
//   cifar:DIR[:train|:test]                CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)
//   npy:IMAGES,LABELS                      N x C x H x W (or N x H x W) float or uint8, labels int
// optionally followed by transform options after '@', e.g. "fashion-mnist:test@pad=2;mean=0.286;std=0.353".
// The split defaults to test. uint8 pixels are scaled to [0, 1]. `limit` > 0 keeps the first
// `limit` samples. Throws BadInput "FILE: problem" for missing or malformed files (bad magic
// number, truncated data, image/label count mismatch, unsupported dtype).
Dataset load_dataset(const std::string& spec, int64_t limit = 0);

// Applies a transform to an N x C x H x W image tensor (used by load_dataset and by callers that
// take a model's stored preprocessing).
Tensor apply_transform(const Tensor& images, const ImageTransform& transform);

}  // namespace coda
