#include "sim/power_ledger.h"

#include <algorithm>
#include <cmath>

namespace coda::sim {

PowerLedger::PowerLedger(const RailModel& rails, double window_s)
    : model_(rails), rails_(rails.rails), window_s_(window_s), energy_(rails.rails.size()),
      static_j_(rails.rails.size(), 0.0), dynamic_j_(rails.rails.size(), 0.0) {}

int PowerLedger::rail_index(const std::string& rail) const {
  auto it = std::find(rails_.begin(), rails_.end(), rail);
  return it == rails_.end() ? -1 : static_cast<int>(it - rails_.begin());
}

void PowerLedger::add(int rail, double begin_s, double end_s, double energy_j, bool is_static) {
  if (rail < 0 || energy_j == 0) return;
  auto& bins = energy_[static_cast<std::size_t>(rail)];
  (is_static ? static_j_ : dynamic_j_)[static_cast<std::size_t>(rail)] += energy_j;
  begin_s = std::max(0.0, begin_s);
  auto first = static_cast<std::size_t>(std::floor(begin_s / window_s_));
  if (end_s <= begin_s) {
    if (first >= bins.size()) bins.resize(first + 1, 0.0);
    bins[first] += energy_j;
    return;
  }
  auto last = static_cast<std::size_t>(std::floor(end_s / window_s_));
  if (last >= bins.size()) bins.resize(last + 1, 0.0);
  double power = energy_j / (end_s - begin_s);
  for (std::size_t w = first; w <= last; ++w) {
    double lo = std::max(begin_s, static_cast<double>(w) * window_s_);
    double hi = std::min(end_s, static_cast<double>(w + 1) * window_s_);
    if (hi > lo) bins[w] += power * (hi - lo);
  }
}

PowerLedger::Window PowerLedger::window(std::size_t index, double end_s) const {
  Window window;
  double begin = static_cast<double>(index) * window_s_;
  window.end_s = std::min(end_s, begin + window_s_);
  window.length_s = window.end_s - begin;
  window.rail_w.assign(rails_.size() + 1, 0.0);
  double total = 0;
  for (std::size_t r = 0; r < rails_.size(); ++r) {
    double joules = index < energy_[r].size() ? energy_[r][index] : 0.0;
    window.rail_w[r + 1] = window.length_s > 0 ? joules / window.length_s : 0.0;
    total += window.rail_w[r + 1];
  }
  window.rail_w[0] = total / model_.regulator_efficiency + model_.board_static_w;
  return window;
}

std::vector<PowerLedger::Window> PowerLedger::windows(double end_s) const {
  std::vector<Window> result;
  auto count = static_cast<std::size_t>(std::ceil(end_s / window_s_ - 1e-9));
  for (std::size_t w = 0; w < count; ++w) result.push_back(window(w, end_s));
  return result;
}

}  // namespace coda::sim
