// Quality of a network on a labelled dataset: top-1 accuracy in inference mode, per class and as a
// confusion matrix. Handles the input forms classifiers come in: N x C x H x W or flattened N x F
// images, a symbolic batch dimension, or one fixed at export (often 1), which is re-bound to the
// requested batch size when that gives the same scores and kept (with a zero-padded last batch)
// when it does not.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kernels/dataset.h"
#include "kernels/executor.h"
#include "kernels/graph.h"

namespace coda {

// Key of the model metadata holding the preprocessing the model was trained with, in the form of
// ImageTransform::to_string (written by `coda train`).
extern const char kPreprocessMetadataKey[];

// The preprocessing data loaded from a spec gets before it meets a model: the spec's own
// transform (after its last '@') when it has one, which load_dataset has applied, else the
// model's stored preprocessing, which apply_transform_choice applies.
struct TransformChoice {
  ImageTransform transform;
  std::string text;            // the spec's transform as written, or transform.to_string(); "" for none
  bool from_spec = false;      // the spec has a transform (it replaces any stored one)
  bool from_model = false;     // the model's stored preprocessing applies
  std::string stored;          // the model's stored preprocessing as written ("" for none)
};

// Throws BadInput "metadata 'coda.preprocess': ..." when the stored preprocessing is malformed.
TransformChoice resolve_transform(const Graph& graph, const std::string& spec);
// Applies a model's stored preprocessing to data loaded from the spec (a no-op otherwise).
// Throws BadInput "preprocessing 'TEXT': ..." when it does not apply to the images.
void apply_transform_choice(Dataset& data, const TransformChoice& choice);

// Throws BadInput unless `graph` can be an image classifier: one float32 input of rank 4
// (N x C x H x W), 2 (N x features) or undeclared, and at least one output.
void check_classifier(const Graph& graph);

// Why images of `image` = C x H x W do not fit the classifier's input, e.g. "model expects 1x4x4
// images, DATA has 1x2x2", or "" when they fit. `data_name` stands for the images in the message.
// `fix`, when given, receives a transform that would make them fit ("pad=1", "resize=32"), or "".
std::string classifier_input_mismatch(const Graph& graph, const Shape& image, const std::string& data_name,
                                      std::string* fix = nullptr);

// A classifier graph prepared to score a dataset's images in batches. It copies the graph (sharing
// its constants) when made; make a new one after changing the graph, as preparing may have folded
// constants.
class BatchedClassifier {
 public:
  // Runs batches of min(batch, data.size()) images when the model allows it. A model whose batch
  // dimension is fixed at B is re-bound to that size if it prepares and its scores for the first
  // images agree with those at B, since reshapes that bake B in would make them differ; otherwise
  // it runs batches of B (see batch_note()). Throws BadInput when the model is no classifier
  // (check_classifier), the images do not fit (classifier_input_mismatch) or the first output is
  // not one row of scores per image.
  //
  // `setup`, when given, is called with every prepared graph and its executor before the executor
  // runs, e.g. to install approximate kernels (ApproxSession::install).
  using RunnerSetup = std::function<void(const Graph& prepared, Executor& executor)>;
  BatchedClassifier(const Graph& graph, const Dataset& data, int64_t batch, RunnerSetup setup = {});
  ~BatchedClassifier();
  BatchedClassifier(const BatchedClassifier&) = delete;
  BatchedClassifier& operator=(const BatchedClassifier&) = delete;

  // Images per inference run.
  int64_t batch() const;
  // Width of the score rows (the first output's elements per image).
  int64_t scores_per_image() const;
  // Why batch() is not the requested size ("" when it is, or when the dataset is smaller).
  const std::string& batch_note() const;
  // Scores of images [begin, end) of `data` (at most batch() of them): (end - begin) x
  // scores_per_image(), float32. A partial batch runs zero-padded on a fixed-batch model and at
  // its own size otherwise.
  Tensor scores(const Dataset& data, int64_t begin, int64_t end);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ClassResult {
  int64_t samples = 0;   // samples with this true label
  int64_t correct = 0;
  double accuracy() const;   // NaN without samples
};

struct Evaluation {
  int64_t n = 0;
  int64_t correct = 0;
  int classes = 0;                 // the dataset's
  int64_t scores_per_image = 0;    // the model's; may differ from `classes`
  int64_t batch = 0;               // images per inference run
  std::string batch_note;          // BatchedClassifier::batch_note
  std::vector<int> predictions;    // argmax of each sample's scores (the first maximum on ties)
  std::vector<int> labels;         // the dataset's labels, in the same order

  double accuracy() const { return n ? static_cast<double>(correct) / static_cast<double>(n) : 0.0; }
  // One entry per dataset class.
  std::vector<ClassResult> per_class() const;
  // confusion()[label][prediction]: classes rows, max(classes, scores_per_image) columns.
  std::vector<std::vector<int64_t>> confusion() const;
};

struct EvalStatus {
  int64_t images_done = 0;
  int64_t images = 0;
  int64_t batches_done = 0;
  int64_t batches = 0;
  int64_t correct = 0;   // among the images done
};
// Called after every batch.
using EvalProgress = std::function<void(const EvalStatus&)>;

Evaluation evaluate_classifier(BatchedClassifier& classifier, const Dataset& data, const EvalProgress& progress = {});
// The same with a classifier made for the call.
Evaluation evaluate_classifier(const Graph& graph, const Dataset& data, int64_t batch,
                               const EvalProgress& progress = {});

}  // namespace coda
