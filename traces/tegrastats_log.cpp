#include "traces/tegrastats_log.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "traces/number_text.h"

namespace coda::traces {

namespace {

// L4T R28 rail names and the R32 names of the same INA3221 channels (REFERENCE.md section 3),
// which sim/platforms/tx2.yaml uses.
const std::map<std::string, std::string> kR28RailNames = {{"VDD_CPU", "VDD_SYS_CPU"},
                                                           {"VDD_GPU", "VDD_SYS_GPU"},
                                                           {"VDD_SOC", "VDD_SYS_SOC"},
                                                           {"VDD_DDR", "VDD_SYS_DDR"},
                                                           {"VDD_WIFI", "VDD_4V0_WIFI"}};

const std::set<std::string> kKeywords = {"RAM", "SWAP", "CPU", "EMC_FREQ", "GR3D_FREQ", "APE", "MTS"};

bool is_identifier(std::string_view token) {
  if (token.empty() || !(std::isalpha(static_cast<unsigned char>(token[0])) || token[0] == '_')) return false;
  return std::all_of(token.begin(), token.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string_view without_suffix(std::string_view text, std::string_view suffix) {
  return ends_with(text, suffix) ? text.substr(0, text.size() - suffix.size()) : text;
}

std::optional<double> non_negative(std::string_view text) {
  std::optional<double> value = parse_finite(text);
  if (value && *value < 0) return std::nullopt;
  return value;
}

// "A/B" with both parts non-negative numbers once `suffix` is taken off each.
std::optional<std::pair<double, double>> ratio(std::string_view token, std::string_view suffix) {
  std::size_t slash = token.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::optional<double> a = non_negative(without_suffix(token.substr(0, slash), suffix));
  std::optional<double> b = non_negative(without_suffix(token.substr(slash + 1), suffix));
  if (!a || !b) return std::nullopt;
  return std::make_pair(*a, *b);
}

// "NAME@41.5C": a thermal zone's temperature.
std::optional<std::pair<std::string, double>> temperature(std::string_view token) {
  std::size_t at = token.find('@');
  if (at == std::string_view::npos || !ends_with(token, "C")) return std::nullopt;
  std::string_view name = token.substr(0, at);
  if (!is_identifier(name)) return std::nullopt;
  std::optional<double> value = parse_finite(token.substr(at + 1, token.size() - at - 2));
  if (!value) return std::nullopt;
  return std::make_pair(std::string(name), *value);
}

// "53%" or "53%@140": load and, where given, clock in MHz.
struct LoadAndClock {
  double load_pct = 0;
  std::optional<double> freq_mhz;
};
std::optional<LoadAndClock> load_and_clock(std::string_view token) {
  std::size_t percent = token.find('%');
  if (percent == std::string_view::npos) return std::nullopt;
  LoadAndClock result;
  std::optional<double> load = non_negative(token.substr(0, percent));
  if (!load) return std::nullopt;
  result.load_pct = *load;
  std::string_view rest = token.substr(percent + 1);
  if (rest.empty()) return result;
  if (rest.front() != '@') return std::nullopt;
  result.freq_mhz = non_negative(rest.substr(1));
  if (!result.freq_mhz) return std::nullopt;
  return result;
}

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

// One line's fields, read left to right.
class LineParser {
 public:
  LineParser(const std::string& where, std::vector<std::string_view> words, bool skip_unknown,
             std::map<std::string, int>& skipped)
      : where_(where), words_(std::move(words)), skip_unknown_(skip_unknown), skipped_(skipped) {}

  // Fills `sample` from words_[first...]; returns whether some known field was read.
  bool parse(std::size_t first, TegrastatsSample& sample) {
    bool any = false;
    k_ = first;
    while (k_ < words_.size()) {
      if (starts_field(k_)) {
        read_field(sample);
        any = true;
        continue;
      }
      std::string name(words_[k_]);
      if (!skip_unknown_) fail("unknown tegrastats field '" + name + "' (coda import --skip-unknown skips such fields)");
      ++skipped_[name];
      for (++k_; k_ < words_.size() && !starts_field(k_);) ++k_;
    }
    return any;
  }
  bool renamed_rails() const { return renamed_rails_; }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw BadInput(where_ + ": " + problem); }
  [[noreturn]] void bad_value(const std::string& field, const std::string& expected) const {
    std::string got = k_ < words_.size() ? "'" + std::string(words_[k_]) + "'" : std::string("the end of the line");
    fail(field + ": expected " + expected + ", got " + got);
  }

  // A rail: a name followed by "current/average" in mW. Values that are numbers only in shape
  // ("nan/3177") still make a rail, so that read_field reports them; "0/252kB" (IRAM) does not.
  bool starts_rail(std::size_t k) const {
    if (!is_identifier(words_[k]) || k + 1 >= words_.size()) return false;
    std::string_view value = words_[k + 1];
    std::size_t slash = value.find('/');
    if (slash == std::string_view::npos) return false;
    auto numeric_shape = [](std::string_view part) {
      part = without_suffix(part, "mW");
      return !part.empty() && part.find_first_not_of("0123456789.+-eEnNaAiIfF") == std::string_view::npos;
    };
    return numeric_shape(value.substr(0, slash)) && numeric_shape(value.substr(slash + 1));
  }
  bool starts_field(std::size_t k) const {
    std::string word(words_[k]);
    if (word == "CPU") return (k + 1 < words_.size() && words_[k + 1].front() == '[') || starts_rail(k);
    return kKeywords.count(word) || temperature(words_[k]) || starts_rail(k);
  }

  void once(const std::string& field) {
    if (!seen_.insert(field).second) fail(field + " appears twice on the line");
  }
  std::string_view next_value() { return ++k_ < words_.size() ? words_[k_] : std::string_view(); }

  // "(lfb 1x1MB)" or "(cached 0MB)" after RAM and SWAP: detail coda does not keep.
  void skip_parenthesis(const std::string& field, const char* opening) {
    if (k_ + 1 >= words_.size() || words_[k_ + 1] != opening) return;
    ++k_;
    std::string_view closing = next_value();
    if (closing.empty() || closing.back() != ')') bad_value(field, std::string(opening) + " ...)");
  }

  void read_field(TegrastatsSample& sample) {
    const std::string word(words_[k_]);
    if (word == "RAM" || word == "SWAP") {
      once(word);
      std::optional<std::pair<double, double>> used_total = ratio(next_value(), "MB");
      if (!used_total || !ends_with(words_[k_], "MB")) bad_value(word, "USED/TOTALMB");
      (word == "RAM" ? sample.ram_used_mb : sample.swap_used_mb) = used_total->first;
      (word == "RAM" ? sample.ram_total_mb : sample.swap_total_mb) = used_total->second;
      skip_parenthesis(word, word == "RAM" ? "(lfb" : "(cached");
    } else if (word == "CPU" && k_ + 1 < words_.size() && words_[k_ + 1].front() == '[') {
      once(word);
      read_cores(next_value(), sample);
    } else if (word == "EMC_FREQ" || word == "GR3D_FREQ") {
      once(word);
      std::optional<LoadAndClock> value = load_and_clock(next_value());
      if (!value) bad_value(word, "LOAD% or LOAD%@MHZ");
      (word == "EMC_FREQ" ? sample.emc_load_pct : sample.gr3d_load_pct) = value->load_pct;
      (word == "EMC_FREQ" ? sample.emc_freq_mhz : sample.gr3d_freq_mhz) = value->freq_mhz;
    } else if (word == "APE") {
      once(word);
      sample.ape_mhz = non_negative(next_value());
      if (!sample.ape_mhz) bad_value(word, "a clock in MHz");
    } else if (word == "MTS") {
      once(word);
      for (const char* part : {"fg", "bg"}) {
        if (next_value() != part) bad_value(word, std::string(part));
        std::optional<LoadAndClock> value = load_and_clock(next_value());
        if (!value || value->freq_mhz) bad_value(word + " " + part, "LOAD%");
        (std::string(part) == "fg" ? sample.mts_fg_pct : sample.mts_bg_pct) = value->load_pct;
      }
    } else if (std::optional<std::pair<std::string, double>> zone = temperature(words_[k_])) {
      once(zone->first + "@");
      sample.temperature_c[zone->first] = zone->second;
    } else {  // a rail
      std::optional<std::pair<double, double>> readings = ratio(next_value(), "mW");
      if (!readings) bad_value(word, "CURRENT/AVERAGE in mW");
      auto renamed = kR28RailNames.find(word);
      std::string name = renamed == kR28RailNames.end() ? word : renamed->second;
      renamed_rails_ = renamed_rails_ || renamed != kR28RailNames.end();
      once(name);
      sample.rails.push_back({name, readings->first, readings->second});
    }
    ++k_;
  }

  // "[0%@960,off,12%@499]"
  void read_cores(std::string_view list, TegrastatsSample& sample) {
    if (list.size() < 2 || list.back() != ']') bad_value("CPU", "[LOAD%@MHZ,...] without spaces");
    std::string_view inside = list.substr(1, list.size() - 2);
    std::size_t start = 0;
    while (start <= inside.size()) {
      std::size_t comma = std::min(inside.find(',', start), inside.size());
      std::string_view core = inside.substr(start, comma - start);
      TegrastatsCore parsed;
      if (core == "off") {
        parsed.online = false;
      } else {
        std::optional<LoadAndClock> value = load_and_clock(core);
        if (!value) fail("CPU: core " + std::to_string(sample.cpu.size()) + ": expected LOAD%@MHZ or off, got '" +
                         std::string(core) + "'");
        parsed.load_pct = value->load_pct;
        parsed.freq_mhz = value->freq_mhz;
      }
      sample.cpu.push_back(parsed);
      start = comma + 1;
    }
  }

  const std::string& where_;
  std::vector<std::string_view> words_;
  bool skip_unknown_;
  std::map<std::string, int>& skipped_;
  std::size_t k_ = 0;
  std::set<std::string> seen_;
  bool renamed_rails_ = false;
};

// The timestamp at the start of a line and how many words it takes, if the line has one.
std::optional<std::pair<double, std::size_t>> leading_time(const std::vector<std::string_view>& words) {
  if (words.size() >= 2) {
    std::string two = std::string(words[0]) + " " + std::string(words[1]);
    if (std::optional<double> time = parse_log_time(two)) return std::make_pair(*time, std::size_t{2});
  }
  if (!words.empty())
    if (std::optional<double> time = parse_log_time(words[0])) return std::make_pair(*time, std::size_t{1});
  return std::nullopt;
}

std::string rail_list(const std::vector<TegrastatsRail>& rails) {
  std::string list;
  for (const TegrastatsRail& rail : rails) list += (list.empty() ? "" : ", ") + rail.name;
  return list.empty() ? "none" : list;
}

}  // namespace

TegrastatsLog parse_tegrastats(const std::string& text, const std::string& source, const TegrastatsOptions& options) {
  TegrastatsLog log;
  log.source = source;
  std::size_t begin = 0;
  int line_number = 0;
  while (begin < text.size()) {
    std::size_t end = std::min(text.find('\n', begin), text.size());
    std::string_view line(text.data() + begin, end - begin);
    begin = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::vector<std::string_view> words = split_words(line);
    if (words.empty()) continue;

    const std::string where = source + ":" + std::to_string(line_number);
    TegrastatsSample sample;
    sample.line = line_number;
    std::optional<std::pair<double, std::size_t>> stamp = leading_time(words);
    const bool first = log.samples.empty();
    if (first) log.timestamped = stamp.has_value();
    if (stamp.has_value() != log.timestamped)
      throw BadInput(where + ": " + (stamp ? "a timestamp, where the lines before have none"
                                           : "no timestamp, where the lines before have one"));
    if (stamp) {
      sample.time_s = stamp->first;
    } else {
      if (!(options.interval_s > 0))
        throw BadInput(where + ": the lines carry no timestamps; give the sampling interval (coda import --interval-ms)");
      sample.time_s = options.start_s + static_cast<double>(log.samples.size() + 1) * options.interval_s;
    }
    if (!first && !(sample.time_s > log.samples.back().time_s))
      throw BadInput(where + ": timestamp " + number_text(sample.time_s) + " s is not after the previous line's (" +
                     number_text(log.samples.back().time_s) + " s, line " + std::to_string(log.samples.back().line) +
                     ")");

    LineParser parser(where, words, options.skip_unknown, log.skipped_unknown);
    if (!parser.parse(stamp ? stamp->second : 0, sample))
      throw BadInput(where + ": not a tegrastats line (no field coda knows)");

    if (!first) {
      const std::vector<TegrastatsRail>& expected = log.samples.front().rails;
      auto names = [](const std::vector<TegrastatsRail>& rails) {
        std::set<std::string> set;
        for (const TegrastatsRail& rail : rails) set.insert(rail.name);
        return set;
      };
      if (names(sample.rails) != names(expected))
        throw BadInput(where + ": rails " + rail_list(sample.rails) + " differ from line " +
                       std::to_string(log.samples.front().line) + "'s (" + rail_list(expected) + ")");
    }
    if (parser.renamed_rails()) log.renamed_r28_rails = true;
    log.samples.push_back(std::move(sample));
  }
  return log;
}

TegrastatsLog read_tegrastats_log(const std::string& path, const TegrastatsOptions& options) {
  return parse_tegrastats(read_file(path), path, options);
}

PowerTimeline power_timeline(const TegrastatsLog& log, double interval_s) {
  if (log.samples.empty()) throw BadInput(log.source + ": no tegrastats lines");
  const std::vector<TegrastatsRail>& first_rails = log.samples.front().rails;
  if (first_rails.empty()) throw BadInput(log.source + ": the tegrastats lines carry no power rails");
  PowerTimeline timeline;
  timeline.source = log.source;
  for (const TegrastatsRail& rail : first_rails) timeline.rails.push_back(rail.name);
  if (interval_s > 0) timeline.first_window_s = interval_s;
  else if (log.samples.size() >= 2) timeline.first_window_s = log.samples[1].time_s - log.samples[0].time_s;
  else throw BadInput(log.source + ": one tegrastats line and no sampling interval (coda import --interval-ms)");

  for (const TegrastatsSample& sample : log.samples) {
    PowerTimeline::Sample out;
    out.time_s = sample.time_s;
    for (const std::string& rail : timeline.rails) {
      auto found = std::find_if(sample.rails.begin(), sample.rails.end(),
                                [&](const TegrastatsRail& r) { return r.name == rail; });
      out.rail_w.push_back(found->current_mw * 1e-3);  // parse_tegrastats checked every line has every rail
    }
    out.clock_mhz = sample.gr3d_freq_mhz;
    timeline.samples.push_back(std::move(out));
  }
  return timeline;
}

}  // namespace coda::traces
