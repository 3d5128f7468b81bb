// The ApproxCaliper example application: closed-loop steering from a camera-based heading
// estimate. A vehicle drives along a straight corridor; each control step its "camera" sees a
// Fashion-MNIST test image rotated by the vehicle's heading error, a network (possibly
// approximated, plus injected errors) estimates that rotation, and a PD law on the lateral offset
// steers. QoS is the number of episodes (seeded) in which the vehicle leaves the corridor. This is
// the structure of ApproxCaliper's row-following case study (Zhao et al., "ApproxCaliper: A
// Programmable Framework for Application-aware Neural Network Optimization", MLSys 2023: a
// camera network estimates heading and a controller keeps the robot between crop rows), with our
// own parameters in tuner/examples/steering.yaml.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/executor.h"
#include "kernels/graph.h"
#include "kernels/tensor.h"

namespace coda::tuner {

// Every figure of the application, as read from its YAML file (see tuner/examples/steering.yaml
// for what each means and why it has its value).
struct SteeringParams {
  double corridor_half_width_m = 0.3;
  double speed_m_per_s = 1.0;
  double step_s = 0.1;
  double offset_gain = 1.0;          // Kp: rad/s of turn rate per m of lateral offset
  double rate_gain = 1.6;            // Kd: rad/s of turn rate per m/s of lateral speed
  double max_turn_rate_deg_per_s = 45.0;
  int steps = 300;
  int episodes = 20;
  double initial_offset_m = 0.1;     // start offset uniform in [-this, this]
  double initial_heading_deg = 10.0; // start heading uniform in [-this, this]
  double gust_deg_per_s = 3.0;       // standard deviation of the yaw-rate disturbance per step
  int max_collisions = 0;            // QoS holds with at most this many colliding episodes
  std::uint64_t seed = 1;
  std::string images = "fashion-mnist:test";  // what the camera sees (raw pixels in [0, 1])
  int64_t image_limit = 1000;
};

struct SteeringApp {
  SteeringParams params;
  Tensor scenes;        // S x 1 x H x W float32 images in [0, 1], before any rotation
  std::string source;   // the YAML file, for reports
};

// Parses the application YAML; throws BadInput "ORIGIN: ..." on a missing or unknown key, a
// value of the wrong type, or one out of range.
SteeringParams parse_steering_params(const std::string& yaml_text, const std::string& origin);
// Reads and parses `path` and loads the scene images it names.
SteeringApp load_steering_app(const std::string& path);

// Angles in degrees (counter-clockwise as displayed, rotated-fashion-mnist's convention) for a
// batch of camera images (B x 1 x H x W, raw pixels), one per image.
using HeadingEstimator = std::function<std::vector<float>(const Tensor& images)>;
// Changes one estimate (degrees) into the one the controller sees, e.g. an injected error model;
// `rng` is the episode's own error stream, the same for every corruption so that two error
// settings face the same random numbers (common random numbers keep QoS monotone in the error).
using EstimateCorruption = std::function<float(float estimate, std::mt19937_64& rng)>;

struct SteeringResult {
  int episodes = 0;
  int collisions = 0;                 // episodes that left the corridor
  std::vector<int> collision_step;    // per episode: the step it left the corridor, -1 if never
  int64_t estimates = 0;              // heading estimates made (camera frames)
  double mean_abs_error_deg = 0;      // mean |estimate the controller saw - true heading|
  double max_abs_offset_m = 0;        // over all episodes and steps

  bool qos_holds(int max_collisions) const { return collisions <= max_collisions; }
};

struct SteeringOptions {
  EstimateCorruption corruption;  // none: the estimator's output as it is
  // Stop as soon as this many episodes collided (0: run everything); the QoS verdict is known
  // then, which saves most of the time at failing error settings.
  int stop_after_collisions = 0;
};

// Runs the application's episodes in lock step (one estimator batch per control step). Seeded by
// params.seed: the same app, estimator and corruption give the same result.
SteeringResult run_steering(const SteeringApp& app, const HeadingEstimator& estimator,
                            const SteeringOptions& options = {});
// Colliding episodes of run_steering, for callers that tune a network against the application.
int count_collisions(const SteeringApp& app, const HeadingEstimator& estimator,
                     const EstimateCorruption& corruption = {});

// A regression network (first output B x 1, degrees; e.g. tuner/examples/rotation-lenet5.onnx) as
// an estimator. The graph's stored preprocessing (metadata "coda.preprocess") is applied to the
// raw camera images first. One prepared copy of the graph is made per batch size seen: `transform`
// is called with it first (e.g. ApproxSession::apply_pruning), then `setup` with it and its
// executor (e.g. ApproxSession::install). Throws BadInput when the graph has no single image input
// or its first output is not one value per image.
using ExecutorSetup = std::function<void(const Graph& prepared, Executor& executor)>;
using PreparedGraphTransform = std::function<void(Graph& prepared)>;
HeadingEstimator network_estimator(const Graph& graph, ExecutorSetup setup = {},
                                   PreparedGraphTransform transform = {});

// The example estimator (tuner/examples/rotation-lenet5.onnx): LeNet-5 trained as a classifier
// over the rotation bins of rotated-fashion-mnist, then given a soft-argmax head (Softmax, then
// MatMul with the bin centres) so that its first output is the expected angle in degrees.
struct RotationTrainingOptions {
  // Preprocessing: Fashion-MNIST's training-set pixel mean and standard deviation (0.286, 0.353,
  // the values kernels/zoo/lenet5-fashion-mnist.onnx was trained with).
  std::string preprocess = "mean=0.286;std=0.353";
  float max_degrees = 45.0f;   // must match the data specs' max and bins
  int bins = 15;
  std::string train_data = "rotated-fashion-mnist:train?max=45,bins=15";
  std::string test_data = "rotated-fashion-mnist:test?max=45,bins=15";
  int64_t train_limit = 60000;   // all of the split: about 4 minutes of CPU time
  int64_t test_limit = 10000;
  int epochs = 6;
  std::uint64_t seed = 1;
};
struct RotationTrainingResult {
  Graph graph;              // with the soft-argmax head and metadata, ready to save
  double test_l1_deg = 0;   // mean |estimate - angle| on the test data
  double test_bin_accuracy = 0;  // top-1 over the bins before the head was added
  double seconds = 0;
};
// Called after every epoch with its number and mean training loss.
RotationTrainingResult train_rotation_estimator(const RotationTrainingOptions& options,
                                                const std::function<void(int epoch, double loss)>& progress = {});
// Appends Softmax (axis 1) and MatMul with the bin centres to a graph whose first output is
// logits over `bins` equal bins of [-max_degrees, max_degrees]; the angle becomes output 0.
void append_soft_argmax(Graph& graph, float max_degrees, int bins);
// Mean |estimate - target| of `estimator` over the images and N x 1 targets of `data` (already
// preprocessed images are not expected: the estimator applies its own preprocessing, so `data`
// should come without a transform), in batches of `batch`.
double regression_l1(const HeadingEstimator& estimator, const Tensor& images, const Tensor& targets,
                     int64_t batch = 500);

// Draws used by the simulation and the error models, portable across standard libraries:
// uniform in [0, 1) by generate_canonical, standard normal by Box-Muller (Box and Muller 1958).
double uniform01(std::mt19937_64& rng);
double standard_normal(std::mt19937_64& rng);

}  // namespace coda::tuner
