#include "models/polynomial_predictor.h"

#include <algorithm>
#include <cmath>

#include "kernels/error.h"

namespace coda::models {

void TargetModel::compile() {
  compiled = CompiledTerms(monomials);
  slope.resize(coef.size());
  for (std::size_t t = 0; t < coef.size(); ++t) slope[t] = coef[t] / scale[t];
  log_space = space == "log";
  energy = target == "energy";
  offset = intercept;
  for (std::size_t t = 0; t < slope.size(); ++t) offset -= slope[t] * mean[t];
}

double TargetModel::predict(const double* variables, double latency_s) const {
  double value = offset;
  for (std::size_t t = 0; t < slope.size(); ++t) value += slope[t] * compiled.term(t, variables);
  return finish(value, latency_s);
}

double TargetModel::predict_shared(const double* shared, double latency_s) const {
  double value = offset;
  for (std::size_t t = 0; t < slope.size(); ++t) value += slope[t] * shared[shared_index[t]];
  return finish(value, latency_s);
}

double TargetModel::finish(double value, double latency_s) const {
  if (log_space) value = std::exp2(value);
  if (energy) value = latency_s > 0 ? value / latency_s : 0.0;
  if (ceiling > 0 && value > ceiling) value = ceiling;
  return value < floor ? floor : value;
}

void GroupModel::compile() {
  rate_first = first_rate(variables);
  reads.clear();
  for (int i = 0; i < feature_count; ++i) reads.emplace_back(variables[static_cast<std::size_t>(i)].feature, i);
  if (rate_first > static_cast<std::size_t>(2 * feature_count + 3)) {
    reads.emplace_back("gemm_groups", -1);
    reads.emplace_back("gemm_m", -2);
    reads.emplace_back("gemm_k", -3);
    reads.emplace_back("gemm_n", -4);
  }
  std::sort(reads.begin(), reads.end());
  std::map<Monomial, int> distinct;
  std::vector<Monomial> terms;
  for (TargetModel& model : power) {
    model.shared_index.clear();
    for (const Monomial& m : model.monomials) {
      auto it = distinct.find(m);
      if (it == distinct.end()) {
        it = distinct.emplace(m, static_cast<int>(terms.size())).first;
        terms.push_back(m);
      }
      model.shared_index.push_back(it->second);
    }
  }
  power_terms = CompiledTerms(terms);
}

void GroupModel::read_variables(const LayerQuery& query, double* out) const {
  // The class_variables layout: raw features, their log2, then the clock terms, then the
  // structure terms. Both the query's features and `reads` are sorted by name: one merge walk.
  auto features = static_cast<std::size_t>(feature_count);
  for (std::size_t i = 0; i < features; ++i) out[i] = 0;
  double gemm[4] = {0, 0, 0, 0};
  auto it = query.features.begin();
  for (const auto& [name, slot] : reads) {
    while (it != query.features.end() && it->first < name) ++it;
    if (it == query.features.end()) break;
    if (it->first != name) continue;
    if (slot >= 0) out[slot] = it->second;
    else gemm[-slot - 1] = it->second;
  }
  for (std::size_t i = 0; i < features; ++i) out[features + i] = std::log2(1.0 + (out[i] > 0 ? out[i] : 0.0));
  for (std::size_t i = 2 * features; i < 2 * features + 3; ++i) out[i] = variables[i].read(query);
  read_structure_terms(variables, 2 * features + 3, gemm[0], gemm[1], gemm[2], gemm[3], out);
  for (std::size_t i = rate_first; i < variables.size(); ++i) out[i] = 0;
}

PolynomialPredictor::PolynomialPredictor(std::vector<std::string> rails, std::vector<GroupModel> groups)
    : rails_(std::move(rails)), groups_(std::move(groups)) {
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    GroupModel& group = groups_[g];
    group.variables = class_variables(group.op_class);
    group.feature_count = feature_count(group.op_class);
    group.compile();
    group.latency.compile();
    for (auto& power : group.power) power.compile();
    index_[{group.op_class, group.unit, group.knob}] = g;
  }
}

