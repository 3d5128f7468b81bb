// Dataset specs, the image transform and its text form; the file formats live in
// kernels/dataset_{idx,cifar,npy}.cpp.
#include "kernels/dataset.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

#include "kernels/dataset_formats.h"
#include "kernels/error.h"

namespace coda {

namespace {

// Where the Debian package dataset-fashion-mnist installs the files (Xiao et al. 2017,
// https://github.com/zalandoresearch/fashion-mnist, in IDX format).
const char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";
// Fashion-MNIST and CIFAR-10 both have ten classes (their papers' label tables).
constexpr int kTenClasses = 10;
// A label this large is not a class index but a sign that the labels file holds something else
// (pixels, float bits); it would also make per-class tables absurdly large.
constexpr int64_t kMaxClasses = 1 << 16;
// Upper bound for pad/resize so sizes stay far from int64 overflow; real images are far smaller.
constexpr int64_t kMaxTransformSize = 1 << 16;

std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = s.find(separator, pos);
    parts.push_back(s.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) return parts;
    pos = end + 1;
  }
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The shortest decimal form that reads back as the same float, so that to_string/parse round-trip.
std::string float_text(float value) {
  char buffer[32];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, static_cast<double>(value));
    if (std::strtof(buffer, nullptr) == value) break;
  }
  return buffer;
}

std::string join_floats(const std::vector<float>& values) {
  std::string s;
  for (float v : values) s += (s.empty() ? "" : ",") + float_text(v);
  return s;
}

}  // namespace

std::string ImageTransform::to_string() const {
  std::vector<std::string> items;
  if (pad) items.push_back("pad=" + std::to_string(pad));
  if (resize) items.push_back("resize=" + std::to_string(resize));
  if (!mean.empty()) items.push_back("mean=" + join_floats(mean));
  if (!std.empty()) items.push_back("std=" + join_floats(std));
  std::string s;
  for (const std::string& item : items) s += (s.empty() ? "" : ";") + item;
  return s;
}

ImageTransform ImageTransform::parse(const std::string& text, const std::string& context) {
  auto fail = [&](const std::string& message) -> void {
    throw BadInput(context + ": bad transform '" + text + "': " + message +
                   " (expected e.g. 'pad=2;resize=32;mean=0.286;std=0.353')");
  };
  auto parse_size = [&](const std::string& key, const std::string& value, int64_t low) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || errno != 0 || v < low || v > kMaxTransformSize)
      fail(key + " must be an integer in " + std::to_string(low) + ".." + std::to_string(kMaxTransformSize) +
           ", not '" + value + "'");
    return static_cast<int64_t>(v);
  };
  auto parse_floats = [&](const std::string& key, const std::string& value) {
    std::vector<float> values;
    for (const std::string& raw : split(value, ',')) {
      std::string part = trim(raw);
      errno = 0;
      char* end = nullptr;
      float v = std::strtof(part.c_str(), &end);
      if (part.empty() || *end != '\0' || errno != 0 || !std::isfinite(v))
        fail(key + " must be a comma-separated list of numbers, not '" + value + "'");
      values.push_back(v);
    }
    return values;
  };

  ImageTransform t;
  std::set<std::string> seen;
  for (const std::string& raw : split(text, ';')) {
    std::string item = trim(raw);
    if (item.empty()) continue;
    std::size_t eq = item.find('=');
    if (eq == std::string::npos) fail("'" + item + "' is not KEY=VALUE");
    std::string key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
    if (!seen.insert(key).second) fail("'" + key + "' is given twice");
    if (key == "pad") {
      t.pad = parse_size(key, value, 0);
    } else if (key == "resize") {
      t.resize = parse_size(key, value, 1);
    } else if (key == "mean") {
      t.mean = parse_floats(key, value);
    } else if (key == "std") {
      t.std = parse_floats(key, value);
      for (float s : t.std)
        if (!(s > 0.0f)) fail("std values must be positive");
    } else {
      fail("unknown key '" + key + "' (known: pad, resize, mean, std)");
    }
  }
  // One of mean/std alone means the other is the identity (mean 0, std 1).
  if (!t.mean.empty() && t.std.empty()) t.std = {1.0f};
  if (t.mean.empty() && !t.std.empty()) t.mean = {0.0f};
  if (t.mean.size() != t.std.size() && t.mean.size() != 1 && t.std.size() != 1)
    fail("mean has " + std::to_string(t.mean.size()) + " values, std " + std::to_string(t.std.size()) +
         "; give one value each or one per channel");
  return t;
}

