#include "kernels/evaluate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "kernels/error.h"
#include "kernels/executor.h"

namespace coda {

const char kPreprocessMetadataKey[] = "coda.preprocess";

namespace {

// "1x28x28", with '?' for a symbolic dimension.
std::string dims_text(const Shape& dims) {
  std::string s;
  for (int64_t d : dims) s += (s.empty() ? "" : "x") + (d < 0 ? std::string("?") : std::to_string(d));
  return s;
}

const Value& first_input(const Graph& graph) { return graph.values[static_cast<std::size_t>(graph.inputs.front())]; }

// The image geometry of a classifier's input: N x C x H x W, N x F (a flattened image), or an
// input without a declared shape (taken to be N x C x H x W).
struct InputLayout {
  bool flat = false;
  int64_t batch = -1;  // <= 0: symbolic (a zero batch means nothing either)
  Shape dims;          // C, H, W (or F) as declared, -1 where symbolic; empty when undeclared
};

InputLayout input_layout(const Graph& graph) {
  const Value& in = first_input(graph);
  InputLayout layout;
  if (in.shape.empty()) return layout;
  if (in.shape.size() != 4 && in.shape.size() != 2)
    throw BadInput("input '" + in.name + "' has shape " + shape_string(in.shape) +
                   "; an image classifier takes N x C x H x W (or N x features) inputs");
  layout.flat = in.shape.size() == 2;
  layout.batch = in.shape[0];
  layout.dims.assign(in.shape.begin() + 1, in.shape.end());
  return layout;
}

Shape image_shape(const Dataset& data) {
  const Shape& s = data.images.shape();
  if (s.size() != 4) throw BadInput(data.name + ": images are " + shape_string(s) + ", expected N x C x H x W");
  return {s[1], s[2], s[3]};
}

// The graph prepared for one batch size, with its executor.
struct Runner {
  Graph graph;
  int64_t batch = 0;
  bool flat = false;
  int64_t scores_per_image = 0;
  std::unique_ptr<Executor> executor;
};

std::unique_ptr<Runner> make_runner(const Graph& source, int64_t batch, const Shape& image, bool flat,
                                    const BatchedClassifier::RunnerSetup& setup) {
  auto r = std::make_unique<Runner>();
  r->graph = source;
  r->batch = batch;
  r->flat = flat;
  Shape shape{batch};
  if (flat)
    shape.push_back(element_count(image));
  else
    shape.insert(shape.end(), image.begin(), image.end());
  Value& in = r->graph.values[static_cast<std::size_t>(r->graph.inputs.front())];
  if (!in.shape.empty()) in.shape[0] = -1;  // the caller decides the batch size
  bind_input_shapes(r->graph, {shape});
  prepare_graph(r->graph);
  const Value& out = r->graph.values[static_cast<std::size_t>(r->graph.outputs.front())];
  const bool known = std::all_of(out.shape.begin(), out.shape.end(), [](int64_t d) { return d >= 0; });
  if (out.shape.empty() || out.shape[0] != batch || !known)
    throw BadInput("output '" + out.name + "' has shape " + dims_text(out.shape) + " for a batch of " +
                   std::to_string(batch) + "; expected one row of class scores per image");
  r->scores_per_image = element_count(out.shape) / batch;
  if (r->scores_per_image == 0) throw BadInput("the first output holds no class scores");
  // The executor refers to the graph, so it is made once the graph sits at its final address.
  r->executor = std::make_unique<Executor>(r->graph);
  if (setup) setup(r->graph, *r->executor);
  return r;
}

// Scores of images [begin, end) as a runner.batch x K tensor, zero-padding a short batch.
Tensor run_batch(Runner& r, const Dataset& data, int64_t begin, int64_t end) {
  Tensor x = data.batch(begin, end);
  if (end - begin < r.batch) {
    Shape shape = x.shape();
    shape[0] = r.batch;
    Tensor padded = Tensor::zeros(shape);
    std::copy(x.f32(), x.f32() + x.size(), padded.f32());
    x = padded;
  }
  if (r.flat) x = x.reshaped({r.batch, x.size() / r.batch});
  Tensor y = r.executor->run({x}).front();
  if (y.size() != r.batch * r.scores_per_image)
    throw BadInput("the first output has " + std::to_string(y.size()) + " elements at run time, " +
                   std::to_string(r.batch * r.scores_per_image) + " after shape inference");
  if (y.dtype() != DType::Float32) y = y.to(DType::Float32);
  return y.reshaped({r.batch, r.scores_per_image});
}

// Whether two score tensors agree over their first `rows` rows to within single-precision
// rounding of the larger scores: batched and single-image runs sum in different orders, so they
// agree to rounding, not bit for bit. Non-finite scores must match exactly.
bool same_scores(const Tensor& a, const Tensor& b, int64_t rows) {
  const int64_t k = a.dim(1);
  if (b.dim(1) != k) return false;
  float scale = 0;
  for (int64_t i = 0; i < rows * k; ++i)
    if (std::isfinite(b.f32()[i])) scale = std::max(scale, std::fabs(b.f32()[i]));
  // Different summation orders (and kernels) leave float32 results a few ulps (eps 1.2e-7, IEEE
  // 754) times the number of terms apart; 1e-3 of the largest score is well above that and well
  // below what mixing up images does. 1e-5 absolute covers all-zero scores.
  const float tolerance = 1e-3f * scale + 1e-5f;
  for (int64_t i = 0; i < rows * k; ++i) {
    const float x = a.f32()[i], y = b.f32()[i];
    if (std::isfinite(x) && std::isfinite(y)) {
      if (std::fabs(x - y) > tolerance) return false;
    } else if (x != y && !(std::isnan(x) && std::isnan(y))) {
      return false;
    }
  }
  return true;
}

}  // namespace

TransformChoice resolve_transform(const Graph& graph, const std::string& spec) {
  TransformChoice choice;
  auto stored = graph.metadata.find(kPreprocessMetadataKey);
  if (stored != graph.metadata.end()) choice.stored = stored->second;
  // load_dataset takes the transform after the last '@' (transform text has none).
  const std::size_t at = spec.rfind('@');
  if (at != std::string::npos) {
    choice.from_spec = true;
    choice.text = spec.substr(at + 1);
    choice.transform = ImageTransform::parse(choice.text, spec);
  } else if (!choice.stored.empty()) {
    choice.from_model = true;
    choice.transform =
        ImageTransform::parse(choice.stored, std::string("metadata '") + kPreprocessMetadataKey + "'");
    choice.text = choice.transform.to_string();
  }
  return choice;
}

void apply_transform_choice(Dataset& data, const TransformChoice& choice) {
  if (!choice.from_model) return;
  try {
    data.images = apply_transform(data.images, choice.transform);
  } catch (const BadInput& e) {
    rethrow_with_context("preprocessing '" + choice.stored + "'", e);
  }
}

void check_classifier(const Graph& graph) {
  if (graph.inputs.size() != 1)
    throw BadInput("the model has " + std::to_string(graph.inputs.size()) + " inputs; an image classifier takes one");
  if (graph.outputs.empty()) throw BadInput("the model has no outputs");
  const Value& in = first_input(graph);
  if (in.dtype != DType::Float32)
    throw BadInput("input '" + in.name + "' is " + dtype_name(in.dtype) + "; images are float32");
  input_layout(graph);
}

std::string classifier_input_mismatch(const Graph& graph, const Shape& image, const std::string& data_name,
                                      std::string* fix) {
  if (fix) fix->clear();
  const InputLayout layout = input_layout(graph);
  if (layout.dims.empty()) return "";
  if (layout.flat) {
    const int64_t features = layout.dims[0];
    if (features < 0 || features == element_count(image)) return "";
    return "model expects " + std::to_string(features) + " features per image, " + data_name + " has " +
           dims_text(image) + " = " + std::to_string(element_count(image));
  }
  bool fits = image.size() == 3;
  for (std::size_t d = 0; fits && d < 3; ++d) fits = layout.dims[d] < 0 || layout.dims[d] == image[d];
  if (fits) return "";
  std::string message = "model expects " + dims_text(layout.dims) + " images, " + data_name + " has " + dims_text(image);
  if (image.size() != 3) return message;
  const int64_t mh = layout.dims[1], mw = layout.dims[2];
  if (layout.dims[0] >= 0 && layout.dims[0] != image[0]) {
    message += " (" + std::to_string(layout.dims[0]) + " channel(s) wanted, " + std::to_string(image[0]) + " present)";
  } else if (fix && mh > 0 && mh == mw && image[1] == image[2]) {
    // Square images for a square input: centred zero padding keeps the pixels (the usual way
    // 28x28 MNIST meets 32x32 LeNet-5, LeCun et al. 1998); otherwise resize.
    const int64_t want = mh, have = image[1];
    *fix = want > have && (want - have) % 2 == 0 ? "pad=" + std::to_string((want - have) / 2)
                                                 : "resize=" + std::to_string(want);
  }
  return message;
}

struct BatchedClassifier::Impl {
  Graph source;   // shares the constants of the caller's graph
  Shape image;
  bool flat = false;
  // A fixed-batch model runs every batch at its size, zero-padded; a symbolic one runs a short
  // batch at its own size (a graph per size).
  bool pad = true;
  std::unique_ptr<Runner> main;
  std::map<int64_t, std::unique_ptr<Runner>> short_runners;
  std::string note;
  BatchedClassifier::RunnerSetup setup;

