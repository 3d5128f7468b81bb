// The SGD trainer: learning actually happens, runs are reproducible bit for bit, schedules and
// weight transforms behave as documented.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/graph_builder.h"
#include "kernels/trainer.h"
#include "tests/support/quadrant_data.h"

namespace coda {
namespace {

using test::quadrant_dataset;

Graph small_cnn(std::uint64_t seed) {
  GraphBuilder b("small_cnn", seed);
  int x = b.input("input", {1, 1, 8, 8});
  ConvSpec conv;
  conv.out_channels = 4;
  conv.kernel = 3;
  x = b.relu(b.batch_norm(b.conv(x, conv, "conv"), "bn"), "relu");
  x = b.max_pool(x, 2, 2, 0, "pool");
  x = b.flatten(x, "flatten");
  x = b.gemm(x, 2, "fc");
  b.output(x);
  return b.finish();
}

std::vector<float> all_parameters(const Graph& g) {
  std::vector<float> values;
  for (const Value& v : g.values)
    if (v.constant && v.dtype == DType::Float32)
      values.insert(values.end(), v.constant->f32(), v.constant->f32() + v.constant->size());
  return values;
}

TEST(Trainer, LearnsASeparableProblem) {
  Dataset train = quadrant_dataset(256, 1), test = quadrant_dataset(128, 2);
  Graph g = small_cnn(3);
  TrainOptions o;
  o.epochs = 4;
  o.batch = 32;
  o.learning_rate = 0.05f;
  Trainer trainer(g, o);
  const double before = trainer.evaluate(test);
  EpochStats first = trainer.train_epoch(train, 0);
  EpochStats last = first;
  for (int e = 1; e < o.epochs; ++e) last = trainer.train_epoch(train, e);
  EXPECT_LT(last.loss, first.loss);
  EXPECT_LT(last.loss, 0.2);
  const double after = trainer.evaluate(test);
  EXPECT_GE(after, 0.98) << "accuracy before training " << before;
  // The graph itself holds the trained weights: evaluating it directly gives the same answer.
  EXPECT_DOUBLE_EQ(evaluate_classifier(g, test, 50).accuracy(), after);
}

TEST(Trainer, SameSeedGivesBitIdenticalWeights) {
  Dataset train = quadrant_dataset(96, 4);
  TrainOptions o;
  o.epochs = 2;
  o.batch = 16;
  o.crop_padding = 1;
  o.horizontal_flip = true;
  o.seed = 7;
  auto run = [&](std::uint64_t init_seed) {
    Graph g = small_cnn(init_seed);
    Trainer t(g, o);
    for (int e = 0; e < o.epochs; ++e) t.train_epoch(train, e);
    return all_parameters(g);
  };
  std::vector<float> a = run(5), b = run(5);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  // ...and the weights did move: training is not a no-op.
  Graph untouched = small_cnn(5);
  EXPECT_NE(all_parameters(untouched), a);
}

TEST(Trainer, BatchNormRunningStatisticsAreUpdated) {
  Dataset train = quadrant_dataset(64, 6);
  Graph g = small_cnn(8);
  int mean_id = g.find_value("bn.running_mean");
  ASSERT_GE(mean_id, 0);
  std::vector<float> before = g.values[static_cast<std::size_t>(mean_id)].constant->to_float_vector();
  TrainOptions o;
  o.epochs = 1;
  o.batch = 16;
  Trainer t(g, o);
  t.train_epoch(train, 0);
  std::vector<float> after = g.values[static_cast<std::size_t>(mean_id)].constant->to_float_vector();
  EXPECT_NE(before, after);
  // Running statistics are not parameters: SGD must not touch them.
  for (const std::string& name : t.parameter_names()) EXPECT_EQ(name.find("running"), std::string::npos) << name;
}

TEST(Trainer, LearningRateSchedules) {
  Graph g = small_cnn(1);
  TrainOptions o;
  o.epochs = 10;
  o.learning_rate = 0.1f;
  o.schedule = "cosine";
  Trainer cosine(g, o);
  EXPECT_NEAR(cosine.learning_rate_at(0, 0, 100), 0.1, 1e-6);
  EXPECT_NEAR(cosine.learning_rate_at(5, 0, 100), 0.05, 1e-6);       // half-way: lr / 2
  EXPECT_NEAR(cosine.learning_rate_at(9, 100, 100), 0.0, 1e-6);      // the end: 0

  Graph g2 = small_cnn(1);
  o.schedule = "step:3,6:0.1";
  Trainer step(g2, o);
  EXPECT_NEAR(step.learning_rate_at(2, 0, 10), 0.1, 1e-6);
  EXPECT_NEAR(step.learning_rate_at(3, 0, 10), 0.01, 1e-6);
  EXPECT_NEAR(step.learning_rate_at(7, 0, 10), 0.001, 1e-6);

  Graph g3 = small_cnn(1);
  o.schedule = "wiggly";
  EXPECT_THROW(Trainer(g3, o), BadInput);
}

TEST(Trainer, WeightTransformIsAppliedAndShadowWeightsTrain) {
  Dataset train = quadrant_dataset(64, 9);
  Graph g = small_cnn(10);
  TrainOptions o;
  o.epochs = 1;
  o.batch = 16;
  Trainer t(g, o);
  // Round every conv weight to a power of two (the LightNN-1 quantiser, Ding et al. GLSVLSI'17).
  t.set_weight_transform([](const std::string& name, const Tensor& shadow, Tensor& effective) {
    for (int64_t i = 0; i < shadow.size(); ++i) {
      float w = shadow.f32()[i];
      effective.f32()[i] = name == "conv.weight" && w != 0.0f
                               ? std::copysign(std::exp2(std::round(std::log2(std::fabs(w)))), w)
                               : w;
    }
  });
  t.train_epoch(train, 0);
  const Tensor& w = *g.values[static_cast<std::size_t>(g.find_value("conv.weight"))].constant;
  for (int64_t i = 0; i < w.size(); ++i) {
    float m = std::fabs(w.f32()[i]);
    if (m == 0.0f) continue;
    EXPECT_EQ(std::exp2(std::round(std::log2(m))), m) << "weight " << i << " is not a power of two";
  }
}

TEST(Trainer, MismatchedImagesAreBadInput) {
  Graph g = small_cnn(1);
  TrainOptions o;
  o.epochs = 1;
  o.batch = 8;
  Trainer t(g, o);
  Dataset wrong;
  wrong.name = "wrong";
  wrong.classes = 2;
  wrong.images = Tensor::zeros({16, 1, 9, 9});
  wrong.labels.assign(16, 0);
  EXPECT_THROW(t.train_epoch(wrong, 0), BadInput);
}

}  // namespace
}  // namespace coda
