// Numbers in trace files: written as the shortest decimal that reads back to the same double, so
// a trace loses nothing (a fitted predictor sees exactly what the simulator produced), and read
// back strictly (the whole field, finite values only).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coda::traces {

// "0.1", "1e-07", "2500": std::to_chars' shortest round-trip form. Callers pass finite values.
std::string number_text(double value);

// The value when all of `text` is a finite decimal number, nothing otherwise (no spaces, no "+",
// no "nan" or "inf").
std::optional<double> parse_finite(std::string_view text);

// The value when all of `text` is a decimal integer in the range of int64_t.
std::optional<int64_t> parse_integer(std::string_view text);

}  // namespace coda::traces
