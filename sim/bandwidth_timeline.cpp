#include "sim/bandwidth_timeline.h"

#include <algorithm>
#include <cmath>

namespace coda::sim {

BandwidthTimeline::BandwidthTimeline(double bytes_per_s, double bin_s)
    : bytes_per_s_(bytes_per_s), bin_s_(bin_s), bin_bytes_(bytes_per_s * bin_s) {}

double BandwidthTimeline::transfer(double start_s, double bytes, double port_bytes_per_s) {
  double t = std::max(0.0, start_s);
  if (bytes <= 0) return t;
  double rate = std::min(port_bytes_per_s, bytes_per_s_);
  double remaining = bytes;
  for (;;) {
    auto bin = static_cast<std::size_t>(std::floor(t / bin_s_));
    double bin_end = static_cast<double>(bin + 1) * bin_s_;
    // t / bin_s can round down onto the bin that ends exactly at t.
    if (bin_end <= t) bin_end = static_cast<double>(++bin + 1) * bin_s_;
    if (bin >= used_.size()) used_.resize(std::max(used_.size() * 2, bin + 1024), 0.0);
    double span = bin_end - t;
    // What this initiator can move in the rest of the bin: its port rate, the bin's share of
    // the remaining time, and what other transfers left free.
    double free_bytes = std::min(bin_bytes_ - used_[bin], bin_bytes_ * span / bin_s_);
    double available = std::max(0.0, std::min(free_bytes, rate * span));
    if (available >= remaining) {
      used_[bin] += remaining;
      return t + span * remaining / available;
    }
    used_[bin] += available;
    remaining -= available;
    t = bin_end;
  }
}

double BandwidthTimeline::bytes_between(double begin_s, double end_s) const {
  double total = 0;
  auto first = static_cast<std::size_t>(std::max(0.0, std::floor(begin_s / bin_s_)));
  auto last = static_cast<std::size_t>(std::max(0.0, std::ceil(end_s / bin_s_)));
  for (std::size_t i = first; i < last && i < used_.size(); ++i) total += used_[i];
  return total;
}

}  // namespace coda::sim
