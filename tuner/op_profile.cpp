#include "tuner/op_profile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>

#include "kernels/atomic_file.h"
#include "kernels/error.h"
#include "kernels/executor.h"

namespace coda::tuner {

namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'C', 'O', 'D', 'A', 'P', 'R', 'O', 'F'};
constexpr std::uint32_t kFormatVersion = 1;

// Rows [begin, end) of `source` (N x ...) copied into the front of a zeroed tensor of `shape`.
Tensor padded_rows(const Tensor& source, int64_t begin, int64_t end, const Shape& shape) {
  Tensor batch = Tensor::zeros(shape);
  int64_t row = source.dim(0) ? source.size() / source.dim(0) : 0;
  std::memcpy(batch.f32(), source.f32() + begin * row, static_cast<std::size_t>((end - begin) * row) * sizeof(float));
  return batch;
}

void check_inputs(const Graph& prepared, const Tensor& inputs, int64_t batch) {
  if (prepared.inputs.size() != 1)
    throw BadInput("op profiles need a model with one input, this one has " + std::to_string(prepared.inputs.size()));
  const Value& input = prepared.values[static_cast<std::size_t>(prepared.inputs.front())];
  if (input.shape.empty() || input.shape.front() != batch)
    throw BadInput("op profiles: the graph is prepared for " + shape_string(input.shape) + " inputs, not batches of " +
                   std::to_string(batch));
  if (inputs.dtype() != DType::Float32) throw BadInput("op profiles: calibration inputs must be float32");
  if (inputs.rank() != static_cast<int>(input.shape.size()) || inputs.dim(0) == 0)
    throw BadInput("op profiles: calibration inputs are " + shape_string(inputs.shape()) + ", the model expects " +
                   shape_string(input.shape) + " batches");
  for (std::size_t d = 1; d < input.shape.size(); ++d)
    if (inputs.shape()[d] != input.shape[d])
      throw BadInput("op profiles: calibration inputs are " + shape_string(inputs.shape()) + ", the model expects " +
                     shape_string(input.shape) + " batches");
}

void check_space(const Graph& prepared, const TuningSpace& space) {
  if (space.node_count != prepared.nodes.size())
    throw std::invalid_argument("op profiles: the tuning space was built for a graph of " +
                                std::to_string(space.node_count) + " nodes, this one has " +
                                std::to_string(prepared.nodes.size()));
  for (const TunableOp& op : space.ops)
    if (op.node >= prepared.nodes.size() || prepared.nodes[op.node].name != op.name)
      throw std::invalid_argument("op profiles: op '" + op.name + "' of the tuning space is not in the graph");
}

// The approximate kernel of every (op, choice > 0), built before any input runs so that a
// missing calibration fails fast.
std::vector<std::vector<std::unique_ptr<OpKernel>>> build_kernels(const Graph& prepared, const TuningSpace& space,
                                                                  const KnobCatalog& catalog,
                                                                  const std::map<std::string, OpRanges>& ranges,
                                                                  std::uint64_t seed) {
  std::vector<std::vector<std::unique_ptr<OpKernel>>> kernels(space.ops.size());
  for (std::size_t i = 0; i < space.ops.size(); ++i) {
    const TunableOp& op = space.ops[i];
    const Node& node = prepared.nodes[op.node];
    kernels[i].resize(op.choices.size());
    for (std::size_t c = 1; c < op.choices.size(); ++c) {
      const Knob& knob = catalog.require(op.choices[c].knob);
      auto range = ranges.find(node.name);
      if (family_needs_ranges(knob.family) && range == ranges.end())
        throw BadInput(node.describe() + " needs calibrated activation ranges (knob " + std::to_string(knob.id) + ")");
      // The seed is mixed with the node name exactly as ApproxPlan does, so a profile's noise is
      // the noise the same configuration gets when it runs.
      KnobRequest request{node, require_op(node), knob, mix_seed(seed, node.name),
                          range == ranges.end() ? nullptr : &range->second};
      kernels[i][c] = make_knob_kernel(request);
      if (!kernels[i][c])
        throw std::invalid_argument("op profiles: knob " + std::to_string(knob.id) + " has no kernel for " +
                                    node.describe());
    }
  }
  return kernels;
}

