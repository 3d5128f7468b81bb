#include "cli/report_db.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernels/atomic_file.h"
#include "kernels/error.h"

namespace coda::cli {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxBreakdownBars = 20;
constexpr std::size_t kMaxErrorsListed = 20;
// Above this ratio of largest to smallest value an axis is drawn on a log scale.
constexpr double kLogSpan = 20.0;

std::string short_number(double value) { return fmt::format("{:.4g}", value); }
// Full precision for the data files gnuplot reads.
std::string data_number(double value) { return fmt::format("{:.9g}", value); }
std::string data_text(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? '\'' : c;
  return quoted + "\"";
}

bool parse_number(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(value);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

double latency_ms(const traces::SweepRecord& r) { return r.latency_s * 1e3; }
double energy_mj(const traces::SweepRecord& r) { return r.energy_j * 1e3; }
double edp(const traces::SweepRecord& r) { return r.latency_s * r.energy_j; }

// A plot range around [low, high] with a margin, never empty (gnuplot warns about empty ranges).
struct Range {
  double low = 0, high = 1;
  bool log = false;
  std::string gnuplot() const { return fmt::format("[{}:{}]", data_number(low), data_number(high)); }
};

Range padded_range(double low, double high, bool allow_log) {
  Range range;
  range.log = allow_log && low > 0 && high / low > kLogSpan;
  if (range.log) {
    const double factor = std::pow(high / low, 0.05);
    range.low = low / factor;
    range.high = high * factor;
  } else if (high > low) {
    const double pad = 0.06 * (high - low);
    range.low = low - pad;
    range.high = high + pad;
    if (low >= 0 && range.low < 0) range.low = 0;
  } else {
    const double pad = low != 0 ? 0.1 * std::fabs(low) : 1.0;
    range.low = low - pad;
    range.high = high + pad;
  }
  return range;
}

std::string axis_settings(const std::string& axis, const Range& range) {
  return fmt::format("{}set {}range {}\n", range.log ? "set logscale " + axis + "\n" : "", axis, range.gnuplot());
}

std::string sanitised(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ? c : '_';
  return out.empty() ? "axis" : out;
}

// What the plots share: the successfully evaluated points and how the axes vary over them.
struct ReportView {
  const SweepResults& results;
  std::vector<std::size_t> ok;  // records with status "ok" and finite figures, in design order
  int64_t errors = 0;
  std::map<std::string, std::vector<std::string>> distinct;  // axis -> values over `ok`, first appearance
  std::vector<std::string> varying;                           // axes with more than one value
  bool per_network = false;
  std::vector<std::size_t> front;  // in increasing latency; per network (merged) when per_network
  std::vector<std::string> files;

  explicit ReportView(const SweepResults& r) : results(r) {
    for (std::size_t i = 0; i < r.records.size(); ++i) {
      const traces::SweepRecord& record = r.records[i];
      if (record.status != "ok") {
        ++errors;
        continue;
      }
      if (!std::isfinite(record.latency_s) || !std::isfinite(record.energy_j)) continue;
      ok.push_back(i);
      for (const std::string& axis : r.axes) {
        auto it = r.values[i].find(axis);
        const std::string value = it == r.values[i].end() ? "" : it->second;
        auto& seen = distinct[axis];
        if (std::find(seen.begin(), seen.end(), value) == seen.end()) seen.push_back(value);
      }
    }
    for (const std::string& axis : r.axes)
      if (distinct[axis].size() > 1) varying.push_back(axis);
    per_network = distinct.count("network") && distinct["network"].size() > 1;
    if (per_network) {
      for (const std::string& network : distinct["network"]) {
        std::vector<std::size_t> group = with_value("network", network);
        for (std::size_t i : latency_energy_front(r, group)) front.push_back(i);
      }
      std::stable_sort(front.begin(), front.end(), [&r](std::size_t a, std::size_t b) {
        return r.records[a].latency_s < r.records[b].latency_s;
      });
    } else {
      front = latency_energy_front(r, ok);
    }
  }

  std::string value(std::size_t record, const std::string& axis) const {
    auto it = results.values[record].find(axis);
    return it == results.values[record].end() ? "" : it->second;
  }
  std::vector<std::size_t> with_value(const std::string& axis, const std::string& wanted) const {
    std::vector<std::size_t> selected;
    for (std::size_t i : ok)
      if (value(i, axis) == wanted) selected.push_back(i);
    return selected;
  }
  std::string title() const {
    auto it = results.meta.find("spec_name");
    return it != results.meta.end() && !it->second.empty()
               ? it->second
               : std::filesystem::path(results.source).filename().string();
  }
  std::string meta_or(const std::string& key, const std::string& fallback) const {
    auto it = results.meta.find(key);
    return it != results.meta.end() && !it->second.empty() ? it->second : fallback;
  }
};

void write_data(const PlotWorkspace& workspace, const std::string& name, const std::string& text) {
  write_file_atomically(workspace.file(name), text);
}

void plot_pareto(ReportView& view, const PlotWorkspace& workspace) {
  const auto& records = view.results.records;
  double lat_low = std::numeric_limits<double>::infinity(), lat_high = -lat_low, e_low = lat_low, e_high = -lat_low;
  std::string all;
  for (std::size_t i : view.ok) {
    all += data_number(latency_ms(records[i])) + " " + data_number(energy_mj(records[i])) + "\n";
    lat_low = std::min(lat_low, latency_ms(records[i]));
    lat_high = std::max(lat_high, latency_ms(records[i]));
    e_low = std::min(e_low, energy_mj(records[i]));
    e_high = std::max(e_high, energy_mj(records[i]));
  }
  write_data(workspace, "pareto_all.dat", all);

  std::vector<std::pair<std::string, std::vector<std::size_t>>> fronts;
  if (view.per_network) {
    for (const std::string& network : view.distinct.at("network"))
      fronts.emplace_back(network, latency_energy_front(view.results, view.with_value("network", network)));
  } else {
    fronts.emplace_back("Pareto front", view.front);
  }
  std::string plot = fmt::format("plot {} using 1:2 with points pt 7 ps 0.6 lc rgb '#b0b0b0' title {}",
                                 gnuplot_quoted(workspace.file("pareto_all.dat")),
                                 gnuplot_quoted(fmt::format("all points ({})", view.ok.size())));
  for (std::size_t k = 0; k < fronts.size(); ++k) {
    std::string data;
    for (std::size_t i : fronts[k].second)
      data += data_number(latency_ms(records[i])) + " " + data_number(energy_mj(records[i])) + "\n";
    const std::string name = fmt::format("pareto_front_{}.dat", k);
    write_data(workspace, name, data);
    plot += fmt::format(", \\\n     {} using 1:2 with linespoints lw 2 pt 7 ps 1.1 lc {} title {}",
                        gnuplot_quoted(workspace.file(name)), k + 1,
                        gnuplot_quoted(fmt::format("{} ({} points)", fronts[k].first, fronts[k].second.size())));
  }
  const std::string body = fmt::format(
      "set grid\nset key top right\nset title {}\nset xlabel 'latency (ms)'\nset ylabel 'energy (mJ)'\n{}{}{}\n",
      gnuplot_quoted(view.title() + ": energy vs latency, Pareto front" + (view.per_network ? "s per network" : "") +
                     " (both minimised)"),
      axis_settings("x", padded_range(lat_low, lat_high, true)), axis_settings("y", padded_range(e_low, e_high, true)),
      plot);
  for (const std::string& file : plot_png_and_svg(workspace, "pareto", body)) view.files.push_back(file);
}

// Which stored breakdown explains the board energy of the plotted points, and how well.
struct BreakdownChoice {
  std::string kind;         // "component_energy_j", "unit_energy_j" or "" (totals only)
  std::string description;  // for the chart title and index.md
  std::vector<std::map<std::string, double>> groups;  // per plotted point: group -> joules
};

std::map<std::string, double> grouped(const traces::SweepRecord& record, const std::string& kind) {
  std::map<std::string, double> groups;
  auto it = record.breakdown.find(kind);
  if (it == record.breakdown.end()) return groups;
  for (const auto& [name, joules] : it->second) {
    const std::string group = kind == "component_energy_j" && name != "static" ? name.substr(0, name.find('.')) : name;
    groups[group] += joules;
  }
  if (kind == "unit_energy_j") groups["static"] += record.idle_energy_j;
  return groups;
}

// Largest relative difference between a kind's sum and energy_j over the points (infinite when a
// point lacks the kind).
double largest_gap(const std::vector<const traces::SweepRecord*>& points, const std::string& kind) {
  double gap = 0;
  for (const traces::SweepRecord* record : points) {
    if (!record->breakdown.count(kind) || record->breakdown.at(kind).empty())
      return std::numeric_limits<double>::infinity();
    double sum = 0;
    for (const auto& [group, joules] : grouped(*record, kind)) sum += joules;
    gap = std::max(gap, std::fabs(sum - record->energy_j) / std::max(std::fabs(record->energy_j), 1e-300));
  }
  return gap;
}

BreakdownChoice choose_breakdown(const std::vector<const traces::SweepRecord*>& points) {
  const double by_component = largest_gap(points, "component_energy_j");
  const double by_unit = largest_gap(points, "unit_energy_j");
  BreakdownChoice choice;
  double gap = 0;
  if (std::isfinite(by_component) && by_component <= by_unit) {
    choice.kind = "component_energy_j";
    gap = by_component;
    choice.description = "simulator components grouped by unit (component_energy_j), static energy on its own";
  } else if (std::isfinite(by_unit)) {
    choice.kind = "unit_energy_j";
    gap = by_unit;
    choice.description = "ops' dynamic energy per unit (unit_energy_j) plus idle energy as static";
  } else {
    choice.description = "no per-unit breakdown stored: total energy only";
  }
  if (!choice.kind.empty())
    choice.description += gap < 1e-6 ? "; sums to energy_j" : fmt::format("; sums to energy_j within {:.2g}%", gap * 100);
  for (const traces::SweepRecord* record : points)
    choice.groups.push_back(choice.kind.empty() ? std::map<std::string, double>{{"total", record->energy_j}}
                                                : grouped(*record, choice.kind));
  return choice;
}

// Evenly spread positions into the front when it holds more points than bars fit.
std::vector<std::size_t> breakdown_positions(std::size_t front_size) {
  std::vector<std::size_t> positions;
  if (front_size <= kMaxBreakdownBars) {
    for (std::size_t p = 0; p < front_size; ++p) positions.push_back(p);
  } else {
    for (std::size_t k = 0; k < kMaxBreakdownBars; ++k)
      positions.push_back(static_cast<std::size_t>(
          std::llround(static_cast<double>(k) * static_cast<double>(front_size - 1) / (kMaxBreakdownBars - 1))));
  }
  return positions;
}

std::string plot_breakdown(ReportView& view, const PlotWorkspace& workspace) {
  const std::vector<std::size_t> positions = breakdown_positions(view.front.size());
  std::vector<const traces::SweepRecord*> points;
  for (std::size_t p : positions) points.push_back(&view.results.records[view.front[p]]);
  const BreakdownChoice choice = choose_breakdown(points);

  std::map<std::string, double> totals;
  for (const auto& groups : choice.groups)
    for (const auto& [group, joules] : groups) totals[group] += joules;
  std::vector<std::string> order;
  for (const auto& [group, joules] : totals)
    if (group != "static") order.push_back(group);
  std::stable_sort(order.begin(), order.end(), [&totals](const std::string& a, const std::string& b) {
    return totals[a] > totals[b];
  });
  if (totals.count("static")) order.push_back("static");

  std::string data = data_text("point");
  for (const std::string& group : order) data += " " + data_text(group);
  data += "\n";
  double highest = 0;
  for (std::size_t k = 0; k < positions.size(); ++k) {
    data += data_text(fmt::format("P{}", positions[k] + 1));
    double sum = 0;
    for (const std::string& group : order) {
      auto it = choice.groups[k].find(group);
      const double mj = it == choice.groups[k].end() ? 0.0 : it->second * 1e3;
      sum += mj;
      data += " " + data_number(mj);
    }
    highest = std::max(highest, sum);
    data += "\n";
  }
  write_data(workspace, "energy_breakdown.dat", data);
  const std::string body = fmt::format(
      "set title {}\nset style data histograms\nset style histogram rowstacked\nset style fill solid 0.85 border -1\n"
      "set boxwidth 0.75\nset key outside right top\nset grid ytics\nset xlabel {}\nset ylabel 'energy (mJ)'\n"
      "set yrange [0:{}]\n"
      "plot for [c=2:{}] {} using c:xtic(1) title columnheader(c)\n",
      gnuplot_quoted(fmt::format("{}: energy of the Pareto-front points\n{}", view.title(), choice.description)),
      gnuplot_quoted(positions.size() < view.front.size()
                         ? fmt::format("Pareto-front point by increasing latency ({} of {}; see index.md)",
                                       positions.size(), view.front.size())
                         : "Pareto-front point by increasing latency (see index.md)"),
      data_number(highest > 0 ? highest * 1.08 : 1.0), order.size() + 1,
      gnuplot_quoted(workspace.file("energy_breakdown.dat")));
  for (const std::string& file : plot_png_and_svg(workspace, "energy_breakdown", body)) view.files.push_back(file);
  return choice.description;
}

// The axis whose values split an axis plot into series: the configuration (or else the network),
// since platform axes often matter only for some of them (PROMISE banks only where ops run on
// PROMISE), and a median over all of them would hide that.
std::string series_axis(const ReportView& view, const std::string& axis) {
  for (const char* candidate : {"config", "network"})
    if (candidate != axis && std::find(view.varying.begin(), view.varying.end(), candidate) != view.varying.end())
      return candidate;
  return "";
}

// Latency (top) and energy (bottom) against one axis: per series, the median over the other axes
// with bars from min to max.
void plot_axis(ReportView& view, const std::string& axis, const std::string& stem, const PlotWorkspace& workspace) {
  std::vector<std::string> values = view.distinct.at(axis);
  bool numeric = true;
  std::map<std::string, double> number;
  for (const std::string& v : values) numeric = numeric && parse_number(v, number[v]);
  if (numeric)
    std::stable_sort(values.begin(), values.end(),
                     [&number](const std::string& a, const std::string& b) { return number[a] < number[b]; });
  const std::string series = series_axis(view, axis);
  const std::vector<std::string> series_values = series.empty() ? std::vector<std::string>{""} : view.distinct.at(series);

  const auto& records = view.results.records;
  std::string data;
  double l_low = std::numeric_limits<double>::infinity(), l_high = -l_low, e_low = l_low, e_high = -l_low;
  for (std::size_t s = 0; s < series_values.size(); ++s) {
    for (std::size_t k = 0; k < values.size(); ++k) {
      std::vector<double> latencies, energies;
      for (std::size_t i : view.with_value(axis, values[k])) {
        if (!series.empty() && view.value(i, series) != series_values[s]) continue;
        latencies.push_back(latency_ms(records[i]));
        energies.push_back(energy_mj(records[i]));
      }
      if (latencies.empty()) continue;
      const auto [l_min, l_max] = std::minmax_element(latencies.begin(), latencies.end());
      const auto [e_min, e_max] = std::minmax_element(energies.begin(), energies.end());
      l_low = std::min(l_low, *l_min);
      l_high = std::max(l_high, *l_max);
      e_low = std::min(e_low, *e_min);
      e_high = std::max(e_high, *e_max);
      // Series sit a little apart along x so that their bars do not hide each other.
      const double offset = (static_cast<double>(s) - 0.5 * static_cast<double>(series_values.size() - 1)) * 0.03;
      const std::string x = numeric ? data_number(number[values[k]]) : data_number(static_cast<double>(k) + offset);
      data += fmt::format("{} {} {} {} {} {} {} {} {}\n", x, data_number(median(latencies)), data_number(*l_min),
                          data_number(*l_max), data_number(median(energies)), data_number(*e_min),
                          data_number(*e_max), data_text(values[k]), data_number(offset));
    }
    data += "\n\n";  // a gnuplot data set per series
  }
  const std::string file = stem + ".dat";
  write_data(workspace, file, data);

  std::string x_settings;
  std::string x_column = "1";
  if (numeric) {
    const Range range = padded_range(number[values.front()], number[values.back()], true);
    x_settings = axis_settings("x", range);
    // A relative shift per series on log axes, an absolute one on linear axes.
    x_column = range.log ? fmt::format("($1*(1+$9))") : fmt::format("($1+$9*{})", data_number(range.high - range.low));
  } else {
    x_settings = fmt::format("set xrange [-0.5:{}]\n", data_number(static_cast<double>(values.size()) - 0.5));
    std::string tics = "set xtics (";
    for (std::size_t k = 0; k < values.size(); ++k)
      tics += fmt::format("{}{} {}", k ? ", " : "", gnuplot_quoted(values[k]), k);
    x_settings += tics + ")\n";
  }
  static const char* const kColours[] = {"#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860",
                                         "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"};
  auto plot_command = [&](int median_column) {
    std::string command = "plot ";
    for (std::size_t s = 0; s < series_values.size(); ++s) {
      const std::string title = series.empty() ? "all points" : series + " = " + series_values[s];
      command += fmt::format("{}{} index {} using {}:{}:{}:{} with yerrorlines lw 2 pt 7 lc rgb '{}' title {}",
                             s ? ", \\\n     " : "", gnuplot_quoted(workspace.file(file)), s, x_column, median_column,
                             median_column + 1, median_column + 2, kColours[s % 10], gnuplot_quoted(title));
    }
    return command + "\n";
  };
  const std::string body = fmt::format(
      "set multiplot layout 2,1 title {}\nset grid\nset key outside right top vertical\n{}"
      "set xlabel ''\nset ylabel 'latency (ms)'\n{}{}"
      "set xlabel {}\nset ylabel 'energy (mJ)'\nunset logscale y\n{}{}unset multiplot\n",
      gnuplot_quoted(fmt::format("{}: latency and energy vs {}\nmedian over the other axes{}, bars from min to max",
                                 view.title(), axis, series.empty() ? "" : ", per " + series)),
      x_settings, axis_settings("y", padded_range(l_low, l_high, true)), plot_command(2), gnuplot_quoted(axis),
      axis_settings("y", padded_range(e_low, e_high, true)), plot_command(5));
  for (const std::string& produced : plot_png_and_svg(workspace, stem, body)) view.files.push_back(produced);
}

std::string axis_values_cells(const ReportView& view, std::size_t record) {
  std::string cells;
  for (const std::string& axis : view.results.axes) cells += " " + markdown_cell(view.value(record, axis)) + " |";
  return cells;
}

// "| first | axis... | trailing... |" and its rule line.
std::string table_header(const ReportView& view, const std::string& first, const std::vector<std::string>& trailing) {
  std::string header = "| " + first + " |", rule = "|---|";
  for (const std::string& axis : view.results.axes) {
    header += " " + markdown_cell(axis) + " |";
    rule += "---|";
  }
  for (const std::string& column : trailing) {
    header += " " + column + " |";
    rule += "---|";
  }
  return header + "\n" + rule + "\n";
}

std::string image_section(const std::string& heading, const std::string& stem, const std::string& text) {
  return fmt::format("### {}\n\n{}![{}]({}.svg)\n\n[{}.png]({}.png) · [{}.svg]({}.svg)\n\n", heading,
                     text.empty() ? "" : text + "\n\n", heading, stem, stem, stem, stem, stem);
}

std::string index_markdown(const ReportView& view, const std::string& breakdown_description,
                           const std::vector<std::pair<std::string, std::string>>& axis_plots) {
  const SweepResults& results = view.results;
  const auto& records = results.records;
  std::string md = fmt::format("# Sweep report: {}\n\n", view.title());
  md += fmt::format("- database: `{}`\n", results.source);
  md += fmt::format("- points stored: {}; ok: {}; errors: {}\n", records.size(),
                    static_cast<int64_t>(records.size()) - view.errors, view.errors);
  if (view.ok.size() + static_cast<std::size_t>(view.errors) < records.size())
    md += fmt::format("- ok points with non-finite figures, not plotted: {}\n",
                      records.size() - view.ok.size() - static_cast<std::size_t>(view.errors));
  md += fmt::format("- coda version: {}\n", view.meta_or("coda_version", "not recorded"));
  md += fmt::format("- evaluator: {}\n", view.meta_or("evaluator", "not recorded"));
  std::string axes;
  for (const std::string& axis : results.axes) {
    const std::size_t n = view.distinct.count(axis) ? view.distinct.at(axis).size() : 0;
    axes += fmt::format("{}`{}` ({} value{})", axes.empty() ? "" : ", ", axis, n, n == 1 ? "" : "s");
  }
  md += fmt::format("- axes: {}\n\n", axes.empty() ? "none" : axes);

  auto metrics = [&](std::size_t i) {
    return fmt::format(" {} | {} | {} | {} |", short_number(latency_ms(records[i])), short_number(energy_mj(records[i])),
                       short_number(records[i].avg_power_w), short_number(edp(records[i]) * 1e6));
  };
  auto best = [&](auto figure) {
    return *std::min_element(view.ok.begin(), view.ok.end(),
                             [&](std::size_t a, std::size_t b) { return figure(records[a]) < figure(records[b]); });
  };
  md += "## Best points\n\n" +
        table_header(view, "", {"latency (ms)", "energy (mJ)", "avg power (W)", "EDP (mJ·ms)"});
  md += "| best latency |" + axis_values_cells(view, best(latency_ms)) + metrics(best(latency_ms)) + "\n";
  md += "| best energy |" + axis_values_cells(view, best(energy_mj)) + metrics(best(energy_mj)) + "\n";
  md += "| best EDP |" + axis_values_cells(view, best(edp)) + metrics(best(edp)) + "\n\n";

  md += "## Pareto front\n\n";
  md += fmt::format("Latency vs energy, both minimised{}: {} point{} in increasing latency.\n\n",
                    view.per_network ? ", one front per network" : "", view.front.size(),
                    view.front.size() == 1 ? "" : "s");
  md += table_header(view, "#", {"latency (ms)", "energy (mJ)", "avg power (W)"});
  for (std::size_t p = 0; p < view.front.size(); ++p) {
    const std::size_t i = view.front[p];
    md += fmt::format("| P{} |{} {} | {} | {} |\n", p + 1, axis_values_cells(view, i), short_number(latency_ms(records[i])),
                      short_number(energy_mj(records[i])), short_number(records[i].avg_power_w));
  }
  md += "\n## Plots\n\n";
  md += image_section("Pareto front", "pareto",
                      "Every successful point in grey; the front" + std::string(view.per_network ? "s per network" : "") +
                          " as lines.");
  md += image_section("Energy breakdown", "energy_breakdown",
                      fmt::format("Pareto-front points labelled as in the table above ({}).", breakdown_description));
  for (const auto& [axis, stem] : axis_plots) {
    const std::string series = series_axis(view, axis);
    md += image_section("Across " + axis, stem,
                        "Latency (top) and energy (bottom): median over the other axes" +
                            (series.empty() ? std::string() : ", one line per " + series) + ", bars from min to max.");
  }
  if (axis_plots.empty()) md += "No axis takes more than one value among the successful points: no per-axis plots.\n\n";

  if (view.errors > 0) {
    md += "## Errors\n\n" + table_header(view, "index", {"error"});
    std::size_t listed = 0;
    for (std::size_t i = 0; i < records.size() && listed < kMaxErrorsListed; ++i) {
      if (records[i].status == "ok") continue;
      md += fmt::format("| {} |{} {} |\n", records[i].index, axis_values_cells(view, i), markdown_cell(records[i].error));
      ++listed;
    }
    if (static_cast<std::size_t>(view.errors) > listed)
      md += fmt::format("\nand {} more.\n", static_cast<std::size_t>(view.errors) - listed);
    md += "\n";
  }
  return md;
}

}  // namespace

std::string gnuplot_quoted(const std::string& text) {
  // Single quotes keep gnuplot from expanding backslashes and `command` substitutions in names
  // taken from the input; line breaks join single-quoted pieces with a double-quoted "\n".
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') quoted += "''";
    else if (c == '\n') quoted += "'.\"\\n\".'";
    else quoted += c;
  }
  return quoted + "'";
}

