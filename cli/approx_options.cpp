#include "cli/approx_options.h"

#include <algorithm>
#include <cstring>

#include "kernels/approx/knob_catalog.h"
#include "kernels/error.h"

namespace coda::cli {

void ApproxOptions::add_to(CLI::App& app) {
  app.add_option("--config", config_path,
                 "Approximation configuration (JSON): a knob id and a unit per op, e.g. "
                 "{\"default\": {\"knob\": 12}, \"ops\": {\"conv1\": {\"knob\": 121}}}; see coda knobs");
  app.add_option("--knob", knob, "Run this knob on every op it applies to (on the unit it needs), e.g. --knob 121");
  app.add_option("--op-knob", op_knobs, "NAME=ID[@UNIT]: run knob ID on op NAME (repeatable; overrides --config)");
}

std::unique_ptr<ApproxSession> ApproxOptions::make_session(std::uint64_t seed) const {
  if (config_path.empty() && knob == 0 && op_knobs.empty()) return nullptr;
  ApproxConfig config;
  if (!config_path.empty()) config = ApproxConfig::load(config_path);
  else config.source = "the command line";
  if (knob != 0) {
    config.has_all = true;
    config.all.knob = knob;
    config.all_unit_given = false;
  }
  for (const std::string& spec : op_knobs) {
    const auto eq = spec.find('=');
    const auto at = spec.find('@');
    if (eq == std::string::npos || eq == 0) throw BadInput("--op-knob " + spec + ": expected NAME=ID[@UNIT]");
    const std::string id_text = spec.substr(eq + 1, at == std::string::npos ? std::string::npos : at - eq - 1);
    OpChoice choice;
    try {
      std::size_t used = 0;
      choice.knob = std::stoi(id_text, &used);
      if (used != id_text.size()) throw std::invalid_argument(id_text);
      if (at != std::string::npos) choice.unit = parse_unit(spec.substr(at + 1));
    } catch (const std::logic_error&) {
      throw BadInput("--op-knob " + spec + ": '" + id_text + "' is not a knob id");
    } catch (const BadInput& e) {
      throw BadInput("--op-knob " + spec + ": " + e.what());
    }
    const std::string name = spec.substr(0, eq);
    config.ops[name] = choice;
    config.unit_given[name] = at != std::string::npos;
  }
  return std::make_unique<ApproxSession>(std::move(config), knob_catalog(), seed);
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