// The rows of the batch's first output that belong to real inputs, written at `row` of `out`.
void store_rows(const Tensor& output, int64_t batch, int64_t rows, int64_t width, Tensor& out, int64_t row) {
  if (output.dtype() != DType::Float32 || output.rank() == 0 || output.dim(0) != batch || output.size() != batch * width)
    throw BadInput("op profiles: the model's first output " + shape_string(output.shape()) + " is not one row of " +
                   std::to_string(width) + " floats per input");
  std::memcpy(out.f32() + row * width, output.f32(), static_cast<std::size_t>(rows * width) * sizeof(float));
}

// --- binary file --------------------------------------------------------------------------------

void put_u32(std::string& bytes, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
}
void put_u64(std::string& bytes, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((value >> (8 * i)) & 0xffu));
}
std::uint64_t get_le(const std::string& bytes, std::size_t at, int count) {
  std::uint64_t value = 0;
  for (int i = count - 1; i >= 0; --i)
    value = (value << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(i)]);
  return value;
}

// Little-endian IEEE binary32, whatever the host's byte order.
void put_floats(std::string& bytes, const Tensor& t) {
  const float* data = t.f32();
  for (int64_t i = 0; i < t.size(); ++i) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &data[i], sizeof bits);
    put_u32(bytes, bits);
  }
}
void get_floats(const std::string& bytes, std::size_t at, Tensor& t) {
  float* data = t.f32();
  for (int64_t i = 0; i < t.size(); ++i) {
    auto bits = static_cast<std::uint32_t>(get_le(bytes, at + static_cast<std::size_t>(i) * 4, 4));
    std::memcpy(&data[i], &bits, sizeof bits);
  }
}

// JSON has no infinities or NaN: those travel as strings.
json number_json(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}
double json_number(const json& value) {
  if (value.is_number()) return value.get<double>();
  std::string text = value.get<std::string>();
  if (text == "nan") return std::numeric_limits<double>::quiet_NaN();
  if (text == "inf") return std::numeric_limits<double>::infinity();
  if (text == "-inf") return -std::numeric_limits<double>::infinity();
  throw std::invalid_argument("expected a number, got '" + text + "'");
}

int64_t output_width(const OpProfiles& p) {
  return p.samples && !p.base_outputs.empty() ? p.base_outputs.size() / p.samples : 0;
}

}  // namespace

