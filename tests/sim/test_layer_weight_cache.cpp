// The LightNN weight statistics cache: simulations through it equal simulations without it, on
// first use, on reuse and after precomputing, while the cache holds one entry per LightNN op.
#include <gtest/gtest.h>

#include "sim/layer_weight_cache.h"
#include "tests/sim/sim_fixtures.h"

namespace coda::test {
namespace {

TEST(LayerWeightCache, CachedSimulationsEqualFreshOnes) {
  const Graph graph = prepared_zoo("lenet5", 1, /*with_weights=*/true);
  const std::vector<OpChoice> choices = choices_for(graph, 81, Unit::LightNN);
  const sim::SimResult fresh = simulate_on(graph, choices);

  sim::LayerWeightCache filled_on_use;
  sim::SimOptions options;
  options.weight_cache = &filled_on_use;
  const sim::SimResult first = simulate_on(graph, choices, {}, options);
  const sim::SimResult reused = simulate_on(graph, choices, {"lightnn.rows=8"}, options);
  const sim::SimResult reused_fresh = simulate_on(graph, choices, {"lightnn.rows=8"});

  sim::LayerWeightCache precomputed;
  sim::precompute_weight_stats(graph, choices, sim::Platform::builtin(), precomputed);
  options.weight_cache = &precomputed;
  const sim::SimResult warm = simulate_on(graph, choices, {}, options);

  EXPECT_EQ(first.energy_j, fresh.energy_j);
  EXPECT_EQ(first.latency_s, fresh.latency_s);
  EXPECT_EQ(reused.energy_j, reused_fresh.energy_j);
  EXPECT_EQ(warm.energy_j, fresh.energy_j);
  // The quantized weights differ from the knob's nominal term count, so the cache holds real data.
  int lightnn_ops = 0;
  for (std::size_t n = 0; n < graph.nodes.size(); ++n) {
    if (choices[n].unit != Unit::LightNN) continue;
    ++lightnn_ops;
    ASSERT_TRUE(precomputed.find(static_cast<int>(n), 81).has_value()) << graph.nodes[n].name;
    EXPECT_EQ(*precomputed.find(static_cast<int>(n), 81), *filled_on_use.find(static_cast<int>(n), 81));
  }
  EXPECT_GT(lightnn_ops, 0);
  const Graph shapes_only = prepared_zoo("lenet5");
  EXPECT_NE(simulate_on(shapes_only, choices_for(shapes_only, 81, Unit::LightNN)).energy_j, fresh.energy_j);
}

}  // namespace
}  // namespace coda::test
