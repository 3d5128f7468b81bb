#include "models/fit_evaluation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "kernels/error.h"

namespace coda::models {

AccuracyMetrics accuracy(const std::vector<double>& predicted, const std::vector<double>& measured) {
  AccuracyMetrics m;
  m.count = static_cast<int>(measured.size());
  if (measured.empty()) return m;
  double squared = 0, relative = 0;
  int positive = 0, within_5 = 0, within_10 = 0;
  for (std::size_t i = 0; i < measured.size(); ++i) {
    double error = predicted[i] - measured[i];
    squared += error * error;
    if (!(measured[i] > 0)) continue;
    double r = std::abs(error) / measured[i];
    relative += r * r;
    ++positive;
    // A hair of slack so a prediction exactly 5% off counts as within 5%.
    within_5 += r <= 0.05 + 1e-12;
    within_10 += r <= 0.10 + 1e-12;
  }
  m.rmse = std::sqrt(squared / static_cast<double>(measured.size()));
  if (positive) {
    m.rmspe = std::sqrt(relative / positive);
    m.within_5 = static_cast<double>(within_5) / positive;
    m.within_10 = static_cast<double>(within_10) / positive;
  }
  return m;
}

std::vector<AccuracyRow> accuracy_rows(const std::vector<HeldOutPrediction>& predictions,
                                       const std::vector<std::string>& rails) {
  std::set<std::pair<std::string, std::string>> keys;
  for (const auto& p : predictions) keys.insert({p.op_class, p.unit});
  std::vector<std::pair<std::string, std::string>> groups(keys.begin(), keys.end());
  groups.emplace_back("all", "all");
  std::vector<std::string> targets = {"latency"};
  targets.insert(targets.end(), rails.begin(), rails.end());
  std::vector<AccuracyRow> rows;
  for (const auto& [op_class, unit] : groups)
    for (const auto& target : targets) {
      std::vector<double> measured, polynomial, roofline;
      for (const auto& p : predictions) {
        if (op_class != "all" && (p.op_class != op_class || p.unit != unit)) continue;
        if (target == "latency") {
          measured.push_back(p.measured_latency_s);
          polynomial.push_back(p.polynomial_latency_s);
          roofline.push_back(p.roofline_latency_s);
          continue;
        }
        auto m = p.measured_power_w.find(target);
        if (m == p.measured_power_w.end()) continue;
        measured.push_back(m->second);
        auto q = p.polynomial_power_w.find(target);
        polynomial.push_back(q == p.polynomial_power_w.end() ? 0.0 : q->second);
        auto r = p.roofline_power_w.find(target);
        roofline.push_back(r == p.roofline_power_w.end() ? 0.0 : r->second);
      }
      if (measured.empty()) continue;
      rows.push_back({op_class, unit, target, accuracy(polynomial, measured), accuracy(roofline, measured)});
    }
  return rows;
}

namespace {

bool is_view(const sim::OpRecord& record) { return op_class(record.op_type, record.features) == "view"; }

// Fits both predictors on `train` and predicts every record of `test` a group of the training
// set covers; returns the number left uncovered.
int predict_held_out(const std::vector<sim::OpRecord>& train, const std::vector<sim::OpRecord>& test,
                     const EvaluationOptions& options, std::vector<HeldOutPrediction>& out,
                     std::vector<std::string>& rails) {
  std::unique_ptr<LayerPredictor> polynomial = fit_polynomial(train, options.fit);
  std::unique_ptr<LayerPredictor> roofline = fit_roofline(train);
  if (rails.empty()) rails = polynomial->rails();
  int uncovered = 0;
  for (const auto& record : test) {
    LayerQuery query = query_of(record);
    if (!polynomial->covers(query) || !roofline->covers(query)) {
      ++uncovered;
      continue;
    }
    HeldOutPrediction p;
    p.op_class = query.op_class;
    p.unit = query.unit;
    p.network = record.network;
    p.measured_latency_s = record.latency_s;
    p.measured_power_w = record.avg_power_w;
    LayerEstimate a = polynomial->predict(query);
    LayerEstimate b = roofline->predict(query);
    p.polynomial_latency_s = a.latency_s;
    p.polynomial_power_w = a.power_w;
    p.roofline_latency_s = b.latency_s;
    p.roofline_power_w = b.power_w;
    out.push_back(std::move(p));
  }
  return uncovered;
}

}  // namespace

SplitReport evaluate_holdout(const std::vector<sim::OpRecord>& records, const EvaluationOptions& options) {
  if (!(options.test_share > 0 && options.test_share < 1)) throw BadInput("the test share must lie in (0, 1)");
  std::vector<const sim::OpRecord*> usable;
  for (const auto& r : records)
    if (!is_view(r)) usable.push_back(&r);
  if (usable.size() < 2) throw BadInput("too few trace records (other than views) to hold some out");
  std::mt19937_64 rng(options.seed);
  std::shuffle(usable.begin(), usable.end(), rng);
  auto test_count = static_cast<std::size_t>(
      std::clamp<double>(std::round(options.test_share * static_cast<double>(usable.size())), 1.0,
                         static_cast<double>(usable.size() - 1)));
  std::vector<sim::OpRecord> train, test;
  for (std::size_t i = 0; i < usable.size(); ++i) (i < test_count ? test : train).push_back(*usable[i]);
  SplitReport report;
  report.split = "holdout";
  report.train_records = static_cast<int>(train.size());
  report.test_records = static_cast<int>(test.size());
  if (options.progress) options.progress(fmt::format("holdout: fitting on {} records", train.size()));
  report.uncovered = predict_held_out(train, test, options, report.predictions, report.rails);
  report.rows = accuracy_rows(report.predictions, report.rails);
  return report;
}

SplitReport evaluate_leave_one_network_out(const std::vector<sim::OpRecord>& records,
                                           const EvaluationOptions& options) {
  SplitReport report;
  report.split = "leave-one-network-out";
  std::set<std::string> networks;
  for (const auto& r : records)
    if (!is_view(r)) networks.insert(r.network);
  if (networks.size() < 2) {
    report.note = networks.size() == 1 ? "the records come from one network only" : "no records";
    return report;
  }
  int done = 0;
  for (const auto& network : networks) {
    std::vector<sim::OpRecord> train, test;
    for (const auto& r : records) {
      if (is_view(r)) continue;
      (r.network == network ? test : train).push_back(r);
    }
    if (options.progress)
      options.progress(fmt::format("leave-one-network-out: without {} ({}/{})", network.empty() ? "(unnamed)" : network,
                                   ++done, networks.size()));
    report.train_records += static_cast<int>(train.size());
    report.test_records += static_cast<int>(test.size());
    report.uncovered += predict_held_out(train, test, options, report.predictions, report.rails);
  }
  report.rows = accuracy_rows(report.predictions, report.rails);
  return report;
}

namespace {

nlohmann::json metrics_json(const AccuracyMetrics& m) {
  return {{"count", m.count}, {"rmse", m.rmse}, {"rmspe", m.rmspe}, {"within_5", m.within_5}, {"within_10", m.within_10}};
}

// The rail a summary table shows: VDD_IN, or the first one.
std::string summary_rail(const SplitReport& report) {
  if (std::find(report.rails.begin(), report.rails.end(), "VDD_IN") != report.rails.end()) return "VDD_IN";
  return report.rails.empty() ? "" : report.rails.front();
}

std::string percent(double share) { return fmt::format("{:.1f}", 100 * share); }

}  // namespace

nlohmann::json report_json(const std::vector<SplitReport>& reports) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& report : reports) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : report.rows)
      rows.push_back({{"op_class", row.op_class},
                      {"unit", row.unit},
                      {"target", row.target},
                      {"polynomial", metrics_json(row.polynomial)},
                      {"roofline", metrics_json(row.roofline)}});
    nlohmann::json split = {{"train_records", report.train_records},
                            {"test_records", report.test_records},
                            {"uncovered", report.uncovered},
                            {"rails", report.rails},
                            {"rows", rows}};
    if (!report.note.empty()) split["note"] = report.note;
    out[report.split] = split;
  }
  return out;
}

