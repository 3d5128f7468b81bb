#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <spdlog/spdlog.h>

namespace coda::cli {

namespace {

// Redraw rate on a terminal (fast enough to look live, slow enough to cost nothing) and the
// interval between logged lines when stderr is a file.
constexpr double kTerminalInterval = 0.1;
constexpr double kLogInterval = 5.0;
constexpr int kBarWidth = 24;

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(std::llround(seconds));
  char buffer[32];
  if (s >= 3600)
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buffer, sizeof buffer, "%lld:%02lld", s / 60, s % 60);
  return buffer;
}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), total_(total), unit_(std::move(unit)) {
  if (isatty(STDERR_FILENO))
    mode_ = Mode::Terminal;
  else if (spdlog::should_log(spdlog::level::info))
    mode_ = Mode::Log;
  else
    mode_ = Mode::Off;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

ProgressBar::~ProgressBar() {
  // Unwinding from an error: leave the partial line as it is and end it, so the error message
  // that follows starts on a line of its own.
  if (!finished_ && mode_ == Mode::Terminal && last_width_ > 0) std::fputc('\n', stderr);
}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string ProgressBar::render(int64_t done, const std::string& extra, bool final) const {
  const double elapsed = elapsed_seconds();
  std::string line = label_;
  if (total_ > 0) {
    const double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total_), 0.0, 1.0);
    const int filled = static_cast<int>(fraction * kBarWidth);
    line += " [" + std::string(static_cast<std::size_t>(filled), '#') +
            std::string(static_cast<std::size_t>(kBarWidth - filled), '.') + "] ";
    line += std::to_string(done) + "/" + std::to_string(total_);
  } else {
    line += " " + std::to_string(done);
  }
  if (!unit_.empty()) line += " " + unit_;
  if (elapsed > 0 && done > 0) {
    const double rate = static_cast<double>(done) / elapsed;
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, rate >= 100 ? ", %.0f/s" : ", %.3g/s", rate);
    line += buffer;
    if (final)
      line += ", " + format_duration(elapsed);
    else if (total_ > 0)
      line += ", ETA " + format_duration(static_cast<double>(total_ - done) / rate);
  }
  if (!extra.empty()) line += ", " + extra;
  return line;
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  done_ = done;
  extra_ = extra;
  if (mode_ == Mode::Off || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (since < (mode_ == Mode::Terminal ? kTerminalInterval : kLogInterval)) return;
  last_draw_ = now;
  const std::string line = render(done, extra, false);
  if (mode_ == Mode::Terminal) {
    // "\r" + the line, padded over what a longer previous line left behind.
    std::string padded = line;
    if (padded.size() < last_width_) padded.append(last_width_ - padded.size(), ' ');
    std::fprintf(stderr, "\r%s", padded.c_str());
    std::fflush(stderr);
    last_width_ = line.size();
  } else {
    spdlog::info("{}", line);
  }
}

void ProgressBar::finish(const std::string& extra) {
  if (finished_) return;
  finished_ = true;
  if (mode_ == Mode::Off) return;
  const std::string line = render(done_, extra.empty() ? extra_ : extra, true);
  if (mode_ == Mode::Terminal) {
    std::string padded = line;
    if (padded.size() < last_width_) padded.append(last_width_ - padded.size(), ' ');
    std::fprintf(stderr, "\r%s\n", padded.c_str());
    std::fflush(stderr);
  } else {
    spdlog::info("{}", line);
  }
}

}  // namespace coda::cli
