#include "kernels/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/autograd.h"
#include "kernels/error.h"
#include "kernels/evaluate.h"
#include "kernels/executor.h"

namespace coda {
namespace {

constexpr double kPi = 3.14159265358979323846;

bool contains(const std::vector<int>& list, int value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// splitmix64 (Steele et al., OOPSLA 2014): decorrelates per-image seeds derived from counters, so
// augmentation depends only on (seed, epoch, image) and not on thread scheduling.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void add_into(Tensor& acc, const Tensor& g) {
  float* a = acc.f32();
  const float* b = g.f32();
  const int64_t n = acc.size();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

struct Parameter {
  int value = -1;
  std::string name;
  Tensor weights;    // shares storage with the graph's constant: updates are seen by the graph
  Tensor velocity;
  Tensor shadow;     // full-precision weights when a weight transform is active
  bool decay = false;
};

}  // namespace

struct Trainer::State {
  Graph graph;  // bound to the training batch, prepared
  std::vector<const OpKernel*> ops;
  std::vector<const GradKernel*> grads;  // null for nodes no gradient flows through
  std::vector<Parameter> params;
  std::vector<int> param_of_value;       // value id -> index in params, -1 otherwise
  std::vector<bool> needs_grad;
  WeightTransform transform;
};

Trainer::Trainer(Graph& graph, TrainOptions options) : graph_(graph), options_(std::move(options)) {
  if (graph_.inputs.size() != 1)
    throw BadInput("training needs a model with one input, this one has " + std::to_string(graph_.inputs.size()));
  if (graph_.outputs.empty()) throw BadInput("the model has no outputs");
  if (options_.batch <= 0 || options_.epochs <= 0) throw BadInput("batch size and epochs must be positive");
  if (options_.learning_rate <= 0) throw BadInput("learning rate must be positive");
  learning_rate_at(0, 0, 1);  // validates the schedule string early
  // Training runs at any batch size: make the batch dimension symbolic.
  Value& in = graph_.values[static_cast<std::size_t>(graph_.inputs.front())];
  if (in.shape.size() != 4) throw BadInput("training needs N x C x H x W image input, got " + shape_string(in.shape));
  in.shape[0] = -1;
  state_ = std::make_unique<State>();
}

Trainer::~Trainer() = default;

void Trainer::set_weight_transform(WeightTransform transform) { state_->transform = std::move(transform); }

std::vector<std::string> Trainer::parameter_names() const {
  std::vector<std::string> names;
  for (const Parameter& p : state_->params) names.push_back(p.name);
  return names;
}

double Trainer::learning_rate_at(int epoch, int64_t step, int64_t steps_per_epoch) const {
  const double base = options_.learning_rate;
  const double t = epoch + static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, steps_per_epoch));
  if (t < options_.warmup_epochs) return base * (0.1 + 0.9 * t / options_.warmup_epochs);
  const std::string& s = options_.schedule;
  if (s == "constant") return base;
  if (s == "cosine") return base * 0.5 * (1.0 + std::cos(kPi * t / options_.epochs));
  if (s.rfind("step:", 0) == 0) {
    auto colon = s.find(':', 5);
    if (colon == std::string::npos) throw BadInput("schedule '" + s + "': expected step:E1,E2,...:GAMMA");
    double gamma = 0;
    try {
      gamma = std::stod(s.substr(colon + 1));
    } catch (const std::exception&) {
      throw BadInput("schedule '" + s + "': GAMMA is not a number");
    }
    double lr = base;
    std::size_t pos = 5;
    while (pos < colon) {
      std::size_t comma = std::min(s.find(',', pos), colon);
      int milestone = 0;
      try {
        milestone = std::stoi(s.substr(pos, comma - pos));
      } catch (const std::exception&) {
        throw BadInput("schedule '" + s + "': epoch '" + s.substr(pos, comma - pos) + "' is not a number");
      }
      if (epoch >= milestone) lr *= gamma;
      pos = comma + 1;
    }
    return lr;
  }
  throw BadInput("unknown learning-rate schedule '" + s + "' (cosine, constant, step:E1,E2:GAMMA)");
}