namespace {

// The table of one split and target: a row per (class, unit), then all.
template <typename Line>
void table(const SplitReport& report, const std::string& target, Line line) {
  for (const auto& row : report.rows)
    if (row.target == target) line(row);
}

}  // namespace

std::string report_markdown(const std::vector<SplitReport>& reports) {
  std::string out = "# Predictor accuracy\n\n";
  out += "RMSPE = sqrt(mean(((predicted - measured) / measured)^2)); within 5% / 10%: share of held-out records "
         "predicted that close. Polynomial: the NeuralPower-style Lasso models; roofline: the Paleo-style baseline.\n";
  for (const auto& report : reports) {
    out += fmt::format("\n## {}\n\n", report.split);
    if (!report.note.empty()) {
      out += "Not evaluated: " + report.note + ".\n";
      continue;
    }
    out += fmt::format("{} training records, {} held out ({} of them in groups without training records, not scored).\n",
                       report.train_records, report.test_records, report.uncovered);
    std::string rail = summary_rail(report);
    for (const std::string& target : {std::string("latency"), rail}) {
      if (target.empty()) continue;
      out += target == "latency" ? "\n### Runtime\n\n" : fmt::format("\n### Power ({})\n\n", target);
      out += "| class | unit | n | RMSPE % | within 5 % | within 10 % | RMSE | roofline RMSPE % | roofline within 10 % |\n";
      out += "|---|---|---:|---:|---:|---:|---:|---:|---:|\n";
      table(report, target, [&](const AccuracyRow& row) {
        out += fmt::format("| {} | {} | {} | {} | {} | {} | {:.3g} {} | {} | {} |\n", row.op_class, row.unit, row.polynomial.count,
                           percent(row.polynomial.rmspe), percent(row.polynomial.within_5),
                           percent(row.polynomial.within_10), row.polynomial.rmse, target == "latency" ? "s" : "W",
                           percent(row.roofline.rmspe), percent(row.roofline.within_10));
      });
    }
  }
  return out;
}

