// Development-time op profiles (tuner/op_profile.h): the prefix-cached collection equals running
// the whole network with the single knob installed, slices merge into the profile of the whole,
// and the binary file round-trips and rejects damaged files. Also the executor's prefix runs
// (Executor::run_keeping_values / run_from) that the collection is built on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <stdexcept>

#include "kernels/approx/approx_plan.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"
#include "kernels/zoo.h"
#include "tests/support/bad_input.h"
#include "tests/support/temp_files.h"
#include "tuner/op_profile.h"

namespace coda::tuner {
namespace {

constexpr int64_t kBatch = 8;

Graph prepared_lenet(int64_t batch) {
  ZooOptions options;
  options.batch = batch;
  options.seed = 5;
  Graph g = build_zoo_model("lenet5", options);
  prepare_graph(g);
  return g;
}

Tensor random_images(int64_t n, std::uint64_t seed) {
  Tensor images({n, 1, 28, 28});
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < images.size(); ++i) images.f32()[i] = static_cast<float>(std::generate_canonical<double, 53>(rng));
  return images;
}

Tensor rows_of(const Tensor& t, int64_t begin, int64_t end, const Shape& batch_shape) {
  Tensor batch = Tensor::zeros(batch_shape);
  int64_t row = t.size() / t.dim(0);
  std::memcpy(batch.f32(), t.f32() + begin * row, static_cast<std::size_t>((end - begin) * row) * sizeof(float));
  return batch;
}

// The network's first output on every input, run whole (no prefix cache) with `setup` applied to
// the executor: samples x K.
Tensor full_run(const Graph& g, const Tensor& inputs, const std::function<void(Executor&)>& setup = {}) {
  Executor executor(g);
  if (setup) setup(executor);
  const Shape& batch_shape = g.values[static_cast<std::size_t>(g.inputs.front())].shape;
  int64_t n = inputs.dim(0);
  Tensor out;
  for (int64_t begin = 0; begin < n; begin += kBatch) {
    int64_t end = std::min(n, begin + kBatch);
    Tensor batch_out = executor.run({rows_of(inputs, begin, end, batch_shape)}).front();
    int64_t width = batch_out.size() / kBatch;
    if (out.empty()) out = Tensor({n, width});
    std::memcpy(out.f32() + begin * width, batch_out.f32(), static_cast<std::size_t>((end - begin) * width) * sizeof(float));
  }
  return out;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.f32(), b.f32(), a.bytes()) == 0;
}

// Approximated minus exact, in float: what a profile stores as dT.
Tensor difference(const Tensor& approximated, const Tensor& base) {
  Tensor delta(base.shape());
  for (int64_t e = 0; e < base.size(); ++e) delta.f32()[e] = approximated.f32()[e] - base.f32()[e];
  return delta;
}

// A single knob on one op, run whole through ApproxPlan: the reference the profile must match.
Tensor full_run_with(const Graph& g, const TuningSpace& space, std::size_t op, int choice, const Tensor& inputs,
                     const std::map<std::string, OpRanges>& ranges, std::uint64_t seed) {
  Configuration config(space.ops.size(), 0);
  config[op] = choice;
  ApproxPlan plan(g, node_choices(space, config), knob_catalog(), seed, ranges);
  return full_run(g, inputs, [&](Executor& executor) { plan.install(executor); });
}

