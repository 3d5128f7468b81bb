// The interface every layer-wise predictor implements (the fitted polynomial and the roofline
// baseline alike): from what an op is -- its class, the unit and knob family it runs with, the
// unit clock and its shape features -- to its latency and the power each rail reads while it
// runs. Keys and features come from the same sim::describe_op the simulator's trace records
// carry, so a query built from a graph and one read back from a trace are the same thing.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/sim_result.h"

namespace coda::models {

// The op classes predictors keep separate models for: conv (grouped or dense), dwconv (one input
// channel per group), fc (Gemm, MatMul), pool (MaxPool, AveragePool, Global*Pool), eltwise
// (everything else that computes), view (Reshape, Flatten, ...: no work).
std::string op_class(const std::string& op_type, const std::map<std::string, double>& features);

// The knob family a model is kept for: the catalog family name ("exact", "fp16", "perforation",
// "filter_sampling", "reduction_sampling", "promise", "shift_add", "precision"), with "+fp16" for
// families that also compute in half precision ("perforation+fp16"). Pruning knobs change the
// graph, not the op: "exact". Throws BadInput for a knob id the catalog lacks.
std::string knob_key(int knob_id);

struct LayerQuery {
  std::string op_class;
  std::string unit;
  std::string knob;       // knob_key
  double freq_mhz = 0;    // the unit clock
  std::map<std::string, double> features;
};

// The query a trace record answers: its features as recorded, completed by
// add_query_features.
LayerQuery query_of(const sim::OpRecord& record);

// What predictors read besides the recorded shape: the knob's own parameters within its family
// (knob_swing: PROMISE swing level, whose dot-product energy differs 7-fold; knob_terms: LightNN
// shift terms per weight) and the arithmetic intensity (2 macs + flops per byte moved), which
// sets how compute- or memory-bound, and so how power-hungry, an op is.
void add_query_features(int knob_id, std::map<std::string, double>& features);

struct LayerEstimate {
  double latency_s = 0;
  std::map<std::string, double> power_w;  // per rail, VDD_IN included
};

class LayerPredictor {
 public:
  virtual ~LayerPredictor() = default;
  virtual std::string kind() const = 0;  // "polynomial", "roofline"
  // Whether a model exists for the query's (op class, unit, knob).
  virtual bool covers(const LayerQuery& query) const = 0;
  // Throws BadInput naming the (op class, unit, knob) when no model covers the query.
  virtual LayerEstimate predict(const LayerQuery& query) const = 0;
  // The rails predicted, VDD_IN first.
  virtual std::vector<std::string> rails() const = 0;
};

}  // namespace coda::models
