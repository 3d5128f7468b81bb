// Reduction sampling (knobs 41-46) on AveragePool, MaxPool, GlobalAveragePool, GlobalMaxPool,
// ReduceMean and ReduceSum, against naive loops written here: each window or reduced set listed
// in order, the documented subset picked from the list, the sampled values accumulated in the
// knob's arithmetic. Inputs that no reduction samples are poisoned (NaN for sums, +infinity for
// maxima) to prove the kernels never read them. Also through a configuration, a plan and the
// executor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/approx/approx_config.h"
#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/approx/half_math.h"
#include "kernels/approx/knob_catalog.h"
#include "kernels/approx/reduction_sampling.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "tests/support/graph_runner.h"

namespace coda::test {
namespace {

int64_t pick(std::mt19937& rng, int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); }

const std::vector<int> kKnobs{41, 42, 43, 44, 45, 46};

// ---------------------------------------------------------------------------------------------
// The subset rule and the arithmetic, written out.

int64_t naive_count(int64_t n, double fraction) {
  if (n == 0) return 0;
  const auto m = int64_t(std::floor(double(n) * fraction + 0.5));  // round half up (n * fraction > 0)
  return std::min(n, std::max<int64_t>(1, m));
}

// Positions sampled among n: the middle of each of m equal strata.
std::vector<int64_t> naive_positions(int64_t n, double fraction) {
  const int64_t m = naive_count(n, fraction);
  std::vector<int64_t> p;
  for (int64_t k = 0; k < m; ++k) p.push_back(((2 * k + 1) * n) / (2 * m));
  return p;
}

enum class Kind { Sum, Mean, Max, Average };

struct Arith {
  bool half = false, half_acc = false;
  explicit Arith(const Knob& k)
      : half(k.precision == Arithmetic::Fp16), half_acc(half && k.accumulate == Arithmetic::Fp16) {}
};

// Folds the values at the sampled positions of `list` (flat input indices) as the knob does.
// For Average, `divisor` is the exact op's divisor.
float naive_reduce(const std::vector<float>& x, const std::vector<int64_t>& list, double fraction, Kind kind,
                   const Arith& a, int64_t divisor, std::set<int64_t>* read) {
  const auto n = int64_t(list.size());
  if (n == 0) {
    if (kind == Kind::Max) return -std::numeric_limits<float>::infinity();
    if (kind == Kind::Mean) return std::numeric_limits<float>::quiet_NaN();
    return 0.0f;
  }
  const std::vector<int64_t> pos = naive_positions(n, fraction);
  const auto m = int64_t(pos.size());
  float acc = kind == Kind::Max ? -std::numeric_limits<float>::infinity() : 0.0f;
  for (int64_t p : pos) {
    const int64_t index = list[std::size_t(p)];
    if (read) read->insert(index);
    float v = x[std::size_t(index)];
    if (a.half) v = round_to_half(v);
    if (kind == Kind::Max) {
      acc = v > acc ? v : acc;
    } else {
      acc = acc + v;
      if (a.half_acc) acc = round_to_half(acc);
    }
  }
  float r = acc;
  if (kind == Kind::Mean) r = acc / float(m);
  if (kind == Kind::Sum) r = float(double(acc) * double(n) / double(m));
  if (kind == Kind::Average)
    r = divisor == n ? acc / float(m) : float(double(acc) * double(n) / (double(m) * double(divisor)));
  return a.half ? round_to_half(r) : r;
}

// Inputs no reduction reads become `poison`.
std::vector<float> poisoned(const std::vector<float>& x, const std::set<int64_t>& read, float poison, int64_t* count) {
  std::vector<float> p(x);
  *count = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (!read.count(int64_t(i))) {
      p[i] = poison;
      ++*count;
    }
  return p;
}

std::vector<float> random_values(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// Builds the node's knob kernel through the registry and runs the graph with it.
Tensor run_knob(const std::string& op, const std::vector<In>& inputs, const Attributes& attrs, int opset,
                const Knob& knob) {
  std::vector<Tensor> feeds;
  Graph g = one_node(op, inputs, attrs, opset, 1, &feeds);
  prepare_graph(g);
  const Node& node = g.nodes.at(0);
  std::unique_ptr<OpKernel> kernel = make_knob_kernel(KnobRequest{node, require_op(node), knob, 0, nullptr});
  Executor executor(g);
  executor.set_kernel(0, kernel.get());
  return executor.run(feeds).at(0);
}

::testing::AssertionResult same(const Tensor& got, const std::vector<float>& want) {
  if (got.size() != int64_t(want.size()))
    return ::testing::AssertionFailure() << "size " << got.size() << ", want " << want.size();
  for (std::size_t i = 0; i < want.size(); ++i) {
    const float g = got.f32()[i], w = want[i];
    if (!(g == w || (std::isnan(g) && std::isnan(w))))
      return ::testing::AssertionFailure() << "element " << i << ": got " << g << ", want " << w;
  }
  return ::testing::AssertionSuccess();
}

TEST(ReductionSampling, SubsetIsEvenlySpacedWithTheRoundedCount) {
  for (int id : kKnobs) {
    const double f = knob_catalog().require(id).fraction;
    for (int64_t n = 0; n <= 300; ++n) {
      const int64_t m = sampled_count(n, f);
      ASSERT_EQ(m, naive_count(n, f)) << n;
      const std::vector<int64_t> want = naive_positions(n, f);
      for (int64_t k = 0; k < m; ++k) {
        const int64_t p = sample_index(k, n, m);
        ASSERT_EQ(p, want[std::size_t(k)]);
        ASSERT_GE(p, 0);
        ASSERT_LT(p, n);
        if (k > 0) {
          ASSERT_GT(p, sample_index(k - 1, n, m));
        }
        // Each sample sits in its own stratum [k n / m, (k + 1) n / m).
        ASSERT_GE(p * m, k * n);
        ASSERT_LT(p * m, (k + 1) * n);
      }
    }
  }
  EXPECT_EQ(naive_positions(9, 0.5), (std::vector<int64_t>{0, 2, 4, 6, 8}));  // 4.5 rounds up
  EXPECT_EQ(naive_positions(4, 0.5), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(naive_positions(9, 0.25), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(naive_positions(10, 0.4), (std::vector<int64_t>{1, 3, 6, 8}));
  EXPECT_EQ(sampled_count(1, 0.25), 1);
}

// ---------------------------------------------------------------------------------------------
// MaxPool / AveragePool

struct PoolCase {
  int64_t n = 1, c = 1, h = 1, w = 1, kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  bool one_d = false, ceil_mode = false, include_pad = false;

  static int64_t out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t p0, int64_t p1, bool ceil) {
    const int64_t room = in + p0 + p1 - ((k - 1) * d + 1);
    if (!ceil) return room / s + 1;
    int64_t o = (room + s - 1) / s + 1;
    if ((o - 1) * s >= in + p0) --o;  // the last window must start inside the input or left padding
    return o;
  }
  int64_t oh() const { return out(h, kh, sh, dh, pt, pb, ceil_mode); }
  int64_t ow() const { return out(w, kw, sw, dw, pl, pr, ceil_mode); }
  Shape shape() const { return one_d ? Shape{n, c, w} : Shape{n, c, h, w}; }
  Attributes attrs(bool average) const {
    Attributes a;
    if (one_d) {
      a.set("kernel_shape", std::vector<int64_t>{kw});
      a.set("strides", std::vector<int64_t>{sw});
      a.set("dilations", std::vector<int64_t>{dw});
      a.set("pads", std::vector<int64_t>{pl, pr});
    } else {
      a.set("kernel_shape", std::vector<int64_t>{kh, kw});
      a.set("strides", std::vector<int64_t>{sh, sw});
      a.set("dilations", std::vector<int64_t>{dh, dw});
      a.set("pads", std::vector<int64_t>{pt, pl, pb, pr});
    }
    a.set("ceil_mode", int64_t(ceil_mode));
    if (average) a.set("count_include_pad", int64_t(include_pad));
    return a;
  }
};

PoolCase random_pool(std::mt19937& rng) {
  PoolCase p;
  p.n = pick(rng, 1, 2);
  p.c = pick(rng, 1, 3);
  p.one_d = pick(rng, 0, 4) == 0;
  p.kw = pick(rng, 1, 4);
  p.sw = pick(rng, 1, 3);
  p.dw = pick(rng, 1, 2);
  p.pl = pick(rng, 0, std::min<int64_t>(2, p.kw - 1));  // ONNX: pads smaller than the kernel
  p.pr = pick(rng, 0, std::min<int64_t>(2, p.kw - 1));
  p.w = pick(rng, (p.kw - 1) * p.dw + 1, 20);
  if (!p.one_d) {
    p.kh = pick(rng, 1, 4);
    p.sh = pick(rng, 1, 3);
    p.dh = pick(rng, 1, 2);
    p.pt = pick(rng, 0, std::min<int64_t>(2, p.kh - 1));
    p.pb = pick(rng, 0, std::min<int64_t>(2, p.kh - 1));
    p.h = pick(rng, (p.kh - 1) * p.dh + 1, 20);
  }
  p.ceil_mode = pick(rng, 0, 2) == 0;
  p.include_pad = pick(rng, 0, 1) == 1;
  return p;
}

// The pool over plain loops: per output, the in-input taps row-major, then naive_reduce.
std::vector<float> naive_pool(const PoolCase& p, const std::vector<float>& x, bool average, double fraction,
                              const Arith& a, std::set<int64_t>* read) {
  const int64_t oh = p.oh(), ow = p.ow();
  std::vector<float> y;
  for (int64_t plane = 0; plane < p.n * p.c; ++plane)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        std::vector<int64_t> taps;
        int64_t padded = 0;
        for (int64_t u = 0; u < p.kh; ++u)
          for (int64_t v = 0; v < p.kw; ++v) {
            const int64_t yy = i * p.sh - p.pt + u * p.dh, xx = j * p.sw - p.pl + v * p.dw;
            if (yy >= -p.pt && yy < p.h + p.pb && xx >= -p.pl && xx < p.w + p.pr) ++padded;
            if (yy >= 0 && yy < p.h && xx >= 0 && xx < p.w) taps.push_back((plane * p.h + yy) * p.w + xx);
          }
        const int64_t divisor = p.include_pad ? padded : int64_t(taps.size());
        float r = naive_reduce(x, taps, fraction, average ? Kind::Average : Kind::Max, a, divisor, read);
        if (average && taps.empty()) r = 0.0f;  // a window of padding only averages nothing
        y.push_back(r);
      }
  return y;
}

TEST(ReductionSampling, PoolsMatchTheNaiveSampledWindowsAndReadOnlyTheSample) {
  std::mt19937 rng(31);
  int64_t poisoned_total = 0;
  for (int trial = 0; trial < 40; ++trial) {
    PoolCase p = random_pool(rng);
    if (trial % 4 == 0) {  // disjoint windows: each input belongs to at most one
      p.sh = p.kh * p.dh;
      p.sw = p.kw * p.dw;
    }
    const std::vector<float> x = random_values(rng, p.n * p.c * p.h * p.w);
    for (bool average : {false, true}) {
      const std::string op = average ? "AveragePool" : "MaxPool";
      for (int id : kKnobs) {
        const Knob& knob = knob_catalog().require(id);
        const Arith a(knob);
        std::set<int64_t> read;
        const std::vector<float> want = naive_pool(p, x, average, knob.fraction, a, &read);
        const Tensor got = run_knob(op, {var(Tensor::from_floats(p.shape(), x))}, p.attrs(average), 17, knob);
        ASSERT_TRUE(same(got, want)) << op << " knob " << id << " trial " << trial;
        int64_t count = 0;
        const float poison = average ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
        const std::vector<float> px = poisoned(x, read, poison, &count);
        poisoned_total += count;
        const Tensor again = run_knob(op, {var(Tensor::from_floats(p.shape(), px))}, p.attrs(average), 17, knob);
        ASSERT_TRUE(same(again, want)) << op << " knob " << id << " trial " << trial << " read an unsampled input";
      }
    }
  }
  EXPECT_GT(poisoned_total, 10000);
}

TEST(ReductionSampling, FullFractionReproducesTheExactPools) {
  std::mt19937 rng(32);
  Knob all = knob_catalog().require(41);
  all.fraction = 1.0;
  for (int trial = 0; trial < 20; ++trial) {
    const PoolCase p = random_pool(rng);
    const Tensor x = Tensor::from_floats(p.shape(), random_values(rng, p.n * p.c * p.h * p.w));
    for (const char* op : {"AveragePool", "MaxPool"}) {
      const Attributes attrs = p.attrs(std::string(op) == "AveragePool");
      const Tensor exact = run1(op, {var(x)}, attrs);
      const Tensor got = run_knob(op, {var(x)}, attrs, 17, all);
      ASSERT_EQ(got.shape(), exact.shape());
      for (int64_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got.f32()[i], exact.f32()[i], 1e-5 * (1 + std::fabs(exact.f32()[i]))) << op << " " << i;
    }
  }
}

TEST(ReductionSampling, LargePoolsSampleInParallelAsInSerial) {
  // Large enough for the kernels' threads, with the common 3x3/2 and 2x2/2 windows.
  std::mt19937 rng(33);
  PoolCase p;
  p.n = 4, p.c = 16, p.h = 34, p.w = 35, p.kh = p.kw = 3, p.sh = p.sw = 2, p.pt = p.pl = p.pb = p.pr = 1;
  const std::vector<float> x = random_values(rng, p.n * p.c * p.h * p.w);
  for (int id : {41, 44, 46}) {
    const Knob& knob = knob_catalog().require(id);
    for (bool average : {false, true}) {
      const std::vector<float> want = naive_pool(p, x, average, knob.fraction, Arith(knob), nullptr);
      const Tensor got = run_knob(average ? "AveragePool" : "MaxPool", {var(Tensor::from_floats(p.shape(), x))},
                                  p.attrs(average), 17, knob);
      ASSERT_TRUE(same(got, want)) << id;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Global pools and reductions

TEST(ReductionSampling, GlobalPoolsMatchTheNaiveSampledPlanes) {
  std::mt19937 rng(34);
  for (int trial = 0; trial < 20; ++trial) {
    const bool one_d = trial % 3 == 0;
    const int64_t n = pick(rng, 1, 3), c = pick(rng, 1, 5), h = one_d ? 1 : pick(rng, 1, 9), w = pick(rng, 1, 40);
    const Shape shape = one_d ? Shape{n, c, w} : Shape{n, c, h, w};
    const std::vector<float> x = random_values(rng, n * c * h * w);
    for (bool average : {false, true}) {
      for (int id : kKnobs) {
        const Knob& knob = knob_catalog().require(id);
        std::set<int64_t> read;
        std::vector<float> want;
        for (int64_t plane = 0; plane < n * c; ++plane) {
          std::vector<int64_t> list;
          for (int64_t i = 0; i < h * w; ++i) list.push_back(plane * h * w + i);
          want.push_back(naive_reduce(x, list, knob.fraction, average ? Kind::Mean : Kind::Max, Arith(knob), 0, &read));
        }
        const std::string op = average ? "GlobalAveragePool" : "GlobalMaxPool";
        const Tensor got = run_knob(op, {var(Tensor::from_floats(shape, x))}, {}, 17, knob);
        ASSERT_TRUE(same(got, want)) << op << " knob " << id;
        int64_t count = 0;
        const std::vector<float> px = poisoned(
            x, read, average ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity(),
            &count);
        if (h * w >= 4) {
          ASSERT_GT(count, 0);
        }
        ASSERT_TRUE(same(run_knob(op, {var(Tensor::from_floats(shape, px))}, {}, 17, knob), want))
            << op << " knob " << id;
      }
    }
  }
}

struct ReduceCase {
  Shape shape;
  std::vector<int64_t> axes;  // as given to the op (may be negative, may be empty)
  bool keepdims = true;
  bool noop = false;  // noop_with_empty_axes
};

// Output (with keepdims 1s or not) of the naive reduction; `read` collects the indices used.
std::vector<float> naive_reduce_op(const ReduceCase& rc, const std::vector<float>& x, bool sum, double fraction,
                                   const Arith& a, std::set<int64_t>* read, Shape* out_shape) {
  const auto rank = int64_t(rc.shape.size());
  if (rc.axes.empty() && rc.noop) {
    *out_shape = rc.shape;
    for (std::size_t i = 0; i < x.size(); ++i) read->insert(int64_t(i));
    return x;
  }
  std::vector<bool> reduced(std::size_t(rank), rc.axes.empty());
  for (int64_t axis : rc.axes) reduced[std::size_t(axis < 0 ? axis + rank : axis)] = true;
  Shape kept_shape, red_shape;
  out_shape->clear();
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[std::size_t(d)]) {
      red_shape.push_back(rc.shape[std::size_t(d)]);
      if (rc.keepdims) out_shape->push_back(1);
    } else {
      kept_shape.push_back(rc.shape[std::size_t(d)]);
      out_shape->push_back(rc.shape[std::size_t(d)]);
    }
  }
  int64_t outputs = 1, n = 1;
  for (int64_t s : kept_shape) outputs *= s;
  for (int64_t s : red_shape) n *= s;
  std::vector<float> y;
  for (int64_t o = 0; o < outputs; ++o) {
    const std::vector<int64_t> ko = unravel(o, kept_shape);
    std::vector<int64_t> list;
    for (int64_t r = 0; r < n; ++r) {
      const std::vector<int64_t> ro = unravel(r, red_shape);
      std::size_t ki = 0, ri = 0;
      int64_t flat = 0;
      for (int64_t d = 0; d < rank; ++d)
        flat = flat * rc.shape[std::size_t(d)] + (reduced[std::size_t(d)] ? ro[ri++] : ko[ki++]);
      list.push_back(flat);
    }
    y.push_back(naive_reduce(x, list, fraction, sum ? Kind::Sum : Kind::Mean, a, 0, read));
  }
  return y;
}

TEST(ReductionSampling, ReduceMeanAndSumMatchTheNaiveSampledSets) {
  std::mt19937 rng(35);
  int64_t poisoned_total = 0;
  for (int trial = 0; trial < 60; ++trial) {
    ReduceCase rc;
    const int64_t rank = pick(rng, 1, 4);
    for (int64_t d = 0; d < rank; ++d) rc.shape.push_back(pick(rng, 1, 6));
    for (int64_t d = 0; d < rank; ++d)
      if (pick(rng, 0, 1)) rc.axes.push_back(pick(rng, 0, 1) ? d - rank : d);  // some negative
    std::shuffle(rc.axes.begin(), rc.axes.end(), rng);
    rc.keepdims = pick(rng, 0, 1) == 1;
    rc.noop = rc.axes.empty() && pick(rng, 0, 2) == 0;
    int64_t size = 1;
    for (int64_t s : rc.shape) size *= s;
    const std::vector<float> x = random_values(rng, size);
    for (bool sum : {false, true}) {
      for (int id : kKnobs) {
        const Knob& knob = knob_catalog().require(id);
        std::set<int64_t> read;
        Shape out_shape;
        const std::vector<float> want = naive_reduce_op(rc, x, sum, knob.fraction, Arith(knob), &read, &out_shape);
        // Axes as an attribute (ReduceSum opset 11, ReduceMean opset 13) or as the constant
        // input 1 (ReduceSum opset 13, ReduceMean opset 18).
        const bool axes_input = pick(rng, 0, 1) == 1;
        const int opset = sum ? (axes_input ? 13 : 11) : (axes_input ? 18 : 13);
        Attributes attrs;
        attrs.set("keepdims", int64_t(rc.keepdims));
        if (rc.noop) attrs.set("noop_with_empty_axes", int64_t(1));
        auto inputs_of = [&](const std::vector<float>& data) {
          std::vector<In> in{var(Tensor::from_floats(rc.shape, data))};
          if (axes_input && !rc.axes.empty()) in.push_back(cst(Tensor::from_int64({int64_t(rc.axes.size())}, rc.axes)));
          return in;
        };
        if (!axes_input && !rc.axes.empty()) attrs.set("axes", rc.axes);
        if (rc.noop && !axes_input) continue;  // noop_with_empty_axes exists from the input-axes opsets on
        const std::string op = sum ? "ReduceSum" : "ReduceMean";
        const Tensor got = run_knob(op, inputs_of(x), attrs, opset, knob);
        ASSERT_EQ(got.shape(), out_shape) << op;
        ASSERT_TRUE(same(got, want)) << op << " knob " << id << " trial " << trial;
        int64_t count = 0;
        const std::vector<float> px = poisoned(x, read, std::numeric_limits<float>::quiet_NaN(), &count);
        poisoned_total += count;
        ASSERT_TRUE(same(run_knob(op, inputs_of(px), attrs, opset, knob), want))
            << op << " knob " << id << " trial " << trial << " read an unsampled input";
      }
    }
  }
  EXPECT_GT(poisoned_total, 1000);
}

TEST(ReductionSampling, LargeReductionsOverInnerAndOuterAxes) {
  // Wide rows exercise the chunked, threaded paths: reducing the outer axes of a (64, 3000)
  // matrix (the inner axis is kept and swept contiguously), the inner axis of a (3000, 64) and
  // of a (43, 200) (outputs gathered in blocks of eight, the last one short, with the lines of
  // the next block fetched ahead), and two separated axes.
  std::mt19937 rng(36);
  for (const ReduceCase& rc :
       {ReduceCase{{64, 3000}, {0}, false, false}, ReduceCase{{3000, 64}, {1}, true, false},
        ReduceCase{{43, 200}, {-1}, false, false}, ReduceCase{{8, 40, 30}, {0, 2}, true, false}}) {
    int64_t size = 1;
    for (int64_t s : rc.shape) size *= s;
    const std::vector<float> x = random_values(rng, size);
    for (int id : {41, 42, 45}) {
      const Knob& knob = knob_catalog().require(id);
      std::set<int64_t> read;
      Shape out_shape;
      const std::vector<float> want = naive_reduce_op(rc, x, true, knob.fraction, Arith(knob), &read, &out_shape);
      Attributes attrs;
      attrs.set("keepdims", int64_t(rc.keepdims));
      const Tensor got =
          run_knob("ReduceSum",
                   {var(Tensor::from_floats(rc.shape, x)), cst(Tensor::from_int64({int64_t(rc.axes.size())}, rc.axes))},
                   attrs, 13, knob);
      ASSERT_TRUE(same(got, want)) << id;
    }
  }
}

TEST(ReductionSampling, RefusesOpsOutsideItsFamily) {
  Graph g = one_node("ReduceMax", {var(Tensor::zeros({2, 2}))}, {}, 13, 1, nullptr);
  Knob knob = knob_catalog().require(41);
  knob.applies_to.clear();  // a catalog that claims all ops: the kernel still refuses
  EXPECT_THROW(make_knob_kernel(KnobRequest{g.nodes[0], require_op(g.nodes[0]), knob, 0, nullptr}), BadInput);
}

// ---------------------------------------------------------------------------------------------
// Through a configuration, a plan and the executor: x -> MaxPool -> AveragePool ->
// GlobalAveragePool -> ReduceSum, every reduction on one knob by default.

TEST(ReductionSampling, RunsFromAConfiguration) {
  const Shape shape{2, 3, 12, 12};
  Graph g;
  std::mt19937 rng(37);
  const Tensor input = Tensor::from_floats(shape, random_values(rng, 2 * 3 * 144));
  add_input(g, "x", input);
  PoolCase mp;
  mp.n = 2, mp.c = 3, mp.h = mp.w = 12, mp.kh = mp.kw = 3, mp.sh = mp.sw = 2, mp.pt = mp.pl = mp.pb = mp.pr = 1;
  PoolCase ap;
  ap.n = 2, ap.c = 3, ap.h = ap.w = mp.oh(), ap.kh = ap.kw = 2, ap.sh = ap.sw = 2;
  g.add_node("MaxPool", "pool1", {g.value_id("x")}, {g.value_id("p1")}).attrs = mp.attrs(false);
  g.add_node("AveragePool", "pool2", {g.value_id("p1")}, {g.value_id("p2")}).attrs = ap.attrs(true);
  g.add_node("GlobalAveragePool", "gap", {g.value_id("p2")}, {g.value_id("g")});
  const int axes = g.add_constant("axes", Tensor::from_int64({1}, {1}));
  Node& rs = g.add_node("ReduceSum", "rsum", {g.value_id("g"), axes}, {g.value_id("y")});
  rs.attrs.set("keepdims", int64_t(0));
  rs.opset = 13;
  g.outputs = {g.value_id("y")};
  prepare_graph(g);

  const std::vector<float> x(input.f32(), input.f32() + input.size());
  for (int id : kKnobs) {
    const std::vector<OpChoice> choices = resolve_config(
        ApproxConfig::parse(R"({"default": {"knob": )" + std::to_string(id) + "}}", "r.json"), g, knob_catalog());
    ApproxPlan plan(g, choices, knob_catalog(), 0);
    ASSERT_EQ(plan.approximated_count(), 4u);
    ASSERT_TRUE(plan.missing_ranges().empty());
    Executor executor(g);
    plan.install(executor);
    const Tensor y = executor.run({input}).at(0);

    const Knob& knob = knob_catalog().require(id);
    const Arith a(knob);
    const std::vector<float> p1 = naive_pool(mp, x, false, knob.fraction, a, nullptr);
    const std::vector<float> p2 = naive_pool(ap, p1, true, knob.fraction, a, nullptr);
    std::vector<float> gap;
    const int64_t plane = ap.oh() * ap.ow();
    for (int64_t p = 0; p < 6; ++p) {
      std::vector<int64_t> list;
      for (int64_t i = 0; i < plane; ++i) list.push_back(p * plane + i);
      gap.push_back(naive_reduce(p2, list, knob.fraction, Kind::Mean, a, 0, nullptr));
    }
    std::vector<float> want;
    for (int64_t img = 0; img < 2; ++img)
      want.push_back(naive_reduce(gap, {img * 3, img * 3 + 1, img * 3 + 2}, knob.fraction, Kind::Sum, a, 0, nullptr));
    ASSERT_EQ(y.shape(), (Shape{2, 1, 1}));
    EXPECT_TRUE(same(y, want)) << "knob " << id;
  }
}

}  // namespace
}  // namespace coda::test
