#include "models/roofline_predictor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <Eigen/Dense>

#include "kernels/error.h"
#include "models/predictor_fit.h"

namespace coda::models {
namespace {

double feature(const LayerQuery& query, const char* name) {
  auto it = query.features.find(name);
  return it == query.features.end() ? 0.0 : it->second;
}

double inverse_ghz(double freq_mhz) { return freq_mhz > 0 ? 1000.0 / freq_mhz : 1.0; }

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  double upper = values[mid];
  if (values.size() % 2) return upper;
  double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

}  // namespace

double roofline_flops(const LayerQuery& query) { return 2 * feature(query, "macs") + feature(query, "flops"); }

double roofline_bytes(const LayerQuery& query) {
  return feature(query, "input_bytes") + feature(query, "output_bytes") + feature(query, "weight_bytes");
}

std::vector<double> nonnegative_relative_least_squares(const std::vector<std::vector<double>>& columns,
                                                       const std::vector<double>& y) {
  const std::size_t p = columns.size();
  const auto n = static_cast<Eigen::Index>(y.size());
  // Rows divided by y: the plain least squares of the result is the relative one.
  Eigen::MatrixXd a(n, static_cast<Eigen::Index>(p));
  Eigen::VectorXd ones = Eigen::VectorXd::Ones(n);
  for (Eigen::Index i = 0; i < n; ++i)
    for (std::size_t j = 0; j < p; ++j)
      a(i, static_cast<Eigen::Index>(j)) = columns[j][static_cast<std::size_t>(i)] / y[static_cast<std::size_t>(i)];
  std::vector<double> best(p, 0.0);
  double best_error = static_cast<double>(n);  // all coefficients zero: every relative error is 1
  for (unsigned mask = 1; mask < (1u << p); ++mask) {
    std::vector<Eigen::Index> free;
    for (std::size_t j = 0; j < p; ++j)
      if (mask & (1u << j)) free.push_back(static_cast<Eigen::Index>(j));
    Eigen::MatrixXd sub = a(Eigen::all, free);
    // Column scaling keeps the normal equations conditioned across bytes, FLOPs and seconds.
    Eigen::VectorXd norms = sub.colwise().norm().transpose();
    if ((norms.array() <= 0).any()) continue;
    Eigen::MatrixXd scaled = sub * norms.cwiseInverse().asDiagonal();
    Eigen::VectorXd c = scaled.colPivHouseholderQr().solve(ones).cwiseQuotient(norms);
    if ((c.array() < 0).any() || !c.allFinite()) continue;
    double error = (sub * c - ones).squaredNorm();
    if (error < best_error) {
      best_error = error;
      std::fill(best.begin(), best.end(), 0.0);
      for (std::size_t k = 0; k < free.size(); ++k) best[static_cast<std::size_t>(free[k])] = c[static_cast<Eigen::Index>(k)];
    }
  }
  return best;
}

RooflinePredictor::RooflinePredictor(std::vector<std::string> rails, std::map<std::string, UnitRoofline> units,
                                     PowerTable power)
    : rails_(std::move(rails)), units_(std::move(units)), power_(std::move(power)) {}

bool RooflinePredictor::covers(const LayerQuery& query) const {
  if (query.op_class == "view") return true;
  return units_.count(query.unit) && power_.find(std::tie(query.op_class, query.unit, query.knob)) != power_.end();
}

LayerEstimate RooflinePredictor::predict(const LayerQuery& query) const {
  LayerEstimate estimate;
  if (query.op_class == "view") {
    for (const auto& rail : rails_) estimate.power_w[rail] = 0;
    return estimate;
  }
  auto unit = units_.find(query.unit);
  auto power = power_.find(std::tie(query.op_class, query.unit, query.knob));
  if (unit == units_.end() || power == power_.end())
    throw BadInput("no roofline model for (" + query.op_class + ", " + query.unit + ", " + query.knob + ")");
  const UnitRoofline& r = unit->second;
  estimate.latency_s = roofline_flops(query) * inverse_ghz(query.freq_mhz) * r.seconds_per_op_at_1ghz +
                       roofline_bytes(query) * r.seconds_per_byte + r.overhead_s;
  for (std::size_t k = 0; k < rails_.size() && k < power->second.size(); ++k) estimate.power_w[rails_[k]] = power->second[k];
  return estimate;
}

nlohmann::json RooflinePredictor::to_json() const {
  nlohmann::json units = nlohmann::json::array();
  for (const auto& [name, r] : units_)
    units.push_back({{"unit", name},
                     {"records", r.records},
                     {"seconds_per_op_at_1ghz", r.seconds_per_op_at_1ghz},
                     {"seconds_per_byte", r.seconds_per_byte},
                     {"overhead_s", r.overhead_s}});
  nlohmann::json models = nlohmann::json::array();
  for (const auto& [key, watts] : power_) {
    nlohmann::json power = nlohmann::json::object();
    for (std::size_t k = 0; k < rails_.size() && k < watts.size(); ++k) power[rails_[k]] = watts[k];
    models.push_back({{"op_class", std::get<0>(key)}, {"unit", std::get<1>(key)}, {"knob", std::get<2>(key)}, {"power_w", power}});
  }
  return {{"schema", "coda-predictor"}, {"version", 1}, {"kind", "roofline"}, {"rails", rails_},
          {"units", units},             {"models", models}};
}

namespace {

const nlohmann::json& member(const nlohmann::json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key)) throw BadInput(where + ": missing \"" + key + "\"");
  return object.at(key);
}