  Runner& runner_for(int64_t rows) {
    if (pad || rows == main->batch) return *main;
    auto it = short_runners.find(rows);
    if (it == short_runners.end()) it = short_runners.emplace(rows, make_runner(source, rows, image, flat, setup)).first;
    return *it->second;
  }
};

BatchedClassifier::BatchedClassifier(const Graph& graph, const Dataset& data, int64_t batch, RunnerSetup setup)
    : impl_(std::make_unique<Impl>()) {
  impl_->setup = std::move(setup);
  check_classifier(graph);
  if (batch <= 0) throw BadInput("batch size must be positive");
  const int64_t n = data.size();
  if (n == 0) throw BadInput(data.name + ": no samples to evaluate");
  if (data.images.dim(0) != n)
    throw BadInput(data.name + ": " + std::to_string(data.images.dim(0)) + " images but " + std::to_string(n) +
                   " labels");
  Impl& m = *impl_;
  m.image = image_shape(data);
  std::string fix;
  const std::string mismatch = classifier_input_mismatch(graph, m.image, data.name, &fix);
  if (!mismatch.empty())
    throw BadInput(mismatch + (fix.empty() ? "" : "; the transform " + fix + " would make them fit"));
  const InputLayout layout = input_layout(graph);
  m.flat = layout.flat;
  m.source = graph;

  const int64_t wanted = std::min(batch, n);
  if (layout.batch <= 0 || layout.batch == wanted) {
    m.pad = layout.batch > 0;
    m.main = make_runner(m.source, wanted, m.image, m.flat, m.setup);
    return;
  }
  // The batch dimension is fixed (exporters often write 1). Re-binding it is right for most
  // networks but not for those whose reshapes bake the batch in: a graph that does not prepare at
  // the wanted size, or whose first images score differently there, runs at the exported size.
  std::unique_ptr<Runner> fixed = make_runner(m.source, layout.batch, m.image, m.flat, m.setup);
  try {
    std::unique_ptr<Runner> rebound = make_runner(m.source, wanted, m.image, m.flat, m.setup);
    const Tensor a = run_batch(*rebound, data, 0, wanted);
    const Tensor b = run_batch(*fixed, data, 0, std::min(n, layout.batch));
    if (same_scores(a, b, std::min(layout.batch, wanted))) {
      m.main = std::move(rebound);
    } else {
      m.note = "scores at batch " + std::to_string(wanted) + " differ from the exported batch " +
               std::to_string(layout.batch) + "; running batches of " + std::to_string(layout.batch);
    }
  } catch (const BadInput& e) {
    m.note = "the batch dimension is fixed at " + std::to_string(layout.batch) + " and cannot be re-bound (" +
             e.what() + "); running batches of " + std::to_string(layout.batch);
  }
  if (!m.main) m.main = std::move(fixed);
}

BatchedClassifier::~BatchedClassifier() = default;

int64_t BatchedClassifier::batch() const { return impl_->main->batch; }
int64_t BatchedClassifier::scores_per_image() const { return impl_->main->scores_per_image; }
const std::string& BatchedClassifier::batch_note() const { return impl_->note; }

Tensor BatchedClassifier::scores(const Dataset& data, int64_t begin, int64_t end) {
  const int64_t rows = end - begin;
  if (begin < 0 || end > data.size() || rows <= 0 || rows > batch())
    throw BadInput("images " + std::to_string(begin) + ".." + std::to_string(end) + " of " + data.name +
                   " are not a batch of at most " + std::to_string(batch()) + " of its " +
                   std::to_string(data.size()) + " images");
  Tensor y = run_batch(impl_->runner_for(rows), data, begin, end);
  if (y.dim(0) == rows) return y;
  const int64_t k = y.dim(1);
  Tensor kept({rows, k});
  std::copy(y.f32(), y.f32() + rows * k, kept.f32());
  return kept;
}

double ClassResult::accuracy() const {
  return samples ? static_cast<double>(correct) / static_cast<double>(samples)
                 : std::numeric_limits<double>::quiet_NaN();
}

namespace {

// Rows of the per-class tables: the dataset's classes, or more should a hand-made dataset hold a
// label beyond them.
std::size_t label_rows(const Evaluation& e) {
  int rows = std::max(e.classes, 0);
  for (int label : e.labels) rows = std::max(rows, label + 1);
  return static_cast<std::size_t>(rows);
}

}  // namespace

std::vector<ClassResult> Evaluation::per_class() const {
  std::vector<ClassResult> classes_out(label_rows(*this));
  for (std::size_t i = 0; i < labels.size() && i < predictions.size(); ++i) {
    if (labels[i] < 0) continue;
    ClassResult& c = classes_out[static_cast<std::size_t>(labels[i])];
    ++c.samples;
    c.correct += predictions[i] == labels[i];
  }
  return classes_out;
}

std::vector<std::vector<int64_t>> Evaluation::confusion() const {
  const std::size_t rows = label_rows(*this);
  int64_t columns = std::max<int64_t>(scores_per_image, static_cast<int64_t>(rows));
  for (int p : predictions) columns = std::max<int64_t>(columns, p + 1);
  std::vector<std::vector<int64_t>> table(rows, std::vector<int64_t>(static_cast<std::size_t>(columns), 0));
  for (std::size_t i = 0; i < labels.size() && i < predictions.size(); ++i)
    if (labels[i] >= 0 && predictions[i] >= 0)
      ++table[static_cast<std::size_t>(labels[i])][static_cast<std::size_t>(predictions[i])];
  return table;
}

Evaluation evaluate_classifier(BatchedClassifier& classifier, const Dataset& data, const EvalProgress& progress) {
  Evaluation result;
  result.n = data.size();
  result.classes = data.classes;
  result.scores_per_image = classifier.scores_per_image();
  result.batch = classifier.batch();
  result.batch_note = classifier.batch_note();
  result.labels = data.labels;
  result.predictions.assign(static_cast<std::size_t>(result.n), 0);
  const int64_t k = result.scores_per_image;
  EvalStatus status;
  status.images = result.n;
  status.batches = (result.n + result.batch - 1) / result.batch;
  for (int64_t b = 0; b < status.batches; ++b) {
    const int64_t begin = b * result.batch, end = std::min(result.n, begin + result.batch);
    const Tensor scores = classifier.scores(data, begin, end);
    for (int64_t i = begin; i < end; ++i) {
      const float* row = scores.f32() + (i - begin) * k;
      // The first maximum on ties, as numpy.argmax and torch.argmax.
      const auto predicted = static_cast<int>(std::max_element(row, row + k) - row);
      result.predictions[static_cast<std::size_t>(i)] = predicted;
      result.correct += predicted == data.labels[static_cast<std::size_t>(i)];
    }
    status.images_done = end;
    status.batches_done = b + 1;
    status.correct = result.correct;
    if (progress) progress(status);
  }
  return result;
}

Evaluation evaluate_classifier(const Graph& graph, const Dataset& data, int64_t batch, const EvalProgress& progress) {
  BatchedClassifier classifier(graph, data, batch);
  return evaluate_classifier(classifier, data, progress);
}

}  // namespace coda