OpProfiles collect_op_profiles(const Graph& prepared, const TuningSpace& space, const KnobCatalog& catalog,
                               const Tensor& inputs, const QosEvaluator& evaluator,
                               const std::map<std::string, OpRanges>& ranges, const ProfileOptions& options,
                               const ProfileProgress& progress) {
  auto started = std::chrono::steady_clock::now();
  const int64_t batch = options.batch;
  if (batch <= 0) throw BadInput("op profiles: the batch must be positive");
  check_inputs(prepared, inputs, batch);
  check_space(prepared, space);
  if (prepared.outputs.empty()) throw BadInput("op profiles: the model has no output");
  auto kernels = build_kernels(prepared, space, catalog, ranges, options.seed);

  OpProfiles profiles;
  profiles.model = prepared.name;
  profiles.samples = inputs.dim(0);
  for (const TunableOp& op : space.ops) profiles.op_names.push_back(op.name);
  profiles.choice_counts = space.choice_counts();
  profiles.delta_outputs.resize(space.ops.size());
  profiles.delta_qos.resize(space.ops.size());

  const Shape batch_shape = prepared.values[static_cast<std::size_t>(prepared.inputs.front())].shape;
  const auto output_id = static_cast<std::size_t>(prepared.outputs.front());
  const Shape& output_shape = prepared.values[output_id].shape;
  const int64_t width = output_shape.empty() || output_shape.front() != batch ? 0 : element_count(output_shape) / batch;
  if (width == 0)
    throw BadInput("op profiles: the model's first output " + shape_string(output_shape) + " is not one row per input");
  const int64_t batches = (profiles.samples + batch - 1) / batch;
  int64_t pairs = 0;
  for (int count : profiles.choice_counts) pairs += count - 1;
  const int64_t total_runs = pairs * batches;

  profiles.base_outputs = Tensor({profiles.samples, width});
  for (std::size_t i = 0; i < space.ops.size(); ++i) {
    profiles.delta_outputs[i].resize(space.ops[i].choices.size());
    for (std::size_t c = 1; c < space.ops[i].choices.size(); ++c)
      profiles.delta_outputs[i][c] = Tensor({profiles.samples, width});
  }

  Executor executor(prepared);
  for (int64_t begin = 0; begin < profiles.samples; begin += batch) {
    int64_t end = std::min(profiles.samples, begin + batch);
    int64_t rows = end - begin;
    // The prefix cache: every activation of the exact network on this batch.
    std::vector<Tensor> values = executor.run_keeping_values({padded_rows(inputs, begin, end, batch_shape)});
    const Tensor& exact = prepared.values[output_id].constant ? *prepared.values[output_id].constant : values[output_id];
    store_rows(exact, batch, rows, width, profiles.base_outputs, begin);
    for (std::size_t i = 0; i < space.ops.size(); ++i) {
      const std::size_t node = space.ops[i].node;
      for (std::size_t c = 1; c < kernels[i].size(); ++c) {
        executor.set_kernel(node, kernels[i][c].get());
        std::vector<Tensor> outputs = executor.run_from(node, values);
        executor.set_kernel(node, nullptr);
        // The approximated outputs themselves for now: QoS is scored on them, before they
        // become differences, so dQ is exactly the measured change.
        store_rows(outputs.front(), batch, rows, width, profiles.delta_outputs[i][c], begin);
        ++profiles.suffix_runs;
        if (progress) progress(profiles.suffix_runs, total_runs);
      }
    }
  }

  profiles.base_qos = evaluator.evaluate(profiles.base_outputs);
  const float* base = profiles.base_outputs.f32();
  for (std::size_t i = 0; i < space.ops.size(); ++i) {
    profiles.delta_qos[i].assign(space.ops[i].choices.size(), 0.0);
    for (std::size_t c = 1; c < space.ops[i].choices.size(); ++c) {
      Tensor& outputs = profiles.delta_outputs[i][c];
      profiles.delta_qos[i][c] = evaluator.evaluate(outputs) - profiles.base_qos;
      float* delta = outputs.f32();
      for (int64_t e = 0; e < outputs.size(); ++e) delta[e] -= base[e];
    }
  }
  profiles.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return profiles;
}