namespace {

// Random crop (after zero padding) and horizontal flip of one N x C x H x W batch, in place.
void augment(Tensor& batch, const TrainOptions& o, int epoch, int64_t first_index) {
  if (o.crop_padding <= 0 && !o.horizontal_flip) return;
  const int64_t n = batch.dim(0), c = batch.dim(1), h = batch.dim(2), w = batch.dim(3);
  const int64_t p = o.crop_padding;
  float* data = batch.f32();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    std::uint64_t r = mix(o.seed ^ mix(static_cast<std::uint64_t>(epoch) * 0x100000001b3ULL +
                                       static_cast<std::uint64_t>(first_index + i)));
    const int64_t dy = p > 0 ? static_cast<int64_t>(r % static_cast<std::uint64_t>(2 * p + 1)) - p : 0;
    const int64_t dx = p > 0 ? static_cast<int64_t>((r >> 16) % static_cast<std::uint64_t>(2 * p + 1)) - p : 0;
    const bool flip = o.horizontal_flip && ((r >> 40) & 1U);
    std::vector<float> plane(static_cast<std::size_t>(h * w));
    for (int64_t ch = 0; ch < c; ++ch) {
      float* img = data + (i * c + ch) * h * w;
      std::copy(img, img + h * w, plane.begin());
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const int64_t sy = y + dy, sx0 = x + dx;
          const int64_t sx = flip ? w - 1 - sx0 : sx0;
          img[y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? plane[static_cast<std::size_t>(sy * w + sx)] : 0.0f;
        }
    }
  }
}

}  // namespace

