// The ensemble search (tuner/search.h) on synthetic objectives whose answer is known: on a
// separable space (a QoS loss and a cost per gene value, summed) it finds the optimum that
// exhaustive enumeration finds, with a budget far below the space size; it evaluates the exact
// configuration first and no configuration twice, respects its budget and patience, enumerates
// a tiny space and stops, and is reproducible for a seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <vector>

#include "tuner/search.h"

namespace coda::tuner {
namespace {

// Per gene and value a QoS loss and a cost; the exact value 0 has loss 0 and cost 1. A
// configuration's loss is the sum of its losses and its gain the exact cost over its cost, as
// with ApproxTuner's additive predictors (P2) and op-count model.
struct SeparableProblem {
  std::vector<int> counts;
  std::vector<std::vector<double>> loss, cost;

  SeparableProblem(int genes, int choices, std::uint64_t seed) : counts(genes, choices) {
    std::mt19937_64 rng(seed);
    auto uniform = [&rng] { return std::generate_canonical<double, 53>(rng); };
    loss.assign(genes, std::vector<double>(choices));
    cost.assign(genes, std::vector<double>(choices));
    for (int g = 0; g < genes; ++g) {
      loss[g][0] = 0.0;
      cost[g][0] = 1.0;
      for (int v = 1; v < choices; ++v) {
        // Cheaper values tend to lose more QoS, with noise so no simple ordering solves it.
        double saving = 0.1 + 0.6 * uniform();
        cost[g][v] = 1.0 - saving;
        loss[g][v] = saving * (0.5 + 1.5 * uniform());
      }
    }
  }

  SearchPoint evaluate(const Configuration& config) const {
    SearchPoint p;
    double total_cost = 0;
    for (std::size_t g = 0; g < config.size(); ++g) {
      p.qos_loss += loss[g][config[g]];
      total_cost += cost[g][config[g]];
    }
    p.gain = static_cast<double>(config.size()) / total_cost;
    return p;
  }

