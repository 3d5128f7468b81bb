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
  // Regression targets, N x 1 float32, for data sets that have them (rotated-fashion-mnist: the
  // rotation in degrees, of which `labels` is the bin); empty otherwise.
  Tensor targets;

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
//   rotated-fashion-mnist[:train|:test][?max=45,bins=15,seed=1]
//                                          Fashion-MNIST rotated by a seeded per-index angle
//                                          (see load_rotated_fashion_mnist)
// optionally followed by transform options after '@', e.g. "fashion-mnist:test@pad=2;mean=0.286;std=0.353".
// The split defaults to test. uint8 pixels are scaled to [0, 1]. `limit` > 0 keeps the first
// `limit` samples. Throws BadInput "FILE: problem" for missing or malformed files (bad magic
// number, truncated data, image/label count mismatch, unsupported dtype).
Dataset load_dataset(const std::string& spec, int64_t limit = 0);

// Rotated Fashion-MNIST (kernels/dataset_rotation.cpp), a regression task for the ApproxCaliper
// example (tuner/steering.h). `body` is the spec without its transform: image i is rotated
// counter-clockwise (as displayed, rows running down) by an angle uniform in [-max, max] degrees
// drawn from (seed, split, i) alone, so a limit or a batch order never changes it; bilinear
// sampling about the image centre, zero fill. `targets` holds the angles, `labels` their bin
// among `bins` equal bins over [-max, max]. Throws BadInput naming `spec` on bad options.
Dataset load_rotated_fashion_mnist(const std::string& body, const std::string& spec, int64_t limit);

// Rotates each image of N x C x H x W float32 `images` by its own angle (degrees, one per image,
// counter-clockwise as displayed) about the image centre; bilinear, zero outside the image.
Tensor rotate_images(const Tensor& images, const std::vector<float>& degrees);

// The seeded angle of sample `index` in [-max_degrees, max_degrees] (a SplitMix64 hash of seed,
// split and index, so every sample's angle is independent of which others are loaded).
float rotation_angle(std::uint64_t seed, bool train, int64_t index, float max_degrees);
// The bin of `degrees` among `bins` equal bins over [-max_degrees, max_degrees] (clamped at the
// ends), and a bin's centre.
int rotation_bin(float degrees, float max_degrees, int bins);
float rotation_bin_centre(int bin, float max_degrees, int bins);

// Applies a transform to an N x C x H x W image tensor (used by load_dataset and by callers that
// take a model's stored preprocessing).
Tensor apply_transform(const Tensor& images, const ImageTransform& transform);

}  // namespace coda
