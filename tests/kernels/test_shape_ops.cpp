// Data movement and shape arithmetic (Concat, Reshape family, Dropout, Transpose, Pad, Constant,
// ConstantOfShape, Shape, Size, Gather, Slice, Split, Cast, Expand, Range, comparisons, Where),
// run through Graph + prepare_graph + Executor and compared with naive references written here
// from the ONNX operator specification; plus the folding of the shape subgraphs exporters emit
// and the errors users see.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/error.h"
#include "kernels/executor.h"
#include "kernels/graph.h"
#include "kernels/op.h"
#include "kernels/tensor.h"
#include "tests/support/bad_input.h"
#include "tests/support/graph_runner.h"

namespace coda {
namespace {

// The harness of tests/support/graph_runner.h (one node whose non-constant inputs are graph
// inputs, prepared and executed) and expect_bad_input.
using namespace test;

using Ints = std::vector<int64_t>;
Tensor i64(Shape shape, Ints values) { return Tensor::from_int64(std::move(shape), values); }
Tensor ivec(Ints values) { return Tensor::from_int64({static_cast<int64_t>(values.size())}, values); }

// Distinct values 0, 1, 2, ... (float or int64) so misplaced elements are always caught.
Tensor iota(const Shape& shape, DType dtype = DType::Float32) {
  Tensor t(shape, dtype);
  for (int64_t i = 0; i < t.size(); ++i) {
    if (dtype == DType::Int64) {
      t.i64()[i] = i * 3 - 7;
    } else {
      t.f32()[i] = static_cast<float>(i) * 0.5f - 3.0f;
    }
  }
  return t;
}

int64_t ravel(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t o = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) o = o * shape[d] + idx[d];
  return o;
}

::testing::AssertionResult equal(const Tensor& got, const Shape& shape, const std::vector<double>& want,
                                 DType dtype = DType::Float32) {
  if (got.shape() != shape)
    return ::testing::AssertionFailure() << "shape " << shape_string(got.shape()) << ", want " << shape_string(shape);
  if (got.dtype() != dtype)
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << ", want " << dtype_name(dtype);
  if (static_cast<std::size_t>(got.size()) != want.size())
    return ::testing::AssertionFailure() << got.size() << " elements, want " << want.size();
  for (std::size_t i = 0; i < want.size(); ++i)
    if (value(got, static_cast<int64_t>(i)) != want[i])
      return ::testing::AssertionFailure() << "element " << i << ": got " << value(got, static_cast<int64_t>(i))
                                           << ", want " << want[i];
  return ::testing::AssertionSuccess();
}

// ---------------------------------------------------------------------------------------------
// Concat

std::vector<double> ref_concat(const std::vector<Tensor>& ins, int64_t axis, Shape& out) {
  out = ins[0].shape();
  out[static_cast<std::size_t>(axis)] = 0;
  for (const Tensor& t : ins) out[static_cast<std::size_t>(axis)] += t.shape()[static_cast<std::size_t>(axis)];
  std::vector<double> want;
  for (int64_t i = 0; i < element_count(out); ++i) {
    auto idx = unravel(i, out);
    int64_t& a = idx[static_cast<std::size_t>(axis)];
    std::size_t k = 0;
    while (a >= ins[k].shape()[static_cast<std::size_t>(axis)]) a -= ins[k++].shape()[static_cast<std::size_t>(axis)];
    want.push_back(value(ins[k], ravel(idx, ins[k].shape())));
  }
  return want;
}

TEST(DataMovementOps, ConcatAlongEveryAxis) {
  for (int64_t axis : {0, 1, 2, -1, -3}) {
    const int64_t a = axis < 0 ? axis + 3 : axis;
    std::vector<Tensor> ins;
    for (int64_t k = 0; k < 3; ++k) {
      Shape s{2, 3, 4};
      s[static_cast<std::size_t>(a)] = k + 1;  // sizes 1, 2, 3 along the axis
      ins.push_back(iota(s));
      for (int64_t i = 0; i < ins.back().size(); ++i) ins.back().f32()[i] += 100.0f * static_cast<float>(k);
    }
    Shape out;
    const auto want = ref_concat(ins, a, out);
    EXPECT_TRUE(equal(run1("Concat", {var(ins[0]), cst(ins[1]), var(ins[2])}, attrs_of({{"axis", axis}})), out, want))
        << "axis " << axis;
  }
  // Int64 (shape vectors), an empty input, and large copies along an inner axis (threaded rows)
  // and the channel axis of a batch-1 tensor (threaded blocks).
  EXPECT_TRUE(equal(run1("Concat", {var(ivec({1, 2})), var(ivec({})), cst(ivec({3}))}, attrs_of({{"axis", int64_t{0}}})),
                    {3}, {1, 2, 3}, DType::Int64));
  const std::vector<std::tuple<Shape, Shape, int64_t>> large = {{{512, 300}, {512, 700}, 1},
                                                                  {{1, 128, 56, 56}, {1, 64, 56, 56}, 1}};
  for (const auto& [shape_a, shape_b, axis] : large) {
    std::vector<Tensor> ins{iota(shape_a), iota(shape_b)};
    Shape out;
    const auto want = ref_concat(ins, axis, out);
    EXPECT_TRUE(equal(run1("Concat", {var(ins[0]), var(ins[1])}, attrs_of({{"axis", axis}})), out, want));
  }
  expect_bad_input([] { run1("Concat", {var(iota({2, 3})), var(iota({3, 3}))}, attrs_of({{"axis", int64_t{1}}})); },
                   {"node 'the_Concat' (Concat)", "cannot concatenate 2x3 with 3x3 along axis 1"});
  expect_bad_input([] { run1("Concat", {var(iota({2, 3}))}, attrs_of({{"axis", int64_t{2}}})); },
                   {"the_Concat", "axis 2 is out of range"});
  expect_bad_input([] { run1("Concat", {var(iota({2})), var(ivec({1}))}, attrs_of({{"axis", int64_t{0}}})); },
                   {"the_Concat", "int64"});
}

// ---------------------------------------------------------------------------------------------
// Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout

TEST(DataMovementOps, ReshapeZeroMinusOneAndAllowzero) {
  Tensor x = iota({2, 3, 4});
  const std::vector<double> flat(x.f32(), x.f32() + 24);
  auto reshape = [&](Ints shape, int opset = 17, int64_t allowzero = 0) {
    return run1("Reshape", {var(x), cst(ivec(shape))}, attrs_of({{"allowzero", allowzero}}), opset);
  };
  EXPECT_TRUE(equal(reshape({4, 6}), {4, 6}, flat));
  EXPECT_TRUE(equal(reshape({0, -1}), {2, 12}, flat));
  EXPECT_TRUE(equal(reshape({-1, 0, 2}), {4, 3, 2}, flat));
  EXPECT_TRUE(equal(reshape({24}), {24}, flat));
  EXPECT_TRUE(equal(reshape({0, 0, 0}), {2, 3, 4}, flat));
  // Opset 1-4 took the shape as an attribute.
  EXPECT_TRUE(equal(run1("Reshape", {var(x)}, attrs_of({{"shape", Ints{6, -1}}}), 4), {6, 4}, flat));
  // allowzero=1 (opset 14): 0 is a real empty dimension.
  Tensor empty = Tensor::zeros({0, 4});
  EXPECT_TRUE(equal(run1("Reshape", {var(empty), cst(ivec({4, 0}))}, attrs_of({{"allowzero", int64_t{1}}}), 14), {4, 0}, {}));
  // ...but before opset 14 the attribute does not exist and 0 copies.
  EXPECT_TRUE(equal(reshape({0, 12}, 13, 1), {2, 12}, flat));
  expect_bad_input([&] { reshape({5, -1}); }, {"node 'the_Reshape' (Reshape)", "cannot reshape 2x3x4", "-1"});
  expect_bad_input([&] { reshape({-1, -1}); }, {"the_Reshape", "more than one -1"});
  expect_bad_input([&] { reshape({7, 7}); }, {"the_Reshape", "cannot reshape 2x3x4 (24 elements) to 7x7 (49 elements)"});
  expect_bad_input([&] { reshape({0, 0, 0, 0}); }, {"the_Reshape", "has rank 3"});
  // The target shape must be known when the graph is prepared.
  expect_bad_input([&] { run1("Reshape", {var(x), var(ivec({4, 6}))}); }, {"the_Reshape", "must be a constant"});
}

TEST(DataMovementOps, FlattenSqueezeUnsqueezeIdentity) {
  Tensor x = iota({2, 1, 3, 1});
  const std::vector<double> flat(x.f32(), x.f32() + 6);
  EXPECT_TRUE(equal(run1("Flatten", {var(x)}), {2, 3}, flat));
  EXPECT_TRUE(equal(run1("Flatten", {var(x)}, attrs_of({{"axis", int64_t{0}}})), {1, 6}, flat));
  EXPECT_TRUE(equal(run1("Flatten", {var(x)}, attrs_of({{"axis", int64_t{4}}})), {6, 1}, flat));
  EXPECT_TRUE(equal(run1("Flatten", {var(x)}, attrs_of({{"axis", int64_t{-1}}})), {6, 1}, flat));
  EXPECT_TRUE(equal(run1("Flatten", {var(x)}, attrs_of({{"axis", int64_t{-2}}})), {2, 3}, flat));
  // Squeeze: attribute before opset 13, input from 13; no axes removes every 1.
  EXPECT_TRUE(equal(run1("Squeeze", {var(x)}, attrs_of({{"axes", Ints{1}}}), 11), {2, 3, 1}, flat));
  EXPECT_TRUE(equal(run1("Squeeze", {var(x), cst(ivec({-1, 1}))}, {}, 13), {2, 3}, flat));
  EXPECT_TRUE(equal(run1("Squeeze", {var(x)}, {}, 13), {2, 3}, flat));
  EXPECT_TRUE(equal(run1("Squeeze", {var(x)}, {}, 11), {2, 3}, flat));
  // Unsqueeze: axes index the output.
  Tensor y = iota({3, 4});
  const std::vector<double> yflat(y.f32(), y.f32() + 12);
  EXPECT_TRUE(equal(run1("Unsqueeze", {var(y)}, attrs_of({{"axes", Ints{0, 3}}}), 11), {1, 3, 4, 1}, yflat));
  EXPECT_TRUE(equal(run1("Unsqueeze", {var(y), cst(ivec({0, 3}))}, {}, 13), {1, 3, 4, 1}, yflat));
  EXPECT_TRUE(equal(run1("Unsqueeze", {var(y), cst(ivec({-1}))}, {}, 13), {3, 4, 1}, yflat));
  EXPECT_TRUE(equal(run1("Unsqueeze", {var(y), cst(ivec({1, -2}))}, {}, 13), {3, 1, 1, 4}, yflat));
  EXPECT_TRUE(equal(run1("Unsqueeze", {var(i64({}, {5})), cst(ivec({0}))}, {}, 13), {1}, {5}, DType::Int64));
  EXPECT_TRUE(equal(run1("Identity", {var(y)}), {3, 4}, yflat));
  // An attribute is not read at opset 13, where the axes are an input.
  expect_bad_input([&] { run1("Unsqueeze", {var(y)}, {}, 13); }, {"the_Unsqueeze", "axes are required"});
  expect_bad_input([&] { run1("Unsqueeze", {var(y), cst(ivec({0, 0}))}, {}, 13); }, {"the_Unsqueeze", "given twice"});
  expect_bad_input([&] { run1("Unsqueeze", {var(y), cst(ivec({3}))}, {}, 13); }, {"the_Unsqueeze", "out of range"});
  expect_bad_input([&] { run1("Squeeze", {var(x), cst(ivec({2}))}, {}, 13); },
                   {"node 'the_Squeeze' (Squeeze)", "cannot squeeze axis 2 of shape 2x1x3x1"});
  expect_bad_input([&] { run1("Squeeze", {var(x), var(ivec({1}))}, {}, 13); }, {"the_Squeeze", "must be a constant"});
}

TEST(DataMovementOps, ViewsShareTheInputBuffer) {
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"}) {
    ASSERT_NE(find_op(op), nullptr) << op;
    EXPECT_TRUE(find_op(op)->is_view()) << op;
  }
  EXPECT_FALSE(find_op("Dropout")->is_view());
  // x -> Reshape -> Flatten -> Relu: only Relu's output is allocated from the pool.
  Graph g;
  Tensor x = iota({4, 8, 16});
  const int in = add_input(g, "x", x);
  const int shape = g.add_constant("shape", ivec({32, 16}));
  const int r = g.value_id("r");
  const int f = g.value_id("f");
  const int y = g.value_id("y");
  g.add_node("Reshape", "reshape", {in, shape}, {r}).opset = 13;
  g.add_node("Flatten", "flatten", {r}, {f}).attrs.set("axis", int64_t{0});
  g.add_node("Relu", "relu", {f}, {y});
  g.outputs = {y};
  prepare_graph(g);
  Executor executor(g);
  const Tensor out = executor.run({x}).front();
  EXPECT_EQ(out.shape(), (Shape{1, 512}));
  EXPECT_EQ(executor.allocated_bytes(), 512u * sizeof(float));
  for (int64_t i = 0; i < out.size(); ++i) ASSERT_EQ(out.f32()[i], std::max(0.0f, x.f32()[i]));
}

