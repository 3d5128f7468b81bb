// The NeuralPower-style predictor (Cai et al., ACML 2017; REFERENCE.md section 6): per (op class,
// unit, knob) group, one sparse polynomial per target -- the latency and the average power of
// each rail -- fitted by Lasso with the penalty and the degree chosen by k-fold cross-validation
// (fit_polynomial in predictor_fit.h). Latency models live in one of two spaces, whichever
// cross-validates better: "linear" (monomials of the shape features, the same times inv_freq, and
// the special terms, fitted with weights 1/y^2 so the squared error is the relative one) or "log"
// (log2 latency as a polynomial of log2(1 + feature) and log2(inv_freq): power laws and their
// bends). An op's power is a static share set by the clock plus its dynamic energy per unit of
// work times the rate of that work, and the work (busy tile-cycles, bytes) follows the same tiling
// steps as the latency. Power models are whichever of three cross-validates best: target "power"
// as a polynomial of the features, their log2 and the clock terms; the same plus the rates (the
// work terms over the group's predicted latency, alone and times freq_ghz and freq_ghz^2); or
// target "energy", P x T in the latency's linear space, divided by the predicted latency.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/layer_predictor.h"
#include "models/polynomial_basis.h"

namespace coda::models {

// One target's fitted polynomial, over its group's class_variables().
struct TargetModel {
  std::string space = "linear";  // "linear" or "log" (the model predicts log2 of the target)
  std::string target = "latency";  // "latency"; for power models "power" or "energy" (P x T)
  int degree = 0;                // 0: the intercept alone
  double lambda = 0;
  double cv_rmspe = 0;           // cross-validated relative error of the chosen model (0: no CV)
  int folds = 0;
  int records = 0;
  double intercept = 0;
  double floor = 0;              // predictions below it are raised to it (positive latency)
  // Power only (0: none): predictions above it are lowered to it. A board's power is bounded, and
  // a degree-2 polynomial far outside its training range is not; twice the largest power seen
  // in training keeps extrapolation to new networks physical.
  double ceiling = 0;
  std::vector<Monomial> monomials;  // the non-zero terms
  std::vector<double> coef;         // per term, on the standardized term
  std::vector<double> mean;         // the term's standardization
  std::vector<double> scale;

  // Precompiled at construction/load: the flat term arrays, coef / scale and the flags above.
  CompiledTerms compiled;
  std::vector<double> slope;
  bool log_space = false;
  bool energy = false;
  double offset = 0;  // intercept - sum slope x mean
  void compile();
  // latency_s: the op's predicted latency, which an energy model's prediction is divided by.
  double predict(const double* variables, double latency_s = 0) const;
  // The same from the values of `shared` terms (GroupModel::power_terms), this model's term t
  // being shared[shared_index[t]].
  std::vector<int> shared_index;
  double predict_shared(const double* shared, double latency_s) const;

 private:
  double finish(double value, double latency_s) const;
};

struct GroupModel {
  std::string op_class, unit, knob;
  int records = 0;
  std::vector<Variable> variables;  // class_variables(op_class); read_variables leaves the rates 0
  int feature_count = 0;            // raw features first, then their log2, then clock terms
  void read_variables(const LayerQuery& query, double* out) const;
  // The features read, sorted by name, each with its slot (-1..-4: gemm_groups, gemm_m, gemm_k,
  // gemm_n for the structure terms), so read_variables walks the query's sorted map once.
  std::vector<std::pair<std::string, int>> reads;
  std::size_t rate_first = 0;  // first_rate(variables): the rates, filled once the latency is known
  void compile();
  TargetModel latency;
  std::vector<TargetModel> power;   // per rail, in the predictor's rails order
  // The distinct monomials of all power models, evaluated once per prediction: the rails'
  // models share most of their terms.
  CompiledTerms power_terms;
};

class PolynomialPredictor : public LayerPredictor {
 public:
  PolynomialPredictor(std::vector<std::string> rails, std::vector<GroupModel> groups);

  std::string kind() const override { return "polynomial"; }
  bool covers(const LayerQuery& query) const override;
  LayerEstimate predict(const LayerQuery& query) const override;
  std::vector<std::string> rails() const override { return rails_; }
  const std::vector<GroupModel>& groups() const { return groups_; }

  nlohmann::json to_json() const;
  // Throws BadInput (without the file name; the caller adds it) for a malformed document.
  static std::unique_ptr<PolynomialPredictor> from_json(const nlohmann::json& document);

 private:
  const GroupModel* find(const LayerQuery& query) const;

  std::vector<std::string> rails_;
  std::vector<GroupModel> groups_;
  std::map<std::tuple<std::string, std::string, std::string>, std::size_t, std::less<>> index_;
};

}  // namespace coda::models
