// `coda report --db`: plots and a markdown index from a sweep database -- the Pareto front of
// latency vs energy (one per network when the sweep has several), the energy breakdown of the
// front's points, and latency and energy across every axis that varies.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/gnuplot.h"
#include "traces/results_store.h"

namespace coda::cli {

// A sweep database as read for a report: every record with its axis values decoded.
struct SweepResults {
  std::string source;                            // the database path
  std::map<std::string, std::string> meta;
  std::vector<std::string> axes;                 // meta "axes", else the keys of the points in order
  std::vector<traces::SweepRecord> records;      // all of them, errors included, in design order
  std::vector<std::map<std::string, std::string>> values;  // per record: axis -> value
};

// Reads the database without changing it. Throws BadInput "PATH: problem" when it is missing, not a
// coda sweep database, its "axes" meta or a point is malformed, or no point was evaluated
// successfully (nothing to plot).
SweepResults load_sweep_results(const std::string& db_path);

// Points on the front of (latency, energy), both minimised, among `candidates` (indices into
// results.records), in increasing latency. Of points with equal figures only the first is kept.
std::vector<std::size_t> latency_energy_front(const SweepResults& results, const std::vector<std::size_t>& candidates);

// Runs the gnuplot `body` (set commands and a plot, no terminal or output) twice, into
// `stem`.png (pngcairo) and `stem`.svg in the workspace; returns both names. Shared by the --db
// and --curve reports.
std::vector<std::string> plot_png_and_svg(const PlotWorkspace& workspace, const std::string& stem,
                                          const std::string& body, int width = 1000, int height = 650);
// `text` as a single-quoted gnuplot string.
std::string gnuplot_quoted(const std::string& text);
// A value for a markdown table cell ('|' escaped, newlines flattened).
std::string markdown_cell(const std::string& text);

// Renders the report into the workspace: pareto, energy_breakdown and axis_<name> plots (PNG and
// SVG) and index.md. Returns the names of the files written, index.md last.
std::vector<std::string> render_sweep_report(const SweepResults& results, const PlotWorkspace& workspace);

}  // namespace coda::cli