TEST(DataMovementOps, DropoutIsIdentityInInference) {
  Tensor x = iota({2, 5});
  const std::vector<double> flat(x.f32(), x.f32() + 10);
  // Opset 10: ratio attribute; mask output (bool in ONNX) is produced as int64 ones.
  auto outs = run_op("Dropout", {var(x)}, attrs_of({{"ratio", 0.5f}}), 10, 2);
  EXPECT_TRUE(equal(outs[0], {2, 5}, flat));
  EXPECT_TRUE(equal(outs[1], {2, 5}, std::vector<double>(10, 1.0), DType::Int64));
  // Opset 13: ratio and training_mode inputs; training_mode false (constant or computed) is fine.
  EXPECT_TRUE(equal(run1("Dropout", {var(x), cst(Tensor::scalar(0.3f)), cst(i64({}, {0}))}, {}, 13), {2, 5}, flat));
  EXPECT_TRUE(equal(run1("Dropout", {var(x), none(), var(i64({}, {0}))}, {}, 13), {2, 5}, flat));
  expect_bad_input([&] { run1("Dropout", {var(x), none(), cst(i64({}, {1}))}, {}, 13); },
                   {"node 'the_Dropout' (Dropout)", "training_mode"});
  expect_bad_input([&] { run1("Dropout", {var(x), none(), var(i64({}, {1}))}, {}, 13); }, {"the_Dropout", "training_mode"});
}

