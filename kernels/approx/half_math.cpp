#include "kernels/approx/half_math.h"

#include <omp.h>

namespace coda {

void round_to_half(float* data, std::int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16) && !omp_in_parallel())
  for (std::int64_t i = 0; i < n; ++i) data[i] = round_to_half(data[i]);
}

}  // namespace coda