Tensor apply_transform(const Tensor& images, const ImageTransform& transform) {
  if (images.rank() != 4 || images.dtype() != DType::Float32)
    throw BadInput("the transform needs N x C x H x W float32 images, got " + std::string(dtype_name(images.dtype())) +
                   " " + shape_string(images.shape()));
  if (transform.is_identity()) return images;
  const int64_t n = images.dim(0), channels = images.dim(1), height = images.dim(2), width = images.dim(3);
  const std::size_t per_channel = std::max(transform.mean.size(), transform.std.size());
  if (per_channel > 1 && static_cast<int64_t>(per_channel) != channels)
    throw BadInput("transform '" + transform.to_string() + "' has " + std::to_string(per_channel) +
                   " per-channel values, the images have " + std::to_string(channels) + " channel(s)");
  const int64_t pad = transform.pad;
  const int64_t ph = height + 2 * pad, pw = width + 2 * pad;
  const bool resizing = transform.resize > 0 && (transform.resize != ph || transform.resize != pw);
  const int64_t oh = resizing ? transform.resize : ph, ow = resizing ? transform.resize : pw;

  // Bilinear sampling with align_corners=false, as PyTorch's upsample_bilinear2d computes it
  // (aten/src/ATen/native/UpSample.h: area_pixel_compute_scale / area_pixel_compute_source_index):
  // scale = in / out, src = max(scale * (dst + 0.5) - 0.5, 0), neighbours floor(src) and the next
  // one clamped to the edge.
  struct Tap {
    int64_t i0, i1;
    float w0, w1;
  };
  auto taps = [](int64_t in, int64_t out) {
    std::vector<Tap> t(static_cast<std::size_t>(out));
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int64_t d = 0; d < out; ++d) {
      float src = std::max(scale * (static_cast<float>(d) + 0.5f) - 0.5f, 0.0f);
      auto i0 = static_cast<int64_t>(src);
      int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
      float w1 = src - static_cast<float>(i0);
      t[static_cast<std::size_t>(d)] = Tap{i0, i1, 1.0f - w1, w1};
    }
    return t;
  };
  const std::vector<Tap> ytaps = resizing ? taps(ph, oh) : std::vector<Tap>{};
  const std::vector<Tap> xtaps = resizing ? taps(pw, ow) : std::vector<Tap>{};

  Tensor out({n, channels, oh, ow}, DType::Float32);
  const float* src = images.f32();
  float* dst = out.f32();
  const int64_t planes = n * channels;
#pragma omp parallel
  {
    std::vector<float> padded(resizing && pad > 0 ? static_cast<std::size_t>(ph * pw) : 0);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < planes; ++p) {
      const float* in = src + p * height * width;
      float* o = dst + p * oh * ow;
      // Padding first (zeros, i.e. black before normalisation), into the output plane directly
      // when no resize follows.
      const float* sample = in;
      if (pad > 0) {
        float* target = resizing ? padded.data() : o;
        std::fill(target, target + ph * pw, 0.0f);
        for (int64_t y = 0; y < height; ++y)
          std::copy(in + y * width, in + (y + 1) * width, target + (y + pad) * pw + pad);
        sample = target;
      } else if (!resizing) {
        std::copy(in, in + height * width, o);
      }
      if (resizing) {
        for (int64_t y = 0; y < oh; ++y) {
          const Tap& ty = ytaps[static_cast<std::size_t>(y)];
          const float* r0 = sample + ty.i0 * pw;
          const float* r1 = sample + ty.i1 * pw;
          for (int64_t x = 0; x < ow; ++x) {
            const Tap& tx = xtaps[static_cast<std::size_t>(x)];
            o[y * ow + x] = ty.w0 * (tx.w0 * r0[tx.i0] + tx.w1 * r0[tx.i1]) + ty.w1 * (tx.w0 * r1[tx.i0] + tx.w1 * r1[tx.i1]);
          }
        }
      }
      if (!transform.mean.empty()) {
        const std::size_t c = static_cast<std::size_t>(p % channels);
        const float m = transform.mean[transform.mean.size() == 1 ? 0 : c];
        const float s = transform.std.empty() ? 1.0f : transform.std[transform.std.size() == 1 ? 0 : c];
        // (x - mean) / std, in that order, as torchvision's Normalize.
        for (int64_t i = 0; i < oh * ow; ++i) o[i] = (o[i] - m) / s;
      }
    }
  }
  return out;
}

Tensor Dataset::batch(int64_t begin, int64_t end) const {
  if (begin < 0 || end < begin || end > size())
    throw BadInput(name + ": batch [" + std::to_string(begin) + ", " + std::to_string(end) +
                   ") is outside the " + std::to_string(size()) + " samples");
  Shape shape = images.shape();
  shape[0] = end - begin;
  Tensor out(shape, DType::Float32);
  const int64_t per_image = images.size() / std::max<int64_t>(images.dim(0), 1);
  if (out.size() > 0) std::memcpy(out.f32(), images.f32() + begin * per_image, out.bytes());
  return out;
}

namespace dataset_detail {

namespace {

struct UnitTable {
  float value[256];
  UnitTable() {
    for (int v = 0; v < 256; ++v) value[v] = static_cast<float>(v) / 255.0f;
  }
};
const UnitTable kUnit;

}  // namespace

void bytes_to_unit_floats(const unsigned char* bytes, float* out, int64_t count) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) out[i] = kUnit.value[bytes[i]];
}

void bytes_to_unit_floats_serial(const unsigned char* bytes, float* out, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = kUnit.value[bytes[i]];
}

}  // namespace dataset_detail

