// Closed-loop steering from a heading estimate (see steering.h): the application YAML, the
// simulation and the network as an estimator.
#include "tuner/steering.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "kernels/dataset.h"
#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/trainer.h"
#include "kernels/zoo.h"

namespace coda::tuner {

namespace {

constexpr double kRadiansPerDegree = M_PI / 180.0;

// SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): independent generator seeds per episode and
// stream from one user seed.
std::uint64_t mix_seed(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::uint64_t stream_seed(std::uint64_t seed, int episode, int stream) {
  return mix_seed(mix_seed(mix_seed(seed) ^ static_cast<std::uint64_t>(episode)) ^ static_cast<std::uint64_t>(stream));
}

class YamlReader {
 public:
  YamlReader(const YAML::Node& root, std::string origin) : root_(root), origin_(std::move(origin)) {}

  double number(const std::string& key, double low, double high, bool open_low = false) {
    const YAML::Node node = take(key);
    double value = 0;
    try {
      value = node.as<double>();
    } catch (const YAML::Exception&) {
      throw BadInput(origin_ + ": '" + key + "' must be a number");
    }
    if (!std::isfinite(value) || value < low || value > high || (open_low && value == low))
      throw BadInput(origin_ + ": '" + key + "' must be in " + (open_low ? "(" : "[") + format(low) + ", " +
                     format(high) + "], not " + node.Scalar());
    return value;
  }

  int64_t integer(const std::string& key, int64_t low, int64_t high) {
    const YAML::Node node = take(key);
    int64_t value = 0;
    try {
      value = node.as<int64_t>();
    } catch (const YAML::Exception&) {
      throw BadInput(origin_ + ": '" + key + "' must be an integer");
    }
    if (value < low || value > high)
      throw BadInput(origin_ + ": '" + key + "' must be in " + std::to_string(low) + ".." + std::to_string(high) +
                     ", not " + node.Scalar());
    return value;
  }

  std::string text(const std::string& key) {
    const YAML::Node node = take(key);
    if (!node.IsScalar() || node.Scalar().empty()) throw BadInput(origin_ + ": '" + key + "' must be a non-empty string");
    return node.Scalar();
  }

  void reject_unknown_keys() const {
    for (const auto& item : root_) {
      if (!item.first.IsScalar()) throw BadInput(origin_ + ": keys must be plain names");
      const std::string key = item.first.Scalar();
      if (!used_.count(key)) {
        std::string known;
        for (const std::string& k : used_) known += (known.empty() ? "" : ", ") + k;
        throw BadInput(origin_ + ": unknown key '" + key + "' (known: " + known + ")");
      }
    }
  }

 private:
  YAML::Node take(const std::string& key) {
    used_.insert(key);
    const YAML::Node node = root_[key];
    if (!node) throw BadInput(origin_ + ": missing key '" + key + "'");
    if (!node.IsScalar()) throw BadInput(origin_ + ": '" + key + "' must be a single value");
    return node;
  }
  static std::string format(double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  }

  const YAML::Node& root_;
  std::string origin_;
  std::set<std::string> used_;
};

}  // namespace

double uniform01(std::mt19937_64& rng) { return std::generate_canonical<double, 53>(rng); }

double standard_normal(std::mt19937_64& rng) {
  // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
  const double u1 = 1.0 - uniform01(rng), u2 = uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

SteeringParams parse_steering_params(const std::string& yaml_text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw BadInput(origin + ": not valid YAML: " + e.msg);
  }
  if (!root.IsMap()) throw BadInput(origin + ": expected a mapping of application parameters");
  YamlReader read(root, origin);
  SteeringParams p;
  // The ranges only exclude nonsense (negative widths, zero steps); the example's own values and
  // their reasons are in tuner/examples/steering.yaml.
  p.corridor_half_width_m = read.number("corridor_half_width_m", 0.0, 100.0, true);
  p.speed_m_per_s = read.number("speed_m_per_s", 0.0, 100.0, true);
  p.step_s = read.number("step_s", 0.0, 10.0, true);
  p.offset_gain = read.number("offset_gain", 0.0, 1000.0);
  p.rate_gain = read.number("rate_gain", 0.0, 1000.0);
  p.max_turn_rate_deg_per_s = read.number("max_turn_rate_deg_per_s", 0.0, 3600.0, true);
  p.steps = static_cast<int>(read.integer("steps", 1, 1000000));
  p.episodes = static_cast<int>(read.integer("episodes", 1, 100000));
  p.initial_offset_m = read.number("initial_offset_m", 0.0, 100.0);
  p.initial_heading_deg = read.number("initial_heading_deg", 0.0, 90.0);
  p.gust_deg_per_s = read.number("gust_deg_per_s", 0.0, 3600.0);
  p.max_collisions = static_cast<int>(read.integer("max_collisions", 0, 100000));
  p.seed = static_cast<std::uint64_t>(read.integer("seed", 0, std::numeric_limits<int64_t>::max()));
  p.images = read.text("images");
  p.image_limit = read.integer("image_limit", 1, 1000000);
  read.reject_unknown_keys();
  if (p.initial_offset_m >= p.corridor_half_width_m)
    throw BadInput(origin + ": 'initial_offset_m' must be below 'corridor_half_width_m', or episodes start crashed");
  if (p.max_collisions >= p.episodes)
    throw BadInput(origin + ": 'max_collisions' must be below 'episodes', or the QoS always holds");
  return p;
}

SteeringApp load_steering_app(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(path + ": cannot open the application file");
  std::stringstream text;
  text << in.rdbuf();
  SteeringApp app;
  app.params = parse_steering_params(text.str(), path);
  app.source = path;
  Dataset scenes;
  try {
    scenes = load_dataset(app.params.images, app.params.image_limit);
  } catch (const BadInput& e) {
    rethrow_with_context(path + ": images", e);
  }
  if (scenes.images.dim(1) != 1)
    throw BadInput(path + ": images must be single-channel, '" + app.params.images + "' has " +
                   std::to_string(scenes.images.dim(1)) + " channels");
  app.scenes = scenes.images;
  return app;
}

SteeringResult run_steering(const SteeringApp& app, const HeadingEstimator& estimator, const SteeringOptions& options) {
  const SteeringParams& p = app.params;
  if (app.scenes.rank() != 4 || app.scenes.dim(0) == 0)
    throw BadInput(app.source + ": the application has no scene images");
  const int episodes = p.episodes;
  const int64_t scene_count = app.scenes.dim(0);
  const int64_t per_scene = app.scenes.size() / scene_count;
  const double max_turn = p.max_turn_rate_deg_per_s * kRadiansPerDegree;

  struct Episode {
    std::mt19937_64 world;   // start state, scene choice, gusts
    std::mt19937_64 errors;  // handed to the corruption only
    double offset = 0, heading = 0;  // m, rad
    int collided_at = -1;
  };
  std::vector<Episode> runs;
  runs.reserve(static_cast<std::size_t>(episodes));
  for (int e = 0; e < episodes; ++e) {
    Episode run{std::mt19937_64(stream_seed(p.seed, e, 0)), std::mt19937_64(stream_seed(p.seed, e, 1))};
    run.offset = p.initial_offset_m * (2.0 * uniform01(run.world) - 1.0);
    run.heading = p.initial_heading_deg * kRadiansPerDegree * (2.0 * uniform01(run.world) - 1.0);
    runs.push_back(std::move(run));
  }

  SteeringResult result;
  result.episodes = episodes;
  double error_sum = 0;
  std::vector<std::size_t> active;
  for (int step = 0; step < p.steps; ++step) {
    active.clear();
    for (std::size_t e = 0; e < runs.size(); ++e)
      if (runs[e].collided_at < 0) active.push_back(e);
    if (active.empty()) break;

    // The camera frames of the episodes still driving, each rotated by its true heading.
    const auto batch = static_cast<int64_t>(active.size());
    Shape shape = app.scenes.shape();
    shape[0] = batch;
    Tensor frames(shape, DType::Float32);
    std::vector<float> true_degrees(active.size());
    for (std::size_t i = 0; i < active.size(); ++i) {
      Episode& run = runs[active[i]];
      const auto scene = std::min(static_cast<int64_t>(uniform01(run.world) * static_cast<double>(scene_count)),
                                  scene_count - 1);
      std::copy(app.scenes.f32() + scene * per_scene, app.scenes.f32() + (scene + 1) * per_scene,
                frames.f32() + static_cast<int64_t>(i) * per_scene);
      true_degrees[i] = static_cast<float>(run.heading / kRadiansPerDegree);
    }
    std::vector<float> estimates = estimator(rotate_images(frames, true_degrees));
    if (static_cast<int64_t>(estimates.size()) != batch)
      throw BadInput("heading estimator returned " + std::to_string(estimates.size()) + " estimates for " +
                     std::to_string(batch) + " camera frames");

    for (std::size_t i = 0; i < active.size(); ++i) {
      Episode& run = runs[active[i]];
      float estimate = estimates[i];
      if (options.corruption) estimate = options.corruption(estimate, run.errors);
      error_sum += std::fabs(static_cast<double>(estimate) - true_degrees[i]);
      ++result.estimates;
      // PD law on the lateral offset: the derivative term is the lateral speed v sin(heading),
      // with the heading as estimated; the turn rate saturates at the vehicle's limit.
      const double estimated_heading = static_cast<double>(estimate) * kRadiansPerDegree;
      double turn = -(p.offset_gain * run.offset + p.rate_gain * p.speed_m_per_s * std::sin(estimated_heading));
      turn = std::clamp(turn, -max_turn, max_turn);
      const double gust = p.gust_deg_per_s * kRadiansPerDegree * standard_normal(run.world);
      run.heading += (turn + gust) * p.step_s;
      run.offset += p.speed_m_per_s * std::sin(run.heading) * p.step_s;
      result.max_abs_offset_m = std::max(result.max_abs_offset_m, std::fabs(run.offset));
      if (std::fabs(run.offset) > p.corridor_half_width_m) {
        run.collided_at = step;
        ++result.collisions;
      }
    }
    if (options.stop_after_collisions > 0 && result.collisions >= options.stop_after_collisions) break;
  }
  for (const Episode& run : runs) result.collision_step.push_back(run.collided_at);
  result.mean_abs_error_deg = result.estimates ? error_sum / static_cast<double>(result.estimates) : 0.0;
  return result;
}

int count_collisions(const SteeringApp& app, const HeadingEstimator& estimator, const EstimateCorruption& corruption) {
  SteeringOptions options;
  options.corruption = corruption;
  return run_steering(app, estimator, options).collisions;
}

HeadingEstimator network_estimator(const Graph& graph, ExecutorSetup setup, PreparedGraphTransform transform) {
  if (graph.inputs.size() != 1)
    throw BadInput("the heading network must have one input, it has " + std::to_string(graph.inputs.size()));
  if (graph.outputs.empty()) throw BadInput("the heading network has no outputs");
  ImageTransform preprocess;
  auto stored = graph.metadata.find(kPreprocessMetadataKey);
  if (stored != graph.metadata.end())
    preprocess = ImageTransform::parse(stored->second, std::string("metadata '") + kPreprocessMetadataKey + "'");

  // One prepared copy of the graph per batch size: preparation binds the batch dimension.
  struct Prepared {
    Graph graph;
    std::unique_ptr<Executor> executor;
  };
  auto cache = std::make_shared<std::map<int64_t, std::unique_ptr<Prepared>>>();
  auto source = std::make_shared<Graph>(graph);
  return [cache, source, preprocess, setup, transform](const Tensor& images) -> std::vector<float> {
    const int64_t batch = images.dim(0);
    auto found = cache->find(batch);
    if (found == cache->end()) {
      auto prepared = std::make_unique<Prepared>();
      prepared->graph = *source;
      Value& in = prepared->graph.values[static_cast<std::size_t>(prepared->graph.inputs.front())];
      if (!in.shape.empty()) in.shape[0] = -1;
      bind_input_shapes(prepared->graph, {images.shape()});
      prepare_graph(prepared->graph);
      if (transform) transform(prepared->graph);
      const Value& out = prepared->graph.values[static_cast<std::size_t>(prepared->graph.outputs.front())];
      int64_t per_image = 1;
      for (std::size_t d = 1; d < out.shape.size(); ++d) per_image *= out.shape[d];
      if (out.shape.empty() || out.shape[0] != batch || per_image != 1)
        throw BadInput("the heading network's first output must be one angle per image (N x 1), it is " +
                       shape_string(out.shape));
      prepared->executor = std::make_unique<Executor>(prepared->graph);
      if (setup) setup(prepared->graph, *prepared->executor);
      found = cache->emplace(batch, std::move(prepared)).first;
    }
    std::vector<Tensor> outputs = found->second->executor->run({apply_transform(images, preprocess)});
    const Tensor angles = outputs.front().to(DType::Float32);
    return std::vector<float>(angles.f32(), angles.f32() + batch);
  };
}

void append_soft_argmax(Graph& graph, float max_degrees, int bins) {
  if (graph.outputs.empty()) throw BadInput("soft-argmax head: the graph has no output");
  const int logits = graph.outputs.front();
  std::vector<float> centres;
  for (int b = 0; b < bins; ++b) centres.push_back(rotation_bin_centre(b, max_degrees, bins));
  const int centre_values = graph.add_constant("rotation.bin_centres", Tensor::from_floats({bins, 1}, centres));
  const int probabilities = graph.value_id("rotation.probabilities");
  const int angle = graph.value_id("angle_deg");
  graph.values[static_cast<std::size_t>(probabilities)].shape = {-1, bins};
  graph.values[static_cast<std::size_t>(angle)].shape = {-1, 1};
  Node& softmax = graph.add_node("Softmax", "rotation.softmax", {logits}, {probabilities});
  softmax.attrs.set("axis", int64_t{1});
  graph.add_node("MatMul", "rotation.expected_angle", {probabilities, centre_values}, {angle});
  graph.outputs = {angle};
  graph.sort_topologically();
}

double regression_l1(const HeadingEstimator& estimator, const Tensor& images, const Tensor& targets, int64_t batch) {
  const int64_t n = images.dim(0);
  if (targets.size() != n) throw BadInput("regression L1: " + std::to_string(targets.size()) + " targets for " +
                                          std::to_string(n) + " images");
  if (n == 0) throw BadInput("regression L1: no images");
  const int64_t per_image = images.size() / n;
  double sum = 0;
  for (int64_t begin = 0; begin < n; begin += batch) {
    const int64_t end = std::min(n, begin + batch);
    Shape shape = images.shape();
    shape[0] = end - begin;
    Tensor chunk(shape, DType::Float32);
    std::copy(images.f32() + begin * per_image, images.f32() + end * per_image, chunk.f32());
    const std::vector<float> estimates = estimator(chunk);
    for (int64_t i = begin; i < end; ++i)
      sum += std::fabs(static_cast<double>(estimates[static_cast<std::size_t>(i - begin)]) - targets.f32()[i]);
  }
  return sum / static_cast<double>(n);
}

RotationTrainingResult train_rotation_estimator(const RotationTrainingOptions& options,
                                                const std::function<void(int epoch, double loss)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  const ImageTransform preprocess = ImageTransform::parse(options.preprocess, "rotation estimator preprocessing");
  Dataset train = load_dataset(options.train_data, options.train_limit);
  Dataset test = load_dataset(options.test_data, options.test_limit);
  if (train.classes != options.bins || test.classes != options.bins)
    throw BadInput(options.train_data + ": has " + std::to_string(train.classes) + " bins, the head expects " +
                   std::to_string(options.bins));
  const Tensor raw_test_images = test.images;
  train.images = apply_transform(train.images, preprocess);
  test.images = apply_transform(test.images, preprocess);

  ZooOptions zoo;
  zoo.batch = 0;
  zoo.classes = options.bins;
  zoo.seed = options.seed;
  RotationTrainingResult result;
  result.graph = build_zoo_model("lenet5", zoo);
  // The LeNet-5 recipe of kernels/zoo/lenet5-fashion-mnist.train.json (SGD, lr 0.05, momentum
  // 0.9, cosine schedule, weight decay 5e-4), with batches of 64.
  TrainOptions train_options;
  train_options.epochs = options.epochs;
  train_options.batch = 64;
  train_options.seed = options.seed;
  {
    Trainer trainer(result.graph, train_options);
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
      EpochStats stats = trainer.train_epoch(train, epoch);
      if (progress) progress(epoch + 1, stats.loss);
    }
    result.test_bin_accuracy = trainer.evaluate(test);
  }
  append_soft_argmax(result.graph, options.max_degrees, options.bins);
  result.graph.name = "rotation-lenet5";
  result.graph.metadata[kPreprocessMetadataKey] = preprocess.to_string();
  result.test_l1_deg = regression_l1(network_estimator(result.graph), raw_test_images, test.targets);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace coda::tuner
