// Classifier evaluation at the library level: a model whose predictions are worked out by hand (a
// Gemm that compares two pixels), in every batching situation (symbolic batch with a short last
// batch, batch fixed at 1 and re-bound, a batch baked into a Reshape, a batch-dependent graph that
// must not be re-bound), flattened inputs, per-class results and the confusion matrix, the choice
// of preprocessing, and the one-line errors.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/onnx_import.h"
#include "tests/support/onnx_builder.h"

namespace coda {
namespace {

using test::attr_int;
using test::attr_ints;
using test::ModelBuilder;

// Image i is 1x2x2 with pixel 0 = (i % 10) / 10, pixel 1 = 0.45 and two distractors; its label is
// 0 when i % 3 == 0, else 1. The model scores class 0 with pixel 0 and class 1 with pixel 1, so it
// predicts 0 exactly when i % 10 >= 5.
constexpr int64_t kImages = 37;
int label_of(int64_t i) { return i % 3 == 0 ? 0 : 1; }
int prediction_of(int64_t i) { return i % 10 >= 5 ? 0 : 1; }

Dataset pixel_dataset(int64_t n = kImages, int classes = 2) {
  Dataset d;
  d.name = "pixels";
  d.classes = classes;
  d.images = Tensor({n, 1, 2, 2});
  for (int64_t i = 0; i < n; ++i) {
    float* p = d.images.f32() + i * 4;
    p[0] = static_cast<float>(i % 10) / 10.0f;
    p[1] = 0.45f;
    p[2] = 0.9f;  // larger than both, but the model ignores it
    p[3] = -1.0f;
    d.labels.push_back(label_of(i));
  }
  return d;
}

int64_t expected_correct(int64_t n) {
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) correct += label_of(i) == prediction_of(i);
  return correct;
}

enum class Flatten { Op, ConstantReshape };

// x [batch, 1, 2, 2] -> Flatten (or a Reshape to the constant shape [batch, 4], which bakes the
// batch in) -> Gemm whose rows pick pixels 0 and 1, plus `extra_classes` rows of zeros.
// With `batch_mean`, the mean of the whole batch's pixels is added to every score: the argmax is
// unchanged, but the scores depend on which images share a batch.
Graph pixel_model(int64_t batch, Flatten flatten = Flatten::Op, bool batch_mean = false, int extra_classes = 0) {
  ModelBuilder b(13);
  b.input("x", {batch, 1, 2, 2});
  const std::string flat = flatten == Flatten::ConstantReshape ? b.reshape("x", {batch, 4}) : b.flatten("x");
  const int64_t k = 2 + extra_classes;
  std::vector<float> w(static_cast<std::size_t>(k * 4), 0.0f);
  w[0] = 1.0f;
  w[4 + 1] = 1.0f;
  b.initializer("w", {k, 4}, w);
  b.initializer("bias", {k}, std::vector<float>(static_cast<std::size_t>(k), 0.0f));
  b.node("Gemm", {flat, "w", "bias"}, {batch_mean ? "g" : "y"}, {attr_int("transB", 1)});
  if (batch_mean) {
    b.node("ReduceMean", {flat}, {"m"}, {attr_ints("axes", {0, 1}), attr_int("keepdims", 1)});
    b.node("Add", {"g", "m"}, {"y"});
  }
  b.output("y");
  return import_onnx(b.serialize(), "pixel.onnx");
}

// x [batch, 4] -> Gemm: a model that takes flattened images.
Graph flat_model(int64_t batch) {
  ModelBuilder b(13);
  b.input("x", {batch, 4});
  b.initializer("w", {2, 4}, {1, 0, 0, 0, 0, 1, 0, 0});
  b.initializer("bias", {2}, {0.0f, 0.0f});
  b.node("Gemm", {"x", "w", "bias"}, {"y"}, {attr_int("transB", 1)});
  b.output("y");
  return import_onnx(b.serialize(), "flat.onnx");
}

void expect_exact(const Evaluation& e, int64_t n = kImages) {
  ASSERT_EQ(e.n, n);
  ASSERT_EQ(e.predictions.size(), static_cast<std::size_t>(n));
  ASSERT_EQ(e.labels.size(), static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(e.predictions[static_cast<std::size_t>(i)], prediction_of(i)) << "image " << i;
    EXPECT_EQ(e.labels[static_cast<std::size_t>(i)], label_of(i)) << "image " << i;
  }
  EXPECT_EQ(e.correct, expected_correct(n));
  EXPECT_DOUBLE_EQ(e.accuracy(), static_cast<double>(expected_correct(n)) / static_cast<double>(n));
}

TEST(Evaluate, AccuracyOfAPixelComparingModelIsExact) {
  const Dataset data = pixel_dataset();
  ASSERT_GT(expected_correct(kImages), 0);
  ASSERT_LT(expected_correct(kImages), kImages);
  const Graph model = pixel_model(-1);
  // 37 images in batches of 8 (a short last batch), of 64 (one batch of 37) and of 1.
  for (int64_t batch : {8, 64, 1}) {
    std::vector<EvalStatus> calls;
    const Evaluation e = evaluate_classifier(model, data, batch, [&](const EvalStatus& s) { calls.push_back(s); });
    SCOPED_TRACE("batch " + std::to_string(batch));
    expect_exact(e);
    EXPECT_EQ(e.batch, std::min<int64_t>(batch, kImages));
    EXPECT_EQ(e.batch_note, "");
    EXPECT_EQ(e.scores_per_image, 2);
    const int64_t batches = (kImages + e.batch - 1) / e.batch;
    ASSERT_EQ(static_cast<int64_t>(calls.size()), batches);
    for (std::size_t c = 0; c < calls.size(); ++c) {
      const int64_t done = std::min<int64_t>(kImages, static_cast<int64_t>(c + 1) * e.batch);
      EXPECT_EQ(calls[c].batches_done, static_cast<int64_t>(c + 1));
      EXPECT_EQ(calls[c].batches, batches);
      EXPECT_EQ(calls[c].images, kImages);
      EXPECT_EQ(calls[c].images_done, done);
      EXPECT_EQ(calls[c].correct, expected_correct(done));
    }
  }
}

TEST(Evaluate, ScoresOfAShortBatchAreThePixels) {
  const Dataset data = pixel_dataset();
  BatchedClassifier classifier(pixel_model(-1), data, 8);
  ASSERT_EQ(classifier.batch(), 8);
  // The last 5 images: a symbolic-batch model runs them at their own size.
  const Tensor s = classifier.scores(data, 32, 37);
  ASSERT_EQ(s.shape(), (Shape{5, 2}));
  for (int64_t i = 0; i < 5; ++i) {
    EXPECT_FLOAT_EQ(s.f32()[i * 2], static_cast<float>((32 + i) % 10) / 10.0f);
    EXPECT_FLOAT_EQ(s.f32()[i * 2 + 1], 0.45f);
  }
  EXPECT_THROW(classifier.scores(data, 0, 9), BadInput);   // more than a batch
  EXPECT_THROW(classifier.scores(data, 36, 38), BadInput); // past the end
}

TEST(Evaluate, FixedBatchOfOneIsReboundWhenScoresAgree) {
  const Dataset data = pixel_dataset();
  BatchedClassifier classifier(pixel_model(1), data, 8);
  EXPECT_EQ(classifier.batch(), 8);
  EXPECT_EQ(classifier.batch_note(), "");
  expect_exact(evaluate_classifier(classifier, data));
}

TEST(Evaluate, BatchBakedIntoAReshapeRunsAtTheExportedSizeWithAPaddedLastBatch) {
  const Dataset data = pixel_dataset();
  // Fixed at 4, not a divisor of 37: re-binding to 8 fails in the Reshape, so batches of 4 run and
  // the last one (image 36) is padded with three zero images.
  BatchedClassifier four(pixel_model(4, Flatten::ConstantReshape), data, 8);
  EXPECT_EQ(four.batch(), 4);
  EXPECT_NE(four.batch_note().find("cannot be re-bound"), std::string::npos) << four.batch_note();
  const Tensor last = four.scores(data, 36, 37);
  ASSERT_EQ(last.shape(), (Shape{1, 2}));
  EXPECT_FLOAT_EQ(last.f32()[0], 0.6f);
  const Evaluation e = evaluate_classifier(four, data);
  expect_exact(e);
  EXPECT_EQ(e.batch, 4);
  // Fixed at 1 in the Reshape: batches of 1.
  expect_exact(evaluate_classifier(pixel_model(1, Flatten::ConstantReshape), data, 8));
}

TEST(Evaluate, BatchDependentScoresKeepTheExportedBatch) {
  const Dataset data = pixel_dataset();
  // The graph prepares at batch 8, but a batch-wide mean makes its scores differ from those at the
  // exported batch of 2: it must run at 2 (zero-padding image 36's batch).
  BatchedClassifier classifier(pixel_model(2, Flatten::Op, true), data, 8);
  EXPECT_EQ(classifier.batch(), 2);
  EXPECT_NE(classifier.batch_note().find("differ from the exported batch 2"), std::string::npos)
      << classifier.batch_note();
  expect_exact(evaluate_classifier(classifier, data));
  // With the batch already at the exported size there is nothing to decide.
  BatchedClassifier same(pixel_model(2, Flatten::Op, true), data, 2);
  EXPECT_EQ(same.batch(), 2);
  EXPECT_EQ(same.batch_note(), "");
}

TEST(Evaluate, FlattenedInputs) {
  const Dataset data = pixel_dataset();
  expect_exact(evaluate_classifier(flat_model(-1), data, 8));
  const Evaluation fixed = evaluate_classifier(flat_model(1), data, 16);
  expect_exact(fixed);
  EXPECT_EQ(fixed.batch, 16);
  std::string fix;
  EXPECT_EQ(classifier_input_mismatch(flat_model(-1), {1, 2, 2}, "pixels", &fix), "");
  ModelBuilder b(13);
  b.input("x", {-1, 9});
  b.node("Identity", {"x"}, {"y"});
  b.output("y");
  const Graph nine = import_onnx(b.serialize(), "nine.onnx");
  EXPECT_EQ(classifier_input_mismatch(nine, {1, 2, 2}, "pixels", &fix),
            "model expects 9 features per image, pixels has 1x2x2 = 4");
  EXPECT_EQ(fix, "");
  EXPECT_THROW(evaluate_classifier(nine, data, 8), BadInput);
}

TEST(Evaluate, PerClassResultsAndConfusionMatrixAddUp) {
  // Three classes in the data (one never seen), four scores per image.
  Dataset data = pixel_dataset(kImages, 3);
  const Evaluation e = evaluate_classifier(pixel_model(-1, Flatten::Op, false, 2), data, 5);
  expect_exact(e);
  EXPECT_EQ(e.scores_per_image, 4);
  const std::vector<std::vector<int64_t>> confusion = e.confusion();
  ASSERT_EQ(confusion.size(), 3u);
  int64_t total = 0, diagonal = 0;
  std::vector<std::vector<int64_t>> want(3, std::vector<int64_t>(4, 0));
  for (int64_t i = 0; i < kImages; ++i)
    ++want[static_cast<std::size_t>(label_of(i))][static_cast<std::size_t>(prediction_of(i))];
  EXPECT_EQ(confusion, want);
  for (std::size_t r = 0; r < confusion.size(); ++r) {
    ASSERT_EQ(confusion[r].size(), 4u);
    total += std::accumulate(confusion[r].begin(), confusion[r].end(), int64_t{0});
    diagonal += confusion[r][r];
  }
  EXPECT_EQ(total, e.n);
  EXPECT_EQ(diagonal, e.correct);

  const std::vector<ClassResult> per_class = e.per_class();
  ASSERT_EQ(per_class.size(), 3u);
  int64_t samples = 0, correct = 0;
  for (std::size_t c = 0; c < per_class.size(); ++c) {
    EXPECT_EQ(per_class[c].samples, std::accumulate(confusion[c].begin(), confusion[c].end(), int64_t{0}));
    EXPECT_EQ(per_class[c].correct, confusion[c][c]);
    samples += per_class[c].samples;
    correct += per_class[c].correct;
  }
  EXPECT_EQ(samples, e.n);
  EXPECT_EQ(correct, e.correct);
  EXPECT_DOUBLE_EQ(per_class[0].accuracy(), static_cast<double>(want[0][0]) / (want[0][0] + want[0][1]));
  EXPECT_TRUE(std::isnan(per_class[2].accuracy()));  // no samples of class 2
}

TEST(Evaluate, GeometryMismatchesNameTheFix) {
  ModelBuilder b(13);
  b.input("x", {-1, 1, 4, 4});
  b.node("Identity", {"x"}, {"y"});
  b.output("y");
  const Graph four = import_onnx(b.serialize(), "four.onnx");
  std::string fix;
  EXPECT_EQ(classifier_input_mismatch(four, {1, 2, 2}, "pixels", &fix), "model expects 1x4x4 images, pixels has 1x2x2");
  EXPECT_EQ(fix, "pad=1");
  classifier_input_mismatch(four, {1, 3, 3}, "pixels", &fix);
  EXPECT_EQ(fix, "resize=4");
  EXPECT_EQ(classifier_input_mismatch(four, {3, 4, 4}, "rgb", &fix),
            "model expects 1x4x4 images, rgb has 3x4x4 (1 channel(s) wanted, 3 present)");
  EXPECT_EQ(fix, "");
  EXPECT_EQ(classifier_input_mismatch(four, {1, 4, 4}, "pixels", &fix), "");
  try {
    evaluate_classifier(four, pixel_dataset(), 8);
    ADD_FAILURE() << "no error for 2x2 images on a 4x4 model";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("pad=1"), std::string::npos) << e.what();
  }
}