// ---------------------------------------------------------------------------------------------
// Transpose

std::vector<double> ref_transpose(const Tensor& x, const Ints& perm, Shape& out) {
  const Shape& in = x.shape();
  out.assign(in.size(), 0);
  for (std::size_t j = 0; j < perm.size(); ++j) out[j] = in[static_cast<std::size_t>(perm[j])];
  std::vector<double> want;
  for (int64_t i = 0; i < element_count(out); ++i) {
    const auto o = unravel(i, out);
    std::vector<int64_t> idx(in.size());
    for (std::size_t j = 0; j < perm.size(); ++j) idx[static_cast<std::size_t>(perm[j])] = o[j];
    want.push_back(value(x, ravel(idx, in)));
  }
  return want;
}

TEST(DataMovementOps, TransposeEveryPermutationOfRank4AndRandomHigherRanks) {
  // Every permutation of a 4-D tensor, with and without size-1 dimensions.
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{1, 3, 1, 5}, Shape{3, 1, 4, 1}}) {
    Tensor x = iota(shape);
    Ints perm{0, 1, 2, 3};
    do {
      Shape out;
      const auto want = ref_transpose(x, perm, out);
      EXPECT_TRUE(equal(run1("Transpose", {var(x)}, attrs_of({{"perm", perm}})), out, want))
          << shape_string(shape) << " perm " << ::testing::PrintToString(perm);
    } while (std::next_permutation(perm.begin(), perm.end()));
  }
  std::mt19937 rng(3);
  for (int trial = 0; trial < 40; ++trial) {
    const int rank = 1 + trial % 6;
    Shape shape;
    for (int d = 0; d < rank; ++d) shape.push_back(std::uniform_int_distribution<int64_t>(1, 4)(rng));
    Ints perm(static_cast<std::size_t>(rank));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    Tensor x = iota(shape, trial % 2 ? DType::Int64 : DType::Float32);
    Shape out;
    const auto want = ref_transpose(x, perm, out);
    EXPECT_TRUE(equal(run1("Transpose", {var(x)}, attrs_of({{"perm", perm}})), out, want, x.dtype()))
        << shape_string(shape) << " perm " << ::testing::PrintToString(perm);
  }
}

TEST(DataMovementOps, TransposeThreadedLayoutsAndDefaultPerm) {
  // NCHW <-> NHWC, the attention head split, a 2-D transpose with ragged tiles, and the default
  // (reversed) permutation, all above the threading threshold.
  const std::vector<std::pair<Shape, Ints>> cases = {
      {{2, 32, 28, 28}, {0, 2, 3, 1}}, {{2, 28, 28, 32}, {0, 3, 1, 2}}, {{2, 64, 12, 40}, {0, 2, 1, 3}},
      {{333, 127}, {1, 0}},            {{1, 3, 224, 224}, {0, 2, 3, 1}}};
  for (const auto& [shape, perm] : cases) {
    Tensor x = iota(shape);
    Shape out;
    const auto want = ref_transpose(x, perm, out);
    EXPECT_TRUE(equal(run1("Transpose", {var(x)}, attrs_of({{"perm", perm}})), out, want)) << shape_string(shape);
  }
  Tensor x = iota({5, 6, 7});
  Shape out;
  const auto want = ref_transpose(x, {2, 1, 0}, out);
  EXPECT_TRUE(equal(run1("Transpose", {var(x)}), out, want));
  expect_bad_input([&] { run1("Transpose", {var(x)}, attrs_of({{"perm", Ints{0, 0, 1}}})); },
                   {"node 'the_Transpose' (Transpose)", "not a permutation"});
  expect_bad_input([&] { run1("Transpose", {var(x)}, attrs_of({{"perm", Ints{1, 0}}})); }, {"the_Transpose", "rank 3"});
}

// ---------------------------------------------------------------------------------------------
// Pad

// numpy.pad semantics on the input cropped by the negative pads.
std::vector<double> ref_pad(const Tensor& x, const Ints& pads, const std::string& mode, double constant, Shape& out) {
  const Shape& in = x.shape();
  const std::size_t rank = in.size();
  out.assign(rank, 0);
  std::vector<int64_t> lo(rank), kept(rank), before(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    const int64_t b = pads[d];
    const int64_t e = pads[d + rank];
    lo[d] = b < 0 ? -b : 0;
    kept[d] = in[d] - lo[d] - (e < 0 ? -e : 0);
    before[d] = b > 0 ? b : 0;
    out[d] = in[d] + b + e;
  }
  std::vector<double> want;
  for (int64_t i = 0; i < element_count(out); ++i) {
    auto idx = unravel(i, out);
    bool outside = false;
    for (std::size_t d = 0; d < rank; ++d) {
      int64_t p = idx[d] - before[d];
      const int64_t n = kept[d];
      if (p < 0 || p >= n) {
        if (mode == "constant") {
          outside = true;
        } else if (mode == "edge") {
          p = p < 0 ? 0 : n - 1;
        } else if (mode == "wrap") {
          while (p < 0) p += n;
          while (p >= n) p -= n;
        } else if (n == 1) {
          p = 0;
        } else {  // reflect: bounce between the end elements, which are not repeated
          while (p < 0 || p >= n) {
            if (p < 0) p = -p;
            if (p >= n) p = 2 * (n - 1) - p;
          }
        }
      }
      idx[d] = lo[d] + p;
    }
    want.push_back(outside ? constant : value(x, ravel(idx, in)));
  }
  return want;
}

