// fit_polynomial: groups the trace records, builds each target's candidate designs and picks the
// space, degree and Lasso penalty with the lowest cross-validated relative error (RMSPE).
//
// Small groups: the folds are min(options.folds, n / 3), so every held-out fold has at least three
// records; with fewer than 6 records (fewer than two such folds) there is no cross-validation and
// the model is of degree 1 at lambda = 1e-2 lambda_max (in log space for latency); a single record
// or a constant target gives the intercept alone.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <tuple>
#include <unordered_map>

#include "kernels/error.h"
#include "models/lasso.h"
#include "models/polynomial_predictor.h"
#include "models/predictor_fit.h"

namespace coda::models {
namespace {

enum class Target { Latency, Power };

// Candidate terms of one space, each with the degree it enters the degree ladder at.
struct Design {
  std::string space;
  std::vector<Monomial> monomials;
  std::vector<int> degree;
};

Monomial times(Monomial m, int variable) {
  for (auto& factor : m)
    if (factor.first == variable) {
      ++factor.second;
      return m;
    }
  m.emplace_back(variable, 1);
  std::sort(m.begin(), m.end());
  return m;
}

// Linear space: monomials of the shape features, the special terms and the structure terms
// (variables [2 feature_count + 3, variable_count)), each also times inv_freq (compute-bound time
// scales as 1/f), and inv_freq alone.
Design latency_linear_design(int shape_count, int feature_count, int variable_count, int max_degree) {
  Design d{"linear", {}, {}};
  int inv_freq = 2 * feature_count;
  // Special terms first: a shape monomial equal to one (batch x in x out = macs for fc) is then
  // the one dropped as a duplicate, and the model reads "macs".
  std::vector<std::pair<Monomial, int>> base;
  for (int s = shape_count; s < feature_count; ++s) base.emplace_back(Monomial{{s, 1}}, 1);
  for (int s = 2 * feature_count + 3; s < variable_count; ++s) base.emplace_back(Monomial{{s, 1}}, 1);
  for (const Monomial& m : monomials_up_to(0, shape_count, max_degree)) base.emplace_back(m, monomial_degree(m));
  d.monomials.push_back(Monomial{{inv_freq, 1}});
  d.degree.push_back(1);
  for (const auto& [m, degree] : base) {
    d.monomials.push_back(m);
    d.degree.push_back(degree);
    d.monomials.push_back(times(m, inv_freq));
    d.degree.push_back(degree);
  }
  return d;
}

// Log space: monomials of log2(1 + feature) and log2(inv_freq).
Design latency_log_design(int feature_count, int max_degree) {
  Design d{"log", {}, {}};
  int log_inv_freq = 2 * feature_count + 1;
  std::vector<int> variables;
  for (int v = feature_count; v < 2 * feature_count; ++v) variables.push_back(v);
  variables.push_back(log_inv_freq);
  for (const Monomial& m : monomials_up_to(0, static_cast<int>(variables.size()), max_degree)) {
    Monomial mapped;
    for (const auto& [v, e] : m) mapped.emplace_back(variables[static_cast<std::size_t>(v)], e);
    d.monomials.push_back(mapped);
    d.degree.push_back(monomial_degree(m));
  }
  return d;
}

// Power: monomials of the features, their log2 and the clock terms (all variables).
Design power_design(int variable_count, int max_degree) {
  Design d{"linear", {}, {}};
  for (const Monomial& m : monomials_up_to(0, variable_count, max_degree)) {
    d.monomials.push_back(m);
    d.degree.push_back(monomial_degree(m));
  }
  return d;
}

// Power with the work rates (variables [first_rate, variable_count)): the power design plus each
// rate alone and times freq_ghz and freq_ghz^2 (energy per unit of work grows with the voltage the
// clock needs), entering at degree 1, 2 and 2.
Design power_rate_design(int feature_count, int first_rate, int variable_count, int max_degree) {
  Design d = power_design(2 * feature_count + 3, max_degree);
  d.space = "rates";
  int freq_ghz = 2 * feature_count + 2;
  for (int r = first_rate; r < variable_count; ++r) {
    d.monomials.push_back(Monomial{{r, 1}});
    d.degree.push_back(1);
    d.monomials.push_back(Monomial{{freq_ghz, 1}, {r, 1}});
    d.degree.push_back(2);
    d.monomials.push_back(Monomial{{freq_ghz, 2}, {r, 1}});
    d.degree.push_back(2);
  }
  return d;
}

// The columns worth keeping: not constant over the records and not a copy of an earlier column
// (kernel_w where kernels are square, groups^2 where groups is 1).
std::vector<int> distinct_columns(const Eigen::MatrixXd& x) {
  std::vector<int> keep;
  std::unordered_map<std::size_t, std::vector<int>> by_hash;
  const Eigen::Index n = x.rows();
  std::vector<Eigen::VectorXd> standardized(static_cast<std::size_t>(x.cols()));
  for (Eigen::Index j = 0; j < x.cols(); ++j) {
    if (!x.col(j).allFinite()) continue;
    double mean = x.col(j).mean();
    double sd = std::sqrt((x.col(j).array() - mean).square().sum() / static_cast<double>(n));
    if (!(sd > 1e-12 * std::max(1.0, std::abs(mean)))) continue;
    Eigen::VectorXd z = (x.col(j).array() - mean) / sd;
    std::size_t hash = 0;
    for (Eigen::Index i = 0; i < std::min<Eigen::Index>(n, 64); ++i)
      hash = hash * 1000003u ^ std::hash<long long>()(std::llround(z[i] * 1e6));
    bool duplicate = false;
    for (int other : by_hash[hash])
      if ((standardized[static_cast<std::size_t>(other)] - z).cwiseAbs().maxCoeff() < 1e-9) duplicate = true;
    if (duplicate) continue;
    standardized[static_cast<std::size_t>(j)] = z;
    by_hash[hash].push_back(static_cast<int>(j));
    keep.push_back(static_cast<int>(j));
  }
  return keep;
}

double rmspe(const Eigen::VectorXd& predicted, const Eigen::VectorXd& truth) {
  double sum = 0;
  int count = 0;
  for (Eigen::Index i = 0; i < truth.size(); ++i) {
    if (!(truth[i] > 0)) continue;
    double e = (predicted[i] - truth[i]) / truth[i];
    sum += e * e;
    ++count;
  }
  return count ? std::sqrt(sum / count) : 0.0;
}

// The simpler candidate (lower degree, larger penalty, log space) stays unless the other's
// cross-validated error is lower by more than 1% of it and by more than 1e-4 (0.01 percentage
// points), so that numerical noise does not pick a needlessly complex model.
bool clearly_better(double error, double incumbent) {
  if (!std::isfinite(incumbent)) return std::isfinite(error);
  return error < incumbent - std::max(0.01 * incumbent, 1e-4);
}

struct Fitter {
  const FitOptions& options;
  LassoPathOptions path_options;

