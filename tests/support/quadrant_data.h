// A tiny labelled image set for training tests: two classes of 1x8x8 images, a bright square in
// the top-left (label 0) or bottom-right (label 1) quadrant on noise, labels alternating. A small
// CNN separates them perfectly; a constant classifier gets 50%.
#pragma once

#include <cstdint>

#include "kernels/dataset.h"

namespace coda::test {

Dataset quadrant_dataset(int64_t n, std::uint64_t seed);

}  // namespace coda::test