void expect_profile_matches_full_runs(const Graph& g, const TuningSpace& space, const Tensor& inputs,
                                      const std::map<std::string, OpRanges>& ranges, std::uint64_t seed) {
  Tensor exact = full_run(g, inputs);
  QosReference reference;
  reference.exact_outputs = exact;
  auto mse = make_metric_evaluator("mse", reference);
  ProfileOptions options;
  options.batch = kBatch;
  options.seed = seed;
  OpProfiles profiles = collect_op_profiles(g, space, knob_catalog(), inputs, *mse, ranges, options);
  ASSERT_TRUE(same_bits(profiles.base_outputs, exact));
  EXPECT_EQ(profiles.base_qos, 0.0);
  EXPECT_EQ(profiles.samples, inputs.dim(0));
  int pairs = 0;
  for (std::size_t i = 0; i < space.ops.size(); ++i) {
    EXPECT_TRUE(profiles.delta_outputs[i][0].empty());
    EXPECT_EQ(profiles.delta_qos[i][0], 0.0);
    for (std::size_t c = 1; c < space.ops[i].choices.size(); ++c, ++pairs) {
      Tensor full = full_run_with(g, space, i, static_cast<int>(c), inputs, ranges, seed);
      EXPECT_TRUE(same_bits(profiles.delta_outputs[i][c], difference(full, exact)))
          << space.ops[i].name << " knob " << space.ops[i].choices[c].knob;
      EXPECT_EQ(profiles.delta_qos[i][c], mse->evaluate(full) - profiles.base_qos)
          << space.ops[i].name << " knob " << space.ops[i].choices[c].knob;
    }
  }
  const int64_t batches = (inputs.dim(0) + kBatch - 1) / kBatch;
  EXPECT_EQ(profiles.suffix_runs, pairs * batches);
}

TEST(Executor, RunFromAnyNodeEqualsAFullRun) {
  Graph g = prepared_lenet(kBatch);
  Executor executor(g);
  Tensor batch = random_images(kBatch, 1);
  Tensor expected = executor.run({batch}).front();
  std::vector<Tensor> values = executor.run_keeping_values({batch});
  ASSERT_EQ(values.size(), g.values.size());
  EXPECT_TRUE(same_bits(values[static_cast<std::size_t>(g.outputs.front())], expected));
  for (std::size_t first = 0; first <= g.nodes.size(); ++first)
    EXPECT_TRUE(same_bits(executor.run_from(first, values).front(), expected)) << "from node " << first;
  // Only the values the suffix reads are needed.
  std::vector<Tensor> partial(values.size());
  const std::size_t last = g.nodes.size() - 1;
  for (int in : g.nodes[last].inputs)
    if (in >= 0) partial[static_cast<std::size_t>(in)] = values[static_cast<std::size_t>(in)];
  EXPECT_TRUE(same_bits(executor.run_from(last, partial).front(), expected));
  EXPECT_THROW(executor.run_from(1, std::vector<Tensor>(values.size())), std::invalid_argument);
  EXPECT_THROW(executor.run_from(0, {}), std::invalid_argument);
  // The cached values are only read: a second pass gives the same result.
  EXPECT_TRUE(same_bits(executor.run_from(0, values).front(), expected));
}

TEST(OpProfile, PrefixCachedProfileEqualsFullRerunsForDeterministicKnobs) {
  Graph g = prepared_lenet(kBatch);
  // FP16, FP32 row and FP16 column perforation, filter sampling, reduction sampling.
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {12, 121, 160, 231, 41});
  // 20 inputs: two full batches and a zero-padded partial one.
  expect_profile_matches_full_runs(g, space, random_images(20, 2), {}, 1);
}

TEST(OpProfile, PrefixCachedProfileEqualsFullRerunsForCalibratedKnobs) {
  Graph g = prepared_lenet(kBatch);
  // Fixed point and PROMISE (seeded noise) quantize to calibrated ranges.
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Hardware, Unit::Gpu, {72, 3, 81});
  Tensor inputs = random_images(16, 3);
  std::vector<std::size_t> nodes;
  for (const TunableOp& op : space.ops) nodes.push_back(op.node);
  auto ranges = calibrate_ranges(g, {{rows_of(inputs, 0, kBatch, {kBatch, 1, 28, 28})}}, nodes);
  expect_profile_matches_full_runs(g, space, inputs, ranges, 9);
}

