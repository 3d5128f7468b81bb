// Rotated Fashion-MNIST: a regression data set (estimate an image's rotation) built from the
// classification one, for the ApproxCaliper steering example (tuner/steering.h).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "kernels/dataset.h"
#include "kernels/error.h"

namespace coda {

namespace {

// Defaults of the spec options. +-45 degrees keeps every rotation's "up" unambiguous for
// garments and bags (a 180-degree turn of a shirt or bag often looks like itself); 15 bins of
// 6 degrees are fine enough that the soft-argmax over them (tuner/examples/rotation-lenet5.onnx)
// interpolates well within a bin.
constexpr float kDefaultMaxDegrees = 45.0f;
constexpr int kDefaultBins = 15;
constexpr std::uint64_t kDefaultSeed = 1;
// Beyond a half turn angles alias; more bins than this would leave most bins nearly empty even
// on the 60000 training images.
constexpr float kLargestMaxDegrees = 180.0f;
constexpr int kMostBins = 360;

const char kRotatedName[] = "rotated-fashion-mnist";

// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA
// 2014; constants from Vigna's reference splitmix64.c): a portable hash with full avalanche.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

double parse_number(const std::string& key, const std::string& value, const std::string& spec) {
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || errno != 0 || !std::isfinite(v))
    throw BadInput(spec + ": option '" + key + "' must be a number, not '" + value + "'");
  return v;
}

}  // namespace

float rotation_angle(std::uint64_t seed, bool train, int64_t index, float max_degrees) {
  const std::uint64_t stream = splitmix64(seed * 2 + (train ? 1 : 0));
  const std::uint64_t bits = splitmix64(stream ^ static_cast<std::uint64_t>(index));
  // The top 53 bits as a double in [0, 1): exact and portable, unlike std::uniform_real_distribution.
  const double unit = static_cast<double>(bits >> 11) * 0x1.0p-53;
  return static_cast<float>(static_cast<double>(max_degrees) * (2.0 * unit - 1.0));
}

int rotation_bin(float degrees, float max_degrees, int bins) {
  const double position = (static_cast<double>(degrees) + max_degrees) / (2.0 * max_degrees) * bins;
  return std::clamp(static_cast<int>(std::floor(position)), 0, bins - 1);
}

float rotation_bin_centre(int bin, float max_degrees, int bins) {
  const double width = 2.0 * max_degrees / bins;
  return static_cast<float>(-max_degrees + (bin + 0.5) * width);
}

Tensor rotate_images(const Tensor& images, const std::vector<float>& degrees) {
  if (images.rank() != 4 || images.dtype() != DType::Float32)
    throw BadInput("rotation needs N x C x H x W float32 images, got " + std::string(dtype_name(images.dtype())) +
                   " " + shape_string(images.shape()));
  const int64_t n = images.dim(0), channels = images.dim(1), height = images.dim(2), width = images.dim(3);
  if (static_cast<int64_t>(degrees.size()) != n)
    throw BadInput("rotation needs one angle per image: " + std::to_string(degrees.size()) + " angles for " +
                   std::to_string(n) + " images");
  Tensor out({n, channels, height, width}, DType::Float32);
  const float* src = images.f32();
  float* dst = out.f32();
  const double cy = 0.5 * static_cast<double>(height - 1), cx = 0.5 * static_cast<double>(width - 1);
  const double kRadiansPerDegree = M_PI / 180.0;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const double theta = static_cast<double>(degrees[static_cast<std::size_t>(i)]) * kRadiansPerDegree;
    const double c = std::cos(theta), s = std::sin(theta);
    for (int64_t ch = 0; ch < channels; ++ch) {
      const float* in = src + (i * channels + ch) * height * width;
      float* o = dst + (i * channels + ch) * height * width;
      auto pixel = [&](int64_t y, int64_t x) -> double {
        return (y < 0 || y >= height || x < 0 || x >= width) ? 0.0 : static_cast<double>(in[y * width + x]);
      };
      for (int64_t y = 0; y < height; ++y) {
        for (int64_t x = 0; x < width; ++x) {
          // Inverse mapping: an output pixel shows the input point rotated back by theta. With
          // rows running down, a counter-clockwise turn as displayed sends (dx, dy) to
          // (dx cos + dy sin, -dx sin + dy cos), whose inverse is used here.
          const double dx = static_cast<double>(x) - cx, dy = static_cast<double>(y) - cy;
          const double sx = cx + dx * c - dy * s, sy = cy + dx * s + dy * c;
          const double fx = std::floor(sx), fy = std::floor(sy);
          const auto x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
          const double wx = sx - fx, wy = sy - fy;
          const double value = (1 - wy) * ((1 - wx) * pixel(y0, x0) + wx * pixel(y0, x0 + 1)) +
                               wy * ((1 - wx) * pixel(y0 + 1, x0) + wx * pixel(y0 + 1, x0 + 1));
          o[y * width + x] = static_cast<float>(value);
        }
      }
    }
  }
  return out;
}

