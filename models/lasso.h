// Weighted Lasso by cyclic coordinate descent (Friedman, Hastie, Tibshirani, "Regularization
// paths for generalized linear models via coordinate descent", J. Stat. Softw. 2010), in the
// covariance form: the Gram matrix of the standardized columns is formed once, so a sweep costs
// O(p x active) instead of O(n x p), and cross-validation folds get theirs by subtracting the
// held-out rows' share. Minimizes (1 / 2 sum w) sum_i w_i (y_i - b - x_i a)^2 + lambda |a|_1 over
// columns standardized to weighted mean 0 and variance 1 on the training rows; the penalty path
// runs from lambda_max (the smallest penalty that keeps every coefficient zero) down to
// min_ratio * lambda_max, each solution warm-starting the next.
#pragma once

#include <vector>

#include <Eigen/Dense>

namespace coda::models {

struct LassoPathOptions {
  int length = 40;          // penalties on the path, log-spaced
  double min_ratio = 1e-4;  // the last penalty / lambda_max
  int max_sweeps = 300;     // per penalty
  double tolerance = 1e-5;  // largest coefficient change of a sweep, relative to the target's spread
  // The path stops early (later penalties keep the last solution) once the fit explains this
  // share of the target's variance, or a penalty step gains less than this share (glmnet's rule).
  double explained_stop = 0.99999;
  double gain_stop = 1e-6;
};

// A fitted linear model: y ~ intercept + sum_j coef_j (x_j - mean_j) / scale_j over the design's
// columns, standardized with LassoDesign::mean() and scale() (coef is 0 outside the subset). Kept
// standardized because raw monomials (macs^3) span too many orders of magnitude to fold in.
struct LassoSolution {
  double intercept = 0;
  Eigen::VectorXd coef;
};

// The design: rows x, targets y, positive weights w. The columns are standardized internally.
class LassoDesign {
 public:
  LassoDesign(Eigen::MatrixXd x, Eigen::VectorXd y, Eigen::VectorXd w);

  // Out-of-fold predictions along each subset's penalty path: result[s] is rows x path length,
  // the prediction for row i from the model fitted without the fold of row i (fold_of[i] in
  // [0, folds)). lambdas[s] receives the path (from all rows).
  std::vector<Eigen::MatrixXd> cross_validate(const std::vector<std::vector<int>>& subsets,
                                              const std::vector<int>& fold_of, int folds,
                                              const LassoPathOptions& options,
                                              std::vector<std::vector<double>>& lambdas) const;

  // The fit on all rows at path[index] (warm-started down the path).
  LassoSolution fit(const std::vector<int>& subset, const std::vector<double>& path, std::size_t index,
                    const LassoPathOptions& options) const;

  // The path for a subset on all rows.
  std::vector<double> path(const std::vector<int>& subset, const LassoPathOptions& options) const;

  const Eigen::VectorXd& mean() const { return mean_; }
  const Eigen::VectorXd& scale() const { return scale_; }
  Eigen::Index rows() const { return x_.rows(); }
  Eigen::Index cols() const { return x_.cols(); }

 private:
  struct Moments;
  Moments all_moments() const;
  Moments fold_moments(const std::vector<int>& fold_of, int fold) const;

  Eigen::MatrixXd x_;      // standardized over all rows
  Eigen::VectorXd mean_;   // of the original columns
  Eigen::VectorXd scale_;
  Eigen::VectorXd y_;
  Eigen::VectorXd w_;
};

}  // namespace coda::models
