// rotated-fashion-mnist: the rotation itself (identity at 0, exact quarter turns, zero fill),
// the seeded per-index angles, and the targets/labels/bins relation.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/dataset.h"
#include "kernels/error.h"

namespace coda {
namespace {

// A 1 x 1 x H x W image with a distinct value per pixel, so any misplaced pixel shows.
Tensor ramp_image(int64_t height, int64_t width) {
  std::vector<float> values;
  for (int64_t i = 0; i < height * width; ++i) values.push_back(static_cast<float>(i + 1));
  return Tensor::from_floats({1, 1, height, width}, values);
}

TEST(DatasetRotation, ZeroDegreesIsTheIdentity) {
  Tensor image = ramp_image(5, 7);
  Tensor same = rotate_images(image, {0.0f});
  ASSERT_EQ(same.shape(), image.shape());
  for (int64_t i = 0; i < image.size(); ++i) EXPECT_FLOAT_EQ(same.f32()[i], image.f32()[i]) << i;
}

TEST(DatasetRotation, QuarterTurnsMatchTransposeAndFlip) {
  const int64_t n = 6;
  Tensor image = ramp_image(n, n);
  Tensor left = rotate_images(image, {90.0f});
  Tensor right = rotate_images(image, {-90.0f});
  const float* in = image.f32();
  for (int64_t y = 0; y < n; ++y) {
    for (int64_t x = 0; x < n; ++x) {
      // Counter-clockwise as displayed (numpy.rot90): out[y][x] = in[x][n-1-y]; clockwise is the
      // transpose with rows reversed the other way: out[y][x] = in[n-1-x][y].
      EXPECT_NEAR(left.f32()[y * n + x], in[x * n + (n - 1 - y)], 1e-4) << y << "," << x;
      EXPECT_NEAR(right.f32()[y * n + x], in[(n - 1 - x) * n + y], 1e-4) << y << "," << x;
    }
  }
}

TEST(DatasetRotation, HalfTurnReversesAndCornersFillWithZero) {
  Tensor image = ramp_image(4, 4);
  Tensor half = rotate_images(image, {180.0f});
  for (int64_t i = 0; i < 16; ++i) EXPECT_NEAR(half.f32()[i], image.f32()[15 - i], 1e-4) << i;
  // At 45 degrees the corners of a square map from outside the image.
  Tensor tilted = rotate_images(Tensor::filled({1, 1, 9, 9}, 1.0f), {45.0f});
  EXPECT_FLOAT_EQ(tilted.f32()[0], 0.0f);
  EXPECT_FLOAT_EQ(tilted.f32()[80], 0.0f);
  EXPECT_NEAR(tilted.f32()[4 * 9 + 4], 1.0f, 1e-6);
}

TEST(DatasetRotation, RotationPreservesInteriorMassApproximately) {
  // A small centred blob keeps its total intensity (bilinear resampling is close to
  // mass-preserving away from the border).
  Tensor blob = Tensor::zeros({1, 1, 21, 21});
  for (int y = 8; y <= 12; ++y)
    for (int x = 8; x <= 12; ++x) blob.f32()[y * 21 + x] = 1.0f;
  Tensor turned = rotate_images(blob, {30.0f});
  double before = 0, after = 0;
  for (int64_t i = 0; i < blob.size(); ++i) before += blob.f32()[i], after += turned.f32()[i];
  EXPECT_NEAR(after, before, 0.05 * before);
}

TEST(DatasetRotation, AnglesAreSeededPerIndexAndInRange) {
  double sum = 0;
  const int count = 4000;
  for (int i = 0; i < count; ++i) {
    float a = rotation_angle(1, false, i, 45.0f);
    ASSERT_GE(a, -45.0f);
    ASSERT_LE(a, 45.0f);
    EXPECT_EQ(a, rotation_angle(1, false, i, 45.0f));
    sum += a;
  }
  // Uniform on [-45, 45]: mean 0 with standard error 45 / sqrt(3 * 4000) ~ 0.41.
  EXPECT_NEAR(sum / count, 0.0, 2.0);
  EXPECT_NE(rotation_angle(1, false, 7, 45.0f), rotation_angle(2, false, 7, 45.0f));
  EXPECT_NE(rotation_angle(1, false, 7, 45.0f), rotation_angle(1, true, 7, 45.0f));
}

TEST(DatasetRotation, BinsPartitionTheRange) {
  EXPECT_EQ(rotation_bin(-45.0f, 45.0f, 15), 0);
  EXPECT_EQ(rotation_bin(45.0f, 45.0f, 15), 14);
  EXPECT_EQ(rotation_bin(0.0f, 45.0f, 15), 7);
  EXPECT_EQ(rotation_bin(-39.1f, 45.0f, 15), 0);
  EXPECT_EQ(rotation_bin(-38.9f, 45.0f, 15), 1);
  EXPECT_FLOAT_EQ(rotation_bin_centre(0, 45.0f, 15), -42.0f);
  EXPECT_FLOAT_EQ(rotation_bin_centre(7, 45.0f, 15), 0.0f);
  EXPECT_FLOAT_EQ(rotation_bin_centre(14, 45.0f, 15), 42.0f);
}

TEST(DatasetRotation, SpecLoadsTargetsMatchingLabels) {
  Dataset data = load_dataset("rotated-fashion-mnist:test?max=30,bins=10", 200);
  ASSERT_EQ(data.size(), 200);
  EXPECT_EQ(data.classes, 10);
  ASSERT_EQ(data.targets.shape(), (Shape{200, 1}));
  ASSERT_EQ(data.images.shape(), (Shape{200, 1, 28, 28}));
  for (int64_t i = 0; i < 200; ++i) {
    const float angle = data.targets.f32()[i];
    EXPECT_EQ(angle, rotation_angle(1, false, i, 30.0f));
    EXPECT_EQ(data.labels[static_cast<std::size_t>(i)], rotation_bin(angle, 30.0f, 10));
    EXPECT_LE(std::fabs(angle - rotation_bin_centre(data.labels[static_cast<std::size_t>(i)], 30.0f, 10)), 3.0f + 1e-4f);
  }
  // The images are the plain ones rotated by those angles.
  Dataset plain = load_dataset("fashion-mnist:test", 3);
  Tensor expected = rotate_images(plain.images, {data.targets.f32()[0], data.targets.f32()[1], data.targets.f32()[2]});
  for (int64_t i = 0; i < expected.size(); ++i) ASSERT_FLOAT_EQ(data.images.f32()[i], expected.f32()[i]) << i;
  // A limit keeps the same angles for the samples it keeps.
  Dataset fewer = load_dataset("rotated-fashion-mnist:test?max=30,bins=10", 5);
  for (int64_t i = 0; i < 5; ++i) EXPECT_EQ(fewer.targets.f32()[i], data.targets.f32()[i]);
  // Plain data sets have no targets.
  EXPECT_TRUE(plain.targets.empty());
}

TEST(DatasetRotation, TransformAppliesAfterRotation) {
  Dataset raw = load_dataset("rotated-fashion-mnist", 2);
  Dataset normalised = load_dataset("rotated-fashion-mnist@mean=0.5;std=0.25", 2);
  for (int64_t i = 0; i < raw.images.size(); ++i)
    ASSERT_NEAR(normalised.images.f32()[i], (raw.images.f32()[i] - 0.5f) / 0.25f, 1e-5) << i;
}

TEST(DatasetRotation, BadOptionsAreRejected) {
  EXPECT_THROW(load_dataset("rotated-fashion-mnist:valid", 1), BadInput);
  EXPECT_THROW(load_dataset("rotated-fashion-mnist?max=0", 1), BadInput);
  EXPECT_THROW(load_dataset("rotated-fashion-mnist?max=abc", 1), BadInput);
  EXPECT_THROW(load_dataset("rotated-fashion-mnist?bins=2.5", 1), BadInput);
  EXPECT_THROW(load_dataset("rotated-fashion-mnist?tilt=3", 1), BadInput);
  EXPECT_THROW(load_dataset("rotated-fashion-mnist?max=10,max=20", 1), BadInput);
  EXPECT_THROW(rotate_images(Tensor::zeros({2, 1, 3, 3}), {1.0f}), BadInput);
}

}  // namespace
}  // namespace coda
