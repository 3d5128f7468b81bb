#include "tuner/tuning.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/approx_plan.h"
#include "kernels/error.h"
#include "kernels/executor.h"
#include "tuner/pareto.h"
#include "tuner/qos_predictor.h"
#include "tuner/search.h"

namespace coda::tuner {

namespace {

// Images whose activation ranges quantizing knobs are calibrated on: the figure `coda eval` uses.
constexpr int64_t kRangeCalibrationInputs = 500;
// Token loss per approximated op during the search, as a share of the threshold: 72 approximated
// ops (all of ResNet-20) then add 0.7% of the threshold, far below any measured difference.
constexpr double kTokenLossPerOp = 1e-4;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int64_t sample_count(const Tensor& inputs) { return inputs.rank() == 0 ? 0 : inputs.dim(0); }

// Rows [begin, end) of an N x ... tensor, zero-padded to `rows` rows.
Tensor rows_padded(const Tensor& data, int64_t begin, int64_t end, int64_t rows) {
  Shape shape = data.shape();
  const int64_t row_elements = data.size() / shape.front();
  shape.front() = rows;
  Tensor out = Tensor::zeros(shape);
  std::memcpy(out.f32(), data.f32() + begin * row_elements,
              static_cast<std::size_t>((end - begin) * row_elements) * sizeof(float));
  return out;
}

Tensor rows_of(const Tensor& data, int64_t begin, int64_t end) { return rows_padded(data, begin, end, end - begin); }

}  // namespace

const char* method_name(TuningMethod method) {
  switch (method) {
    case TuningMethod::P1: return "p1";
    case TuningMethod::P2: return "p2";
    case TuningMethod::Empirical: return "empirical";
  }
  return "?";
}

TuningMethod parse_method(const std::string& text) {
  if (text == "p1") return TuningMethod::P1;
  if (text == "p2") return TuningMethod::P2;
  if (text == "empirical") return TuningMethod::Empirical;
  throw BadInput("unknown tuning method '" + text + "' (expected p1, p2 or empirical)");
}

Graph prepare_for_batch(const Graph& model, const Tensor& inputs, int64_t batch) {
  if (model.inputs.size() != 1) throw BadInput("the model has " + std::to_string(model.inputs.size()) +
                                               " inputs; tuning needs exactly one");
  Graph prepared = model;
  Value& in = prepared.values[static_cast<std::size_t>(prepared.inputs.front())];
  Shape shape{batch};
  if (in.shape.size() == 2) {
    shape.push_back(inputs.size() / inputs.dim(0));
  } else {
    for (int i = 1; i < inputs.rank(); ++i) shape.push_back(inputs.dim(i));
  }
  if (!in.shape.empty()) in.shape[0] = -1;
  bind_input_shapes(prepared, {shape});
  prepare_graph(prepared);
  return prepared;
}

Tensor run_configuration(const Graph& prepared, const std::vector<OpChoice>& choices, const KnobCatalog& catalog,
                         const Tensor& inputs, const std::map<std::string, OpRanges>& ranges, std::uint64_t seed) {
  const Shape& input_shape = prepared.values[static_cast<std::size_t>(prepared.inputs.front())].shape;
  const int64_t batch = input_shape.front();
  const int64_t n = sample_count(inputs);
  if (n == 0) throw BadInput("no inputs to run");
  if (inputs.size() / n != element_count(input_shape) / batch)
    throw BadInput("inputs of shape " + shape_string(inputs.shape()) + " do not fit the model input " +
                   shape_string(input_shape));
  Executor executor(prepared);
  ApproxPlan plan(prepared, choices, catalog, seed, ranges);
  plan.install(executor);
  Tensor result;
  int64_t row_width = 0;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t end = std::min(n, begin + batch);
    Tensor in = rows_padded(inputs, begin, end, batch).reshaped(input_shape);
    Tensor out = executor.run({in}).front();
    if (out.dtype() != DType::Float32) out = out.to(DType::Float32);
    if (result.empty()) {
      row_width = out.size() / batch;
      result = Tensor::zeros({n, row_width});
    }
    std::memcpy(result.f32() + begin * row_width, out.f32(),
                static_cast<std::size_t>((end - begin) * row_width) * sizeof(float));
  }
  return result;
}

struct Tuner::Impl {
  const Graph& model;
  const Graph& cost_graph;
  const CostModel& cost;
  const KnobCatalog& catalog;
  TuningSplit calibration, test;
  TuneOptions options;
  Graph prepared;
  TuningSpace space;
  std::map<std::string, OpRanges> ranges;
  std::unique_ptr<QosEvaluator> calibration_metric, test_metric;
  double base_calibration = 0.0, base_test = 0.0;
  double base_latency = 0.0, base_energy = 0.0;
  double max_loss_calibration = 0.0, max_loss_test = 0.0;