std::string markdown_cell(const std::string& text) {
  std::string cell;
  for (char c : text) {
    if (c == '|') cell += "\\|";
    else if (c == '\n' || c == '\r') cell += ' ';
    else cell += c;
  }
  return cell;
}

std::vector<std::string> plot_png_and_svg(const PlotWorkspace& workspace, const std::string& stem,
                                          const std::string& body, int width, int height) {
  const std::string png = stem + ".png", svg = stem + ".svg";
  const std::string script = fmt::format(
      "set terminal pngcairo size {w},{h} font ',10' noenhanced\nset output {png}\n{body}unset output\n"
      "reset\nset terminal svg size {w},{h} font 'Sans,11' noenhanced background rgb 'white'\nset output {svg}\n{body}"
      "unset output\n",
      fmt::arg("w", width), fmt::arg("h", height), fmt::arg("png", gnuplot_quoted(workspace.file(png))),
      fmt::arg("svg", gnuplot_quoted(workspace.file(svg))), fmt::arg("body", body));
  run_gnuplot(workspace, script, "report");
  return {png, svg};
}

SweepResults load_sweep_results(const std::string& db_path) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(db_path, error)) throw BadInput(db_path + ": no such database file");
  SweepResults results;
  results.source = db_path;
  {
    traces::ResultsStore store(db_path, /*create=*/false);
    results.meta = store.all_meta();
    results.records = store.read_all();
  }
  auto axes = results.meta.find("axes");
  if (axes != results.meta.end() && !axes->second.empty()) {
    const json parsed = json::parse(axes->second, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_array())
      throw BadInput(db_path + ": meta \"axes\" is not a JSON array of axis names");
    for (const json& name : parsed) {
      if (!name.is_string()) throw BadInput(db_path + ": meta \"axes\" is not a JSON array of axis names");
      results.axes.push_back(name.get<std::string>());
    }
  }
  int64_t ok = 0;
  const traces::SweepRecord* first_error = nullptr;
  for (const traces::SweepRecord& record : results.records) {
    const json point = json::parse(record.point, nullptr, false);
    if (point.is_discarded() || !point.is_object())
      throw BadInput(fmt::format("{}: point {} (key {}) is not a JSON object of axis values", db_path, record.index,
                                 record.key));
    std::map<std::string, std::string> values;
    for (const auto& [axis, value] : point.items()) {
      values[axis] = value.is_string() ? value.get<std::string>() : value.dump();
      if (std::find(results.axes.begin(), results.axes.end(), axis) == results.axes.end()) results.axes.push_back(axis);
    }
    results.values.push_back(std::move(values));
    if (record.status == "ok") ++ok;
    else if (!first_error) first_error = &record;
  }
  if (ok == 0)
    throw BadInput(fmt::format("{}: no point was evaluated successfully ({} stored{}); nothing to plot", db_path,
                               results.records.size(),
                               first_error ? fmt::format(", first error: {}", first_error->error) : std::string()));
  return results;
}

