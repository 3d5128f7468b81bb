#include "traces/power_alignment.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "kernels/error.h"
#include "traces/number_text.h"

namespace coda::traces {

namespace {

// Days from 1970-01-01 to year-month-day in the proleptic Gregorian calendar (H. Hinnant,
// "chrono-Compatible Low-Level Date Algorithms", days_from_civil).
int64_t days_from_civil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto year_of_era = static_cast<unsigned>(year - era * 400);
  const unsigned day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<int64_t>(day_of_era) - 719468;
}

bool leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int days_in_month(int year, int month) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && leap_year(year) ? 29 : kDays[month - 1];
}

// Reads a stamp left to right; every step fails (returns false) without side effects worth undoing.
class StampScanner {
 public:
  explicit StampScanner(std::string_view text) : text_(text) {}

  bool number(int digits, int& out) {
    if (pos_ + static_cast<std::size_t>(digits) > text_.size()) return false;
    int value = 0;
    for (int i = 0; i < digits; ++i) {
      char c = text_[pos_ + static_cast<std::size_t>(i)];
      if (c < '0' || c > '9') return false;
      value = value * 10 + (c - '0');
    }
    pos_ += static_cast<std::size_t>(digits);
    out = value;
    return true;
  }
  bool literal(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  // ".123..." as a fraction of a second; 0 when there is no '.'.
  bool fraction(double& out) {
    out = 0;
    if (!literal('.')) return true;
    std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    if (pos_ == start) return false;
    std::optional<double> value = parse_finite("0." + std::string(text_.substr(start, pos_ - start)));
    out = value.value_or(0);
    return value.has_value();
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool done() const { return pos_ == text_.size(); }
  void rewind() { pos_ = 0; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

std::optional<double> epoch_seconds(std::string_view text) {
  if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
  if (text.find_first_not_of("0123456789.") != std::string_view::npos) return std::nullopt;
  return parse_finite(text);
}

std::string seconds_text(double s) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%.6f", s);
  return buffer;
}

}  // namespace

std::optional<double> parse_log_time(std::string_view text) {
  if (std::optional<double> epoch = epoch_seconds(text)) return epoch;

  StampScanner scan(text);
  int year = 0, month = 0, day = 0;
  bool year_first = scan.number(4, year) && (scan.literal('-') || scan.literal('/'));
  if (year_first) {
    char separator = text[4];
    year_first = scan.number(2, month) && scan.literal(separator) && scan.number(2, day);
  }
  if (!year_first) {  // tegrastats: MM-DD-YYYY
    scan.rewind();
    if (!(scan.number(2, month) && scan.literal('-') && scan.number(2, day) && scan.literal('-') &&
          scan.number(4, year)))
      return std::nullopt;
  }
  if (!scan.literal('T') && !scan.literal(' ')) return std::nullopt;
  int hour = 0, minute = 0, second = 0;
  double fraction = 0;
  if (!(scan.number(2, hour) && scan.literal(':') && scan.number(2, minute) && scan.literal(':') &&
        scan.number(2, second) && scan.fraction(fraction)))
    return std::nullopt;
  int zone_minutes = 0;
  if (scan.literal('Z')) {
  } else if (scan.peek() == '+' || scan.peek() == '-') {
    int sign = scan.peek() == '+' ? 1 : -1;
    scan.literal(scan.peek());
    int zone_hours = 0, zone_rest = 0;
    if (!scan.number(2, zone_hours)) return std::nullopt;
    scan.literal(':');
    if (!scan.number(2, zone_rest) || zone_hours > 23 || zone_rest > 59) return std::nullopt;
    zone_minutes = sign * (zone_hours * 60 + zone_rest);
  }
  if (!scan.done()) return std::nullopt;
  // Second 60 is a leap second, which a stamp may show.
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 60)
    return std::nullopt;
  int64_t whole = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
                  hour * 3600 + minute * 60 + second - zone_minutes * 60;
  return static_cast<double>(whole) + fraction;
}

Alignment align_layers(const std::vector<sim::OpRecord>& layers, const PowerTimeline& power,
                       const AlignmentOptions& options) {
  const std::string& source = power.source;
  if (power.samples.empty()) throw BadInput(source + ": no power samples");
  auto input_at = std::find(power.rails.begin(), power.rails.end(), options.input_rail);
  if (input_at == power.rails.end()) {
    std::string rails;
    for (const std::string& rail : power.rails) rails += (rails.empty() ? "" : ", ") + rail;
    throw BadInput(source + ": no rail '" + options.input_rail + "' to measure the dynamic energy at (the log has " +
                   (rails.empty() ? std::string("no rails") : rails) + ")");
  }
  const auto input = static_cast<std::size_t>(input_at - power.rails.begin());
  if (layers.empty()) throw BadInput(source + ": no layers to align");

  // Sample i averages over [begin[i], end[i]].
  const std::size_t n = power.samples.size();
  std::vector<double> begin(n), end(n);
  for (std::size_t i = 0; i < n; ++i) {
    end[i] = power.samples[i].time_s;
    begin[i] = i == 0 ? end[0] - power.first_window_s : end[i - 1];
  }
  // The first window whose end is after `t`, so the first that can overlap a span starting at t.
  auto first_after = [&](double t) {
    return static_cast<std::size_t>(std::upper_bound(end.begin(), end.end(), t) - end.begin());
  };

  struct Span {
    double from = 0, to = 0;
  };
  std::vector<Span> spans;
  double earliest_start = layers.front().start_s;
  double largest_time = std::max(std::abs(begin[0]), std::abs(end[n - 1]));
  for (const sim::OpRecord& layer : layers) {
    // The end as (start + latency) + offset, the way a log's own times (start + k * interval) round.
    spans.push_back({layer.start_s + options.offset_s, (layer.start_s + layer.latency_s) + options.offset_s});
    earliest_start = std::min(earliest_start, layer.start_s);
    largest_time = std::max({largest_time, std::abs(spans.back().from), std::abs(spans.back().to)});
  }
  // Times on an epoch clock carry rounding of about 0.25 us; overlaps (and overhangs) shorter than
  // a few units in the last place of the largest time are rounding, not time the layer ran.
  const double slack = 4 * (std::nextafter(largest_time, HUGE_VAL) - largest_time);

  // Idle: the input rail over the windows no layer overlaps (touching at an end is no overlap).
  std::vector<bool> busy(n, false);
  for (const Span& span : spans)
    for (std::size_t i = first_after(span.from + slack); i < n && begin[i] < span.to - slack; ++i) busy[i] = true;
  double idle_energy = 0, idle_time = 0;
  int idle_samples = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (busy[i] || power.samples[i].rail_w.empty()) continue;
    double window = end[i] - begin[i];
    idle_energy += power.samples[i].rail_w[input] * window;
    idle_time += window;
    ++idle_samples;
  }

