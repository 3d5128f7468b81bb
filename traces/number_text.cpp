#include "traces/number_text.h"

#include <charconv>
#include <cmath>

namespace coda::traces {

std::string number_text(double value) {
  char buffer[32];  // the longest shortest form, "-2.2250738585072014e-308", takes 24
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  (void)error;  // cannot fail: the buffer holds every double's shortest form
  return std::string(buffer, end);
}

std::optional<double> parse_finite(std::string_view text) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end || !std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<int64_t> parse_integer(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(text.data(), end, value);
  if (error != std::errc() || stop != end) return std::nullopt;
  return value;
}

}  // namespace coda::traces