std::string report_text(const std::vector<SplitReport>& reports) {
  std::string out;
  for (const auto& report : reports) {
    out += fmt::format("{}: ", report.split);
    if (!report.note.empty()) {
      out += "not evaluated, " + report.note + "\n";
      continue;
    }
    out += fmt::format("{} training records, {} held out, {} uncovered\n", report.train_records, report.test_records,
                       report.uncovered);
    std::string rail = summary_rail(report);
    out += fmt::format("  {:<8} {:<8} {:>6} | {:>9} {:>7} {:>7} {:>9} | {:>9} {:>7} {:>7} {:>9}\n", "class", "unit", "n",
                       "time %err", "<=5%", "<=10%", "roofline", fmt::format("{} %err", rail.substr(0, 4)), "<=5%",
                       "<=10%", "roofline");
    for (const auto& row : report.rows) {
      if (row.target != "latency") continue;
      const AccuracyRow* power = nullptr;
      for (const auto& other : report.rows)
        if (other.target == rail && other.op_class == row.op_class && other.unit == row.unit) power = &other;
      out += fmt::format("  {:<8} {:<8} {:>6} | {:>9} {:>7} {:>7} {:>9}", row.op_class, row.unit, row.polynomial.count,
                         percent(row.polynomial.rmspe), percent(row.polynomial.within_5),
                         percent(row.polynomial.within_10), percent(row.roofline.rmspe));
      if (power)
        out += fmt::format(" | {:>9} {:>7} {:>7} {:>9}", percent(power->polynomial.rmspe), percent(power->polynomial.within_5),
                           percent(power->polynomial.within_10), percent(power->roofline.rmspe));
      out += "\n";
    }
  }
  return out;
}

}  // namespace coda::models
