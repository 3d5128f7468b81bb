#include "tests/support/quadrant_data.h"

#include <random>

namespace coda::test {

Dataset quadrant_dataset(int64_t n, std::uint64_t seed) {
  Dataset d;
  d.name = "quadrants";
  d.classes = 2;
  d.images = Tensor({n, 1, 8, 8});
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  for (int64_t i = 0; i < n; ++i) {
    int label = static_cast<int>(i % 2);
    d.labels.push_back(label);
    float* img = d.images.f32() + i * 64;
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        bool lit = label == 0 ? (y < 4 && x < 4) : (y >= 4 && x >= 4);
        img[y * 8 + x] = (lit ? 1.0f : 0.0f) + noise(rng);
      }
  }
  return d;
}

}  // namespace coda::test