TEST(DataMovementOps, PadEveryModeAndOpsetForm) {
  Tensor x = iota({2, 3, 4, 5});
  const std::vector<Ints> pad_sets = {
      {0, 0, 1, 2, 0, 0, 2, 1},     // spatial, asymmetric
      {0, 1, 0, 3, 1, 0, 2, 0},     // every dimension
      {0, 0, -1, 2, 0, 0, 1, -2},   // cropping mixed with padding
      {0, 0, 3, 4, 0, 0, 3, 4},     // reflect pad as large as the dimension allows
      {0, 0, 0, 0, 0, 0, 0, 0}};
  for (const std::string mode : {"constant", "reflect", "edge", "wrap"}) {
    for (const Ints& pads : pad_sets) {
      Shape out;
      const auto want = ref_pad(x, pads, mode, mode == "constant" ? 1.5 : 0.0, out);
      const std::string what = mode + " " + ::testing::PrintToString(pads);
      // Opset 11+: pads and constant_value inputs.
      std::vector<In> ins{var(x), cst(ivec(pads))};
      if (mode == "constant") ins.push_back(cst(Tensor::scalar(1.5f)));
      EXPECT_TRUE(equal(run1("Pad", ins, attrs_of({{"mode", mode}}), 13), out, want)) << what;
      // Opsets 2-10: attributes.
      EXPECT_TRUE(equal(run1("Pad", {var(x)}, attrs_of({{"mode", mode}, {"pads", pads}, {"value", 1.5f}}), 2), out, want))
          << what;
    }
  }
  // The usual case: a constant 0 pad of NCHW, above the threading threshold; opset 1 `paddings`.
  Tensor big = iota({1, 16, 56, 56});
  const Ints pads{0, 0, 1, 1, 0, 0, 1, 1};
  Shape out;
  auto want = ref_pad(big, pads, "constant", 0.0, out);
  EXPECT_TRUE(equal(run1("Pad", {var(big), cst(ivec(pads))}, {}, 11), out, want));
  EXPECT_TRUE(equal(run1("Pad", {var(big)}, attrs_of({{"paddings", pads}}), 1), out, want));
  want = ref_pad(big, pads, "reflect", 0.0, out);
  EXPECT_TRUE(equal(run1("Pad", {var(big), cst(ivec(pads))}, attrs_of({{"mode", std::string("reflect")}}), 11), out, want));
  // Opset 18 axes input (negative axes too): pads only the listed axes.
  want = ref_pad(x, {0, 0, 1, 3, 0, 0, 2, 4}, "edge", 0.0, out);
  EXPECT_TRUE(equal(run1("Pad", {var(x), cst(ivec({1, 3, 2, 4})), none(), cst(ivec({-2, 3}))},
                         attrs_of({{"mode", std::string("edge")}}), 18),
                    out, want));
  // Int64 data with a constant value.
  Tensor xi = iota({2, 3}, DType::Int64);
  want = ref_pad(xi, {1, 0, 0, 2}, "constant", -9, out);
  EXPECT_TRUE(equal(run1("Pad", {var(xi), cst(ivec({1, 0, 0, 2})), cst(i64({}, {-9}))}, {}, 13), out, want, DType::Int64));
  // Errors.
  expect_bad_input([&] { run1("Pad", {var(x), cst(ivec({1, 1}))}, {}, 13); },
                   {"node 'the_Pad' (Pad)", "pads has 2 entries, expected 8"});
  expect_bad_input([&] { run1("Pad", {var(x), var(ivec({0, 0, 0, 0, 0, 0, 0, 0}))}, {}, 13); },
                   {"the_Pad", "must be a constant"});
  expect_bad_input([&] { run1("Pad", {var(x)}, attrs_of({{"pads", Ints(8, 0)}, {"mode", std::string("mirror")}}), 2); },
                   {"the_Pad", "mode must be"});
  expect_bad_input([&] { run1("Pad", {var(x), cst(ivec({0, 0, 0, -6, 0, 0, 0, 0}))}, {}, 13); }, {"the_Pad", "crop more"});
}

// ---------------------------------------------------------------------------------------------
// Constant, ConstantOfShape

TEST(ShapeOps, ConstantAndConstantOfShapeFold) {
  auto folded = [](const std::string& op, const std::vector<In>& ins, const Attributes& attrs) {
    Graph g = one_node(op, ins, attrs, 17, 1, nullptr);
    prepare_graph(g);
    EXPECT_TRUE(g.nodes.empty()) << op << " was not folded";
    return *g.values[static_cast<std::size_t>(g.outputs[0])].constant;
  };
  Tensor t = iota({2, 3});
  EXPECT_TRUE(equal(folded("Constant", {}, attrs_of({{"value", t}})), {2, 3}, std::vector<double>(t.f32(), t.f32() + 6)));
  EXPECT_TRUE(equal(folded("Constant", {}, attrs_of({{"value_float", 2.5f}})), {}, {2.5}));
  EXPECT_TRUE(equal(folded("Constant", {}, attrs_of({{"value_floats", std::vector<float>{1, 2}}})), {2}, {1, 2}));
  EXPECT_TRUE(equal(folded("Constant", {}, attrs_of({{"value_int", int64_t{-4}}})), {}, {-4}, DType::Int64));
  EXPECT_TRUE(equal(folded("Constant", {}, attrs_of({{"value_ints", Ints{3, 4}}})), {2}, {3, 4}, DType::Int64));
  EXPECT_TRUE(equal(folded("ConstantOfShape", {cst(ivec({2, 3}))}, {}), {2, 3}, std::vector<double>(6, 0.0)));
  EXPECT_TRUE(equal(folded("ConstantOfShape", {cst(ivec({3}))}, attrs_of({{"value", i64({1}, {7})}})), {3}, {7, 7, 7},
                    DType::Int64));
  EXPECT_TRUE(equal(folded("ConstantOfShape", {cst(ivec({}))}, attrs_of({{"value", Tensor::from_floats({1}, {2})}})), {}, {2}));
  // A Constant also runs through the executor when not folded away (it always is; run() agrees).
  expect_bad_input([] { run1("Constant", {}, attrs_of({{"value_float", 1.0f}, {"value_int", int64_t{1}}})); },
                   {"node 'the_Constant' (Constant)", "exactly one"});
  expect_bad_input([] { run1("Constant", {}, attrs_of({{"value_string", std::string("x")}})); }, {"string"});
  expect_bad_input([] { run1("ConstantOfShape", {var(ivec({2}))}); }, {"the_ConstantOfShape", "must be a constant"});
  expect_bad_input([] { run1("ConstantOfShape", {cst(ivec({2, -1}))}); }, {"the_ConstantOfShape", "negative"});
}