OpProfiles merge_op_profiles(const std::vector<OpProfiles>& parts) {
  if (parts.empty()) throw BadInput("merging op profiles: no profiles given");
  const OpProfiles& first = parts.front();
  const int64_t width = output_width(first);
  int64_t samples = 0;
  for (const OpProfiles& part : parts) {
    if (part.model != first.model)
      throw BadInput("merging op profiles: they belong to different models ('" + first.model + "' and '" + part.model +
                     "')");
    if (part.op_names != first.op_names || part.choice_counts != first.choice_counts)
      throw BadInput("merging op profiles of '" + first.model + "': they cover different tuning spaces");
    if (output_width(part) != width)
      throw BadInput("merging op profiles of '" + first.model + "': their outputs differ in width");
    if (part.samples <= 0) throw BadInput("merging op profiles of '" + first.model + "': a part covers no inputs");
    samples += part.samples;
  }
  OpProfiles merged;
  merged.model = first.model;
  merged.op_names = first.op_names;
  merged.choice_counts = first.choice_counts;
  merged.samples = samples;
  merged.base_outputs = Tensor({samples, width});
  merged.delta_outputs.resize(first.op_names.size());
  merged.delta_qos.resize(first.op_names.size());
  for (std::size_t i = 0; i < first.op_names.size(); ++i) {
    auto choices = static_cast<std::size_t>(first.choice_counts[i]);
    merged.delta_outputs[i].resize(choices);
    merged.delta_qos[i].assign(choices, 0.0);
    for (std::size_t c = 1; c < choices; ++c) merged.delta_outputs[i][c] = Tensor({samples, width});
  }
  int64_t row = 0;
  for (const OpProfiles& part : parts) {
    // Size-weighted means: a slice's QoS is its samples' mean, so this is the whole split's QoS
    // change for metrics that average over samples (accuracy, agreement, MSE, L1).
    double weight = static_cast<double>(part.samples) / static_cast<double>(samples);
    merged.base_qos += weight * part.base_qos;
    auto copy_rows = [&](const Tensor& from, Tensor& to) {
      std::memcpy(to.f32() + row * width, from.f32(), static_cast<std::size_t>(part.samples * width) * sizeof(float));
    };
    copy_rows(part.base_outputs, merged.base_outputs);
    for (std::size_t i = 0; i < merged.delta_outputs.size(); ++i)
      for (std::size_t c = 1; c < merged.delta_outputs[i].size(); ++c) {
        copy_rows(part.delta_outputs[i][c], merged.delta_outputs[i][c]);
        merged.delta_qos[i][c] += weight * part.delta_qos[i][c];
      }
    merged.seconds += part.seconds;
    merged.suffix_runs += part.suffix_runs;
    row += part.samples;
  }
  return merged;
}

void save_op_profiles(const OpProfiles& profiles, const std::string& path) {
  const int64_t width = output_width(profiles);
  json header;
  header["model"] = profiles.model;
  header["op_names"] = profiles.op_names;
  header["choice_counts"] = profiles.choice_counts;
  header["samples"] = profiles.samples;
  header["outputs_per_sample"] = width;
  header["base_qos"] = number_json(profiles.base_qos);
  json delta_qos = json::array();
  for (const auto& per_op : profiles.delta_qos) {
    json row = json::array();
    for (double value : per_op) row.push_back(number_json(value));
    delta_qos.push_back(row);
  }
  header["delta_qos"] = delta_qos;
  header["seconds"] = profiles.seconds;
  header["suffix_runs"] = profiles.suffix_runs;
  std::string header_text = header.dump();

  std::string bytes(kMagic, sizeof kMagic);
  put_u32(bytes, kFormatVersion);
  put_u64(bytes, header_text.size());
  bytes += header_text;
  // Tensors follow in a fixed order: the base outputs, then each op's choices 1.. (choice 0 is
  // the exact op, whose delta is zero and not stored).
  auto put_tensor = [&](const Tensor& t) {
    if (t.size() != profiles.samples * width)
      throw std::invalid_argument("save_op_profiles: a tensor of " + shape_string(t.shape()) + " in profiles of " +
                                  std::to_string(profiles.samples) + " x " + std::to_string(width));
    put_floats(bytes, t);
  };
  put_tensor(profiles.base_outputs);
  for (std::size_t i = 0; i < profiles.delta_outputs.size(); ++i)
    for (std::size_t c = 1; c < profiles.delta_outputs[i].size(); ++c) put_tensor(profiles.delta_outputs[i][c]);
  write_file_atomically(path, bytes);
}

