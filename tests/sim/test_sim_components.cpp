// The simulator's pure building blocks: DRAM bandwidth sharing, the power ledger's windows, the
// thermal RC model and the DVFS governors, checked against closed-form values.
#include <gtest/gtest.h>

#include <cmath>

#include "sim/bandwidth_timeline.h"
#include "sim/dvfs_plan.h"
#include "sim/power_ledger.h"
#include "sim/thermal_model.h"

namespace coda {
namespace {

TEST(BandwidthTimeline, ALoneTransferMovesAtTheSlowerOfPortAndDram) {
  sim::BandwidthTimeline dram(10e9, 1e-6);
  EXPECT_NEAR(dram.transfer(0, 1e6, 100e9), 1e6 / 10e9, 1e-12);
  sim::BandwidthTimeline narrow_port(10e9, 1e-6);
  EXPECT_NEAR(narrow_port.transfer(5e-6, 1e6, 2e9), 5e-6 + 1e6 / 2e9, 1e-12);
}

TEST(BandwidthTimeline, OverlappingTransfersShareTheBandwidthWhateverTheOrderTheyArrive) {
  sim::BandwidthTimeline a(10e9, 1e-6);
  double first = a.transfer(0, 1e6, 100e9);
  double second = a.transfer(0, 1e6, 100e9);
  // Together they need 2e6 bytes at 10 GB/s: the later one ends at 200 us.
  EXPECT_NEAR(std::max(first, second), 2e6 / 10e9, 1e-9);
  // A transfer reported late (temporal decoupling) still fits into the capacity left earlier.
  sim::BandwidthTimeline b(10e9, 1e-6);
  double late_start = b.transfer(100e-6, 1e5, 100e9);
  double early = b.transfer(0, 1e5, 100e9);
  EXPECT_NEAR(early, 1e5 / 10e9, 1e-12);
  EXPECT_NEAR(late_start, 100e-6 + 1e5 / 10e9, 1e-12);
  EXPECT_NEAR(b.bytes_between(0, 1), 2e5, 1e-6);
}

TEST(PowerLedger, WindowsIntegrateToTheEnergyRecordedAndDeriveTheInputRail) {
  sim::RailModel rails;
  rails.rails = {"A", "B"};
  rails.regulator_efficiency = 0.8;
  rails.board_static_w = 0.5;
  sim::PowerLedger ledger(rails, 1e-3);
  ledger.add(0, 0.2e-3, 2.7e-3, 5e-3, false);   // 2 W over 2.5 ms
  ledger.add_power(1, 0, 3.5e-3, 1.0);          // 1 W static
  auto windows = ledger.windows(3.5e-3);
  ASSERT_EQ(windows.size(), 4u);
  EXPECT_NEAR(windows.back().length_s, 0.5e-3, 1e-15);
  double a = 0, b = 0, in = 0;
  for (const auto& w : windows) {
    a += w.rail_w[1] * w.length_s;
    b += w.rail_w[2] * w.length_s;
    in += w.rail_w[0] * w.length_s;
    EXPECT_NEAR(w.rail_w[0], (w.rail_w[1] + w.rail_w[2]) / 0.8 + 0.5, 1e-12);
  }
  EXPECT_NEAR(a, 5e-3, 1e-15);
  EXPECT_NEAR(b, 3.5e-3, 1e-15);
  EXPECT_NEAR(in, (5e-3 + 3.5e-3) / 0.8 + 0.5 * 3.5e-3, 1e-12);
  EXPECT_NEAR(windows[1].rail_w[1], 2.0, 1e-12);  // fully inside the op
  EXPECT_NEAR(ledger.static_energy_j(1), 3.5e-3, 1e-15);
  EXPECT_NEAR(ledger.dynamic_energy_j(0), 5e-3, 1e-15);
}

sim::ThermalParams one_zone() {
  sim::ThermalParams params;
  params.ambient_c = 25;
  params.initial_c = 25;
  params.limit_c = 90;
  params.zones.push_back({"GPU", 10.0, 2.0, {"VDD_SYS_GPU"}});  // tau = 20 s
  return params;
}

TEST(ThermalModel, ApproachesAmbientPlusPowerTimesResistanceWithItsTimeConstant) {
  sim::ThermalModel model(one_zone(), {"VDD_IN", "VDD_SYS_GPU"});
  std::vector<double> power{9.0, 8.0};  // steady state 25 + 80 = 105 C
  for (int i = 0; i < 20000; ++i) model.step(power, 1e-3);  // 20 s, one time constant
  EXPECT_NEAR(model.temperatures()[0], 105 - 80 * std::exp(-1.0), 1e-6);
}

TEST(ThermalModel, TimeToLimitMatchesSteppingUntilTheLimit) {
  sim::ThermalModel model(one_zone(), {"VDD_IN", "VDD_SYS_GPU"});
  std::vector<double> power{9.0, 8.0};
  double predicted = model.time_to_limit(power);
  double t = 0;
  while (model.temperatures()[0] < 90) {
    model.step(power, 1e-3);
    t += 1e-3;
  }
  EXPECT_NEAR(predicted, t, 2e-3);
  sim::ThermalModel cool(one_zone(), {"VDD_IN", "VDD_SYS_GPU"});
  EXPECT_LT(cool.time_to_limit({2.0, 1.0}), 0);  // 35 C steady: never
}

TEST(Governor, OndemandAndThermalStepOneDvfsStepAtATime) {
  sim::DvfsTable table;
  table.points = {{100, 0.8}, {200, 0.9}, {300, 1.0}};
  sim::Governor ondemand;
  ondemand.kind = "ondemand";
  EXPECT_EQ(ondemand.next_freq(table, 200, 300, 0.95, 40), 300);
  EXPECT_EQ(ondemand.next_freq(table, 200, 300, 0.1, 40), 100);
  EXPECT_EQ(ondemand.next_freq(table, 200, 300, 0.5, 40), 200);
  EXPECT_EQ(ondemand.next_freq(table, 300, 300, 0.95, 40), 300);
  sim::Governor thermal;
  thermal.kind = "thermal";
  thermal.trip_c = 85;
  thermal.release_c = 80;
  EXPECT_EQ(thermal.next_freq(table, 300, 300, 1, 86), 200);
  EXPECT_EQ(thermal.next_freq(table, 200, 300, 1, 82), 200);  // hysteresis band
  EXPECT_EQ(thermal.next_freq(table, 200, 300, 1, 70), 300);
  EXPECT_EQ(thermal.next_freq(table, 200, 200, 1, 70), 200);  // never above the starting clock
}

}  // namespace
}  // namespace coda