  // The best gain within the bound, by enumerating the whole space.
  double best_feasible_gain(double max_loss) const {
    double best = 0;
    Configuration config(counts.size(), 0);
    for (;;) {
      SearchPoint p = evaluate(config);
      if (p.qos_loss <= max_loss) best = std::max(best, p.gain);
      std::size_t g = counts.size();
      while (g-- > 0) {
        if (++config[g] < counts[g]) break;
        config[g] = 0;
      }
      if (g == static_cast<std::size_t>(-1)) return best;
    }
  }
};

double best_feasible_gain(const SearchResult& result, double max_loss) {
  double best = 0;
  for (const SearchPoint& p : result.evaluated)
    if (p.qos_loss <= max_loss) best = std::max(best, p.gain);
  return best;
}

SearchPoint flat(const Configuration&) { return SearchPoint{{}, 0.0, 1.0, ""}; }

TEST(EnsembleSearch, FindsTheEnumeratedOptimumOfASeparableSpaceWithFewEvaluations) {
  // 9 genes x 6 values = 10,077,696 configurations; the search may evaluate 4,000 (0.04%).
  for (std::uint64_t problem_seed : {1u, 2u}) {
    SeparableProblem problem(9, 6, problem_seed);
    const double max_loss = 1.0;
    const double optimum = problem.best_feasible_gain(max_loss);
    SearchOptions options;
    options.budget = 4000;
    options.patience = 4000;
    options.max_loss = max_loss;
    options.seed = 7;
    SearchResult result =
        ensemble_search(problem.counts, [&](const Configuration& c) { return problem.evaluate(c); }, options);
    EXPECT_LE(result.evaluations, options.budget);
    EXPECT_NEAR(best_feasible_gain(result, max_loss), optimum, 1e-12) << "problem seed " << problem_seed;
    // Every technique had turns and the exact configuration came first.
    EXPECT_GT(result.evaluations_by_technique["random"], 0);
    EXPECT_GT(result.evaluations_by_technique["hill"], 0);
    EXPECT_GT(result.evaluations_by_technique["nsga2"], 0);
    EXPECT_EQ(result.evaluated.front().config, Configuration(9, 0));
    EXPECT_EQ(result.evaluated.front().found_by, "seed");
  }
}

TEST(EnsembleSearch, EvaluatesNoConfigurationTwiceAndRecordsEachEvaluation) {
  SeparableProblem problem(6, 4, 11);
  std::set<Configuration> seen;
  int calls = 0;
  SearchOptions options;
  options.budget = 1500;
  options.patience = 1500;
  options.max_loss = 0.8;
  SearchResult result = ensemble_search(problem.counts, [&](const Configuration& c) {
    ++calls;
    EXPECT_TRUE(seen.insert(c).second) << "configuration evaluated twice";
    return problem.evaluate(c);
  }, options);
  EXPECT_EQ(calls, result.evaluations);
  EXPECT_EQ(static_cast<int>(result.evaluated.size()), result.evaluations);
  int by_technique = 0;
  for (const auto& [technique, count] : result.evaluations_by_technique) by_technique += count;
  EXPECT_EQ(by_technique, result.evaluations);
  for (const SearchPoint& p : result.evaluated) {
    SearchPoint expected = problem.evaluate(p.config);
    EXPECT_EQ(p.qos_loss, expected.qos_loss);
    EXPECT_EQ(p.gain, expected.gain);
  }
}

TEST(EnsembleSearch, StopsAtTheBudget) {
  SeparableProblem problem(8, 5, 4);
  SearchOptions options;
  options.budget = 257;
  options.patience = 100000;
  options.max_loss = 1.0;
  int calls = 0;
  std::vector<int> progress_done;
  double last_best = 0;
  SearchResult result = ensemble_search(
      problem.counts,
      [&](const Configuration& c) {
        ++calls;
        return problem.evaluate(c);
      },
      options,
      [&](int done, int budget, double best_gain) {
        progress_done.push_back(done);
        EXPECT_EQ(budget, 257);
        EXPECT_GE(best_gain, last_best);  // the best feasible gain never falls
        last_best = best_gain;
      });
  EXPECT_EQ(result.evaluations, 257);
  EXPECT_EQ(calls, 257);
  EXPECT_FALSE(result.stopped_by_patience);
  ASSERT_EQ(progress_done.size(), 257u);
  for (std::size_t i = 0; i < progress_done.size(); ++i) EXPECT_EQ(progress_done[i], static_cast<int>(i) + 1);
  EXPECT_DOUBLE_EQ(last_best, best_feasible_gain(result, options.max_loss));
}

TEST(EnsembleSearch, StopsAfterPatienceEvaluationsWithoutImprovement) {
  // Every configuration scores like the exact one: only the first evaluation improves anything.
  SearchOptions options;
  options.budget = 5000;
  options.patience = 123;
  SearchResult result = ensemble_search({5, 5, 5, 5, 5, 5}, flat, options);
  EXPECT_EQ(result.evaluations, 1 + 123);
  EXPECT_TRUE(result.stopped_by_patience);
  EXPECT_EQ(result.improvements_by_technique["seed"], 1);
  int improvements = 0;
  for (const auto& [technique, count] : result.improvements_by_technique) improvements += count;
  EXPECT_EQ(improvements, 1);
}

TEST(EnsembleSearch, PatienceCountsFromTheLastImprovement) {
  // Gain grows with the number of approximated genes and the bound admits everything: every
  // configuration that beats the best gain so far resets the count, so the search runs past
  // `patience` evaluations in total and stops exactly `patience` after its last improvement.
  SearchOptions options;
  options.budget = 100000;
  options.patience = 40;
  options.max_loss = 100;
  SearchResult result = ensemble_search(std::vector<int>(10, 3), [](const Configuration& c) {
    SearchPoint p;
    for (int v : c) p.gain += v;
    return p;
  }, options);
  ASSERT_TRUE(result.stopped_by_patience);
  EXPECT_GT(result.evaluations, 41);
  int last_improvement = -1;
  double best = -1;
  for (int i = 0; i < result.evaluations; ++i)
    if (result.evaluated[i].gain > best) {
      best = result.evaluated[i].gain;
      last_improvement = i;
    }
  EXPECT_EQ(result.evaluations - 1 - last_improvement, 40);
}

TEST(EnsembleSearch, EnumeratesATinySpaceAndStops) {
  // 1 x 3 x 1 x 4 x 2 = 24 configurations, a budget far above that: every one exactly once.
  std::vector<int> counts{1, 3, 1, 4, 2};
  SearchOptions options;
  options.budget = 10000;
  options.patience = 10000;
  options.population = 8;
  SeparableProblem tables(5, 4, 3);
  SearchResult result = ensemble_search(counts, [&](const Configuration& c) { return tables.evaluate(c); }, options);
  EXPECT_EQ(result.evaluations, 24);
  EXPECT_FALSE(result.stopped_by_patience);
  std::set<Configuration> distinct;
  for (const SearchPoint& p : result.evaluated) {
    ASSERT_EQ(p.config.size(), counts.size());
    for (std::size_t g = 0; g < counts.size(); ++g) {
      EXPECT_GE(p.config[g], 0);
      EXPECT_LT(p.config[g], counts[g]);
    }
    distinct.insert(p.config);
  }
  EXPECT_EQ(distinct.size(), 24u);

  // A space of one configuration: only the exact one.
  SearchResult single = ensemble_search({1, 1}, flat, options);
  EXPECT_EQ(single.evaluations, 1);
}

TEST(EnsembleSearch, IsReproducibleForASeedAndDiffersForAnother) {
  SeparableProblem problem(8, 5, 9);
  auto run = [&](std::uint64_t seed) {
    SearchOptions options;
    options.budget = 600;
    options.patience = 600;
    options.max_loss = 0.9;
    options.seed = seed;
    std::vector<Configuration> order;
    for (const SearchPoint& p :
         ensemble_search(problem.counts, [&](const Configuration& c) { return problem.evaluate(c); }, options).evaluated)
      order.push_back(p.config);
    return order;
  };
  std::vector<Configuration> first = run(5);
  EXPECT_EQ(first, run(5));
  EXPECT_NE(first, run(6));
}

TEST(EnsembleSearch, RejectsAnEmptySpaceAndOptionsOutOfRange) {
  SearchOptions options;
  EXPECT_THROW(ensemble_search({}, flat, options), std::invalid_argument);
  EXPECT_THROW(ensemble_search({3, 0}, flat, options), std::invalid_argument);
  auto with = [](auto change) {
    SearchOptions o;
    change(o);
    return o;
  };
  EXPECT_THROW(ensemble_search({3}, flat, with([](SearchOptions& o) { o.budget = 0; })), std::invalid_argument);
  EXPECT_THROW(ensemble_search({3}, flat, with([](SearchOptions& o) { o.patience = 0; })), std::invalid_argument);
  EXPECT_THROW(ensemble_search({3}, flat, with([](SearchOptions& o) { o.population = 1; })), std::invalid_argument);
  EXPECT_THROW(ensemble_search({3}, flat, with([](SearchOptions& o) { o.max_loss = -1; })), std::invalid_argument);
  EXPECT_THROW(ensemble_search({3}, flat, with([](SearchOptions& o) { o.max_loss = std::nan(""); })),
               std::invalid_argument);
  EXPECT_THROW(ensemble_search({3}, [](const Configuration&) { return SearchPoint{{}, std::nan(""), 1.0, ""}; }, options),
               std::invalid_argument);
}

}  // namespace
}  // namespace coda::tuner