  Impl(const Graph& m, const Graph& cg, const CostModel& c, const KnobCatalog& k, TuningSplit cal, TuningSplit tst,
       TuneOptions o)
      : model(m), cost_graph(cg), cost(c), catalog(k), calibration(std::move(cal)), test(std::move(tst)),
        options(std::move(o)) {}

  double gain_of(const CostEstimate& estimate) const {
    return options.energy_objective ? base_energy / estimate.energy : base_latency / estimate.latency;
  }

  double measure(const Configuration& config, const TuningSplit& split, const QosEvaluator& metric) const {
    return metric.evaluate(
        run_configuration(prepared, node_choices(space, config), catalog, split.inputs, ranges, options.seed));
  }
};

Tuner::Tuner(const Graph& model, const Graph& cost_graph, const CostModel& cost, const KnobCatalog& catalog,
             TuningSplit calibration, TuningSplit test, TuneOptions options)
    : impl_(std::make_unique<Impl>(model, cost_graph, cost, catalog, std::move(calibration), std::move(test),
                                   std::move(options))) {
  Impl& s = *impl_;
  for (const TuningSplit* split : {&s.calibration, &s.test})
    if (sample_count(split->inputs) == 0) throw BadInput("the " + split->name + " split is empty");
  if (s.options.energy_objective && !s.cost.has_energy())
    throw BadInput("the " + s.cost.name() + " cost model has no energy; use --cost predictor:FILE or --cost sim");
  if (s.options.budget < 1) throw BadInput("--budget must be at least 1");
  if (s.options.max_configs < 1) throw BadInput("--max-configs must be at least 1");
  s.prepared = prepare_for_batch(s.model, s.calibration.inputs,
                                 std::min(s.options.batch, sample_count(s.calibration.inputs)));
  s.space = build_tuning_space(s.prepared, s.catalog, s.options.scope, s.options.baseline_unit,
                               s.options.allowed_knobs);
  if (s.space.ops.empty()) throw BadInput("no op of the model takes a knob in the chosen space");
  if (s.cost_graph.nodes.size() != s.prepared.nodes.size())
    throw std::logic_error("the cost graph and the tuned graph differ in their nodes");
  for (std::size_t n = 0; n < s.prepared.nodes.size(); ++n)
    if (s.cost_graph.nodes[n].name != s.prepared.nodes[n].name)
      throw std::logic_error("the cost graph and the tuned graph differ at node " + s.prepared.nodes[n].name);
  stats_.tunable_ops = s.space.ops.size();
  stats_.space_size = s.space.size();

  const auto start = std::chrono::steady_clock::now();
  // Activation ranges for the quantizing knobs (PROMISE, fixed point, shift-add), from the first
  // calibration inputs, as `coda eval` calibrates them.
  std::vector<std::size_t> range_nodes;
  for (const TunableOp& op : s.space.ops)
    for (const OpChoice& choice : op.choices)
      if (family_needs_ranges(s.catalog.require(choice.knob).family)) {
        range_nodes.push_back(op.node);
        break;
      }
  if (!range_nodes.empty()) {
    const Shape& input_shape = s.prepared.values[static_cast<std::size_t>(s.prepared.inputs.front())].shape;
    const int64_t batch = input_shape.front();
    const int64_t limit = std::min(kRangeCalibrationInputs, sample_count(s.calibration.inputs));
    std::vector<std::vector<Tensor>> batches;
    for (int64_t begin = 0; begin + batch <= limit || begin == 0; begin += batch)
      batches.push_back({rows_padded(s.calibration.inputs, begin, std::min(limit, begin + batch), batch)
                             .reshaped(input_shape)});
    s.ranges = calibrate_ranges(s.prepared, batches, range_nodes);
  }

  const Configuration exact(s.space.ops.size(), 0);
  const std::vector<OpChoice> exact_choices = node_choices(s.space, exact);
  s.calibration.reference.exact_outputs =
      run_configuration(s.prepared, exact_choices, s.catalog, s.calibration.inputs, s.ranges, s.options.seed);
  s.test.reference.exact_outputs =
      run_configuration(s.prepared, exact_choices, s.catalog, s.test.inputs, s.ranges, s.options.seed);
  s.calibration_metric = make_metric_evaluator(s.options.metric, s.calibration.reference);
  s.test_metric = make_metric_evaluator(s.options.metric, s.test.reference);
  s.base_calibration = s.calibration_metric->evaluate(s.calibration.reference.exact_outputs);
  s.base_test = s.test_metric->evaluate(s.test.reference.exact_outputs);
  const CostEstimate base_cost = s.cost.estimate(exact_choices);
  s.base_latency = base_cost.latency;
  s.base_energy = base_cost.energy;
  if (const TuneOptions::Reference* r = s.options.reference) {
    s.base_calibration = r->qos_calibration;
    s.base_test = r->qos_test;
    s.base_latency = r->latency;
    s.base_energy = r->energy;
  }
  s.max_loss_calibration = s.options.threshold.max_loss(*s.calibration_metric, s.base_calibration);
  s.max_loss_test = s.options.threshold.max_loss(*s.test_metric, s.base_test);
  stats_.exact_seconds = seconds_since(start);
}