const GroupModel* PolynomialPredictor::find(const LayerQuery& query) const {
  auto it = index_.find(std::tie(query.op_class, query.unit, query.knob));
  return it == index_.end() ? nullptr : &groups_[it->second];
}

bool PolynomialPredictor::covers(const LayerQuery& query) const {
  return query.op_class == "view" || find(query) != nullptr;
}

LayerEstimate PolynomialPredictor::predict(const LayerQuery& query) const {
  LayerEstimate estimate;
  if (query.op_class == "view") {
    for (const auto& rail : rails_) estimate.power_w[rail] = 0;
    return estimate;
  }
  const GroupModel* group = find(query);
  if (!group)
    throw BadInput("no polynomial model for (" + query.op_class + ", " + query.unit + ", " + query.knob + ")");
  // class_variables has at most 2 x 20 features + 3 clock terms + 29 structure terms + 34 rates.
  double variables[128];
  if (group->variables.size() > 128) throw std::logic_error("polynomial predictor: too many variables");
  group->read_variables(query, variables);
  estimate.latency_s = group->latency.predict(variables);
  read_rates(group->variables, group->rate_first, estimate.latency_s, variables);
  std::vector<double> shared(group->power_terms.size());
  group->power_terms.evaluate(variables, shared.data());
  for (std::size_t r = 0; r < rails_.size() && r < group->power.size(); ++r)
    estimate.power_w.emplace_hint(estimate.power_w.end(), rails_[r],
                                  group->power[r].predict_shared(shared.data(), estimate.latency_s));
  return estimate;
}

namespace {

nlohmann::json target_json(const TargetModel& model, const std::vector<Variable>& variables) {
  nlohmann::json terms = nlohmann::json::array();
  for (std::size_t t = 0; t < model.monomials.size(); ++t) {
    nlohmann::json monomial = nlohmann::json::object();
    for (const auto& [variable, exponent] : model.monomials[t])
      monomial[variables[static_cast<std::size_t>(variable)].label()] = exponent;
    terms.push_back({{"monomial", monomial}, {"coef", model.coef[t]}, {"mean", model.mean[t]}, {"scale", model.scale[t]}});
  }
  return {{"space", model.space},     {"target", model.target}, {"degree", model.degree}, {"lambda", model.lambda},
          {"cv_rmspe", model.cv_rmspe}, {"folds", model.folds},   {"records", model.records},
          {"intercept", model.intercept}, {"floor", model.floor}, {"ceiling", model.ceiling}, {"terms", terms}};
}

const nlohmann::json& member(const nlohmann::json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) throw BadInput(where + ": missing \"" + key + "\"");
  return object.at(key);
}

double number(const nlohmann::json& object, const char* key, const std::string& where) {
  const nlohmann::json& value = member(object, key, where);
  if (!value.is_number() || !std::isfinite(value.get<double>()))
    throw BadInput(where + ": \"" + key + "\" is not a finite number");
  return value.get<double>();
}

int integer(const nlohmann::json& object, const char* key, const std::string& where) {
  const nlohmann::json& value = member(object, key, where);
  if (!value.is_number_integer()) throw BadInput(where + ": \"" + key + "\" is not an integer");
  return value.get<int>();
}

std::string text(const nlohmann::json& object, const char* key, const std::string& where) {
  const nlohmann::json& value = member(object, key, where);
  if (!value.is_string()) throw BadInput(where + ": \"" + key + "\" is not a string");
  return value.get<std::string>();
}

