// IEEE binary16 rounding in float arithmetic. Every half-precision knob rounds its operands and
// results with round_to_half: a float holding a half value, added to or multiplied by another and
// rounded again, gives the correctly rounded half result, because binary32 has at least 2p+2 bits
// for p = 11 (double rounding is innocuous; Figueroa, SIGNUM 1995). So half arithmetic is float
// arithmetic with a rounding after every operation.
#pragma once

#include <cstdint>
#include <cstring>

namespace coda {

// Rounds to the nearest binary16 value (ties to even), with overflow to infinity and subnormals;
// the result is returned as a float. Branch-free so loops calling it vectorise.
inline float round_to_half(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const std::uint32_t sign = bits & 0x80000000u;
  const std::uint32_t magnitude = bits ^ sign;
  // Normal halves keep 10 of float's 23 fraction bits: round the low 13 bits to nearest even.
  std::uint32_t normal = (magnitude + 0x0FFFu + ((magnitude >> 13) & 1u)) & ~0x1FFFu;
  normal = normal >= 0x47800000u ? 0x7F800000u : normal;  // 65520 and above round to infinity
  // Below 2^-14 halves are subnormal with spacing 2^-24, the float spacing of [0.5, 1): adding and
  // removing 0.5 rounds to that grid, ties to even.
  float absolute;
  std::memcpy(&absolute, &magnitude, sizeof absolute);
  float subnormal_value = (absolute + 0.5f) - 0.5f;
  std::uint32_t subnormal;
  std::memcpy(&subnormal, &subnormal_value, sizeof subnormal);
  std::uint32_t result = magnitude < 0x38800000u ? subnormal : normal;
  result = magnitude > 0x7F800000u ? magnitude : result;  // NaN stays NaN (payload kept)
  result |= sign;
  float out;
  std::memcpy(&out, &result, sizeof out);
  return out;
}

// In place over n floats, multi-threaded for large n.
void round_to_half(float* data, std::int64_t n);

}  // namespace coda