// ---------------------------------------------------------------------------------------------
// Shape, Size, Gather

TEST(ShapeOps, ShapeWithStartEndAndSize) {
  Tensor x = iota({2, 3, 4, 5});
  EXPECT_TRUE(equal(run1("Shape", {var(x)}), {4}, {2, 3, 4, 5}, DType::Int64));
  EXPECT_TRUE(equal(run1("Shape", {var(x)}, attrs_of({{"start", int64_t{1}}}), 15), {3}, {3, 4, 5}, DType::Int64));
  EXPECT_TRUE(equal(run1("Shape", {var(x)}, attrs_of({{"start", int64_t{-3}}, {"end", int64_t{-1}}}), 15), {2}, {3, 4},
                    DType::Int64));
  EXPECT_TRUE(equal(run1("Shape", {var(x)}, attrs_of({{"start", int64_t{-10}}, {"end", int64_t{10}}}), 15), {4},
                    {2, 3, 4, 5}, DType::Int64));
  EXPECT_TRUE(equal(run1("Shape", {var(x)}, attrs_of({{"start", int64_t{3}}, {"end", int64_t{1}}}), 15), {0}, {}, DType::Int64));
  // Before opset 15 start/end do not exist.
  EXPECT_TRUE(equal(run1("Shape", {var(x)}, attrs_of({{"start", int64_t{1}}}), 13), {4}, {2, 3, 4, 5}, DType::Int64));
  EXPECT_TRUE(equal(run1("Size", {var(x)}), {}, {120}, DType::Int64));
  // Shape and Size of a graph input fold: only the shape is needed.
  Graph g = one_node("Shape", {var(x)}, {}, 17, 1, nullptr);
  prepare_graph(g);
  EXPECT_TRUE(g.nodes.empty());
}

std::vector<double> ref_gather(const Tensor& data, const Tensor& indices, int64_t axis, Shape& out) {
  const Shape& ds = data.shape();
  const auto a = static_cast<std::size_t>(axis);
  out.assign(ds.begin(), ds.begin() + axis);
  out.insert(out.end(), indices.shape().begin(), indices.shape().end());
  out.insert(out.end(), ds.begin() + axis + 1, ds.end());
  std::vector<double> want;
  for (int64_t i = 0; i < element_count(out); ++i) {
    const auto o = unravel(i, out);
    std::vector<int64_t> iidx(o.begin() + axis, o.begin() + axis + static_cast<int64_t>(indices.shape().size()));
    int64_t k = indices.i64()[ravel(iidx, indices.shape())];
    if (k < 0) k += ds[a];
    std::vector<int64_t> d(o.begin(), o.begin() + axis);
    d.push_back(k);
    d.insert(d.end(), o.begin() + axis + static_cast<int64_t>(indices.shape().size()), o.end());
    want.push_back(value(data, ravel(d, ds)));
  }
  return want;
}

TEST(ShapeOps, GatherAnyAxisNegativeIndices) {
  Tensor data = iota({3, 4, 5});
  for (int64_t axis : {0, 1, 2, -1}) {
    const int64_t a = axis < 0 ? axis + 3 : axis;
    const int64_t dim = data.shape()[static_cast<std::size_t>(a)];
    for (const Tensor& idx : {i64({}, {-1}), i64({2}, {0, dim - 1}), i64({2, 2}, {1, -dim, -1, 0})}) {
      Shape out;
      const auto want = ref_gather(data, idx, a, out);
      EXPECT_TRUE(equal(run1("Gather", {var(data), cst(idx)}, attrs_of({{"axis", axis}})), out, want))
          << "axis " << axis << " indices " << shape_string(idx.shape());
      EXPECT_TRUE(equal(run1("Gather", {var(data), var(idx)}, attrs_of({{"axis", axis}})), out, want));
    }
  }
  // Int64 data (a shape vector) with a scalar index: a scalar.
  EXPECT_TRUE(equal(run1("Gather", {var(ivec({2, 3, 4})), cst(i64({}, {-2}))}), {}, {3}, DType::Int64));
  // An embedding lookup large enough to be threaded.
  Tensor table = iota({1000, 256});
  Tensor tokens(Shape{8, 128}, DType::Int64);
  for (int64_t i = 0; i < tokens.size(); ++i) tokens.i64()[i] = (i * 37) % 1000 - (i % 2 ? 1000 : 0);
  Shape out;
  const auto want = ref_gather(table, tokens, 0, out);
  EXPECT_TRUE(equal(run1("Gather", {cst(table), var(tokens)}), out, want));
  expect_bad_input([&] { run1("Gather", {var(data), cst(i64({1}, {3}))}); },
                   {"node 'the_Gather' (Gather)", "index 3 is out of range for an axis of size 3"});
  expect_bad_input([&] { run1("Gather", {var(data), var(i64({1}, {-4}))}); }, {"the_Gather", "index -4"});
  expect_bad_input([&] { run1("Gather", {var(data), cst(i64({1}, {0}))}, attrs_of({{"axis", int64_t{3}}})); },
                   {"the_Gather", "axis 3 is out of range"});
}

// ---------------------------------------------------------------------------------------------
// Slice