  // rows: variable values (n x variables) of the records that have the target; y: the target.
  // Power: with `latency` (the records' measured latency and the out-of-fold predictions of the
  // group's latency model, row for row, from the same folds), the energy P x T is a candidate
  // too, judged by the power it predicts over the predicted latency. Latency: `cv_out` receives
  // the chosen model's out-of-fold predictions (empty without cross-validation).
  struct LatencyRows {
    const Eigen::VectorXd& measured;
    const Eigen::VectorXd& cross_validated;
  };
  // rate_begin: the first Rate column of `variables`.
  TargetModel fit(const Eigen::MatrixXd& variables, const Eigen::VectorXd& y, Target target, int feature_count,
                  int shape_count, int rate_begin, const LatencyRows* latency = nullptr,
                  Eigen::VectorXd* cv_out = nullptr) const {
    TargetModel model;
    model.target = target == Target::Latency ? "latency" : "power";
    if (cv_out) cv_out->resize(0);
    const Eigen::Index n = y.size();
    model.records = static_cast<int>(n);
    if (n == 0) return model;
    double low = y.minCoeff(), high = y.maxCoeff();
    model.floor = low > 0 ? 0.5 * low : 0.0;
    if (target == Target::Power) model.ceiling = 2 * high;
    if (n == 1 || high - low <= 1e-12 * std::abs(high)) {
      model.intercept = y.mean();
      return model;
    }
    int max_degree = target == Target::Latency ? options.max_latency_degree : options.max_power_degree;
    int folds = std::min<int>(options.folds, static_cast<int>(n / 3));
    bool cross_validated = folds >= 2;
    if (!cross_validated) max_degree = 1;
    max_degree = std::max(1, max_degree);

    std::vector<Design> designs;
    int structure_end = rate_begin;
    if (target == Target::Latency) {
      designs.push_back(latency_log_design(feature_count, max_degree));
      if (cross_validated)
        designs.push_back(latency_linear_design(shape_count, feature_count, structure_end, max_degree));
    } else {
      // Power: the features, their log2 and the clock terms, not the structure terms.
      designs.push_back(power_design(2 * feature_count + 3, max_degree));
      if (cross_validated && latency) {
        Design energy = latency_linear_design(shape_count, feature_count, structure_end, max_degree);
        energy.space = "energy";
        designs.push_back(std::move(energy));
        // The rate columns hold the work over the out-of-fold predicted latency.
        if (rate_begin < variables.cols())
          designs.push_back(power_rate_design(feature_count, rate_begin, static_cast<int>(variables.cols()), max_degree));
      }
    }

    std::vector<int> fold_of(static_cast<std::size_t>(n));
    if (cross_validated) {
      std::vector<int> order(static_cast<std::size_t>(n));
      std::iota(order.begin(), order.end(), 0);
      std::mt19937_64 rng(options.seed);
      std::shuffle(order.begin(), order.end(), rng);
      for (std::size_t i = 0; i < order.size(); ++i) fold_of[static_cast<std::size_t>(order[i])] = static_cast<int>(i) % folds;
    }

    double best_error = std::numeric_limits<double>::infinity();
    for (const Design& design : designs) {
      bool log_space = design.space == "log";
      bool energy = design.space == "energy";
      // Relative error either way: log of the target, or weights 1/y^2 on the target.
      Eigen::VectorXd target_values = log_space ? Eigen::VectorXd(y.array().log2())
                                      : energy  ? Eigen::VectorXd(y.cwiseProduct(latency->measured))
                                                : y;
      Eigen::VectorXd weights(n);
      double weight_floor = 1e-3 * target_values.cwiseAbs().maxCoeff();
      for (Eigen::Index i = 0; i < n; ++i)
        weights[i] = log_space ? 1.0 : 1.0 / std::pow(std::max(target_values[i], weight_floor), 2);

      Eigen::MatrixXd x(n, static_cast<Eigen::Index>(design.monomials.size()));
      CompiledTerms terms(design.monomials);
      for (Eigen::Index i = 0; i < n; ++i) {
        Eigen::VectorXd row = variables.row(i).transpose();
        for (std::size_t t = 0; t < terms.size(); ++t) x(i, static_cast<Eigen::Index>(t)) = terms.term(t, row.data());
      }
      std::vector<int> keep = distinct_columns(x);
      if (keep.empty()) continue;
      LassoDesign lasso(x(Eigen::all, keep), target_values, weights);

      std::vector<std::vector<int>> subsets;
      std::vector<int> subset_degree;
      for (int degree = 1; degree <= max_degree; ++degree) {
        std::vector<int> subset;
        for (std::size_t k = 0; k < keep.size(); ++k)
          if (design.degree[static_cast<std::size_t>(keep[k])] <= degree) subset.push_back(static_cast<int>(k));
        if (subset.empty() || (!subsets.empty() && subset.size() == subsets.back().size())) continue;
        subsets.push_back(subset);
        subset_degree.push_back(degree);
      }
      if (subsets.empty()) continue;

      // The target's prediction from the model's value for row i.
      auto back = [&](double v, Eigen::Index i) {
        double p = log_space ? std::exp2(v) : v;
        if (energy) {
          double t = latency->cross_validated[i];
          p = t > 0 ? p / t : 0.0;
        }
        if (model.ceiling > 0) p = std::min(p, model.ceiling);
        return std::max(p, model.floor);
      };
      std::size_t chosen_subset = 0, chosen_lambda = 0;
      std::vector<std::vector<double>> lambdas;
      double design_error = std::numeric_limits<double>::infinity();
      Eigen::VectorXd design_cv;
      if (cross_validated) {
        std::vector<Eigen::MatrixXd> predictions = lasso.cross_validate(subsets, fold_of, folds, path_options, lambdas);
        Eigen::VectorXd p(n);
        for (std::size_t s = 0; s < subsets.size(); ++s)
          for (Eigen::Index t = 0; t < predictions[s].cols(); ++t) {
            for (Eigen::Index i = 0; i < n; ++i) p[i] = back(predictions[s](i, t), i);
            double error = rmspe(p, y);
            if (clearly_better(error, design_error)) {
              design_error = error;
              chosen_subset = s;
              chosen_lambda = static_cast<std::size_t>(t);
              design_cv = p;
            }
          }
      } else {
        lambdas.push_back(lasso.path(subsets[0], path_options));
        chosen_lambda = lambdas[0].size() / 2;  // lambda_max * sqrt(min_ratio) = 1e-2 lambda_max
        design_error = 0;
      }
      if (!clearly_better(design_error, best_error)) continue;
      best_error = design_error;
      if (cv_out) *cv_out = design_cv;
      LassoSolution solution = lasso.fit(subsets[chosen_subset], lambdas[chosen_subset], chosen_lambda, path_options);
      model.space = design.space == "log" ? "log" : "linear";
      model.target = target == Target::Latency ? "latency" : energy ? "energy" : "power";
      model.degree = subset_degree[chosen_subset];
      model.lambda = lambdas[chosen_subset][chosen_lambda];
      model.cv_rmspe = cross_validated ? design_error : 0.0;
      model.folds = cross_validated ? folds : 0;
      model.intercept = solution.intercept;
      model.monomials.clear();
      model.coef.clear();
      model.mean.clear();
      model.scale.clear();
      for (std::size_t k = 0; k < keep.size(); ++k) {
        auto kk = static_cast<Eigen::Index>(k);
        if (solution.coef[kk] == 0) continue;
        model.monomials.push_back(design.monomials[static_cast<std::size_t>(keep[k])]);
        model.coef.push_back(solution.coef[kk]);
        model.mean.push_back(lasso.mean()[kk]);
        model.scale.push_back(lasso.scale()[kk]);
      }
    }
    return model;
  }
};

std::vector<std::string> rails_of(const std::vector<sim::OpRecord>& records) {
  std::set<std::string> names;
  for (const auto& r : records)
    for (const auto& [rail, watts] : r.avg_power_w) names.insert(rail);
  std::vector<std::string> rails;
  if (names.count("VDD_IN")) rails.push_back("VDD_IN");
  for (const auto& name : names)
    if (name != "VDD_IN") rails.push_back(name);
  return rails;
}

}  // namespace

std::unique_ptr<LayerPredictor> fit_polynomial(const std::vector<sim::OpRecord>& records, const FitOptions& options) {
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const sim::OpRecord*>> grouped;
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<LayerQuery>> queries;
  for (const auto& record : records) {
    LayerQuery query = query_of(record);
    if (query.op_class == "view") continue;
    auto key = std::make_tuple(query.op_class, query.unit, query.knob);
    grouped[key].push_back(&record);
    queries[key].push_back(std::move(query));
  }
  if (grouped.empty()) throw BadInput("no trace record to fit (views only, or none)");
  std::vector<std::string> rails = rails_of(records);

  Fitter fitter{options, {}};
  std::vector<GroupModel> groups;
  int done = 0;
  for (const auto& [key, members] : grouped) {
    GroupModel group;
    std::tie(group.op_class, group.unit, group.knob) = key;
    group.records = static_cast<int>(members.size());
    group.variables = class_variables(group.op_class);
    group.feature_count = feature_count(group.op_class);
    group.compile();
    int shape_count = static_cast<int>(shape_features(group.op_class).size());
    int rate_begin = static_cast<int>(group.rate_first);
    const auto& group_queries = queries[key];
    Eigen::MatrixXd all(static_cast<Eigen::Index>(members.size()), static_cast<Eigen::Index>(group.variables.size()));
    for (std::size_t i = 0; i < members.size(); ++i) {
      Eigen::VectorXd row(all.cols());
      group.read_variables(group_queries[i], row.data());
      all.row(static_cast<Eigen::Index>(i)) = row.transpose();
    }
    // Latency: records that took time (a zero-latency record is not a layer measurement).
    std::vector<Eigen::Index> timed;
    for (std::size_t i = 0; i < members.size(); ++i)
      if (members[i]->latency_s > 0) timed.push_back(static_cast<Eigen::Index>(i));
    Eigen::VectorXd latency(static_cast<Eigen::Index>(timed.size()));
    for (std::size_t i = 0; i < timed.size(); ++i) latency[static_cast<Eigen::Index>(i)] = members[static_cast<std::size_t>(timed[i])]->latency_s;
    Eigen::VectorXd latency_cv;
    group.latency =
        fitter.fit(all(timed, Eigen::all), latency, Target::Latency, group.feature_count, shape_count, rate_begin,
                   nullptr, &latency_cv);
    // The rates power models read: the work over the latency the group's model predicts for the
    // record out of fold, as it will be predicted for a new op.
    if (latency_cv.size() == latency.size())
      for (std::size_t i = 0; i < timed.size(); ++i) {
        Eigen::VectorXd values = all.row(timed[i]).transpose();
        read_rates(group.variables, static_cast<std::size_t>(rate_begin), latency_cv[static_cast<Eigen::Index>(i)], values.data());
        all.row(timed[i]) = values.transpose();
      }
    for (const auto& rail : rails) {
      std::vector<Eigen::Index> rows;
      std::vector<double> values;
      for (std::size_t i = 0; i < members.size(); ++i) {
        auto it = members[i]->avg_power_w.find(rail);
        if (it == members[i]->avg_power_w.end()) continue;
        rows.push_back(static_cast<Eigen::Index>(i));
        values.push_back(it->second);
      }
      Eigen::VectorXd y = Eigen::Map<Eigen::VectorXd>(values.data(), static_cast<Eigen::Index>(values.size()));
      // The energy candidate needs the latency's out-of-fold predictions for the same rows in
      // the same folds: the rail's records must be the timed ones.
      Fitter::LatencyRows latency_rows{latency, latency_cv};
      bool same_rows = rows == timed && latency_cv.size() == latency.size();
      group.power.push_back(fitter.fit(all(rows, Eigen::all), y, Target::Power, group.feature_count, shape_count,
                                       rate_begin, same_rows ? &latency_rows : nullptr));
    }
    groups.push_back(std::move(group));
    if (options.progress) options.progress(++done, static_cast<int>(grouped.size()));
  }
  return std::make_unique<PolynomialPredictor>(std::move(rails), std::move(groups));
}

}  // namespace coda::models
