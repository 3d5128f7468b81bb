// Predictor speed: a whole ResNet-50 predicted from a fitted polynomial predictor (the issue's
// "well under a millisecond"), and lookup-table rows per second (">= 100k"). The predictor is
// fitted at start-up on a profile of ResNet-50's own layers at three GPU clocks, which gives it
// as many terms as a production fit has.
#include <benchmark/benchmark.h>

#include "kernels/executor.h"
#include "kernels/zoo.h"
#include "models/lut.h"
#include "models/network_prediction.h"
#include "models/predictor_fit.h"
#include "models/profiler.h"

namespace coda {
namespace {

const char* kSpace = R"(
seed: 1
units: [cpu, gpu]
dvfs: {gpu: [522.75, 854.25, 1300.5], cpu: [1113.6, 2035.2]}
knobs: [11, 12]
prior: {networks: [resnet50, resnet18]}
samples: {conv: 60, fc: 6, pool: 6, eltwise: 30}
adaptive: {rounds: 0}
)";

const models::LayerPredictor& fitted_predictor() {
  static std::unique_ptr<models::LayerPredictor> predictor = [] {
    models::LayerSpace space = models::parse_layer_space(kSpace, "bench space");
    models::ProfileResult profile = models::profile(space, sim::Platform::builtin(), {});
    models::FitOptions options;
    options.folds = 5;
    return models::fit_polynomial(profile.records, options);
  }();
  return *predictor;
}

void BM_PredictResNet50(benchmark::State& state) {
  ZooOptions options;
  options.shapes_only = true;
  Graph graph = build_zoo_model("resnet50", options);
  prepare_graph(graph);
  std::vector<OpChoice> choices(graph.nodes.size());
  sim::Platform platform = sim::Platform::builtin();
  const models::LayerPredictor& predictor = fitted_predictor();
  models::NetworkDescription description = models::describe_network(graph, choices, platform);
  for (auto _ : state) {
    sim::SimResult result = models::predict_network(graph, description, predictor, {});
    benchmark::DoNotOptimize(result.energy_j);
  }
  state.counters["ops"] = static_cast<double>(graph.nodes.size());
}
BENCHMARK(BM_PredictResNet50)->Unit(benchmark::kMicrosecond);

// Describing the network once per configuration: shape analysis and sim::describe_op per node.
void BM_DescribeResNet50(benchmark::State& state) {
  ZooOptions options;
  options.shapes_only = true;
  Graph graph = build_zoo_model("resnet50", options);
  prepare_graph(graph);
  std::vector<OpChoice> choices(graph.nodes.size());
  sim::Platform platform = sim::Platform::builtin();
  for (auto _ : state) {
    models::NetworkDescription description = models::describe_network(graph, choices, platform);
    benchmark::DoNotOptimize(description.queries.data());
  }
}
BENCHMARK(BM_DescribeResNet50)->Unit(benchmark::kMicrosecond);

void BM_LutRows(benchmark::State& state) {
  models::LayerSpace space = models::parse_layer_space(R"(
seed: 2
units: [cpu, gpu]
dvfs: {gpu: all, cpu: all}
knobs: [11, 12]
prior: {networks: [resnet50]}
samples: {conv: 50}
)", "bench lut space");
  sim::Platform platform = sim::Platform::builtin();
  const models::LayerPredictor& predictor = fitted_predictor();
  double rows = 0;
  for (auto _ : state) {
    models::LutTable table = models::build_lut(space, platform, predictor, "bench", {});
    rows += static_cast<double>(table.rows.size());
    benchmark::DoNotOptimize(table.rows.data());
  }
  state.counters["rows_per_s"] = benchmark::Counter(rows, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LutRows)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coda