TEST(ShapeOps, SliceClampsAndStepsPerSpec) {
  Tensor x = iota({10});
  auto slice = [&](Ints starts, Ints ends, Ints axes = {}, Ints steps = {}) {
    std::vector<In> ins{var(x), cst(ivec(starts)), cst(ivec(ends))};
    ins.push_back(axes.empty() ? none() : cst(ivec(axes)));
    if (!steps.empty()) ins.push_back(cst(ivec(steps)));
    return run1("Slice", ins, {}, 13);
  };
  auto vals = [&](Ints positions) {
    std::vector<double> v;
    for (int64_t p : positions) v.push_back(x.f32()[p]);
    return v;
  };
  const int64_t big = std::numeric_limits<int64_t>::max();
  const int64_t small = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(equal(slice({2}, {5}), {3}, vals({2, 3, 4})));
  EXPECT_TRUE(equal(slice({-3}, {big}), {3}, vals({7, 8, 9})));
  EXPECT_TRUE(equal(slice({-100}, {2}), {2}, vals({0, 1})));
  EXPECT_TRUE(equal(slice({1}, {8}, {0}, {3}), {3}, vals({1, 4, 7})));
  EXPECT_TRUE(equal(slice({8}, {1}, {0}, {-3}), {3}, vals({8, 5, 2})));
  // Negative step from the end down to and including index 0 (end clamps to -1).
  EXPECT_TRUE(equal(slice({-1}, {small}, {0}, {-1}), {10}, vals({9, 8, 7, 6, 5, 4, 3, 2, 1, 0})));
  EXPECT_TRUE(equal(slice({big}, {-11}, {0}, {-4}), {3}, vals({9, 5, 1})));
  EXPECT_TRUE(equal(slice({5}, {2}), {0}, {}));
  EXPECT_TRUE(equal(slice({2}, {5}, {0}, {-1}), {0}, {}));
  // Multi-axis with negative axes against a naive reference, and opset 9 attributes.
  Tensor y = iota({4, 5, 6});
  const Ints starts{1, -1, 0}, ends{4, 0, 6}, axes{0, -2, 2}, steps{2, -2, 4};
  std::vector<double> want;
  for (int64_t i = 1; i < 4; i += 2)
    for (int64_t j = 4; j > 0; j -= 2)
      for (int64_t k = 0; k < 6; k += 4) want.push_back(y.f32()[(i * 5 + j) * 6 + k]);
  EXPECT_TRUE(equal(run1("Slice", {var(y), cst(ivec(starts)), cst(ivec(ends)), cst(ivec(axes)), cst(ivec(steps))}, {}, 13),
                    {2, 2, 2}, want));
  want.clear();
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 1; j < 5; ++j)
      for (int64_t k = 2; k < 6; ++k) want.push_back(y.f32()[(i * 5 + j) * 6 + k]);
  EXPECT_TRUE(equal(run1("Slice", {var(y)}, attrs_of({{"starts", Ints{1, 2}}, {"ends", Ints{big, 100}}, {"axes", Ints{1, -1}}}), 9),
                    {4, 4, 4}, want));
  // Threaded: crop the centre of a 1x16x64x64 feature map, unit step (row memcpy) and step 2.
  Tensor f = iota({1, 16, 64, 64});
  for (int64_t step : {1, 2}) {
    want.clear();
    for (int64_t c = 0; c < 16; ++c)
      for (int64_t h = 8; h < 56; h += step)
        for (int64_t w = 8; w < 56; w += step) want.push_back(f.f32()[(c * 64 + h) * 64 + w]);
    const int64_t n = (48 + step - 1) / step;
    EXPECT_TRUE(equal(run1("Slice", {var(f), cst(ivec({8, 8})), cst(ivec({56, 56})), cst(ivec({2, 3})), cst(ivec({step, step}))}),
                      {1, 16, n, n}, want));
  }
  expect_bad_input([&] { slice({0}, {5}, {0}, {0}); }, {"node 'the_Slice' (Slice)", "steps must not be 0"});
  expect_bad_input([&] { run1("Slice", {var(x), var(ivec({0})), cst(ivec({5}))}, {}, 13); }, {"the_Slice", "starts must be a constant"});
  expect_bad_input([&] { slice({0, 0}, {1, 1}, {0, 0}); }, {"the_Slice", "given twice"});
}

// ---------------------------------------------------------------------------------------------
// Split