EpochStats Trainer::train_epoch(const Dataset& data, int epoch, const TrainProgress& progress) {
  auto start = std::chrono::steady_clock::now();
  State& st = *state_;
  const int64_t batch = std::min(options_.batch, data.size());
  if (batch <= 0) throw BadInput(data.name + ": the dataset is empty");
  const Value& in = graph_.values[static_cast<std::size_t>(graph_.inputs.front())];
  const Shape& images = data.images.shape();
  for (std::size_t d = 1; d < 4; ++d)
    if (in.shape[d] >= 0 && in.shape[d] != images[d])
      throw BadInput("model expects " + shape_string({in.shape[1], in.shape[2], in.shape[3]}) + " images, " +
                     data.name + " has " + shape_string({images[1], images[2], images[3]}));

  if (st.ops.empty()) {
    // First epoch: bind the batch, find the parameters and what needs a gradient.
    st.graph = graph_;
    bind_input_shapes(st.graph, {{batch, images[1], images[2], images[3]}});
    prepare_graph(st.graph);
    const std::size_t nv = st.graph.values.size();
    st.param_of_value.assign(nv, -1);
    st.needs_grad.assign(nv, false);
    for (const Node& node : st.graph.nodes) {
      st.ops.push_back(&require_op(node));
      const GradKernel* g = find_grad(node.op_type);
      st.grads.push_back(g);
      if (!g) continue;
      auto fixed = g->non_differentiable_inputs();
      auto updated = g->updated_inputs();
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        int id = node.inputs[i];
        if (id < 0 || contains(fixed, static_cast<int>(i)) || contains(updated, static_cast<int>(i))) continue;
        Value& v = st.graph.values[static_cast<std::size_t>(id)];
        if (!v.constant || v.dtype != DType::Float32 || st.param_of_value[static_cast<std::size_t>(id)] >= 0) continue;
        Parameter p;
        p.value = id;
        p.name = v.name;
        p.weights = *v.constant;
        p.velocity = Tensor::zeros(v.shape);
        p.decay = v.shape.size() >= 2;
        st.param_of_value[static_cast<std::size_t>(id)] = static_cast<int>(st.params.size());
        st.needs_grad[static_cast<std::size_t>(id)] = true;
        st.params.push_back(std::move(p));
      }
    }
    for (std::size_t n = 0; n < st.graph.nodes.size(); ++n) {
      const Node& node = st.graph.nodes[n];
      bool any = false;
      std::vector<int> fixed = st.grads[n] ? st.grads[n]->non_differentiable_inputs() : std::vector<int>{};
      for (std::size_t i = 0; i < node.inputs.size(); ++i)
        if (node.inputs[i] >= 0 && !contains(fixed, static_cast<int>(i)))
          any = any || st.needs_grad[static_cast<std::size_t>(node.inputs[i])];
      if (any && !st.grads[n] && !st.ops[n]->is_view())
        throw BadInput(node.describe() + ": no backward pass for op type '" + node.op_type + "'");
      for (int out : node.outputs)
        if (out >= 0) st.needs_grad[static_cast<std::size_t>(out)] = any;
    }
    if (st.params.empty()) throw BadInput("the model has no trainable parameters");
  }

  const int64_t steps = data.size() / batch;  // the incomplete last batch is dropped
  std::vector<int64_t> order(static_cast<std::size_t>(data.size()));
  for (int64_t i = 0; i < data.size(); ++i) order[static_cast<std::size_t>(i)] = i;
  std::mt19937_64 shuffle_rng(mix(options_.seed) ^ static_cast<std::uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), shuffle_rng);

  const std::size_t nv = st.graph.values.size();
  const int64_t image_size = images[1] * images[2] * images[3];
  const int logits_id = st.graph.outputs.front();
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  double lr = 0;
  for (int64_t step = 0; step < steps; ++step) {
    Tensor x({batch, images[1], images[2], images[3]});
    std::vector<int> labels(static_cast<std::size_t>(batch));
    for (int64_t i = 0; i < batch; ++i) {
      int64_t src = order[static_cast<std::size_t>(step * batch + i)];
      std::memcpy(x.f32() + i * image_size, data.images.f32() + src * image_size,
                  static_cast<std::size_t>(image_size) * sizeof(float));
      labels[static_cast<std::size_t>(i)] = data.labels[static_cast<std::size_t>(src)];
    }
    augment(x, options_, epoch, step * batch);

    // Effective weights: the transform of the shadow copy, or the weights themselves.
    if (st.transform)
      for (Parameter& p : st.params) {
        if (p.shadow.empty()) p.shadow = p.weights.clone();
        st.transform(p.name, p.shadow, p.weights);
      }

    // Forward in training mode, keeping every activation for the backward pass.
    std::vector<Tensor> act(nv);
    std::vector<std::vector<Tensor>> saved(st.graph.nodes.size());
    act[static_cast<std::size_t>(st.graph.inputs.front())] = x;
    auto value_of = [&](int id) -> Tensor* {
      Value& v = st.graph.values[static_cast<std::size_t>(id)];
      return v.constant ? &*v.constant : &act[static_cast<std::size_t>(id)];
    };
    for (std::size_t n = 0; n < st.graph.nodes.size(); ++n) {
      const Node& node = st.graph.nodes[n];
      std::vector<const Tensor*> ins;
      std::vector<Tensor*> mut(node.inputs.size(), nullptr);
      for (int id : node.inputs) ins.push_back(id >= 0 ? value_of(id) : nullptr);
      if (st.ops[n]->is_view()) {
        const Value& out = st.graph.values[static_cast<std::size_t>(node.outputs.front())];
        act[static_cast<std::size_t>(node.outputs.front())] = ins.front()->reshaped(out.shape);
        continue;
      }
      std::vector<Tensor*> outs;
      for (int id : node.outputs) {
        if (id < 0) {
          outs.push_back(nullptr);
          continue;
        }
        const Value& v = st.graph.values[static_cast<std::size_t>(id)];
        act[static_cast<std::size_t>(id)] = Tensor(v.shape, v.dtype);
        outs.push_back(&act[static_cast<std::size_t>(id)]);
      }
      if (st.grads[n]) {
        for (int i : st.grads[n]->updated_inputs())
          if (i < static_cast<int>(node.inputs.size()) && node.inputs[static_cast<std::size_t>(i)] >= 0)
            mut[static_cast<std::size_t>(i)] = value_of(node.inputs[static_cast<std::size_t>(i)]);
        st.grads[n]->forward_train(TrainForwardContext(node, ins, mut, outs, saved[n]));
      } else {
        st.ops[n]->run(RunContext(node, ins, outs));
      }
    }

    const Tensor& logits = act[static_cast<std::size_t>(logits_id)];
    Tensor logits2d = logits.reshaped({batch, logits.size() / batch});
    std::vector<Tensor> grad(nv);
    grad[static_cast<std::size_t>(logits_id)] = Tensor(logits.shape());
    Tensor dlogits2d = grad[static_cast<std::size_t>(logits_id)].reshaped(logits2d.shape());
    loss_sum += softmax_cross_entropy(logits2d, labels, &dlogits2d) * static_cast<double>(batch);
    const int64_t classes = logits2d.dim(1);
    for (int64_t i = 0; i < batch; ++i) {
      const float* row = logits2d.f32() + i * classes;
      if (std::max_element(row, row + classes) - row == labels[static_cast<std::size_t>(i)]) ++correct;
    }
    seen += batch;

    // Backward in reverse topological order; gradients of values read by several nodes add up.
    for (std::size_t n = st.graph.nodes.size(); n-- > 0;) {
      const Node& node = st.graph.nodes[n];
      std::vector<const Tensor*> out_grads;
      bool any_out = false;
      for (int id : node.outputs) {
        const Tensor* g = id >= 0 && !grad[static_cast<std::size_t>(id)].empty() ? &grad[static_cast<std::size_t>(id)] : nullptr;
        out_grads.push_back(g);
        any_out = any_out || g;
      }
      if (!any_out) continue;
      std::vector<int> fixed = st.grads[n] ? st.grads[n]->non_differentiable_inputs() : std::vector<int>{};
      std::vector<Tensor> in_grad_storage(node.inputs.size());
      std::vector<Tensor*> in_grads(node.inputs.size(), nullptr);
      bool any_in = false;
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        int id = node.inputs[i];
        if (id < 0 || contains(fixed, static_cast<int>(i)) || !st.needs_grad[static_cast<std::size_t>(id)]) continue;
        in_grad_storage[i] = Tensor(st.graph.values[static_cast<std::size_t>(id)].shape);
        in_grads[i] = &in_grad_storage[i];
        any_in = true;
      }
      if (!any_in) continue;
      if (st.ops[n]->is_view()) {
        in_grad_storage[0] = out_grads[0]->clone().reshaped(in_grad_storage[0].shape());
      } else {
        std::vector<const Tensor*> ins, outs;
        for (int id : node.inputs) ins.push_back(id >= 0 ? value_of(id) : nullptr);
        for (int id : node.outputs) outs.push_back(id >= 0 ? &act[static_cast<std::size_t>(id)] : nullptr);
        st.grads[n]->backward(BackwardContext(node, ins, outs, out_grads, in_grads, saved[n]));
      }
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        if (!in_grads[i]) continue;
        Tensor& acc = grad[static_cast<std::size_t>(node.inputs[i])];
        if (acc.empty()) acc = std::move(in_grad_storage[i]);
        else add_into(acc, in_grad_storage[i]);
      }
      // Activations and gradients this node was the last to need can go.
      for (int id : node.outputs)
        if (id >= 0) grad[static_cast<std::size_t>(id)] = Tensor();
    }

    // SGD with momentum and decoupled-from-bias weight decay (PyTorch's formulation:
    // v = mu v + (g + wd w), w -= lr v).
    lr = learning_rate_at(epoch, step, steps);
    const float mu = options_.momentum, wd = options_.weight_decay, rate = static_cast<float>(lr);
    for (Parameter& p : st.params) {
      const Tensor& g = grad[static_cast<std::size_t>(p.value)];
      if (g.empty()) continue;
      Tensor& target = st.transform ? p.shadow : p.weights;
      float* w = target.f32();
      float* v = p.velocity.f32();
      const float* gd = g.f32();
      const float decay = p.decay ? wd : 0.0f;
      const int64_t count = target.size();
#pragma omp parallel for schedule(static) if (count > 65536)
      for (int64_t i = 0; i < count; ++i) {
        v[i] = mu * v[i] + gd[i] + decay * w[i];
        w[i] -= rate * v[i];
      }
    }
    if (progress) progress(step + 1, steps, loss_sum / static_cast<double>(seen),
                           static_cast<double>(correct) / static_cast<double>(seen));
  }
  // With a transform, the graph keeps the transformed weights (what inference should use).
  if (st.transform)
    for (Parameter& p : st.params) st.transform(p.name, p.shadow, p.weights);

  EpochStats stats;
  stats.epoch = epoch;
  stats.loss = seen ? loss_sum / static_cast<double>(seen) : 0.0;
  stats.accuracy = seen ? static_cast<double>(correct) / static_cast<double>(seen) : 0.0;
  stats.learning_rate = lr;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

double Trainer::evaluate(const Dataset& data, int64_t batch) {
  return evaluate_classifier(graph_, data, batch).accuracy();
}

}  // namespace coda
