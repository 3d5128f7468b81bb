// A progress line on stderr for long work (evaluation, training, sweeps): done / total, rate, ETA.
// On a terminal it redraws one line in place; otherwise, with --log-level info or finer, it logs a
// line every few seconds; otherwise it stays silent, so scripted runs get clean stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace coda::cli {

class ProgressBar {
 public:
  // `unit` names what is counted in the rate ("batches", "images"); `total` may be 0 if unknown.
  ProgressBar(std::string label, int64_t total, std::string unit = "");
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Reports `done` units finished; `extra` is appended (e.g. "loss 0.31, 5123 images/s").
  // Cheap to call often: output is throttled.
  void update(int64_t done, const std::string& extra = "");
  // Draws the final state and ends the line. Without it (an error unwinding) the destructor only
  // ends a partly drawn line.
  void finish(const std::string& extra = "");

  bool enabled() const { return mode_ != Mode::Off; }
  double elapsed_seconds() const;

 private:
  enum class Mode { Off, Terminal, Log };
  std::string render(int64_t done, const std::string& extra, bool final) const;

  std::string label_;
  int64_t total_;
  std::string unit_;
  Mode mode_;
  int64_t done_ = 0;
  std::string extra_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::size_t last_width_ = 0;
};

// "1:02:03", "4:05", "0:07".
std::string format_duration(double seconds);

}  // namespace coda::cli