TEST(ShapeOps, SplitAttributeInputNumOutputsAndEqual) {
  Tensor x = iota({2, 6});
  auto row = [&](int64_t r, int64_t from, int64_t to) {
    std::vector<double> v;
    for (int64_t c = from; c < to; ++c) v.push_back(x.f32()[r * 6 + c]);
    return v;
  };
  auto cat = [](std::vector<double> a, const std::vector<double>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  // Opset 11: split attribute.
  auto outs = run_op("Split", {var(x)}, attrs_of({{"axis", int64_t{1}}, {"split", Ints{1, 2, 3}}}), 11, 3);
  EXPECT_TRUE(equal(outs[0], {2, 1}, cat(row(0, 0, 1), row(1, 0, 1))));
  EXPECT_TRUE(equal(outs[1], {2, 2}, cat(row(0, 1, 3), row(1, 1, 3))));
  EXPECT_TRUE(equal(outs[2], {2, 3}, cat(row(0, 3, 6), row(1, 3, 6))));
  // Opset 13: split input; negative axis.
  outs = run_op("Split", {var(x), cst(ivec({4, 2}))}, attrs_of({{"axis", int64_t{-1}}}), 13, 2);
  EXPECT_TRUE(equal(outs[0], {2, 4}, cat(row(0, 0, 4), row(1, 0, 4))));
  EXPECT_TRUE(equal(outs[1], {2, 2}, cat(row(0, 4, 6), row(1, 4, 6))));
  // No sizes: equal parts, one per output (axis 0 here).
  outs = run_op("Split", {var(x)}, {}, 13, 2);
  EXPECT_TRUE(equal(outs[0], {1, 6}, row(0, 0, 6)));
  EXPECT_TRUE(equal(outs[1], {1, 6}, row(1, 0, 6)));
  // Opset 18 num_outputs: ceil(6 / 4) = 2 per chunk, the last one smaller.
  outs = run_op("Split", {var(x)}, attrs_of({{"axis", int64_t{1}}, {"num_outputs", int64_t{4}}}), 18, 4);
  EXPECT_TRUE(equal(outs[2], {2, 2}, cat(row(0, 4, 6), row(1, 4, 6))));
  EXPECT_EQ(outs[3].shape(), (Shape{2, 0}));
  outs = run_op("Split", {var(iota({7}))}, attrs_of({{"num_outputs", int64_t{3}}}), 18, 3);
  EXPECT_EQ(outs[0].shape(), Shape{3});
  EXPECT_EQ(outs[2].shape(), Shape{1});
  EXPECT_EQ(outs[2].f32()[0], iota({7}).f32()[6]);
  // Threaded: a 1x96x56x56 split into channel groups.
  Tensor big = iota({1, 96, 56, 56});
  outs = run_op("Split", {var(big), cst(ivec({32, 64}))}, attrs_of({{"axis", int64_t{1}}}), 13, 2);
  std::vector<double> want(big.f32() + 32 * 56 * 56, big.f32() + big.size());
  EXPECT_TRUE(equal(outs[1], {1, 64, 56, 56}, want));
  expect_bad_input([&] { run_op("Split", {var(x), cst(ivec({2, 2}))}, attrs_of({{"axis", int64_t{1}}}), 13, 2); },
                   {"node 'the_Split' (Split)", "add up to 4, the axis has size 6"});
  expect_bad_input([&] { run_op("Split", {var(x)}, attrs_of({{"axis", int64_t{1}}}), 13, 4); },
                   {"the_Split", "cannot split an axis of size 6 into 4 equal parts"});
  expect_bad_input([&] { run_op("Split", {var(x), var(ivec({3, 3}))}, attrs_of({{"axis", int64_t{1}}}), 13, 2); },
                   {"the_Split", "must be a constant"});
}

// ---------------------------------------------------------------------------------------------
// Cast, Expand, Range, comparisons, Where

TEST(ShapeOps, CastRoundsAndWrapsLikeTheTargetType) {
  // onnx.TensorProto.DataType: FLOAT 1, UINT8 2, INT8 3, INT32 6, INT64 7, BOOL 9, FLOAT16 10,
  // DOUBLE 11, BFLOAT16 16.
  auto cast = [](const Tensor& x, int64_t to) { return run1("Cast", {var(x)}, attrs_of({{"to", to}})); };
  Tensor f = Tensor::from_floats({6}, {1.7f, -1.7f, 0.5f, 300.0f, -129.0f, 0.0f});
  EXPECT_TRUE(equal(cast(f, 7), {6}, {1, -1, 0, 300, -129, 0}, DType::Int64));
  EXPECT_TRUE(equal(cast(f, 3), {6}, {1, -1, 0, 44, 127, 0}, DType::Int64));    // int8 wraps
  EXPECT_TRUE(equal(cast(f, 2), {6}, {1, 255, 0, 44, 127, 0}, DType::Int64));   // uint8 wraps
  EXPECT_TRUE(equal(cast(f, 9), {6}, {1, 1, 1, 1, 1, 0}, DType::Int64));        // bool: nonzero
  EXPECT_TRUE(equal(cast(f, 1), {6}, {1.7f, -1.7f, 0.5f, 300.0f, -129.0f, 0.0f}));
  EXPECT_TRUE(equal(cast(f, 11), {6}, {1.7f, -1.7f, 0.5f, 300.0f, -129.0f, 0.0f}));
  // float16 keeps 11 significant bits: 1.7 -> 1.7001953125, 1 + 2^-12 -> 1.
  Tensor h = Tensor::from_floats({3}, {1.7f, 1.0f + 1.0f / 4096.0f, 70000.0f});
  EXPECT_TRUE(equal(cast(h, 10), {3}, {1.7001953125, 1.0, std::numeric_limits<double>::infinity()}));
  // bfloat16 keeps 8: 1.7 -> 1.703125.
  EXPECT_TRUE(equal(cast(Tensor::from_floats({1}, {1.7f}), 16), {1}, {1.703125}));
  Tensor i = Tensor::from_int64({4}, {-1, 0, 70000, (int64_t{1} << 40) + 1});
  EXPECT_TRUE(equal(cast(i, 1), {4}, {-1, 0, 70000, double(float((int64_t{1} << 40) + 1))}));
  EXPECT_TRUE(equal(cast(i, 6), {4}, {-1, 0, 70000, 1}, DType::Int64));  // int32 keeps the low 32 bits
  EXPECT_TRUE(equal(cast(i, 9), {4}, {1, 0, 1, 1}, DType::Int64));
  // NaN and out-of-range floats are defined (0, saturated) rather than undefined behaviour.
  EXPECT_TRUE(equal(cast(Tensor::from_floats({2}, {std::nanf(""), 1e30f}), 7), {2},
                    {0, double(std::numeric_limits<int64_t>::max())}, DType::Int64));
  expect_bad_input([&] { cast(f, 8); }, {"node 'the_Cast' (Cast)", "string"});
  expect_bad_input([&] { run1("Cast", {var(f)}); }, {"the_Cast", "'to'"});
}

TEST(ShapeOps, ExpandBroadcastsBothWays) {
  Tensor x = iota({3, 1});
  std::vector<double> want;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t c = 0; c < 4; ++c) want.push_back(x.f32()[r]);
  EXPECT_TRUE(equal(run1("Expand", {var(x), cst(ivec({2, 1, 4}))}), {2, 3, 4}, want));
  // A 1 in the shape keeps the input's dimension; a shorter shape is right-aligned.
  Tensor y = iota({2, 3});
  EXPECT_TRUE(equal(run1("Expand", {var(y), cst(ivec({1, 1}))}), {2, 3}, std::vector<double>(y.f32(), y.f32() + 6)));
  EXPECT_TRUE(equal(run1("Expand", {var(y), cst(ivec({3}))}), {2, 3}, std::vector<double>(y.f32(), y.f32() + 6)));
  EXPECT_TRUE(equal(run1("Expand", {var(i64({}, {4})), cst(ivec({2, 2}))}), {2, 2}, {4, 4, 4, 4}, DType::Int64));
  // Threaded: a per-channel vector broadcast to 1x64x32x32.
  Tensor v = iota({64, 1, 1});
  want.clear();
  for (int64_t c = 0; c < 64; ++c)
    for (int64_t k = 0; k < 1024; ++k) want.push_back(v.f32()[c]);
  EXPECT_TRUE(equal(run1("Expand", {var(v), cst(ivec({1, 64, 32, 32}))}), {1, 64, 32, 32}, want));
  expect_bad_input([&] { run1("Expand", {var(y), cst(ivec({4, 3, 5}))}); },
                   {"node 'the_Expand' (Expand)", "cannot broadcast 2x3 with 4x3x5"});
  expect_bad_input([&] { run1("Expand", {var(y), var(ivec({2, 3}))}); }, {"the_Expand", "must be a constant"});
}

TEST(ShapeOps, Range) {
  auto range_i = [](int64_t s, int64_t l, int64_t d) {
    return run1("Range", {cst(i64({}, {s})), cst(i64({}, {l})), cst(i64({}, {d}))});
  };
  EXPECT_TRUE(equal(range_i(0, 5, 1), {5}, {0, 1, 2, 3, 4}, DType::Int64));
  EXPECT_TRUE(equal(range_i(10, 4, -3), {2}, {10, 7}, DType::Int64));
  EXPECT_TRUE(equal(range_i(1, 8, 3), {3}, {1, 4, 7}, DType::Int64));
  EXPECT_TRUE(equal(range_i(5, 5, 1), {0}, {}, DType::Int64));
  EXPECT_TRUE(equal(range_i(5, 0, 1), {0}, {}, DType::Int64));
  Tensor r = run1("Range", {cst(Tensor::scalar(1.0f)), cst(Tensor::scalar(2.0f)), cst(Tensor::scalar(0.25f))});
  EXPECT_TRUE(equal(r, {4}, {1.0, 1.25, 1.5, 1.75}));
  expect_bad_input([&] { range_i(0, 5, 0); }, {"node 'the_Range' (Range)", "delta must not be 0"});
  expect_bad_input([&] { run1("Range", {var(i64({}, {0})), cst(i64({}, {5})), cst(i64({}, {1}))}); },
                   {"the_Range", "must be constants"});
}

