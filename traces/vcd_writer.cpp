#include "traces/vcd_writer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "kernels/atomic_file.h"
#include "traces/number_text.h"
#include "traces/result_checks.h"
#include "traces/unit_clocks.h"

namespace coda::traces {

namespace {

constexpr double kTicksPerSecond = 1e9;  // $timescale 1 ns

int64_t tick(double time_s) { return std::llround(time_s * kTicksPerSecond); }

// A VCD identifier code for the n-th variable: base-94 digits over the printable characters '!'
// to '~' (IEEE 1364-2005 18.2.3.8).
std::string identifier_code(std::size_t n) {
  std::string code;
  do {
    code += static_cast<char>('!' + n % 94);
    n /= 94;
  } while (n > 0);
  return code;
}

// `name` as a Verilog simple identifier ([A-Za-z_][A-Za-z0-9_]*), which every VCD reader accepts.
std::string identifier(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out.front()))) out.insert(out.begin(), '_');
  return out;
}

// Text for $date/$version/$comment blocks, which end at the first "$end".
std::string block_text(std::string text) {
  std::replace(text.begin(), text.end(), '$', '_');
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

struct Signal {
  std::string reference;
  bool real = true;  // otherwise a 1-bit wire holding 0 or 1
  std::vector<std::pair<int64_t, double>> changes;  // (tick, value), in the order they were learnt
};

// The changes a viewer needs: in time order, the last value at each time, none that repeats the
// value before it, and the first value also at time 0.
std::vector<std::pair<int64_t, double>> settled(std::vector<std::pair<int64_t, double>> changes) {
  std::stable_sort(changes.begin(), changes.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::pair<int64_t, double>> out;
  for (const auto& change : changes) {
    if (!out.empty() && out.back().first == change.first) {
      out.back().second = change.second;
    } else {
      out.push_back(change);
    }
  }
  if (!out.empty()) out.front().first = 0;  // a signal holds its first known value from the start
  std::vector<std::pair<int64_t, double>> distinct;
  for (const auto& change : out)
    if (distinct.empty() || distinct.back().second != change.second) distinct.push_back(change);
  return distinct;
}

std::vector<Signal> signals_of(const sim::SimResult& result) {
  std::vector<Signal> signals;
  for (std::size_t r = 0; r < result.rails.size() && !result.samples.empty(); ++r) {
    Signal power{"power_" + result.rails[r] + "_W", true, {}};
    for (const sim::PowerSample& sample : result.samples)
      power.changes.emplace_back(tick(std::max(0.0, sample.time_s - sample.window_s)), sample.rail_w[r]);
    signals.push_back(std::move(power));
  }
  for (std::size_t z = 0; z < result.zones.size() && !result.samples.empty(); ++z) {
    Signal temperature{"temp_" + result.zones[z] + "_C", true, {}};
    for (const sim::PowerSample& sample : result.samples)
      temperature.changes.emplace_back(tick(sample.time_s), sample.zone_c[z]);
    signals.push_back(std::move(temperature));
  }
  const std::vector<std::string> units = timeline_units(result);
  for (const std::string& unit : units) {
    Signal clock{"clock_" + unit + "_MHz", true, {}};
    for (const ClockChange& change : unit_clock(result, unit)) clock.changes.emplace_back(tick(change.time_s), change.freq_mhz);
    signals.push_back(std::move(clock));
  }
  for (const std::string& unit : units) {
    // Ops running at each tick: +1 at a start, -1 at an end; busy is whether any runs once all of
    // a tick's starts and ends are counted, so back-to-back ops keep the wire at 1.
    std::map<int64_t, int> running_delta;
    for (const sim::OpRecord& op : result.ops) {
      if (op.unit != unit) continue;
      running_delta[tick(op.start_s)] += 1;
      running_delta[tick(op.start_s + op.latency_s)] -= 1;
    }
    Signal busy{"busy_" + unit, false, {{0, 0.0}}};
    int running = 0;
    for (const auto& [at, delta] : running_delta) {
      running += delta;
      busy.changes.emplace_back(at, running > 0 ? 1.0 : 0.0);
    }
    signals.push_back(std::move(busy));
  }
  std::set<std::string> taken;
  for (Signal& signal : signals) {
    std::string base = identifier(signal.reference), name = base;
    for (int n = 2; !taken.insert(name).second; ++n) name = base + "_" + std::to_string(n);
    signal.reference = name;
    signal.changes = settled(std::move(signal.changes));
  }
  return signals;
}

std::string value_change(const Signal& signal, double value, const std::string& code) {
  if (signal.real) return "r" + number_text(value) + " " + code + "\n";
  return (value != 0 ? "1" : "0") + code + "\n";
}

std::string utc_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return text;
}

// The end of the run: the latest of the result's latency, the last op's end and the last sample.
int64_t end_tick(const sim::SimResult& result) {
  double end = result.latency_s;
  for (const sim::OpRecord& op : result.ops) end = std::max(end, op.start_s + op.latency_s);
  for (const sim::PowerSample& sample : result.samples) end = std::max(end, sample.time_s);
  return tick(end);
}

}  // namespace

void write_power_vcd(const std::string& path, const sim::SimResult& result) {
  check_result(path, result);
  const std::vector<Signal> signals = signals_of(result);

  std::string text = "$date\n\t" + utc_now() + "\n$end\n";
  text += "$version\n\tcoda " CODA_TRACES_VERSION "\n$end\n";
  text += "$comment\n\t" + block_text("platform " + result.platform + ", model " + result.model + ", batch " +
                                      std::to_string(result.batch)) + "\n$end\n";
  text += "$timescale 1 ns $end\n";
  text += "$scope module soc $end\n";
  for (std::size_t i = 0; i < signals.size(); ++i)
    text += std::string("$var ") + (signals[i].real ? "real 64 " : "wire 1 ") + identifier_code(i) + " " +
            signals[i].reference + " $end\n";
  text += "$upscope $end\n";
  text += "$enddefinitions $end\n";

  // Every change by time; within a time, signals in declaration order.
  std::map<int64_t, std::vector<std::pair<std::size_t, double>>> by_time;
  for (std::size_t i = 0; i < signals.size(); ++i)
    for (const auto& [at, value] : signals[i].changes) by_time[at].emplace_back(i, value);

  text += "#0\n$dumpvars\n";
  for (const auto& [signal, value] : by_time[0]) text += value_change(signals[signal], value, identifier_code(signal));
  text += "$end\n";
  int64_t last = 0;
  for (const auto& [at, changes] : by_time) {
    if (at == 0) continue;
    text += "#" + std::to_string(at) + "\n";
    for (const auto& [signal, value] : changes) text += value_change(signals[signal], value, identifier_code(signal));
    last = at;
  }
  if (const int64_t end = end_tick(result); end > last) text += "#" + std::to_string(end) + "\n";
  write_file_atomically(path, text);
}

}  // namespace coda::traces
