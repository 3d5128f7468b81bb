#include "cli/approx_options.h"

#include <algorithm>
#include <cstring>

#include "kernels/approx/knob_catalog.h"

namespace coda::cli {

void ApproxOptions::add_to(CLI::App& app) {
  app.add_option("--config", config_path,
                 "Approximation configuration (JSON): a knob id and a unit per op, e.g. "
                 "{\"default\": {\"knob\": 12}, \"ops\": {\"conv1\": {\"knob\": 121}}}; see coda knobs");
}

std::unique_ptr<ApproxSession> ApproxOptions::make_session(std::uint64_t seed) const {
  if (config_path.empty()) return nullptr;
  return std::make_unique<ApproxSession>(ApproxConfig::load(config_path), knob_catalog(), seed);
}

std::vector<std::vector<Tensor>> calibration_batches(const Tensor& images, int64_t batch, int64_t limit) {
  const int64_t n = std::min(images.dim(0), limit);
  const int64_t per_image = n > 0 ? images.size() / images.dim(0) : 0;
  std::vector<std::vector<Tensor>> batches;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t end = std::min(n, begin + batch);
    if (end - begin < batch && !batches.empty()) break;
    Shape shape = images.shape();
    shape[0] = batch;
    // A short only batch is zero-padded to the graph's batch size.
    Tensor t = Tensor::zeros(shape);
    std::memcpy(t.f32(), images.f32() + begin * per_image, static_cast<std::size_t>((end - begin) * per_image) * sizeof(float));
    batches.push_back({t});
  }
  return batches;
}

}  // namespace coda::cli
