// Lasso by coordinate descent against independent references: exact least squares on the true
// support, and weights that act as repeated rows.
#include <random>

#include <gtest/gtest.h>

#include "models/lasso.h"

namespace coda::models {
namespace {

struct SparseProblem {
  Eigen::MatrixXd x;
  Eigen::VectorXd y;
  std::vector<int> support = {1, 4, 7};
  std::vector<double> truth = {3.0, -2.0, 0.5};
  double intercept = 1.25;
};

// `columns` must exceed the largest support index (7).
SparseProblem sparse_problem(int rows, int columns, std::uint64_t seed) {
  SparseProblem p;
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0, 1);
  p.x.resize(rows, columns);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < columns; ++j) p.x(i, j) = normal(rng) * (1 + j) + 10 * j;  // unequal scales and means
  p.y = Eigen::VectorXd::Constant(rows, p.intercept);
  for (std::size_t s = 0; s < p.support.size(); ++s) p.y += p.truth[s] * p.x.col(p.support[s]);
  return p;
}

// Prediction of a LassoSolution (standardized coefficients) for a row.
double predict(const LassoDesign& design, const LassoSolution& solution, const Eigen::RowVectorXd& row) {
  double value = solution.intercept;
  for (Eigen::Index j = 0; j < row.size(); ++j)
    value += solution.coef[j] * (row[j] - design.mean()[j]) / design.scale()[j];
  return value;
}

TEST(Lasso, RecoversTheSparseCoefficientsOfANoiseFreeProblem) {
  SparseProblem p = sparse_problem(200, 12, 7);
  LassoDesign design(p.x, p.y, Eigen::VectorXd::Ones(200));
  std::vector<int> all(12);
  for (int j = 0; j < 12; ++j) all[static_cast<std::size_t>(j)] = j;
  LassoPathOptions options;
  options.tolerance = 1e-10;
  options.max_sweeps = 100000;
  options.gain_stop = 0;
  options.explained_stop = 1;
  options.min_ratio = 1e-7;
  std::vector<double> path = design.path(all, options);
  LassoSolution solution = design.fit(all, path, path.size() - 1, options);
  // Back to raw coefficients: coef / scale.
  for (int j = 0; j < 12; ++j) {
    double raw = solution.coef[j] / design.scale()[j];
    double expected = 0;
    for (std::size_t s = 0; s < p.support.size(); ++s)
      if (p.support[s] == j) expected = p.truth[s];
    EXPECT_NEAR(raw, expected, 1e-4) << "column " << j;
  }
}

TEST(Lasso, MatchesLeastSquaresOnTheSelectedSupportWithNoise) {
  SparseProblem p = sparse_problem(300, 10, 11);
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 0.1);
  for (Eigen::Index i = 0; i < p.y.size(); ++i) p.y[i] += noise(rng);
  LassoDesign design(p.x, p.y, Eigen::VectorXd::Ones(300));
  std::vector<int> all(10);
  for (int j = 0; j < 10; ++j) all[static_cast<std::size_t>(j)] = j;
  LassoPathOptions options;
  options.tolerance = 1e-12;
  options.max_sweeps = 100000;
  options.gain_stop = 0;
  options.explained_stop = 1;
  options.min_ratio = 1e-9;
  std::vector<double> path = design.path(all, options);
  LassoSolution lasso = design.fit(all, path, path.size() - 1, options);
  // Independent reference: ordinary least squares with an intercept on all columns (the Lasso
  // at a vanishing penalty tends to it).
  Eigen::MatrixXd a(300, 11);
  a.col(0).setOnes();
  a.rightCols(10) = p.x;
  Eigen::VectorXd ols = a.colPivHouseholderQr().solve(p.y);
  for (int j = 0; j < 10; ++j) EXPECT_NEAR(lasso.coef[j] / design.scale()[j], ols[j + 1], 1e-5) << "column " << j;
  // And the true support carries the weight.
  for (std::size_t s = 0; s < p.support.size(); ++s)
    EXPECT_NEAR(ols[p.support[s] + 1], p.truth[s], 0.01);
}