double nonnegative(const nlohmann::json& object, const char* key, const std::string& where) {
  const nlohmann::json& value = member(object, key, where);
  if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() < 0)
    throw BadInput(where + ": \"" + key + "\" is not a finite non-negative number");
  return value.get<double>();
}

std::string text(const nlohmann::json& object, const char* key, const std::string& where) {
  const nlohmann::json& value = member(object, key, where);
  if (!value.is_string()) throw BadInput(where + ": \"" + key + "\" is not a string");
  return value.get<std::string>();
}

}  // namespace

std::unique_ptr<RooflinePredictor> RooflinePredictor::from_json(const nlohmann::json& document) {
  std::vector<std::string> rails;
  const nlohmann::json& rails_json = member(document, "rails", "document");
  if (!rails_json.is_array()) throw BadInput("\"rails\" is not an array");
  for (const auto& rail : rails_json) {
    if (!rail.is_string()) throw BadInput("\"rails\" holds a non-string");
    rails.push_back(rail.get<std::string>());
  }
  const nlohmann::json& units_json = member(document, "units", "document");
  if (!units_json.is_array()) throw BadInput("\"units\" is not an array");
  std::map<std::string, UnitRoofline> units;
  for (std::size_t u = 0; u < units_json.size(); ++u) {
    std::string where = "units[" + std::to_string(u) + "]";
    UnitRoofline r;
    r.seconds_per_op_at_1ghz = nonnegative(units_json[u], "seconds_per_op_at_1ghz", where);
    r.seconds_per_byte = nonnegative(units_json[u], "seconds_per_byte", where);
    r.overhead_s = nonnegative(units_json[u], "overhead_s", where);
    r.records = static_cast<int>(nonnegative(units_json[u], "records", where));
    units[text(units_json[u], "unit", where)] = r;
  }
  const nlohmann::json& models = member(document, "models", "document");
  if (!models.is_array()) throw BadInput("\"models\" is not an array");
  PowerTable power;
  for (std::size_t m = 0; m < models.size(); ++m) {
    std::string where = "models[" + std::to_string(m) + "]";
    const nlohmann::json& json = models[m];
    GroupKey key{text(json, "op_class", where), text(json, "unit", where), text(json, "knob", where)};
    const nlohmann::json& watts = member(json, "power_w", where);
    std::vector<double> values;
    for (const auto& rail : rails) values.push_back(nonnegative(watts, rail.c_str(), where + " power_w"));
    power[key] = values;
  }
  return std::make_unique<RooflinePredictor>(std::move(rails), std::move(units), std::move(power));
}

std::unique_ptr<LayerPredictor> fit_roofline(const std::vector<sim::OpRecord>& records) {
  struct UnitData {
    std::vector<double> work, bytes, ones, latency;
  };
  std::map<std::string, UnitData> by_unit;
  std::map<RooflinePredictor::GroupKey, std::map<std::string, std::vector<double>>> power_samples;
  std::set<std::string> rail_names;
  for (const auto& record : records) {
    LayerQuery query = query_of(record);
    if (query.op_class == "view") continue;
    auto& watts = power_samples[{query.op_class, query.unit, query.knob}];
    for (const auto& [rail, value] : record.avg_power_w) {
      watts[rail].push_back(value);
      rail_names.insert(rail);
    }
    if (!(record.latency_s > 0)) continue;
    UnitData& data = by_unit[query.unit];
    data.work.push_back(roofline_flops(query) * inverse_ghz(query.freq_mhz));
    data.bytes.push_back(roofline_bytes(query));
    data.ones.push_back(1.0);
    data.latency.push_back(record.latency_s);
  }
  if (power_samples.empty()) throw BadInput("no trace record to fit (views only, or none)");
  std::vector<std::string> rails;
  if (rail_names.count("VDD_IN")) rails.push_back("VDD_IN");
  for (const auto& name : rail_names)
    if (name != "VDD_IN") rails.push_back(name);

  std::map<std::string, UnitRoofline> units;
  for (const auto& [unit, data] : by_unit) {
    std::vector<double> c = nonnegative_relative_least_squares({data.work, data.bytes, data.ones}, data.latency);
    units[unit] = {c[0], c[1], c[2], static_cast<int>(data.latency.size())};
  }
  RooflinePredictor::PowerTable power;
  for (const auto& [key, watts] : power_samples) {
    std::vector<double> values;
    for (const auto& rail : rails) {
      auto it = watts.find(rail);
      values.push_back(it == watts.end() ? 0.0 : median(it->second));
    }
    power[key] = values;
  }
  return std::make_unique<RooflinePredictor>(std::move(rails), std::move(units), std::move(power));
}

}  // namespace coda::models
