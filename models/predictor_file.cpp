// The predictor model file: {"schema": "coda-predictor", "version": 1, "kind": ..., "rails": [...],
// "models": [...]}, the kind naming the implementation that reads the rest (docs/predictors.md).
#include <nlohmann/json.hpp>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "models/polynomial_predictor.h"
#include "models/predictor_fit.h"
#include "models/roofline_predictor.h"

namespace coda::models {

namespace {
constexpr int kPredictorFileVersion = 1;
}

void save_predictor(const LayerPredictor& predictor, const std::string& path) {
  nlohmann::json document;
  if (const auto* polynomial = dynamic_cast<const PolynomialPredictor*>(&predictor)) document = polynomial->to_json();
  else if (const auto* roofline = dynamic_cast<const RooflinePredictor*>(&predictor)) document = roofline->to_json();
  else throw BadInput(path + ": cannot save a predictor of kind '" + predictor.kind() + "'");
  write_file_atomically(path, document.dump(2) + "\n");
}

std::unique_ptr<LayerPredictor> load_predictor(const std::string& path) {
  std::string bytes = read_file(path);
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(bytes);
  } catch (const nlohmann::json::exception& e) {
    throw BadInput(path + ": not JSON: " + e.what());
  }
  try {
    if (!document.is_object() || !document.contains("schema") || document["schema"] != "coda-predictor")
      throw BadInput("not a coda predictor file (\"schema\" is not \"coda-predictor\")");
    if (!document.contains("version") || !document["version"].is_number_integer())
      throw BadInput("\"version\" is missing or not an integer");
    if (document["version"].get<int>() != kPredictorFileVersion)
      throw BadInput("unsupported version " + document["version"].dump() + " (this coda reads version " +
                     std::to_string(kPredictorFileVersion) + ")");
    if (!document.contains("kind") || !document["kind"].is_string()) throw BadInput("\"kind\" is missing or not a string");
    std::string kind = document["kind"].get<std::string>();
    if (kind == "polynomial") return PolynomialPredictor::from_json(document);
    if (kind == "roofline") return RooflinePredictor::from_json(document);
    throw BadInput("unknown predictor kind '" + kind + "'");
  } catch (const BadInput& e) {
    rethrow_with_context(path, e);
  } catch (const nlohmann::json::exception& e) {
    throw BadInput(path + ": " + e.what());
  }
}

}  // namespace coda::models