TEST(ShapeOps, ComparisonsNotAndWhere) {
  Tensor a = Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_floats({3}, {1, 5, 3});
  EXPECT_TRUE(equal(run1("Equal", {var(a), var(b)}), {2, 3}, {1, 0, 1, 0, 1, 0}, DType::Int64));
  EXPECT_TRUE(equal(run1("Less", {var(a), var(b)}), {2, 3}, {0, 1, 0, 0, 0, 0}, DType::Int64));
  EXPECT_TRUE(equal(run1("Greater", {var(a), var(b)}), {2, 3}, {0, 0, 0, 1, 0, 1}, DType::Int64));
  EXPECT_TRUE(equal(run1("Equal", {var(ivec({2, -1, 4})), cst(i64({}, {-1}))}), {3}, {0, 1, 0}, DType::Int64));
  EXPECT_TRUE(equal(run1("LessOrEqual", {var(a), var(b)}), {2, 3}, {1, 1, 1, 0, 1, 0}, DType::Int64));
  EXPECT_TRUE(equal(run1("GreaterOrEqual", {var(a), var(b)}), {2, 3}, {1, 0, 1, 1, 1, 1}, DType::Int64));
  EXPECT_TRUE(equal(run1("Not", {var(ivec({0, 1, 1}))}), {3}, {1, 0, 0}, DType::Int64));
  Tensor p = ivec({0, 0, 1, 1});
  Tensor q = ivec({0, 1, 0, 1});
  EXPECT_TRUE(equal(run1("And", {var(p), var(q)}), {4}, {0, 0, 0, 1}, DType::Int64));
  EXPECT_TRUE(equal(run1("Or", {var(p), var(q)}), {4}, {0, 1, 1, 1}, DType::Int64));
  EXPECT_TRUE(equal(run1("Xor", {var(p), var(q)}), {4}, {0, 1, 1, 0}, DType::Int64));
  expect_bad_input([&] { run1("And", {var(a), var(b)}); }, {"the_And", "bool"});
  // Where broadcasts condition, X and Y; the PyTorch export pattern Where(Equal(s, -1), 1, s).
  Tensor cond = i64({2, 1}, {1, 0});
  Tensor x = iota({1, 3});
  Tensor y = Tensor::from_floats({2, 3}, {10, 11, 12, 13, 14, 15});
  EXPECT_TRUE(equal(run1("Where", {var(cond), var(x), var(y)}), {2, 3}, {x.f32()[0], x.f32()[1], x.f32()[2], 13, 14, 15}));
  Tensor s = ivec({2, -1, 4});
  Graph g;
  const int si = g.add_constant("s", s);
  const int minus = g.add_constant("minus1", i64({}, {-1}));
  const int one = g.add_constant("one", i64({}, {1}));
  const int eq = g.value_id("eq");
  const int out = g.value_id("out");
  g.add_node("Equal", "eq", {si, minus}, {eq});
  g.add_node("Where", "where", {eq, one, si}, {out});
  g.outputs = {out};
  prepare_graph(g);
  EXPECT_TRUE(g.nodes.empty());
  EXPECT_EQ(g.values[static_cast<std::size_t>(out)].constant->to_int64_vector(), (Ints{2, 1, 4}));
  expect_bad_input([&] { run1("Where", {var(cond), var(x), var(ivec({1}))}); }, {"node 'the_Where' (Where)"});
  expect_bad_input([&] { run1("Equal", {var(a), var(iota({4}))}); }, {"the_Equal", "cannot broadcast 2x3 with 4"});
}

// ---------------------------------------------------------------------------------------------
// The shape subgraph PyTorch exports for x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze ->
// Concat -> Reshape. prepare_graph must fold it to a constant shape, leaving Reshape alone.

void check_flatten_pattern(int opset) {
  Graph g;
  Tensor x = iota({2, 3, 4, 5});
  const int in = add_input(g, "x", x);
  const int shape = g.value_id("shape");
  const int batch = g.value_id("batch");
  const int batch1 = g.value_id("batch1");
  const int target = g.value_id("target");
  const int y = g.value_id("y");
  const int zero = g.add_constant("zero", i64({}, {0}));
  const int minus1 = g.add_constant("minus1", ivec({-1}));
  g.add_node("Shape", "shape", {in}, {shape}).opset = opset;
  g.add_node("Gather", "gather", {shape, zero}, {batch}).opset = opset;
  if (opset >= 13) {
    const int axes = g.add_constant("axes", ivec({0}));
    g.add_node("Unsqueeze", "unsqueeze", {batch, axes}, {batch1}).opset = opset;
  } else {
    Node& n = g.add_node("Unsqueeze", "unsqueeze", {batch}, {batch1});
    n.opset = opset;
    n.attrs.set("axes", Ints{0});
  }
  Node& concat = g.add_node("Concat", "concat", {batch1, minus1}, {target});
  concat.opset = opset;
  concat.attrs.set("axis", int64_t{0});
  g.add_node("Reshape", "reshape", {in, target}, {y}).opset = opset;
  g.outputs = {y};
  prepare_graph(g);
  ASSERT_EQ(g.nodes.size(), 1u) << "opset " << opset;
  EXPECT_EQ(g.nodes[0].op_type, "Reshape");
  const Value& t = g.values[static_cast<std::size_t>(target)];
  ASSERT_TRUE(t.constant.has_value());
  EXPECT_EQ(t.constant->to_int64_vector(), (Ints{2, -1}));
  EXPECT_EQ(g.values[static_cast<std::size_t>(y)].shape, (Shape{2, 60}));
  Executor executor(g);
  const Tensor out = executor.run({x}).front();
  EXPECT_TRUE(equal(out, {2, 60}, std::vector<double>(x.f32(), x.f32() + x.size())));
}

TEST(ShapeOps, PyTorchFlattenPatternFoldsToAConstantShape) {
  check_flatten_pattern(11);  // Unsqueeze axes as an attribute
  check_flatten_pattern(13);  // Unsqueeze axes as an input
}

TEST(ShapeOps, DataMovementCountsNoFlops) {
  Graph g = one_node("Transpose", {var(iota({2, 3}))}, {}, 17, 1, nullptr);
  prepare_graph(g);
  const auto reports = analyse_graph(g);
  EXPECT_EQ(reports[0].cost.flops, 0);
  EXPECT_EQ(reports[0].cost.bytes_read, 24);
  EXPECT_EQ(reports[0].cost.bytes_written, 24);
}

}  // namespace
}  // namespace coda
