// `coda report --curve`: plots and a markdown index from a tuner curve (`coda tune --out`): QoS on
// the calibration and test splits against speedup and against energy reduction, with the QoS
// threshold, and a table of the curve's configurations.
#pragma once

#include <string>
#include <vector>

#include "cli/gnuplot.h"
#include "tuner/curve.h"

namespace coda::cli {

// QoS (calibration split as a line, test split as points) against speedup (`energy` false) or
// energy reduction (`energy` true), the exact baseline and the threshold line, into `stem`.png and
// `stem`.svg in the workspace; returns both names. Points without the figure are left out.
std::vector<std::string> plot_qos_tradeoff(const tuner::Curve& curve, bool energy, const PlotWorkspace& workspace,
                                           const std::string& stem);

// Renders qos_speedup, qos_energy (when any point has an energy reduction) and index.md into the
// workspace; `source` is the curve file, named in index.md. Returns the names of the files
// written, index.md last.
std::vector<std::string> render_curve_report(const tuner::Curve& curve, const std::string& source,
                                             const PlotWorkspace& workspace);

}  // namespace coda::cli
