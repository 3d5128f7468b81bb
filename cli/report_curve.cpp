#include "cli/report_curve.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "cli/report_db.h"
#include "kernels/atomic_file.h"

namespace coda::cli {
namespace {

std::string short_number(double value) { return std::isfinite(value) ? fmt::format("{:.4g}", value) : "–"; }
std::string data_number(double value) { return fmt::format("{:.9g}", value); }

double threshold_bound(const tuner::Curve& curve) {
  return curve.higher_is_better ? curve.baseline_qos_calibration - curve.max_loss
                                : curve.baseline_qos_calibration + curve.max_loss;
}

std::string qos_label(const tuner::Curve& curve) {
  const std::string metric = curve.qos_metric.empty() ? "QoS" : curve.qos_metric;
  return curve.qos_unit.empty() ? metric : metric + " (" + curve.qos_unit + ")";
}

std::string model_title(const tuner::Curve& curve) {
  return curve.model.empty() ? "tradeoff curve" : std::filesystem::path(curve.model).filename().string();
}

std::string image_section(const std::string& heading, const std::string& stem, const std::string& text) {
  return fmt::format("### {}\n\n{}\n\n![{}]({}.svg)\n\n[{}.png]({}.png) · [{}.svg]({}.svg)\n\n", heading, text, heading,
                     stem, stem, stem, stem, stem);
}

// "default 12 + 2 ops": the knob every op gets unless listed, and how many ops are listed.
std::string knobs_text(const ApproxConfig& config) {
  const std::size_t listed = config.ops.size();
  return fmt::format("default {}{}", config.has_all ? config.all.knob : config.defaults.knob,
                     listed == 0 ? "" : fmt::format(" + {} op{}", listed, listed == 1 ? "" : "s"));
}

bool any_energy(const tuner::Curve& curve) {
  return std::any_of(curve.points.begin(), curve.points.end(),
                     [](const tuner::CurvePoint& p) { return std::isfinite(p.energy_reduction); });
}

std::string index_markdown(const tuner::Curve& curve, const std::string& source, bool energy_plot) {
  std::string md = fmt::format("# Tradeoff curve report: {}\n\n", model_title(curve));
  md += fmt::format("- curve: `{}`\n", source);
  md += fmt::format("- model: `{}`; data: `{}`\n", curve.model, curve.data);
  md += fmt::format("- {} phase, {} objective, {} tuning, cost model {}{}\n", curve.phase, curve.objective, curve.tuning,
                    curve.cost_model.empty() ? "unnamed" : curve.cost_model,
                    curve.platform.empty() ? "" : " on " + curve.platform);
  md += fmt::format("- QoS metric: {}, {} is better\n", qos_label(curve), curve.higher_is_better ? "higher" : "lower");
  md += fmt::format("- threshold: {} (loss at most {} against the calibration baseline: QoS {} {})\n",
                    markdown_cell(curve.threshold), short_number(curve.max_loss), curve.higher_is_better ? ">=" : "<=",
                    short_number(threshold_bound(curve)));
  md += fmt::format("- baseline QoS: {} (calibration split), {} (test split)\n",
                    short_number(curve.baseline_qos_calibration), short_number(curve.baseline_qos_test));
  md += fmt::format("- baseline cost ({}'s figures): latency {}, energy {}\n",
                    curve.cost_model.empty() ? "cost model" : curve.cost_model, short_number(curve.baseline_latency),
                    std::isfinite(curve.baseline_energy) ? short_number(curve.baseline_energy) : "not modelled");
  md += fmt::format("- points: {}; search evaluations: {}; tuning time: {} s\n\n", curve.points.size(), curve.evaluations,
                    short_number(curve.tuning_seconds));

  const bool pruned = std::any_of(curve.points.begin(), curve.points.end(),
                                  [](const tuner::CurvePoint& p) { return !p.model.empty(); });
  md += "## Configurations\n\n";
  md += "| name | predicted QoS | calibration QoS | test QoS | speedup | energy reduction | knobs |";
  md += pruned ? " model |\n|---|---|---|---|---|---|---|---|\n" : "\n|---|---|---|---|---|---|---|\n";
  for (const tuner::CurvePoint& p : curve.points) {
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} |", markdown_cell(p.name), short_number(p.predicted_qos),
                      short_number(p.qos_calibration), short_number(p.qos_test), short_number(p.speedup),
                      short_number(p.energy_reduction), knobs_text(p.config));
    md += pruned ? " " + markdown_cell(p.model.empty() ? curve.model : p.model) + " |\n" : "\n";
  }
  md += "\n## Plots\n\n";
  md += image_section("QoS vs speedup", "qos_speedup",
                      "Calibration split as a line, test split as open circles, the exact baseline as black squares "
                      "(filled: calibration, open: test) and the threshold dashed.");
  if (energy_plot)
    md += image_section("QoS vs energy reduction", "qos_energy",
                        "Points without an energy figure are left out.");
  else
    md += "No point has an energy reduction (the cost model has no energy): no QoS-vs-energy plot.\n";
  return md;
}

}  // namespace