Tuner::~Tuner() = default;

const TuningSpace& Tuner::space() const { return impl_->space; }
double Tuner::baseline_qos_calibration() const { return impl_->base_calibration; }
double Tuner::baseline_qos_test() const { return impl_->base_test; }
const std::map<std::string, OpRanges>& Tuner::ranges() const { return impl_->ranges; }

OpProfiles Tuner::collect_profiles(int64_t begin, int64_t end) {
  Impl& s = *impl_;
  const int64_t n = sample_count(s.calibration.inputs);
  if (begin < 0 || end > n || begin >= end)
    throw BadInput("profile slice [" + std::to_string(begin) + ", " + std::to_string(end) + ") is not within the " +
                   std::to_string(n) + " calibration inputs");
  QosReference reference;
  if (!s.calibration.reference.labels.empty())
    reference.labels.assign(s.calibration.reference.labels.begin() + begin,
                            s.calibration.reference.labels.begin() + end);
  if (!s.calibration.reference.targets.empty()) reference.targets = rows_of(s.calibration.reference.targets, begin, end);
  reference.exact_outputs = rows_of(s.calibration.reference.exact_outputs, begin, end);
  std::unique_ptr<QosEvaluator> metric = make_metric_evaluator(s.options.metric, reference);
  ProfileOptions profile_options;
  profile_options.batch = s.prepared.values[static_cast<std::size_t>(s.prepared.inputs.front())].shape.front();
  profile_options.seed = s.options.seed;
  const auto start = std::chrono::steady_clock::now();
  OpProfiles profiles = collect_op_profiles(s.prepared, s.space, s.catalog, rows_of(s.calibration.inputs, begin, end),
                                            *metric, s.ranges, profile_options, [this](int64_t done, int64_t total) {
                                              if (progress_) progress_("profile", done, total);
                                            });
  stats_.profile_seconds += seconds_since(start);
  return profiles;
}

namespace {

// ~alpha_samples random configurations for fitting alpha, each approximating a random share of
// the ops with random knobs. The shares are spread log-uniformly from one op to all of them, so
// most samples have losses near the thresholds tuning works at (a few points) and the few dense
// configurations, whose losses run to tens of points, do not dominate the least-squares fit.
std::vector<Configuration> alpha_sample(const TuningSpace& space, int count, std::uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0xa17aULL);
  std::vector<Configuration> configs;
  const std::vector<int> counts = space.choice_counts();
  for (int i = 0; i < count; ++i) {
    const double fewest = 1.0 / static_cast<double>(counts.size());
    const double share = count == 1 ? 1.0 : std::pow(fewest, 1.0 - static_cast<double>(i) / (count - 1));
    Configuration config(counts.size(), 0);
    for (std::size_t g = 0; g < counts.size(); ++g)
      if (std::generate_canonical<double, 53>(rng) < share && counts[g] > 1)
        config[g] = 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(counts[g] - 1));
    configs.push_back(std::move(config));
  }
  return configs;
}

}  // namespace

Curve Tuner::tune() { return install_or_tune(nullptr); }

