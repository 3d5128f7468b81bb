// Pareto sets and ApproxTuner's PS_eps selection (tuner/pareto.h) on hand-made point sets whose
// fronts, distances and selections are worked out below, and on a random cloud where the
// selection's invariants must hold: at most max_count points, every Pareto point within the bound
// kept, every kept point within eps, and eps growing with max_count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tuner/pareto.h"

namespace coda::tuner {
namespace {

SearchPoint point(const std::string& name, double loss, double gain) {
  SearchPoint p;
  p.qos_loss = loss;
  p.gain = gain;
  p.found_by = name;  // the tests name points through found_by
  return p;
}

std::vector<std::string> names(const std::vector<SearchPoint>& points) {
  std::vector<std::string> out;
  for (const SearchPoint& p : points) out.push_back(p.found_by);
  return out;
}

// (loss, gain): A and B and the tied pair F, G form the front; C and D are dominated by B (C has
// B's loss with less gain, D B's gain with more loss), E by A, H by B.
std::vector<SearchPoint> hand_made() {
  return {point("A", 0.0, 1.0), point("B", 1.0, 2.0), point("C", 1.0, 1.5), point("D", 2.0, 2.0),
          point("E", 0.5, 0.8), point("F", 3.0, 4.0), point("G", 3.0, 4.0), point("H", 2.5, 1.2)};
}

TEST(ParetoSet, KeepsTheNonDominatedPointsSortedByGain) {
  EXPECT_EQ(names(pareto_set(hand_made())), (std::vector<std::string>{"A", "B", "F", "G"}));
  EXPECT_TRUE(pareto_set({}).empty());
  // Same gain: the lower loss wins; same loss: the higher gain wins.
  EXPECT_EQ(names(pareto_set({point("x", 1, 2), point("y", 0.5, 2)})), std::vector<std::string>{"y"});
  EXPECT_EQ(names(pareto_set({point("x", 1, 2), point("y", 1, 3)})), std::vector<std::string>{"y"});
  // Neither of two incomparable points dominates the other; equal points both stay.
  EXPECT_EQ(names(pareto_set({point("x", 2, 3), point("y", 1, 2)})), (std::vector<std::string>{"y", "x"}));
  EXPECT_EQ(names(pareto_set({point("x", 1, 2), point("y", 1, 2)})), (std::vector<std::string>{"x", "y"}));
}

TEST(ParetoSet, DistanceIsTheExtraLossOverTheBestParetoPointWithAtLeastItsGain) {
  std::vector<SearchPoint> all = hand_made();
  std::vector<SearchPoint> front = pareto_set(all);
  auto distance = [&](const std::string& name) {
    for (const SearchPoint& p : all)
      if (p.found_by == name) return pareto_distance(p, front);
    ADD_FAILURE() << name;
    return -1.0;
  };
  EXPECT_DOUBLE_EQ(distance("A"), 0.0);
  EXPECT_DOUBLE_EQ(distance("F"), 0.0);
  EXPECT_DOUBLE_EQ(distance("C"), 0.0);  // B has C's loss and more gain
  EXPECT_DOUBLE_EQ(distance("D"), 1.0);  // 2 - B's 1
  EXPECT_DOUBLE_EQ(distance("E"), 0.5);  // 0.5 - A's 0
  EXPECT_DOUBLE_EQ(distance("H"), 1.5);  // 2.5 - B's 1
  // Beyond the front's highest gain nothing dominates it.
  EXPECT_DOUBLE_EQ(pareto_distance(point("X", 5.0, 10.0), front), 0.0);
}

// Thresholds max(distance, loss - 1.5, 0): A 0, B 0, C 0, E 0.5, D 1, F 1.5, G 1.5, H 1.5.
TEST(PsEpsSelection, ChoosesTheLargestEpsWithinTheCount) {
  const std::vector<SearchPoint> all = hand_made();
  EpsSelection everything = select_ps_eps(all, 1.5, 10, 2.0);
  EXPECT_DOUBLE_EQ(everything.eps, 2.0);
  EXPECT_EQ(names(everything.points), (std::vector<std::string>{"E", "A", "H", "C", "B", "D", "F", "G"}));

  EpsSelection five = select_ps_eps(all, 1.5, 5, 2.0);
  EXPECT_DOUBLE_EQ(five.eps, 1.0);
  EXPECT_EQ(names(five.points), (std::vector<std::string>{"E", "A", "C", "B", "D"}));

  EpsSelection four = select_ps_eps(all, 1.5, 4, 2.0);
  EXPECT_DOUBLE_EQ(four.eps, 0.5);
  EXPECT_EQ(names(four.points), (std::vector<std::string>{"E", "A", "C", "B"}));

  EpsSelection three = select_ps_eps(all, 1.5, 3, 2.0);
  EXPECT_DOUBLE_EQ(three.eps, 0.0);
  EXPECT_EQ(names(three.points), (std::vector<std::string>{"A", "C", "B"}));

  // eps_max below the cap's limit: eps = eps_max.
  EpsSelection capped = select_ps_eps(all, 1.5, 7, 0.7);
  EXPECT_DOUBLE_EQ(capped.eps, 0.7);
  EXPECT_EQ(names(capped.points), (std::vector<std::string>{"E", "A", "C", "B"}));
}

TEST(PsEpsSelection, KeepsTheParetoPointsWithinTheBoundWhenEvenEpsZeroIsTooMany) {
  const std::vector<SearchPoint> all = hand_made();
  // At eps = 0 three points qualify (A, B and C at distance 0); with room for two, the two
  // Pareto points within the bound.
  EpsSelection two = select_ps_eps(all, 1.5, 2, 2.0);
  EXPECT_DOUBLE_EQ(two.eps, 0.0);
  EXPECT_EQ(names(two.points), (std::vector<std::string>{"A", "B"}));
  // With room for one, the one of highest gain.
  EXPECT_EQ(names(select_ps_eps(all, 1.5, 1, 2.0).points), std::vector<std::string>{"B"});

  // Eleven Pareto points with gains 1..11, thinned evenly along the gain axis.
  std::vector<SearchPoint> front;
  for (int i = 1; i <= 11; ++i) front.push_back(point(std::to_string(i), 0.1 * i, i));
  EXPECT_EQ(names(select_ps_eps(front, 5.0, 3, 1.0).points), (std::vector<std::string>{"1", "6", "11"}));
  // Targets 1, 4.33, 7.67, 11.
  EXPECT_EQ(names(select_ps_eps(front, 5.0, 4, 1.0).points), (std::vector<std::string>{"1", "4", "8", "11"}));
}

TEST(PsEpsSelection, HoldsItsInvariantsOnARandomCloud) {
  std::mt19937_64 rng(3);
  auto uniform = [&rng] { return std::generate_canonical<double, 53>(rng); };
  std::vector<SearchPoint> cloud;
  for (int i = 0; i < 400; ++i) {
    double gain = 1.0 + 3.0 * uniform();
    // Loss grows with gain, with scatter: a front plus a cloud behind it.
    cloud.push_back(point(std::to_string(i), (gain - 1.0) * (1.0 + 2.0 * uniform()) + 0.3 * uniform(), gain));
  }
  const double max_loss = 2.0, eps_max = 5.0;
  std::vector<SearchPoint> front = pareto_set(cloud);
  std::set<std::string> feasible_front;
  for (const SearchPoint& p : front) {
    EXPECT_DOUBLE_EQ(pareto_distance(p, front), 0.0);
    if (p.qos_loss <= max_loss) feasible_front.insert(p.found_by);
  }
  ASSERT_GT(feasible_front.size(), 3u);
  for (const SearchPoint& p : cloud) {
    // Nothing dominates a front point; every other point has a dominator on the front.
    bool on_front = std::any_of(front.begin(), front.end(), [&](const SearchPoint& q) { return q.found_by == p.found_by; });
    bool dominated = std::any_of(cloud.begin(), cloud.end(), [&](const SearchPoint& q) {
      return q.qos_loss <= p.qos_loss && q.gain >= p.gain && (q.qos_loss < p.qos_loss || q.gain > p.gain);
    });
    EXPECT_NE(on_front, dominated) << p.found_by;
  }

  double previous_eps = -1;
  std::set<std::string> previous;
  for (std::size_t max_count : {std::size_t{1}, std::size_t{4}, feasible_front.size(), std::size_t{30},
                                std::size_t{50}, std::size_t{120}, std::size_t{400}}) {
    EpsSelection s = select_ps_eps(cloud, max_loss, max_count, eps_max);
    EXPECT_LE(s.points.size(), max_count);
    EXPECT_GE(s.eps, 0.0);
    EXPECT_LE(s.eps, eps_max);
    EXPECT_GE(s.eps, previous_eps) << "eps must not shrink when more points may ship";
    std::set<std::string> kept = [&] {
      std::set<std::string> k;
      for (const SearchPoint& p : s.points) k.insert(p.found_by);
      return k;
    }();
    if (feasible_front.size() <= max_count) {
      for (const std::string& name : feasible_front) EXPECT_TRUE(kept.count(name)) << name;
      // A larger selection extends the smaller one.
      for (const std::string& name : previous) EXPECT_TRUE(kept.count(name)) << name;
    }
    for (std::size_t i = 1; i < s.points.size(); ++i) EXPECT_LE(s.points[i - 1].gain, s.points[i].gain);
    std::size_t within = 0;
    for (const SearchPoint& p : cloud) {
      bool qualifies = p.qos_loss <= max_loss + s.eps && pareto_distance(p, front) <= s.eps;
      within += qualifies;
      if (kept.count(p.found_by)) {
        EXPECT_TRUE(qualifies) << p.found_by;
      }
    }
    // Every point that qualifies at the chosen eps is kept (unless only the front fits).
    if (feasible_front.size() < max_count) {
      EXPECT_EQ(within, s.points.size());
    }
    previous_eps = s.eps;
    previous = kept;
  }
  EXPECT_DOUBLE_EQ(previous_eps, eps_max);  // 400 slots hold the whole cloud
}

TEST(PsEpsSelection, RejectsBadArguments) {
  EXPECT_THROW(select_ps_eps(hand_made(), 1.0, 0, 1.0), std::invalid_argument);
  EXPECT_THROW(select_ps_eps(hand_made(), 1.0, 5, -0.1), std::invalid_argument);
  EXPECT_THROW(select_ps_eps({point("n", std::nan(""), 1.0)}, 1.0, 5, 1.0), std::invalid_argument);
  EXPECT_THROW(pareto_set({point("n", 0.0, std::nan(""))}), std::invalid_argument);
}

}  // namespace
}  // namespace coda::tuner