std::vector<std::string> plot_qos_tradeoff(const tuner::Curve& curve, bool energy, const PlotWorkspace& workspace,
                                           const std::string& stem) {
  struct Row {
    double x, calibration, test;
    std::string name;
  };
  std::vector<Row> rows;
  for (const tuner::CurvePoint& p : curve.points) {
    const double x = energy ? p.energy_reduction : p.speedup;
    if (std::isfinite(x)) rows.push_back({x, p.qos_calibration, p.qos_test, p.name});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.x < b.x; });
  const double bound = threshold_bound(curve);
  double x_high = 1.0, y_low = std::min(bound, curve.baseline_qos_calibration),
         y_high = std::max(bound, curve.baseline_qos_calibration);
  y_low = std::min(y_low, curve.baseline_qos_test);
  y_high = std::max(y_high, curve.baseline_qos_test);
  std::string data;
  for (const Row& row : rows) {
    std::string label = row.name;
    std::replace(label.begin(), label.end(), '"', '\'');
    data += fmt::format("{} {} {} \"{}\"\n", data_number(row.x), data_number(row.calibration), data_number(row.test),
                        label);
    x_high = std::max(x_high, row.x);
    y_low = std::min({y_low, row.calibration, row.test});
    y_high = std::max({y_high, row.calibration, row.test});
  }
  double x_low = 1.0;
  for (const Row& row : rows) x_low = std::min(x_low, row.x);
  const std::string points_file = workspace.file(stem + ".dat"), baseline_file = workspace.file(stem + "_baseline.dat");
  write_file_atomically(points_file, data);
  write_file_atomically(baseline_file, fmt::format("1 {} {}\n", data_number(curve.baseline_qos_calibration),
                                                   data_number(curve.baseline_qos_test)));
  const double x_pad = 0.06 * (x_high - x_low) + 0.02, y_pad = 0.08 * (y_high - y_low) + 0.05;

  std::string plot = "plot ";
  if (!rows.empty())
    plot += fmt::format(
        "{0} using 1:2 with linespoints lw 2 pt 7 lc rgb '#4c72b0' title 'calibration split', \\\n"
        "     {0} using 1:3 with points pt 6 ps 1.4 lc rgb '#dd8452' title 'test split', \\\n"
        "     {0} using 1:2:4 with labels offset 0,0.9 font ',8' notitle, \\\n     ",
        gnuplot_quoted(points_file));
  plot += fmt::format(
      "{0} using 1:2 with points pt 5 ps 1.5 lc rgb 'black' title 'exact baseline (calibration)', \\\n"
      "     {0} using 1:3 with points pt 4 ps 1.5 lc rgb 'black' title 'exact baseline (test)', \\\n"
      "     {1} with lines dt 2 lw 1.5 lc rgb 'red' title {2}\n",
      gnuplot_quoted(baseline_file), data_number(bound),
      gnuplot_quoted(fmt::format("threshold {} ({} {})", curve.threshold, curve.higher_is_better ? ">=" : "<=",
                                 short_number(bound))));
  const std::string body = fmt::format(
      "set grid\nset key below horizontal maxcols 3\nset title {}\nset xlabel {}\nset ylabel {}\nset xrange [{}:{}]\nset yrange [{}:{}]\n{}",
      gnuplot_quoted(fmt::format("{}: {} tuning, {} cost, {} objective", model_title(curve), curve.tuning,
                                 curve.cost_model, curve.objective)),
      gnuplot_quoted(energy ? "energy reduction (x)" : "speedup (x)"), gnuplot_quoted(qos_label(curve)),
      data_number(x_low - x_pad), data_number(x_high + x_pad), data_number(y_low - y_pad), data_number(y_high + y_pad),
      plot);
  return plot_png_and_svg(workspace, stem, body, 900, 600);
}

std::vector<std::string> render_curve_report(const tuner::Curve& curve, const std::string& source,
                                             const PlotWorkspace& workspace) {
  std::vector<std::string> files = plot_qos_tradeoff(curve, false, workspace, "qos_speedup");
  const bool energy_plot = any_energy(curve);
  if (energy_plot)
    for (const std::string& file : plot_qos_tradeoff(curve, true, workspace, "qos_energy")) files.push_back(file);
  write_file_atomically(workspace.file("index.md"), index_markdown(curve, source, energy_plot));
  files.push_back("index.md");
  return files;
}

}  // namespace coda::cli
