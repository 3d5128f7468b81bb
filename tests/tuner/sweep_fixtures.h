// Networks for the sweep tests, built as the command line builds them (shapes only).
#pragma once

#include <string>

#include "tuner/sweep_evaluator.h"

namespace coda::tuner {

// zoo:NAME at a batch size, with "exact" or "knob:ID" (every op it applies to). BadInput for
// other models or configurations.
SweepNetwork load_zoo(const std::string& model, const std::string& config, int batch);

}  // namespace coda::tuner