TEST(Lasso, ALargePenaltyKeepsEveryCoefficientZero) {
  SparseProblem p = sparse_problem(100, 8, 5);
  LassoDesign design(p.x, p.y, Eigen::VectorXd::Ones(100));
  std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7};
  std::vector<double> path = design.path(all, {});
  LassoSolution solution = design.fit(all, path, 0, {});  // lambda_max
  EXPECT_EQ(solution.coef.cwiseAbs().maxCoeff(), 0.0);
  EXPECT_NEAR(solution.intercept, p.y.mean(), 1e-9);
}

TEST(Lasso, AnIntegerWeightActsAsThatManyCopiesOfTheRow) {
  SparseProblem p = sparse_problem(60, 8, 9);
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0, 1.0);
  for (Eigen::Index i = 0; i < p.y.size(); ++i) p.y[i] += noise(rng);
  Eigen::VectorXd w = Eigen::VectorXd::Ones(60);
  std::vector<Eigen::Index> repeated;
  for (Eigen::Index i = 0; i < 60; ++i) {
    repeated.push_back(i);
    if (i % 3 == 0) {
      w[i] = 2;
      repeated.push_back(i);
    }
  }
  LassoDesign weighted(p.x, p.y, w);
  LassoDesign copies(p.x(repeated, Eigen::all), p.y(repeated), Eigen::VectorXd::Ones(static_cast<Eigen::Index>(repeated.size())));
  std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7};
  LassoPathOptions options;
  options.tolerance = 1e-12;
  options.max_sweeps = 100000;
  std::vector<double> path = weighted.path(all, options);
  LassoSolution a = weighted.fit(all, path, 20, options);
  LassoSolution b = copies.fit(all, path, 20, options);
  for (Eigen::Index i = 0; i < 60; ++i)
    EXPECT_NEAR(predict(weighted, a, p.x.row(i)), predict(copies, b, p.x.row(i)), 1e-6);
}

TEST(Lasso, CrossValidationPredictsEachRowWithoutItsFold) {
  SparseProblem p = sparse_problem(90, 8, 13);
  LassoDesign design(p.x, p.y, Eigen::VectorXd::Ones(90));
  std::vector<int> fold_of(90);
  for (int i = 0; i < 90; ++i) fold_of[static_cast<std::size_t>(i)] = i % 3;
  std::vector<std::vector<double>> lambdas;
  std::vector<std::vector<int>> subsets = {{0, 1, 2, 3, 4, 5, 6, 7}};
  LassoPathOptions options;
  options.tolerance = 1e-12;
  options.max_sweeps = 100000;
  options.gain_stop = 0;
  options.explained_stop = 1;
  std::vector<Eigen::MatrixXd> predictions = design.cross_validate(subsets, fold_of, 3, options, lambdas);
  ASSERT_EQ(predictions.size(), 1u);
  // Reference for fold 0: the model fitted on rows of folds 1 and 2 only, at the same penalty.
  std::vector<Eigen::Index> train;
  for (Eigen::Index i = 0; i < 90; ++i)
    if (i % 3 != 0) train.push_back(i);
  LassoDesign reference(p.x(train, Eigen::all), p.y(train), Eigen::VectorXd::Ones(60));
  std::size_t last = lambdas[0].size() - 1;
  // The reference path starts from its own lambda_max; fit at the same absolute penalty by
  // giving it the CV path.
  LassoSolution solution = reference.fit(subsets[0], lambdas[0], last, options);
  for (Eigen::Index i = 0; i < 90; i += 3)
    EXPECT_NEAR(predictions[0](i, static_cast<Eigen::Index>(last)), predict(reference, solution, p.x.row(i)), 1e-6);
  // Noise-free data: the least penalty predicts held-out rows almost exactly.
  for (Eigen::Index i = 0; i < 90; ++i) EXPECT_NEAR(predictions[0](i, static_cast<Eigen::Index>(last)), p.y[i], 1e-2 * std::abs(p.y[i]));
}

}  // namespace
}  // namespace coda::models