TEST(OpProfile, ProgressCountsEverySuffixRun) {
  Graph g = prepared_lenet(kBatch);
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {12});
  QosReference reference;
  reference.labels.assign(12, 3);
  auto accuracy = make_metric_evaluator("accuracy", reference);
  std::vector<std::pair<int64_t, int64_t>> calls;
  ProfileOptions options;
  options.batch = kBatch;
  OpProfiles profiles = collect_op_profiles(g, space, knob_catalog(), random_images(12, 4), *accuracy, {}, options,
                                            [&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
  const int64_t total = static_cast<int64_t>(space.ops.size()) * 2;  // one knob per op, two batches
  ASSERT_EQ(calls.size(), static_cast<std::size_t>(total));
  for (std::size_t k = 0; k < calls.size(); ++k) EXPECT_EQ(calls[k], std::make_pair(static_cast<int64_t>(k + 1), total));
  EXPECT_EQ(profiles.suffix_runs, total);
  EXPECT_EQ(profiles.model, "lenet5");
  EXPECT_GT(profiles.seconds, 0.0);
}

TEST(OpProfile, RefusesInputsThatDoNotFitAndMissingRanges) {
  Graph g = prepared_lenet(kBatch);
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {12, 72});
  QosReference reference;
  reference.labels.assign(4, 0);
  auto accuracy = make_metric_evaluator("accuracy", reference);
  ProfileOptions options;
  options.batch = kBatch;
  test::expect_bad_input(
      [&] { collect_op_profiles(g, space, knob_catalog(), random_images(4, 5), *accuracy, {}, options); },
      {"conv1", "calibrated activation ranges", "72"});
  TuningSpace fp16 = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {12});
  test::expect_bad_input(
      [&] { collect_op_profiles(g, fp16, knob_catalog(), Tensor::zeros({4, 1, 14, 14}), *accuracy, {}, options); },
      {"4x1x14x14", "8x1x28x28"});
  options.batch = 4;
  test::expect_bad_input(
      [&] { collect_op_profiles(g, fp16, knob_catalog(), random_images(4, 5), *accuracy, {}, options); },
      {"batches of 4"});
}

// Profiles of inputs [0, 16) and [16, 24) with the MSE metric, whose slice values average to the
// whole's.
struct SlicedProfiles {
  OpProfiles whole, first, second;
};

SlicedProfiles sliced_profiles() {
  Graph g = prepared_lenet(kBatch);
  TuningSpace space = build_tuning_space(g, knob_catalog(), KnobScope::Software, Unit::Gpu, {12, 121, 41});
  Tensor inputs = random_images(24, 6);
  Tensor exact = full_run(g, inputs);
  auto profile = [&](int64_t begin, int64_t end) {
    QosReference reference;
    reference.exact_outputs = rows_of(exact, begin, end, {end - begin, exact.dim(1)});
    auto mse = make_metric_evaluator("mse", reference);
    ProfileOptions options;
    options.batch = kBatch;
    return collect_op_profiles(g, space, knob_catalog(), rows_of(inputs, begin, end, {end - begin, 1, 28, 28}), *mse,
                               {}, options);
  };
  return {profile(0, 24), profile(0, 16), profile(16, 24)};
}

TEST(OpProfile, MergedSlicesEqualTheProfileOfTheWhole) {
  SlicedProfiles p = sliced_profiles();
  OpProfiles merged = merge_op_profiles({p.first, p.second});
  EXPECT_EQ(merged.samples, 24);
  EXPECT_EQ(merged.op_names, p.whole.op_names);
  EXPECT_EQ(merged.choice_counts, p.whole.choice_counts);
  EXPECT_TRUE(same_bits(merged.base_outputs, p.whole.base_outputs));
  EXPECT_EQ(merged.suffix_runs, p.first.suffix_runs + p.second.suffix_runs);
  bool some_change = false;
  for (std::size_t i = 0; i < merged.op_names.size(); ++i)
    for (std::size_t c = 1; c < merged.delta_outputs[i].size(); ++c) {
      EXPECT_TRUE(same_bits(merged.delta_outputs[i][c], p.whole.delta_outputs[i][c])) << merged.op_names[i];
      double weighted = (16.0 * p.first.delta_qos[i][c] + 8.0 * p.second.delta_qos[i][c]) / 24.0;
      EXPECT_NEAR(merged.delta_qos[i][c], weighted, 1e-15 + 1e-12 * std::fabs(weighted));
      EXPECT_NEAR(merged.delta_qos[i][c], p.whole.delta_qos[i][c], 1e-15 + 1e-9 * std::fabs(weighted));
      some_change |= merged.delta_qos[i][c] != 0.0;
    }
  EXPECT_TRUE(some_change);
}