TEST(Evaluate, ModelsThatAreNoClassifiersAreBadInput) {
  const Dataset data = pixel_dataset();
  {
    ModelBuilder b(13);
    b.input("x", {-1, 4, 1});
    b.node("Identity", {"x"}, {"y"});
    b.output("y");
    EXPECT_THROW(check_classifier(import_onnx(b.serialize(), "rank3.onnx")), BadInput);
  }
  {
    ModelBuilder b(13);
    b.input("a", {-1, 1, 2, 2});
    b.input("c", {-1, 1, 2, 2});
    b.node("Add", {"a", "c"}, {"y"});
    b.output("y");
    EXPECT_THROW(check_classifier(import_onnx(b.serialize(), "two.onnx")), BadInput);
  }
  {
    ModelBuilder b(13);
    b.input("x", {-1, 1, 2, 2}, onnx::TensorProto::INT64);
    b.node("Identity", {"x"}, {"y"});
    b.output("y", {}, onnx::TensorProto::INT64);
    EXPECT_THROW(check_classifier(import_onnx(b.serialize(), "int.onnx")), BadInput);
  }
  {
    // One row for the whole batch, not one per image.
    ModelBuilder b(13);
    b.input("x", {-1, 1, 2, 2});
    b.node("ReduceSum", {"x"}, {"y"}, {attr_int("keepdims", 0)});
    b.output("y");
    const Graph g = import_onnx(b.serialize(), "sum.onnx");
    check_classifier(g);
    try {
      BatchedClassifier c(g, data, 8);
      ADD_FAILURE() << "a scalar output was taken for class scores";
    } catch (const BadInput& e) {
      EXPECT_NE(std::string(e.what()).find("one row of class scores per image"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(evaluate_classifier(pixel_model(-1), data, 0), BadInput);
  Dataset empty = pixel_dataset(0);
  EXPECT_THROW(evaluate_classifier(pixel_model(-1), empty, 8), BadInput);
}

TEST(Evaluate, TransformChoice) {
  Graph g = pixel_model(-1);
  TransformChoice none = resolve_transform(g, "npy:a.npy,b.npy");
  EXPECT_FALSE(none.from_spec);
  EXPECT_FALSE(none.from_model);
  EXPECT_EQ(none.text, "");

  g.metadata[kPreprocessMetadataKey] = "pad=1";
  TransformChoice stored = resolve_transform(g, "npy:a.npy,b.npy");
  EXPECT_TRUE(stored.from_model);
  EXPECT_EQ(stored.stored, "pad=1");
  EXPECT_EQ(stored.transform.pad, 1);
  Dataset data = pixel_dataset(3);
  apply_transform_choice(data, stored);
  EXPECT_EQ(data.images.shape(), (Shape{3, 1, 4, 4}));
  EXPECT_FLOAT_EQ(data.images.f32()[0], 0.0f);             // the padding
  EXPECT_FLOAT_EQ(data.images.f32()[16 + 5], 0.1f);        // image 1's pixel 0, now at (1, 1)

  // A spec's transform wins (load_dataset applied it): nothing more to apply.
  TransformChoice spec = resolve_transform(g, "npy:a@b.npy,c.npy@resize=4");
  EXPECT_TRUE(spec.from_spec);
  EXPECT_FALSE(spec.from_model);
  EXPECT_EQ(spec.text, "resize=4");
  EXPECT_EQ(spec.stored, "pad=1");
  Dataset untouched = pixel_dataset(3);
  apply_transform_choice(untouched, spec);
  EXPECT_EQ(untouched.images.shape(), (Shape{3, 1, 2, 2}));

  g.metadata[kPreprocessMetadataKey] = "pad=x";
  try {
    resolve_transform(g, "npy:a.npy,b.npy");
    ADD_FAILURE() << "malformed stored preprocessing accepted";
  } catch (const BadInput& e) {
    EXPECT_NE(std::string(e.what()).find("metadata 'coda.preprocess'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace coda