Dataset load_rotated_fashion_mnist(const std::string& body, const std::string& spec, int64_t limit) {
  std::string rest = body.substr(std::min(body.size(), sizeof kRotatedName - 1));
  std::string options;
  const std::size_t question = rest.find('?');
  if (question != std::string::npos) {
    options = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  bool train = false;
  if (rest == ":train") train = true;
  else if (!rest.empty() && rest != ":test")
    throw BadInput(spec + ": unknown split '" + rest.substr(rest.empty() ? 0 : 1) + "' (train or test)");

  float max_degrees = kDefaultMaxDegrees;
  int bins = kDefaultBins;
  std::uint64_t seed = kDefaultSeed;
  std::set<std::string> seen;
  std::size_t pos = 0;
  while (pos <= options.size() && !options.empty()) {
    std::size_t end = options.find_first_of(",&", pos);
    const std::string item = options.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? options.size() + 1 : end + 1;
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos) throw BadInput(spec + ": option '" + item + "' is not KEY=VALUE (e.g. max=45)");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (!seen.insert(key).second) throw BadInput(spec + ": option '" + key + "' is given twice");
    const double number = parse_number(key, value, spec);
    if (key == "max") {
      if (!(number > 0.0 && number <= kLargestMaxDegrees))
        throw BadInput(spec + ": max must be in (0, 180] degrees, not " + value);
      max_degrees = static_cast<float>(number);
    } else if (key == "bins") {
      if (number != std::floor(number) || number < 2 || number > kMostBins)
        throw BadInput(spec + ": bins must be an integer in 2.." + std::to_string(kMostBins) + ", not " + value);
      bins = static_cast<int>(number);
    } else if (key == "seed") {
      if (number != std::floor(number) || number < 0 || number > 9007199254740992.0)
        throw BadInput(spec + ": seed must be a non-negative integer, not " + value);
      seed = static_cast<std::uint64_t>(number);
    } else {
      throw BadInput(spec + ": unknown option '" + key + "' (known: max, bins, seed)");
    }
  }

  Dataset plain = load_dataset(std::string("fashion-mnist:") + (train ? "train" : "test"), limit);
  const int64_t n = plain.size();
  std::vector<float> angles(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    angles[static_cast<std::size_t>(i)] = rotation_angle(seed, train, i, max_degrees);

  Dataset rotated;
  rotated.name = spec;
  rotated.classes = bins;
  rotated.images = rotate_images(plain.images, angles);
  rotated.targets = Tensor::from_floats({n, 1}, angles);
  rotated.labels.resize(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    rotated.labels[static_cast<std::size_t>(i)] = rotation_bin(angles[static_cast<std::size_t>(i)], max_degrees, bins);
  return rotated;
}

}  // namespace coda