std::vector<std::size_t> latency_energy_front(const SweepResults& results, const std::vector<std::size_t>& candidates) {
  std::vector<std::size_t> order = candidates;
  const auto& records = results.records;
  std::stable_sort(order.begin(), order.end(), [&records](std::size_t a, std::size_t b) {
    if (records[a].latency_s != records[b].latency_s) return records[a].latency_s < records[b].latency_s;
    return records[a].energy_j < records[b].energy_j;
  });
  // In increasing latency a point is on the front exactly when it needs less energy than every
  // faster point (equal latency sorts the cheaper first, so the dearer one is dominated).
  std::vector<std::size_t> front;
  double lowest_energy = std::numeric_limits<double>::infinity();
  for (std::size_t i : order) {
    if (records[i].energy_j < lowest_energy) {
      front.push_back(i);
      lowest_energy = records[i].energy_j;
    }
  }
  return front;
}

std::vector<std::string> render_sweep_report(const SweepResults& results, const PlotWorkspace& workspace) {
  ReportView view(results);
  if (view.ok.empty()) throw BadInput(results.source + ": no successful point has finite latency and energy");
  plot_pareto(view, workspace);
  const std::string breakdown = plot_breakdown(view, workspace);
  std::vector<std::pair<std::string, std::string>> axis_plots;
  std::set<std::string> stems;
  for (const std::string& axis : view.varying) {
    std::string stem = "axis_" + sanitised(axis);
    for (int n = 2; stems.count(stem); ++n) stem = fmt::format("axis_{}_{}", sanitised(axis), n);
    stems.insert(stem);
    plot_axis(view, axis, stem, workspace);
    axis_plots.emplace_back(axis, stem);
  }
  write_file_atomically(workspace.file("index.md"), index_markdown(view, breakdown, axis_plots));
  view.files.push_back("index.md");
  return view.files;
}

}  // namespace coda::cli