OpProfiles load_op_profiles(const std::string& path) {
  std::string bytes = read_file(path);
  auto fail = [&](const std::string& problem) -> OpProfiles { throw BadInput(path + ": " + problem); };
  const std::size_t preamble = sizeof kMagic + 4 + 8;
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    return fail("not a coda op-profile file (no CODAPROF magic)");
  if (bytes.size() < preamble) return fail("truncated (the file ends inside its preamble)");
  auto version = static_cast<std::uint32_t>(get_le(bytes, sizeof kMagic, 4));
  if (version != kFormatVersion)
    return fail("op-profile format version " + std::to_string(version) + ", this coda reads version " +
                std::to_string(kFormatVersion));
  std::uint64_t header_size = get_le(bytes, sizeof kMagic + 4, 8);
  if (header_size > bytes.size() - preamble) return fail("truncated (the file ends inside its header)");

  OpProfiles profiles;
  int64_t width = 0;
  try {
    json header = json::parse(bytes.substr(preamble, static_cast<std::size_t>(header_size)));
    profiles.model = header.at("model").get<std::string>();
    profiles.op_names = header.at("op_names").get<std::vector<std::string>>();
    profiles.choice_counts = header.at("choice_counts").get<std::vector<int>>();
    profiles.samples = header.at("samples").get<int64_t>();
    width = header.at("outputs_per_sample").get<int64_t>();
    profiles.base_qos = json_number(header.at("base_qos"));
    const json& delta_qos = header.at("delta_qos");
    for (const json& per_op : delta_qos) {
      std::vector<double> row;
      for (const json& value : per_op) row.push_back(json_number(value));
      profiles.delta_qos.push_back(row);
    }
    profiles.seconds = header.at("seconds").get<double>();
    profiles.suffix_runs = header.at("suffix_runs").get<int64_t>();
  } catch (const json::exception& e) {
    return fail(std::string("malformed header: ") + e.what());
  } catch (const std::invalid_argument& e) {
    return fail(std::string("malformed header: ") + e.what());
  }
  if (profiles.op_names.size() != profiles.choice_counts.size() ||
      profiles.delta_qos.size() != profiles.choice_counts.size())
    return fail("malformed header: op names, choice counts and QoS changes differ in number");
  for (std::size_t i = 0; i < profiles.choice_counts.size(); ++i)
    if (profiles.choice_counts[i] < 1 || profiles.delta_qos[i].size() != static_cast<std::size_t>(profiles.choice_counts[i]))
      return fail("malformed header: op '" + profiles.op_names[i] + "' has inconsistent choice counts");
  // Bounds keep samples * width * tensors from overflowing before the size check.
  constexpr int64_t kMaxDimension = int64_t{1} << 31;
  if (profiles.samples < 0 || width < 0 || profiles.samples > kMaxDimension || width > kMaxDimension)
    return fail("malformed header: bad sample count or output width");

  uint64_t tensors = 1;
  for (int count : profiles.choice_counts) tensors += static_cast<uint64_t>(count - 1);
  const auto floats_per_tensor = static_cast<uint64_t>(profiles.samples * width);
  const uint64_t body = bytes.size() - preamble - header_size;
  if (floats_per_tensor != 0 && tensors > body / (4 * floats_per_tensor))
    return fail("truncated (" + std::to_string(body) + " bytes of tensors, " +
                std::to_string(tensors * floats_per_tensor * 4) + " expected)");
  if (body != tensors * floats_per_tensor * 4)
    return fail("has " + std::to_string(body - tensors * floats_per_tensor * 4) + " unexpected bytes after its tensors");

  std::size_t at = preamble + static_cast<std::size_t>(header_size);
  auto take = [&]() {
    Tensor t({profiles.samples, width});
    get_floats(bytes, at, t);
    at += static_cast<std::size_t>(floats_per_tensor * 4);
    return t;
  };
  profiles.base_outputs = take();
  profiles.delta_outputs.resize(profiles.choice_counts.size());
  for (std::size_t i = 0; i < profiles.choice_counts.size(); ++i) {
    profiles.delta_outputs[i].resize(static_cast<std::size_t>(profiles.choice_counts[i]));
    for (std::size_t c = 1; c < profiles.delta_outputs[i].size(); ++c) profiles.delta_outputs[i][c] = take();
  }
  return profiles;
}

}  // namespace coda::tuner
