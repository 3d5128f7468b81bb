// The run-time controller on synthetic latency tables: policy 1 picks the cheapest sufficient
// point, policy 2's mix meets the required speedup in expectation, the sliding window decides
// when to act; and the DVFS schedule file.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/error.h"
#include "sim/platform.h"
#include "tuner/runtime_adapt.h"

namespace coda::tuner {
namespace {

// Two clocks; the slow one doubles every time. Speedups at either clock: baseline 1, A 1.25,
// B 1.6, C 2, D 1.667 -- D is slower than C and worse, so never worth choosing.
AdaptTable synthetic_table() {
  AdaptTable table;
  table.clocks_mhz = {1000, 500};
  table.names = {"baseline", "A", "B", "C", "D"};
  table.qos = {90, 89, 87, 85, 84};
  const std::vector<double> fast_ms = {10, 8, 6.25, 5, 6};
  for (double ms : fast_ms) {
    // Power stays put, so energy follows time.
    table.cost.push_back({PointCost{ms * 1e-3, ms * 2e-3, 2.0}, PointCost{2 * ms * 1e-3, 2 * ms * 2e-3, 2.0}});
  }
  return table;
}

TEST(RuntimeAdapt, FrontierDropsDominatedPointsAndSortsBySpeedup) {
  const AdaptTable table = synthetic_table();
  AdaptController controller(table, AdaptOptions{});
  EXPECT_EQ(controller.frontier(0), (std::vector<std::size_t>{0, 1, 2, 3}));
  EXPECT_DOUBLE_EQ(controller.speedup(2, 1), 1.6);
}

TEST(RuntimeAdapt, Policy1PicksTheCheapestSufficientPoint) {
  const AdaptTable table = synthetic_table();
  AdaptController controller(table, AdaptOptions{});
  EXPECT_EQ(controller.policy1(0, 0.5).first, 0u);   // nothing needed: exact
  EXPECT_EQ(controller.policy1(0, 1.0).first, 0u);
  EXPECT_EQ(controller.policy1(0, 1.25).first, 1u);  // exactly A's speedup
  EXPECT_EQ(controller.policy1(0, 1.3).first, 2u);   // A too slow, B the least approximate that suffices
  EXPECT_EQ(controller.policy1(0, 1.7).first, 3u);   // C, not the dominated D
  const Choice too_much = controller.policy1(0, 2.5);
  EXPECT_EQ(too_much.first, 3u);
  EXPECT_FALSE(too_much.reachable);
  // Against a linear scan over every point: the best QoS among those fast enough (up to the
  // rounding of a ratio of times, so that 10 / 6.25 meets 1.6).
  for (int percent = 90; percent <= 200; ++percent) {
    const double required = percent / 100.0;
    std::size_t best = 0;
    bool found = false;
    for (std::size_t p = 0; p < table.names.size(); ++p)
      if (controller.speedup(p, 1) >= required * (1 - 1e-9) && (!found || table.qos[p] > table.qos[best])) {
        best = p;
        found = true;
      }
    const Choice choice = controller.policy1(1, required);
    EXPECT_EQ(choice.first, best) << required;
    EXPECT_EQ(choice.p_second, 0.0);
  }
}

TEST(RuntimeAdapt, Policy2MixesNeighboursToTheRequiredSpeedup) {
  const AdaptTable table = synthetic_table();
  AdaptOptions options;
  options.policy = 2;
  AdaptController controller(table, options);
  const Choice mix = controller.policy2(0, 1.45);
  EXPECT_EQ(mix.first, 1u);   // A, 1.25
  EXPECT_EQ(mix.second, 2u);  // B, 1.6
  // The expected time meets the target: (1 - p) / 1.25 + p / 1.6 = 1 / 1.45.
  const double p_time = (1 / 1.25 - 1 / 1.45) / (1 / 1.25 - 1 / 1.6);
  EXPECT_NEAR(mix.p_second, p_time, 1e-12);
  EXPECT_NEAR((1 - mix.p_second) / 1.25 + mix.p_second / 1.6, 1 / 1.45, 1e-12);
  EXPECT_EQ(controller.policy2(0, 1.6).p_second, 0.0);  // a point meets it exactly: no mix
  EXPECT_EQ(controller.policy2(0, 1.6).first, 2u);
  EXPECT_FALSE(controller.policy2(0, 3.0).reachable);
}

TEST(RuntimeAdapt, Policy2MeetsTheTargetTimeInExpectationAndIsSeeded) {
  const AdaptTable table = synthetic_table();
  AdaptOptions options;
  options.policy = 2;
  options.target_s = 10e-3 / 1.45;  // the baseline at 1000 MHz must run 1.45x faster
  options.seed = 11;
  const std::vector<ClockStep> schedule = {{1000, 20000}};
  const AdaptResult result = run_adaptation(table, schedule, options);
  double time_sum = 0;
  int a = 0, b = 0;
  for (const InvocationRecord& r : result.invocations) {
    time_sum += r.time_s;
    a += r.point == "A";
    b += r.point == "B";
  }
  EXPECT_EQ(a + b, 20000);
  // The mean time meets the target; its standard error, (T1 - T2) sqrt(p (1 - p) / n), is 9e-4 of
  // the target: allow about 3 of them.
  const double p_time = (1 / 1.25 - 1 / 1.45) / (1 / 1.25 - 1 / 1.6);
  EXPECT_NEAR(time_sum / 20000 / options.target_s, 1.0, 0.003);
  EXPECT_NEAR(result.steps[0].avg_qos, (1 - p_time) * 89 + p_time * 87, 1e-9);

  const AdaptResult again = run_adaptation(table, schedule, options);
  options.seed = 12;
  const AdaptResult other = run_adaptation(table, schedule, options);
  bool same = true, differs = false;
  for (std::size_t i = 0; i < result.invocations.size(); ++i) {
    same &= again.invocations[i].point == result.invocations[i].point;
    differs |= other.invocations[i].point != result.invocations[i].point;
  }
  EXPECT_TRUE(same);
  EXPECT_TRUE(differs);
}

TEST(RuntimeAdapt, ControllerActsOnlyWhenTheWindowAverageLeavesTheBand) {
  const AdaptTable table = synthetic_table();
  AdaptOptions options;
  options.window = 5;
  options.tolerance = 0.5;  // act above 15 ms: after three 20 ms invocations in a window of five
  const AdaptResult result = run_adaptation(table, {{1000, 30}, {500, 30}}, options);
  EXPECT_DOUBLE_EQ(result.target_s, 10e-3);  // default: the baseline at the first clock
  ASSERT_EQ(result.invocations.size(), 60u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(result.invocations[i].point, "baseline");
  EXPECT_FALSE(result.invocations[30].switched);
  EXPECT_FALSE(result.invocations[31].switched);
  EXPECT_NEAR(result.invocations[31].window_avg_s, 14e-3, 1e-12);
  EXPECT_TRUE(result.invocations[32].switched);
  // Required speedup at 500 MHz: 20 ms / 10 ms = 2, which only C reaches.
  for (int i = 33; i < 60; ++i) {
    EXPECT_EQ(result.invocations[i].point, "C");
    EXPECT_FALSE(result.invocations[i].switched);
  }
  // The window restarted with the switch: it holds only C's invocations.
  EXPECT_DOUBLE_EQ(result.invocations[33].window_avg_s, 10e-3);
  const StepSummary& slow = result.steps[1];
  EXPECT_EQ(slow.switches, 1);
  EXPECT_EQ(slow.used.at("baseline"), 3);
  EXPECT_EQ(slow.used.at("C"), 27);
  EXPECT_NEAR(slow.avg_time_s, (3 * 20e-3 + 27 * 10e-3) / 30, 1e-12);
  EXPECT_NEAR(slow.avg_qos, (3 * 90.0 + 27 * 85.0) / 30, 1e-9);
  EXPECT_NEAR(slow.qos_loss, 90 - slow.avg_qos, 1e-9);
  EXPECT_NEAR(slow.avg_power_w, 2.0, 1e-12);
  EXPECT_NEAR(slow.energy_per_invocation_j, 2.0 * slow.avg_time_s, 1e-12);

  // A window of one reacts to the first slow invocation.
  options.window = 1;
  const AdaptResult eager = run_adaptation(table, {{1000, 3}, {500, 3}}, options);
  EXPECT_TRUE(eager.invocations[3].switched);
  EXPECT_EQ(eager.invocations[4].point, "C");
}

TEST(RuntimeAdapt, BadOptionsAreBadInput) {
  const AdaptTable table = synthetic_table();
  AdaptOptions options;
  options.window = 0;
  EXPECT_THROW(run_adaptation(table, {{1000, 3}}, options), BadInput);
  options.window = 3;
  options.policy = 3;
  EXPECT_THROW(run_adaptation(table, {{1000, 3}}, options), BadInput);
  options.policy = 1;
  EXPECT_THROW(run_adaptation(table, {}, options), BadInput);
  EXPECT_THROW(run_adaptation(table, {{700, 3}}, options), BadInput);
}

TEST(RuntimeAdapt, ScheduleFileIsCheckedAgainstThePlatformsGpuClocks) {
  const sim::Platform platform = sim::Platform::builtin();
  const auto steps = parse_clock_schedule("steps:\n  - {gpu_mhz: 1300.5, invocations: 4}\n  - {gpu_mhz: 522.75, invocations: 2}\n",
                                          "s.yaml", platform);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[1].gpu_mhz, 522.75);
  EXPECT_EQ(steps[1].invocations, 2);

  auto message = [&](const std::string& yaml) {
    try {
      parse_clock_schedule(yaml, "s.yaml", platform);
    } catch (const BadInput& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("steps:\n  - {gpu_mhz: 600, invocations: 4}\n").find("s.yaml: steps[0].gpu_mhz: 600 is not a GPU clock of"),
            std::string::npos);
  EXPECT_NE(message("steps: []\n").find("s.yaml: the schedule has no steps"), std::string::npos);
  EXPECT_NE(message("steps:\n  - {gpu_mhz: 1300.5, invocations: 0}\n").find("invocations must be a whole number >= 1"),
            std::string::npos);
  EXPECT_NE(message("steps:\n  - {gpu_mhz: 1300.5, calls: 3}\n").find("unknown field 'calls'"), std::string::npos);
  EXPECT_NE(message("steps:\n  - {gpu_mhz: fast, invocations: 3}\n").find("'fast' is not a number"), std::string::npos);
  EXPECT_NE(message("clock: 3\n").find("expected a map with \"steps\""), std::string::npos);
}

}  // namespace
}  // namespace coda::tuner
