#include "cli/model_source.h"

#include <random>

#include <fmt/format.h>

#include "kernels/error.h"
#include "kernels/onnx_import.h"
#include "kernels/zoo.h"

namespace coda::cli {

Graph load_model(const std::string& spec, std::uint64_t seed, bool shapes_only) {
  const std::string zoo_prefix = "zoo:";
  if (spec.compare(0, zoo_prefix.size(), zoo_prefix) == 0) {
    ZooOptions options;
    options.seed = seed;
    options.shapes_only = shapes_only;
    return build_zoo_model_from_spec(spec.substr(zoo_prefix.size()), options);
  }
  return load_onnx(spec);
}

namespace {

Shape parse_dims(const std::string& text, const std::string& spec) {
  Shape shape;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find_first_of("x,", pos);
    if (end == std::string::npos) end = text.size();
    std::string part = text.substr(pos, end - pos);
    try {
      std::size_t used = 0;
      long long d = std::stoll(part, &used);
      if (used != part.size() || d <= 0) throw std::invalid_argument(part);
      shape.push_back(d);
    } catch (const std::exception&) {
      throw BadInput("--shape '" + spec + "': '" + part + "' is not a positive dimension");
    }
    pos = end + 1;
  }
  return shape;
}

}  // namespace

std::map<std::string, Shape> parse_shape_overrides(const std::vector<std::string>& specs) {
  std::map<std::string, Shape> overrides;
  for (const std::string& spec : specs) {
    auto eq = spec.find('=');
    std::string name = eq == std::string::npos ? "" : spec.substr(0, eq);
    overrides[name] = parse_dims(eq == std::string::npos ? spec : spec.substr(eq + 1), spec);
  }
  return overrides;
}

std::vector<Shape> resolve_input_shapes(const Graph& graph, const std::map<std::string, Shape>& overrides,
                                        int64_t symbolic_fill) {
  for (const auto& entry : overrides) {
    bool known = entry.first.empty();
    for (int id : graph.inputs) known |= graph.values[static_cast<std::size_t>(id)].name == entry.first;
    if (!known) throw BadInput("--shape names '" + entry.first + "', which is not an input of the model");
  }
  std::vector<Shape> shapes;
  for (std::size_t i = 0; i < graph.inputs.size(); ++i) {
    const Value& v = graph.values[static_cast<std::size_t>(graph.inputs[i])];
    auto it = overrides.find(v.name);
    if (it == overrides.end() && i == 0) it = overrides.find("");
    if (it != overrides.end()) {
      shapes.push_back(it->second);
      continue;
    }
    if (!v.shape_known && v.shape.empty())
      throw BadInput("input '" + v.name + "' has no declared shape; give one with --shape " + v.name + "=DIMS");
    Shape s = v.shape;
    for (int64_t& d : s)
      if (d < 0) d = symbolic_fill;
    shapes.push_back(s);
  }
  return shapes;
}

std::vector<Tensor> random_inputs(const Graph& graph, const std::vector<Shape>& shapes, std::uint64_t seed) {
  std::vector<Tensor> inputs;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const Value& v = graph.values[static_cast<std::size_t>(graph.inputs[i])];
    if (v.dtype != DType::Float32)
      throw BadInput("input '" + v.name + "' is " + dtype_name(v.dtype) + "; random data is only made for float inputs");
    Tensor t(shapes[i], DType::Float32);
    float* p = t.f32();
    for (int64_t k = 0; k < t.size(); ++k) p[k] = normal(rng);
    inputs.push_back(std::move(t));
  }
  return inputs;
}

std::string human_count(double value) {
  const char* suffix[] = {"", "k", "M", "G", "T", "P"};
  int s = 0;
  while (value >= 1000.0 && s < 5) {
    value /= 1000.0;
    ++s;
  }
  return s == 0 ? fmt::format("{:.0f}", value) : fmt::format("{:.3g}{}", value, suffix[s]);
}

std::string with_split(const std::string& spec, const std::string& split) {
  auto at = spec.rfind('@');
  std::string base = spec.substr(0, at), rest = at == std::string::npos ? "" : spec.substr(at);
  auto ends_with = [&](const std::string& s) {
    return base.size() >= s.size() && base.compare(base.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with(":train") || ends_with(":test")) return spec;
  if (base == "fashion-mnist" || base.rfind("cifar:", 0) == 0) return base + ":" + split + rest;
  return spec;
}

}  // namespace coda::cli