namespace {

const char kSpecForms[] =
    "fashion-mnist[:train|:test], rotated-fashion-mnist[:train|:test][?max=45], idx:IMAGES,LABELS, "
    "cifar:DIR[:train|:test] or npy:IMAGES,LABELS, "
    "optionally followed by @TRANSFORM";

// "train" / "test" after the last ':' of `body`, if present; the rest stays in `body`.
bool take_split(std::string& body, const std::string& spec) {
  bool train = false;
  if (ends_with(body, ":train")) {
    train = true;
    body.resize(body.size() - 6);
  } else if (ends_with(body, ":test")) {
    body.resize(body.size() - 5);
  }
  if (body.empty()) throw BadInput(spec + ": missing path before the split");
  return train;
}

std::pair<std::string, std::string> two_paths(const std::string& body, const std::string& spec) {
  std::vector<std::string> parts = split(body, ',');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty())
    throw BadInput(spec + ": expected two files, IMAGES,LABELS");
  return {parts[0], parts[1]};
}

}  // namespace

Dataset load_dataset(const std::string& spec, int64_t limit) {
  if (limit < 0) throw BadInput(spec + ": the sample limit must not be negative");
  // The transform follows the last '@' (transform text has none), so paths may contain '@'.
  const std::size_t at = spec.rfind('@');
  const std::string base = spec.substr(0, at);
  ImageTransform transform;
  if (at != std::string::npos) transform = ImageTransform::parse(spec.substr(at + 1), spec);

  if (starts_with(base, "rotated-fashion-mnist")) {
    Dataset rotated = load_rotated_fashion_mnist(base, spec, limit);
    try {
      rotated.images = apply_transform(rotated.images, transform);
    } catch (const BadInput& error) {
      rethrow_with_context(spec, error);
    }
    return rotated;
  }

  dataset_detail::Decoded decoded;
  int known_classes = 0;
  std::string known_name;
  if (base == "fashion-mnist" || starts_with(base, "fashion-mnist:")) {
    std::string split_name = base.size() > 14 ? base.substr(14) : "test";
    if (split_name != "train" && split_name != "test")
      throw BadInput(spec + ": unknown split '" + split_name + "' (train or test)");
    const std::string prefix = std::string(kFashionMnistDir) + "/" + (split_name == "train" ? "train" : "t10k");
    try {
      decoded = dataset_detail::load_idx(prefix + "-images-idx3-ubyte.gz", prefix + "-labels-idx1-ubyte.gz", limit);
    } catch (const BadInput& error) {
      std::string message = error.what();
      if (message.find("cannot open") != std::string::npos)
        message += " (install the Debian package dataset-fashion-mnist)";
      throw BadInput(message);
    }
    known_classes = kTenClasses;
    known_name = "Fashion-MNIST";
  } else if (starts_with(base, "idx:")) {
    auto paths = two_paths(base.substr(4), spec);
    decoded = dataset_detail::load_idx(paths.first, paths.second, limit);
  } else if (starts_with(base, "cifar:")) {
    std::string body = base.substr(6);
    bool train = take_split(body, spec);
    decoded = dataset_detail::load_cifar(body, train, limit);
    known_classes = kTenClasses;
    known_name = "CIFAR-10";
  } else if (starts_with(base, "npy:")) {
    auto paths = two_paths(base.substr(4), spec);
    decoded = dataset_detail::load_npy(paths.first, paths.second, limit);
  } else {
    std::size_t colon = base.find(':');
    throw BadInput(spec + ": unknown dataset '" + base.substr(0, colon) + "' (expected " + kSpecForms + ")");
  }

  if (decoded.labels.empty()) throw BadInput(decoded.labels_source + ": the data set has no samples");
  int64_t max_label = 0;
  for (std::size_t i = 0; i < decoded.labels.size(); ++i) {
    const int64_t label = decoded.labels[i];
    if (label < 0)
      throw BadInput(decoded.labels_source + ": label " + std::to_string(label) + " of sample " + std::to_string(i) +
                     " is negative");
    if (known_classes && label >= known_classes)
      throw BadInput(decoded.labels_source + ": label " + std::to_string(label) + " of sample " + std::to_string(i) +
                     " is out of range for " + known_name + " (0.." + std::to_string(known_classes - 1) + ")");
    if (label >= kMaxClasses)
      throw BadInput(decoded.labels_source + ": label " + std::to_string(label) + " of sample " + std::to_string(i) +
                     " is not a plausible class index (at most " + std::to_string(kMaxClasses - 1) + ")");
    max_label = std::max(max_label, label);
  }

  Dataset dataset;
  dataset.name = spec;
  dataset.classes = known_classes ? known_classes : static_cast<int>(max_label + 1);
  const int64_t kept = decoded.images.dim(0);
  dataset.labels.assign(decoded.labels.begin(), decoded.labels.begin() + kept);
  try {
    dataset.images = apply_transform(decoded.images, transform);
  } catch (const BadInput& error) {
    rethrow_with_context(spec, error);
  }
  return dataset;
}

}  // namespace coda