TEST(OpProfile, MergeRefusesProfilesOfDifferentModelsOrSpaces) {
  SlicedProfiles p = sliced_profiles();
  test::expect_bad_input([] { merge_op_profiles({}); }, {"no profiles"});
  OpProfiles other_model = p.second;
  other_model.model = "resnet20";
  test::expect_bad_input([&] { merge_op_profiles({p.first, other_model}); }, {"different models", "lenet5", "resnet20"});
  OpProfiles other_space = p.second;
  other_space.op_names.back() = "fc9";
  test::expect_bad_input([&] { merge_op_profiles({p.first, other_space}); }, {"different tuning spaces"});
}

TEST(OpProfile, FileRoundTripsAndRejectsDamagedFiles) {
  SlicedProfiles p = sliced_profiles();
  OpProfiles& original = p.second;
  original.base_qos = 1.25;
  test::TempDir dir;
  std::string path = dir.file("lenet.prof");
  save_op_profiles(original, path);
  OpProfiles loaded = load_op_profiles(path);
  EXPECT_EQ(loaded.model, original.model);
  EXPECT_EQ(loaded.op_names, original.op_names);
  EXPECT_EQ(loaded.choice_counts, original.choice_counts);
  EXPECT_EQ(loaded.samples, original.samples);
  EXPECT_EQ(loaded.base_qos, original.base_qos);
  EXPECT_EQ(loaded.delta_qos, original.delta_qos);
  EXPECT_EQ(loaded.seconds, original.seconds);
  EXPECT_EQ(loaded.suffix_runs, original.suffix_runs);
  EXPECT_TRUE(same_bits(loaded.base_outputs, original.base_outputs));
  for (std::size_t i = 0; i < original.delta_outputs.size(); ++i)
    for (std::size_t c = 0; c < original.delta_outputs[i].size(); ++c) {
      EXPECT_EQ(loaded.delta_outputs[i][c].empty(), c == 0);
      if (c > 0) {
        EXPECT_TRUE(same_bits(loaded.delta_outputs[i][c], original.delta_outputs[i][c]));
      }
    }

  std::string bytes = test::read_bytes(path);
  test::write_bytes(path, bytes.substr(0, bytes.size() - 1));
  test::expect_bad_input([&] { load_op_profiles(path); }, {path, "truncated"});
  test::write_bytes(path, bytes.substr(0, 30));
  test::expect_bad_input([&] { load_op_profiles(path); }, {path, "truncated"});
  test::write_bytes(path, bytes + "x");
  test::expect_bad_input([&] { load_op_profiles(path); }, {path, "unexpected bytes"});
  std::string other_version = bytes;
  other_version[8] = 7;
  test::write_bytes(path, other_version);
  test::expect_bad_input([&] { load_op_profiles(path); }, {path, "version 7"});
  test::write_bytes(path, "CODAPRO");
  test::expect_bad_input([&] { load_op_profiles(path); }, {path, "CODAPROF"});
  test::write_bytes(path, "not a profile at all");
  test::expect_bad_input([&] { load_op_profiles(path); }, {path, "CODAPROF"});
  std::string bad_header = bytes;
  bad_header[20] = '#';  // inside the JSON header
  test::write_bytes(path, bad_header);
  test::expect_bad_input([&] { load_op_profiles(path); }, {path, "malformed header"});
}

}  // namespace
}  // namespace coda::tuner
