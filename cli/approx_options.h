// The --config, --knob and --op-knob options of the commands that execute a network (run, eval): loads the configuration
// and makes the ApproxSession that applies it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "kernels/approx/approx_session.h"

namespace coda::cli {

struct ApproxOptions {
  std::string config_path;
  int knob = 0;                      // --knob: on every op it applies to
  std::vector<std::string> op_knobs;  // --op-knob NAME=ID[@UNIT]

  void add_to(CLI::App& app);
  // Null without --config, --knob or --op-knob. Throws BadInput naming the file when it is missing or malformed.
  std::unique_ptr<ApproxSession> make_session(std::uint64_t seed) const;
};

// Batches of `batch` images (the last, short one dropped unless it is the only one) from the
// first `limit` images of `images` (N x ...), as Executor::run input lists for calibration.
std::vector<std::vector<Tensor>> calibration_batches(const Tensor& images, int64_t batch, int64_t limit);

}  // namespace coda::cli