  Alignment result;
  if (options.idle_input_w) {
    result.idle_input_w = *options.idle_input_w;
  } else if (idle_samples > 0 && idle_time > 0) {
    result.idle_input_w = idle_energy / idle_time;
    result.idle_samples = idle_samples;
    result.idle_time_s = idle_time;
  } else {
    throw BadInput(source + ": every power sample overlaps a layer, so the idle " + options.input_rail +
                   " power cannot be measured; give it (coda import --idle-w)");
  }

  std::vector<double> energy(power.rails.size());
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const Span& span = spans[l];
    if (span.from < begin[0] - slack) {
      ++result.skipped["starts before the power log"];
      continue;
    }
    if (span.to > end[n - 1] + slack) {
      ++result.skipped["ends after the power log"];
      continue;
    }
    std::fill(energy.begin(), energy.end(), 0.0);
    double covered = 0;
    bool missing = false;
    for (std::size_t i = first_after(span.from); i < n && begin[i] < span.to; ++i) {
      double overlap = std::min(span.to, end[i]) - std::max(span.from, begin[i]);
      if (overlap <= slack) continue;
      const std::vector<double>& rail_w = power.samples[i].rail_w;
      if (rail_w.empty()) {
        missing = true;
        break;
      }
      for (std::size_t r = 0; r < rail_w.size(); ++r) energy[r] += rail_w[r] * overlap;
      covered += overlap;
    }
    if (missing) {
      ++result.skipped["overlaps a sample without a power reading"];
      continue;
    }
    if (covered <= 0) {
      ++result.skipped["shorter than the clocks' rounding"];
      continue;
    }

    sim::OpRecord op = layers[l];
    op.fidelity = "measured";
    op.start_s = layers[l].start_s - earliest_start;
    // Dividing by the covered time rather than the latency makes the weights sum to 1 (up to
    // rounding), so a constant power comes back as itself.
    for (std::size_t r = 0; r < power.rails.size(); ++r) op.avg_power_w[power.rails[r]] = energy[r] / covered;
    op.energy_j = (op.avg_power_w[options.input_rail] - result.idle_input_w) * op.latency_s;
    if (op.freq_mhz <= 0 && op.unit == options.clocked_unit) {
      std::size_t holding_midpoint = first_after(0.5 * (span.from + span.to));
      std::optional<double> clock =
          holding_midpoint < n ? power.samples[holding_midpoint].clock_mhz : std::optional<double>();
      if (clock) op.freq_mhz = *clock;
      else ++result.layers_without_clock;
    }
    if (op.freq_mhz > 0) op.cycles = std::llround(op.latency_s * op.freq_mhz * 1e6);
    result.ops.push_back(std::move(op));
  }

  if (result.ops.empty()) {
    double first = spans.front().from, last = spans.front().to;
    for (const Span& span : spans) {
      first = std::min(first, span.from);
      last = std::max(last, span.to);
    }
    throw BadInput(source + ": no layer falls inside the power log (it covers " + seconds_text(begin[0]) + " to " +
                   seconds_text(end[n - 1]) + " s; the layers, offset by " + seconds_text(options.offset_s) +
                   " s, run from " + seconds_text(first) + " to " + seconds_text(last) +
                   " s); check the clocks (coda import --offset-s)");
  }
  std::stable_sort(result.ops.begin(), result.ops.end(),
                   [](const sim::OpRecord& a, const sim::OpRecord& b) { return a.start_s < b.start_s; });
  return result;
}

}  // namespace coda::traces
