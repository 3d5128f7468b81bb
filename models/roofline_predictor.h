// The Paleo-style analytical baseline (Qi et al., ICLR 2017; REFERENCE.md section 6): per unit,
// latency = work x inv_freq x s_op + bytes x s_byte + overhead, i.e. FLOPs over peak x efficiency
// (scaled by the clock) plus DRAM bytes over bandwidth x efficiency plus a fixed launch/dispatch
// cost, the three fitted per unit from the training records by non-negative least squares on the
// relative error; power is the training median per (op class, unit, knob) group and rail.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/layer_predictor.h"

namespace coda::models {

struct UnitRoofline {
  double seconds_per_op_at_1ghz = 0;  // 1 / (peak x efficiency at 1 GHz), per FLOP (2 per MAC)
  double seconds_per_byte = 0;        // 1 / (bandwidth x efficiency)
  double overhead_s = 0;
  int records = 0;
};

// The work and traffic the baseline reads from a query: FLOPs (2 x macs + flops) and bytes
// (input + output + weight).
double roofline_flops(const LayerQuery& query);
double roofline_bytes(const LayerQuery& query);

// Non-negative least squares of y ~ sum_j c_j columns[j] minimizing the relative error
// sum ((fit - y) / y)^2, by solving on every set of free columns (there are few) and keeping the
// best one whose coefficients are all non-negative.
std::vector<double> nonnegative_relative_least_squares(const std::vector<std::vector<double>>& columns,
                                                       const std::vector<double>& y);

class RooflinePredictor : public LayerPredictor {
 public:
  using GroupKey = std::tuple<std::string, std::string, std::string>;  // op class, unit, knob
  using PowerTable = std::map<GroupKey, std::vector<double>, std::less<>>;  // per rail, rails order
  RooflinePredictor(std::vector<std::string> rails, std::map<std::string, UnitRoofline> units, PowerTable power);

  std::string kind() const override { return "roofline"; }
  bool covers(const LayerQuery& query) const override;
  LayerEstimate predict(const LayerQuery& query) const override;
  std::vector<std::string> rails() const override { return rails_; }
  const std::map<std::string, UnitRoofline>& units() const { return units_; }

  nlohmann::json to_json() const;
  // Throws BadInput (without the file name) for a malformed document.
  static std::unique_ptr<RooflinePredictor> from_json(const nlohmann::json& document);

 private:
  std::vector<std::string> rails_;
  std::map<std::string, UnitRoofline> units_;
  PowerTable power_;
};

}  // namespace coda::models
