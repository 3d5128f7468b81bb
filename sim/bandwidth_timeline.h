// Shared-bandwidth arbitration for DRAM: time is cut into bins, each able to move
// bandwidth * bin_s bytes; a transfer fills the free capacity of the bins from its start onwards,
// no faster than its initiator port allows, and completes when its last byte is placed. Units
// that overlap in time therefore split the bandwidth, and a transfer that arrives late (temporal
// decoupling lets an initiator run ahead of another) still only takes what is left in each bin,
// so contention does not depend on the order in which decoupled initiators report.
#pragma once

#include <vector>

namespace coda::sim {

class BandwidthTimeline {
 public:
  BandwidthTimeline(double bytes_per_s, double bin_s);

  // Moves `bytes` starting at `start_s` (>= 0) at most at `port_bytes_per_s`; returns the time
  // the last byte arrives.
  double transfer(double start_s, double bytes, double port_bytes_per_s);
  // Bytes moved in [begin_s, end_s) (whole bins, for utilisation reports).
  double bytes_between(double begin_s, double end_s) const;
  double bytes_per_s() const { return bytes_per_s_; }

 private:
  double bytes_per_s_;
  double bin_s_;
  double bin_bytes_;
  std::vector<double> used_;  // bytes placed per bin
};

}  // namespace coda::sim