// allowed: the targets the model may predict ("latency"; "power" or "energy").
TargetModel target_from_json(const nlohmann::json& json, const std::map<std::string, int>& index,
                             const std::vector<std::string>& allowed, const std::string& where) {
  TargetModel model;
  model.space = text(json, "space", where);
  if (model.space != "linear" && model.space != "log") throw BadInput(where + ": unknown space '" + model.space + "'");
  model.target = text(json, "target", where);
  if (std::find(allowed.begin(), allowed.end(), model.target) == allowed.end())
    throw BadInput(where + ": unexpected target '" + model.target + "'");
  model.degree = integer(json, "degree", where);
  model.lambda = number(json, "lambda", where);
  model.cv_rmspe = number(json, "cv_rmspe", where);
  model.folds = integer(json, "folds", where);
  model.records = integer(json, "records", where);
  model.intercept = number(json, "intercept", where);
  model.floor = number(json, "floor", where);
  model.ceiling = number(json, "ceiling", where);
  const nlohmann::json& terms = member(json, "terms", where);
  if (!terms.is_array()) throw BadInput(where + ": \"terms\" is not an array");
  for (const auto& term : terms) {
    const nlohmann::json& monomial_json = member(term, "monomial", where);
    if (!monomial_json.is_object() || monomial_json.empty()) throw BadInput(where + ": a monomial is not a non-empty object");
    Monomial monomial;
    for (const auto& [label, exponent] : monomial_json.items()) {
      auto it = index.find(label);
      if (it == index.end()) throw BadInput(where + ": unknown variable '" + label + "'");
      if (!exponent.is_number_integer() || exponent.get<int>() < 1 || exponent.get<int>() > 8)
        throw BadInput(where + ": exponent of '" + label + "' is not an integer in 1..8");
      monomial.emplace_back(it->second, exponent.get<int>());
    }
    std::sort(monomial.begin(), monomial.end());
    model.monomials.push_back(monomial);
    model.coef.push_back(number(term, "coef", where));
    model.mean.push_back(number(term, "mean", where));
    double scale = number(term, "scale", where);
    if (scale <= 0) throw BadInput(where + ": a term's scale is not positive");
    model.scale.push_back(scale);
  }
  return model;
}

}  // namespace

nlohmann::json PolynomialPredictor::to_json() const {
  nlohmann::json models = nlohmann::json::array();
  for (const GroupModel& group : groups_) {
    nlohmann::json power = nlohmann::json::object();
    for (std::size_t r = 0; r < rails_.size() && r < group.power.size(); ++r)
      power[rails_[r]] = target_json(group.power[r], group.variables);
    models.push_back({{"op_class", group.op_class},
                      {"unit", group.unit},
                      {"knob", group.knob},
                      {"records", group.records},
                      {"latency", target_json(group.latency, group.variables)},
                      {"power", power}});
  }
  return {{"schema", "coda-predictor"}, {"version", 1}, {"kind", "polynomial"}, {"rails", rails_}, {"models", models}};
}

std::unique_ptr<PolynomialPredictor> PolynomialPredictor::from_json(const nlohmann::json& document) {
  std::vector<std::string> rails;
  const nlohmann::json& rails_json = member(document, "rails", "document");
  if (!rails_json.is_array()) throw BadInput("\"rails\" is not an array");
  for (const auto& rail : rails_json) {
    if (!rail.is_string()) throw BadInput("\"rails\" holds a non-string");
    rails.push_back(rail.get<std::string>());
  }
  const nlohmann::json& models = member(document, "models", "document");
  if (!models.is_array()) throw BadInput("\"models\" is not an array");
  std::vector<GroupModel> groups;
  for (std::size_t m = 0; m < models.size(); ++m) {
    const nlohmann::json& json = models[m];
    std::string where = "models[" + std::to_string(m) + "]";
    GroupModel group;
    group.op_class = text(json, "op_class", where);
    group.unit = text(json, "unit", where);
    group.knob = text(json, "knob", where);
    group.records = integer(json, "records", where);
    where += " (" + group.op_class + ", " + group.unit + ", " + group.knob + ")";
    std::map<std::string, int> index = variable_index(class_variables(group.op_class));
    group.latency = target_from_json(member(json, "latency", where), index, {"latency"}, where + " latency");
    const nlohmann::json& power = member(json, "power", where);
    if (!power.is_object()) throw BadInput(where + ": \"power\" is not an object");
    for (const auto& rail : rails)
      group.power.push_back(
          target_from_json(member(power, rail.c_str(), where), index, {"power", "energy"}, where + " power " + rail));
    groups.push_back(std::move(group));
  }
  return std::make_unique<PolynomialPredictor>(std::move(rails), std::move(groups));
}

}  // namespace coda::models
