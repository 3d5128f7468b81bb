#include "models/lasso.h"

#include <algorithm>
#include <cmath>

namespace coda::models {

// Weighted sums over a set of rows: what the standardized Gram matrix and correlations of any
// column subset are computed from.
struct LassoDesign::Moments {
  double weight = 0;       // sum w
  double target = 0;       // sum w y
  double target_sq = 0;    // sum w y^2
  Eigen::VectorXd column;  // sum w x
  Eigen::VectorXd cross;   // sum w x y
  Eigen::MatrixXd gram;    // sum w x x^T

  Moments& operator-=(const Moments& other) {
    weight -= other.weight;
    target -= other.target;
    target_sq -= other.target_sq;
    column -= other.column;
    cross -= other.cross;
    gram -= other.gram;
    return *this;
  }
};

namespace {

// A subset's standardized problem on some rows: (1/2) b^T G b - c^T b + lambda |b|_1.
struct Standardized {
  Eigen::MatrixXd gram;
  Eigen::VectorXd corr;
  Eigen::VectorXd mean;   // of the design columns on these rows
  Eigen::VectorXd sd;     // 0 for a column constant on these rows (left out)
  double target_mean = 0;
  double target_sd = 0;
};

template <typename M>
Standardized standardize(const M& moments, const std::vector<int>& subset) {
  Standardized s;
  const auto n = static_cast<Eigen::Index>(subset.size());
  double W = moments.weight;
  s.target_mean = moments.target / W;
  s.target_sd = std::sqrt(std::max(0.0, moments.target_sq / W - s.target_mean * s.target_mean));
  s.mean.resize(n);
  s.sd.resize(n);
  for (Eigen::Index j = 0; j < n; ++j) {
    auto c = subset[static_cast<std::size_t>(j)];
    s.mean[j] = moments.column[c] / W;
    double var = moments.gram(c, c) / W - s.mean[j] * s.mean[j];
    // The design is standardized over all rows, so a spread this small means constant here.
    s.sd[j] = var > 1e-12 ? std::sqrt(var) : 0.0;
  }
  s.gram.resize(n, n);
  s.corr.resize(n);
  for (Eigen::Index j = 0; j < n; ++j) {
    auto cj = subset[static_cast<std::size_t>(j)];
    s.corr[j] = s.sd[j] > 0 ? (moments.cross[cj] / W - s.mean[j] * s.target_mean) / s.sd[j] : 0.0;
    for (Eigen::Index k = 0; k <= j; ++k) {
      auto ck = subset[static_cast<std::size_t>(k)];
      double v = s.sd[j] > 0 && s.sd[k] > 0
                     ? (moments.gram(cj, ck) / W - s.mean[j] * s.mean[k]) / (s.sd[j] * s.sd[k])
                     : 0.0;
      s.gram(j, k) = v;
      s.gram(k, j) = v;
    }
  }
  return s;
}

std::vector<double> penalty_path(const Standardized& s, const LassoPathOptions& options) {
  double lambda_max = s.corr.size() > 0 ? s.corr.cwiseAbs().maxCoeff() : 0.0;
  std::vector<double> path;
  int length = std::max(1, options.length);
  for (int t = 0; t < length; ++t) {
    double ratio = length == 1 ? options.min_ratio : std::pow(options.min_ratio, static_cast<double>(t) / (length - 1));
    path.push_back(lambda_max * ratio);
  }
  return path;
}

// Coordinate descent at one penalty from the warm start `beta` (standardized units); `grad`
// holds c - G beta and is kept up to date.
void descend(const Standardized& s, double lambda, const LassoPathOptions& options, Eigen::VectorXd& beta,
             Eigen::VectorXd& grad) {
  const Eigen::Index p = beta.size();
  double tolerance = options.tolerance * std::max(s.target_sd, 1e-300);
  auto update = [&](Eigen::Index j) {
    if (s.sd[j] <= 0) return 0.0;
    double z = beta[j] + grad[j];
    double next = z > lambda ? z - lambda : (z < -lambda ? z + lambda : 0.0);
    double delta = next - beta[j];
    if (delta != 0) {
      beta[j] = next;
      grad.noalias() -= delta * s.gram.col(j);
    }
    return std::abs(delta);
  };
  for (int sweep = 0; sweep < options.max_sweeps; ++sweep) {
    // A full sweep, then sweeps over the active set until it settles (glmnet's strategy).
    double change = 0;
    for (Eigen::Index j = 0; j < p; ++j) change = std::max(change, update(j));
    if (change < tolerance) return;
    std::vector<Eigen::Index> active;
    for (Eigen::Index j = 0; j < p; ++j)
      if (beta[j] != 0) active.push_back(j);
    for (; sweep < options.max_sweeps; ++sweep) {
      double active_change = 0;
      for (Eigen::Index j : active) active_change = std::max(active_change, update(j));
      if (active_change < tolerance) break;
    }
  }
}

// Share of the target's variance the standardized solution explains: 1 - RSS / TSS, with
// RSS / W = var_y - 2 b^T c + b^T G b and grad = c - G b.
double explained(const Standardized& s, const Eigen::VectorXd& beta, const Eigen::VectorXd& grad) {
  double variance = s.target_sd * s.target_sd;
  if (variance <= 0) return 1;
  double residual = variance - beta.dot(s.corr) - beta.dot(grad);
  return 1 - residual / variance;
}

// Walks the path, calling visit(t, beta) at each penalty; after the early stop, the remaining
// penalties see the last solution.
template <typename Visit>
void walk_path(const Standardized& s, const std::vector<double>& path, std::size_t last, const LassoPathOptions& options,
               Eigen::VectorXd& beta, Visit visit) {
  Eigen::VectorXd grad = s.corr;
  double previous = 0;
  bool stopped = false;
  for (std::size_t t = 0; t <= last && t < path.size(); ++t) {
    if (!stopped) {
      descend(s, path[t], options, beta, grad);
      double now = explained(s, beta, grad);
      if (t > 0 && (now > options.explained_stop || now - previous < options.gain_stop * std::max(now, 1e-12))) stopped = true;
      previous = now;
    }
    visit(t, beta);
  }
}

// Back from standardized coefficients to the design's columns.
LassoSolution unstandardize(const Standardized& s, const std::vector<int>& subset, const Eigen::VectorXd& beta,
                            Eigen::Index columns) {
  LassoSolution solution;
  solution.coef = Eigen::VectorXd::Zero(columns);
  solution.intercept = s.target_mean;
  for (std::size_t j = 0; j < subset.size(); ++j) {
    auto jj = static_cast<Eigen::Index>(j);
    if (s.sd[jj] <= 0 || beta[jj] == 0) continue;
    double a = beta[jj] / s.sd[jj];
    solution.coef[subset[j]] = a;
    solution.intercept -= a * s.mean[jj];
  }
  return solution;
}

}  // namespace

LassoDesign::LassoDesign(Eigen::MatrixXd x, Eigen::VectorXd y, Eigen::VectorXd w)
    : x_(std::move(x)), y_(std::move(y)), w_(std::move(w)) {
  double W = w_.sum();
  mean_ = (x_.transpose() * w_) / W;
  scale_.resize(x_.cols());
  for (Eigen::Index j = 0; j < x_.cols(); ++j) {
    double var = (w_.array() * (x_.col(j).array() - mean_[j]).square()).sum() / W;
    scale_[j] = var > 0 ? std::sqrt(var) : 1.0;
    x_.col(j) = (x_.col(j).array() - mean_[j]) / scale_[j];
  }
}

LassoDesign::Moments LassoDesign::all_moments() const {
  Moments m;
  m.weight = w_.sum();
  m.target = w_.dot(y_);
  m.target_sq = (w_.array() * y_.array().square()).sum();
  m.column = x_.transpose() * w_;
  Eigen::VectorXd wy = w_.cwiseProduct(y_);
  m.cross = x_.transpose() * wy;
  Eigen::MatrixXd weighted = x_.array().colwise() * w_.array().sqrt();
  m.gram = weighted.transpose() * weighted;
  return m;
}

LassoDesign::Moments LassoDesign::fold_moments(const std::vector<int>& fold_of, int fold) const {
  std::vector<Eigen::Index> rows;
  for (std::size_t i = 0; i < fold_of.size(); ++i)
    if (fold_of[i] == fold) rows.push_back(static_cast<Eigen::Index>(i));
  Eigen::MatrixXd x = x_(rows, Eigen::all);
  Eigen::VectorXd w = w_(rows);
  Eigen::VectorXd y = y_(rows);
  Moments m;
  m.weight = w.sum();
  m.target = w.dot(y);
  m.target_sq = (w.array() * y.array().square()).sum();
  m.column = x.transpose() * w;
  m.cross = x.transpose() * w.cwiseProduct(y);
  Eigen::MatrixXd weighted = x.array().colwise() * w.array().sqrt();
  m.gram = weighted.transpose() * weighted;
  return m;
}

std::vector<double> LassoDesign::path(const std::vector<int>& subset, const LassoPathOptions& options) const {
  return penalty_path(standardize(all_moments(), subset), options);
}

std::vector<Eigen::MatrixXd> LassoDesign::cross_validate(const std::vector<std::vector<int>>& subsets,
                                                         const std::vector<int>& fold_of, int folds,
                                                         const LassoPathOptions& options,
                                                         std::vector<std::vector<double>>& lambdas) const {
  Moments all = all_moments();
  lambdas.clear();
  std::vector<Eigen::MatrixXd> predictions;
  for (const auto& subset : subsets) {
    lambdas.push_back(penalty_path(standardize(all, subset), options));
    predictions.emplace_back(Eigen::MatrixXd::Zero(x_.rows(), static_cast<Eigen::Index>(lambdas.back().size())));
  }
  for (int fold = 0; fold < folds; ++fold) {
    Moments train = all;
    train -= fold_moments(fold_of, fold);
    std::vector<Eigen::Index> held_out;
    for (std::size_t i = 0; i < fold_of.size(); ++i)
      if (fold_of[i] == fold) held_out.push_back(static_cast<Eigen::Index>(i));
    if (held_out.empty() || train.weight <= 0) continue;
    for (std::size_t s = 0; s < subsets.size(); ++s) {
      Standardized problem = standardize(train, subsets[s]);
      auto p = static_cast<Eigen::Index>(subsets[s].size());
      Eigen::VectorXd beta = Eigen::VectorXd::Zero(p);
      Eigen::MatrixXd x_held = x_(held_out, subsets[s]);
      walk_path(problem, lambdas[s], lambdas[s].size(), options, beta, [&](std::size_t t, const Eigen::VectorXd& solution) {
        // Coefficients in subset order (the subset's own columns 0..p-1).
        Eigen::VectorXd a = Eigen::VectorXd::Zero(p);
        double intercept = problem.target_mean;
        for (Eigen::Index j = 0; j < p; ++j) {
          if (problem.sd[j] <= 0 || solution[j] == 0) continue;
          a[j] = solution[j] / problem.sd[j];
          intercept -= a[j] * problem.mean[j];
        }
        Eigen::VectorXd fitted = (x_held * a).array() + intercept;
        for (std::size_t r = 0; r < held_out.size(); ++r)
          predictions[s](held_out[r], static_cast<Eigen::Index>(t)) = fitted[static_cast<Eigen::Index>(r)];
      });
    }
  }
  return predictions;
}

LassoSolution LassoDesign::fit(const std::vector<int>& subset, const std::vector<double>& path, std::size_t index,
                               const LassoPathOptions& options) const {
  Standardized problem = standardize(all_moments(), subset);
  auto p = static_cast<Eigen::Index>(subset.size());
  Eigen::VectorXd beta = Eigen::VectorXd::Zero(p);
  walk_path(problem, path, index, options, beta, [](std::size_t, const Eigen::VectorXd&) {});
  return unstandardize(problem, subset, beta, x_.cols());
}

}  // namespace coda::models
