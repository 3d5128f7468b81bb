// The design of a sweep: which points it evaluates. Random draws go through a 64-bit Mersenne
// Twister with this file's own conversions to [0, 1) and to indices (the standard distributions'
// outputs differ between library implementations), so a spec and seed give the same points
// everywhere.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "kernels/error.h"
#include "traces/number_text.h"
#include "tuner/sweep_spec.h"

namespace coda::tuner {

namespace {

// Grids beyond this many points are a spec mistake, not a sweep anyone runs (and would not fit in
// memory as a list of points).
constexpr int64_t kMaxGridPoints = 10'000'000;

class DesignRandom {
 public:
  explicit DesignRandom(std::uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1) with 53 random bits.
  double unit() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform in [0, n).
  std::size_t index(std::size_t n) {
    return std::min(n - 1, static_cast<std::size_t>(unit() * static_cast<double>(n)));
  }
  // A uniform random permutation of 0..n-1 (Fisher-Yates).
  std::vector<std::size_t> permutation(std::size_t n) {
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[index(i)]);
    return order;
  }

 private:
  std::mt19937_64 engine_;
};

// A continuous axis' value at position u in [0, 1) of its range.
std::string continuous_value(const SweepAxis& axis, double u) {
  double x = axis.log_scale ? std::exp(std::log(axis.low) + u * (std::log(axis.high) - std::log(axis.low)))
                            : axis.low + u * (axis.high - axis.low);
  x = std::clamp(x, axis.low, axis.high);
  if (axis.integer) x = std::clamp(std::round(x), std::ceil(axis.low), std::floor(axis.high));
  return traces::number_text(x);
}

std::vector<SweepPoint> grid(const SweepSpec& spec) {
  int64_t total = 1;
  for (const SweepAxis& axis : spec.axes) {
    const auto size = static_cast<int64_t>(axis.values.size());
    if (size == 0) throw BadInput(spec.source + ": axis " + axis.name + ": a grid needs its values");
    if (total > kMaxGridPoints / size)
      throw BadInput(spec.source + ": the grid has more than " + std::to_string(kMaxGridPoints) + " points");
    total *= size;
  }
  std::vector<SweepPoint> points;
  points.reserve(static_cast<std::size_t>(total));
  std::vector<std::size_t> digits(spec.axes.size(), 0);
  for (int64_t index = 0; index < total; ++index) {
    SweepPoint point;
    point.index = index;
    for (std::size_t a = 0; a < spec.axes.size(); ++a) point.values.push_back(spec.axes[a].values[digits[a]]);
    points.push_back(std::move(point));
    // Odometer step, last axis fastest.
    for (std::size_t a = spec.axes.size(); a-- > 0;) {
      if (++digits[a] < spec.axes[a].values.size()) break;
      digits[a] = 0;
    }
  }
  return points;
}

std::vector<SweepPoint> random_design(const SweepSpec& spec) {
  DesignRandom random(spec.seed);
  std::vector<SweepPoint> points(static_cast<std::size_t>(spec.design_points));
  for (std::size_t p = 0; p < points.size(); ++p) {
    points[p].index = static_cast<int64_t>(p);
    for (const SweepAxis& axis : spec.axes)
      points[p].values.push_back(axis.continuous ? continuous_value(axis, random.unit())
                                                 : axis.values[random.index(axis.values.size())]);
  }
  return points;
}

// Each axis is cut into n strata, one sample per stratum, and the strata of different axes are
// paired by independent random permutations.
std::vector<SweepPoint> latin_hypercube(const SweepSpec& spec) {
  DesignRandom random(spec.seed);
  const auto n = static_cast<std::size_t>(spec.design_points);
  std::vector<SweepPoint> points(n);
  for (std::size_t p = 0; p < n; ++p) points[p].index = static_cast<int64_t>(p);
  for (const SweepAxis& axis : spec.axes) {
    const std::vector<std::size_t> strata = random.permutation(n);
    for (std::size_t p = 0; p < n; ++p) {
      const std::size_t s = strata[p];
      const double u = (static_cast<double>(s) + random.unit()) / static_cast<double>(n);
      if (axis.continuous) {
        points[p].values.push_back(continuous_value(axis, u));
        continue;
      }
      // Value j covers [j/L, (j+1)/L); rounding must not carry u out of its stratum, so the index
      // is held to the values the stratum [s/n, (s+1)/n) overlaps.
      const std::size_t count = axis.values.size();
      const std::size_t first = s * count / n, last = ((s + 1) * count + n - 1) / n - 1;
      const auto j = static_cast<std::size_t>(u * static_cast<double>(count));
      points[p].values.push_back(axis.values[std::clamp(j, first, std::min(last, count - 1))]);
    }
  }
  return points;
}

}  // namespace

std::vector<SweepPoint> make_design(const SweepSpec& spec) {
  switch (spec.design) {
    case SweepDesignKind::Grid: return grid(spec);
    case SweepDesignKind::Random: return random_design(spec);
    case SweepDesignKind::LatinHypercube: return latin_hypercube(spec);
  }
  return {};
}

}  // namespace coda::tuner