Curve Tuner::install_or_tune(const Curve* shipped) {
  Impl& s = *impl_;
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = sample_count(s.calibration.inputs);
  const QosEvaluator& metric = *s.calibration_metric;
  auto report = [this](const std::string& stage, int64_t done, int64_t total) {
    if (progress_) progress_(stage, done, total);
  };

  // The QoS model the search consults: P1/P2 on profiles, or a measurement of every candidate.
  OpProfiles collected;
  const OpProfiles* profiles = s.options.profiles;
  std::unique_ptr<QosPredictor> predictor;
  if (s.options.method != TuningMethod::Empirical) {
    if (!profiles) {
      collected = collect_profiles(0, n);
      profiles = &collected;
    } else if (profiles->op_names.size() != s.space.ops.size() || profiles->samples != n) {
      throw BadInput("the profiles cover " + std::to_string(profiles->op_names.size()) + " ops and " +
                     std::to_string(profiles->samples) + " inputs; this tuning has " +
                     std::to_string(s.space.ops.size()) + " ops and " + std::to_string(n) + " calibration inputs");
    } else {
      for (std::size_t i = 0; i < s.space.ops.size(); ++i)
        if (profiles->op_names[i] != s.space.ops[i].name ||
            profiles->choice_counts[i] != static_cast<int>(s.space.ops[i].choices.size()))
          throw BadInput("the profiles were collected for another space (op " + profiles->op_names[i] + ")");
    }
    predictor = std::make_unique<QosPredictor>(
        s.options.method == TuningMethod::P1 ? PredictorKind::P1 : PredictorKind::P2, *profiles, metric);
    const auto alpha_start = std::chrono::steady_clock::now();
    const std::vector<Configuration> sample = alpha_sample(s.space, s.options.alpha_samples, s.options.seed);
    std::vector<double> measured;
    for (const Configuration& config : sample) {
      measured.push_back(s.measure(config, s.calibration, metric));
      report("alpha", static_cast<int64_t>(measured.size()), static_cast<int64_t>(sample.size()));
    }
    stats_.alpha_r2 = predictor->calibrate(sample, measured);
    stats_.alpha = predictor->alpha();
    stats_.alpha_seconds = seconds_since(alpha_start);
  }

  // Measured calibration QoS, shared by empirical search and validation.
  std::map<Configuration, double> measured_calibration;
  auto measured_qos = [&](const Configuration& config) {
    auto it = measured_calibration.find(config);
    if (it != measured_calibration.end()) return it->second;
    const double qos = s.measure(config, s.calibration, metric);
    measured_calibration.emplace(config, qos);
    return qos;
  };
  std::map<Configuration, CostEstimate> costs;
  auto cost_of = [&](const Configuration& config) {
    auto it = costs.find(config);
    if (it != costs.end()) return it->second;
    const CostEstimate estimate = s.cost.estimate(node_choices(s.space, config));
    costs.emplace(config, estimate);
    return estimate;
  };
  std::map<Configuration, double> predicted;
  SearchObjective objective = [&](const Configuration& config) {
    const double qos = predictor ? predictor->predict(config) : measured_qos(config);
    predicted[config] = qos;
    SearchPoint point;
    point.config = config;
    // Every approximated op is charged a token loss, so that among configurations the QoS model
    // cannot tell apart the search prefers the one with fewer approximations: a knob that adds
    // no gain (common under a simulator's cost, where small layers are overhead-bound) should not
    // be applied just because its loss is below what the calibration split can resolve.
    const auto approximated = std::count_if(config.begin(), config.end(), [](int c) { return c != 0; });
    point.qos_loss = metric.loss(s.base_calibration, qos) +
                     kTokenLossPerOp * std::max(s.max_loss_calibration, 1e-9) * static_cast<double>(approximated);
    point.gain = s.gain_of(cost_of(config));
    return point;
  };

  SearchOptions search_options;
  search_options.budget = s.options.budget;
  search_options.patience = s.options.patience;
  search_options.max_loss = s.max_loss_calibration;
  search_options.seed = s.options.seed;
  const auto search_start = std::chrono::steady_clock::now();
  SearchResult result = ensemble_search(s.space.choice_counts(), objective, search_options,
                                        [&](int done, int budget, double) { report("search", done, budget); });
  stats_.search_seconds = seconds_since(search_start);
  stats_.evaluations = result.evaluations;

  // PS_eps: candidates near the predicted front, at most max_configs of them; eps up to the
  // threshold itself, as the prediction error is of that order.
  EpsSelection selection =
      select_ps_eps(result.evaluated, s.max_loss_calibration, s.options.max_configs, std::max(s.max_loss_calibration, 1e-9));
  std::vector<SearchPoint> candidates = selection.points;
  // The exact configuration is always validated, so a curve is never empty.
  const Configuration exact(s.space.ops.size(), 0);
  if (std::none_of(candidates.begin(), candidates.end(), [&](const SearchPoint& c) { return c.config == exact; }))
    candidates.insert(candidates.begin(), objective(exact));
  if (shipped) {
    for (const CurvePoint& point : shipped->points) {
      SearchPoint candidate;
      candidate.config = from_approx_config(s.space, point.config);
      if (std::any_of(candidates.begin(), candidates.end(),
                      [&](const SearchPoint& c) { return c.config == candidate.config; }))
        continue;
      candidate = objective(candidate.config);
      candidate.found_by = "shipped";
      candidates.push_back(candidate);
    }
  }
  stats_.candidates = static_cast<int>(candidates.size());

  // Empirical validation: the calibration split, then the test split, each against its threshold.
  const auto validation_start = std::chrono::steady_clock::now();
  std::vector<SearchPoint> passed;
  std::map<Configuration, double> test_qos;
  int64_t done = 0;
  for (const SearchPoint& candidate : candidates) {
    report("validate", ++done, static_cast<int64_t>(candidates.size()));
    const double qos = measured_qos(candidate.config);
    spdlog::debug("candidate {} ({}): predicted loss {:.4g}, measured loss {:.4g}, gain {:.4g}", done,
                  candidate.found_by, candidate.qos_loss, metric.loss(s.base_calibration, qos), candidate.gain);
    if (metric.loss(s.base_calibration, qos) > s.max_loss_calibration) continue;
    ++stats_.passed_calibration;
    const double qos_test = s.measure(candidate.config, s.test, *s.test_metric);
    if (s.test_metric->loss(s.base_test, qos_test) > s.max_loss_test) continue;
    ++stats_.passed_test;
    test_qos[candidate.config] = qos_test;
    SearchPoint measured_point = candidate;
    measured_point.qos_loss = metric.loss(s.base_calibration, qos);
    passed.push_back(measured_point);
  }
  stats_.validation_seconds = seconds_since(validation_start);

  Curve curve;
  curve.op_names.reserve(s.prepared.nodes.size());
  for (const Node& node : s.prepared.nodes) curve.op_names.push_back(node.name);
  curve.phase = shipped ? "install" : "dev";
  curve.objective = s.options.energy_objective ? "energy" : "speed";
  curve.cost_model = s.cost.name();
  curve.tuning = method_name(s.options.method);
  curve.qos_metric = metric.name();
  curve.qos_unit = metric.unit();
  curve.higher_is_better = metric.higher_is_better();
  curve.threshold = s.options.threshold.to_string();
  curve.max_loss = s.max_loss_calibration;
  curve.baseline_qos_calibration = s.base_calibration;
  curve.baseline_qos_test = s.base_test;
  curve.baseline_latency = s.base_latency;
  curve.baseline_energy = s.base_energy;
  curve.evaluations = result.evaluations;
  // Without a reference the exact configuration always passes: the curve starts at the baseline.
  std::vector<SearchPoint> front = pareto_set(passed);
  // Configurations that tie on both objectives are one point of the curve: keep the first found.
  front.erase(std::unique(front.begin(), front.end(),
                          [](const SearchPoint& a, const SearchPoint& b) {
                            return a.qos_loss == b.qos_loss && a.gain == b.gain;
                          }),
              front.end());
  for (const SearchPoint& point : front) {
    CurvePoint out;
    const CostEstimate estimate = cost_of(point.config);
    out.predicted_qos = predicted.count(point.config) ? predicted.at(point.config) : measured_qos(point.config);
    out.qos_calibration = measured_qos(point.config);
    out.qos_test = test_qos.at(point.config);
    out.latency = estimate.latency;
    out.energy = estimate.energy;
    out.speedup = s.base_latency / estimate.latency;
    out.energy_reduction = s.cost.has_energy() ? s.base_energy / estimate.energy : std::nan("");
    out.config = to_approx_config(s.space, point.config);
    // The activation ranges the configuration was measured with travel with it, so `coda eval`
    // and `coda simulate --config` quantize exactly as validation did.
    for (const auto& [name, choice] : out.config.ops) {
      auto range = s.ranges.find(name);
      if (range != s.ranges.end() && family_needs_ranges(s.catalog.require(choice.knob).family))
        out.config.ranges[name] = range->second;
    }
    curve.points.push_back(std::move(out));
  }
  for (std::size_t i = 0; i < curve.points.size(); ++i) curve.points[i].name = "conf" + std::to_string(i + 1);
  stats_.total_seconds = stats_.exact_seconds + seconds_since(start);
  curve.tuning_seconds = stats_.total_seconds;
  return curve;
}

Curve Tuner::install(const Curve& shipped) {
  shipped.check_matches(impl_->prepared, "curve");
  return install_or_tune(&shipped);
}

}  // namespace coda::tuner
