#include "tuner/qos.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "kernels/error.h"

namespace coda::tuner {

namespace {

// Float32 cannot resolve an error below 2^-24 of the peak value, so a PSNR above
// 20 log10(2^24) ~ 144.5 dB is not measurable; identical outputs score this instead of +inf so
// that QoS losses stay finite.
const double kMaxPsnrDb = 20.0 * std::log10(16777216.0);

// Rows of an N x K output tensor (N = the leading dimension; a rank-1 tensor is N x 1).
int64_t row_count(const Tensor& t) { return t.rank() == 0 ? 1 : t.dim(0); }

void check_float(const Tensor& t, const std::string& metric) {
  if (t.dtype() != DType::Float32) throw BadInput("QoS metric '" + metric + "': outputs must be float32");
}

void check_same_size(const Tensor& outputs, const Tensor& reference, const std::string& metric, const char* what) {
  check_float(outputs, metric);
  if (outputs.size() != reference.size() || row_count(outputs) != row_count(reference))
    throw BadInput("QoS metric '" + metric + "': outputs are " + shape_string(outputs.shape()) + ", the " + what +
                   " are " + shape_string(reference.shape()));
}

// Index of the first largest score of each row.
std::vector<int> argmax_rows(const Tensor& t) {
  int64_t rows = row_count(t);
  int64_t width = rows ? t.size() / rows : 0;
  std::vector<int> best(static_cast<std::size_t>(rows), 0);
  const float* data = t.f32();
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data + r * width;
    int64_t arg = 0;
    for (int64_t k = 1; k < width; ++k)
      if (row[k] > row[arg]) arg = k;
    best[static_cast<std::size_t>(r)] = static_cast<int>(arg);
  }
  return best;
}

double mean_squared_error(const Tensor& a, const Tensor& b) {
  const float* x = a.f32();
  const float* y = b.f32();
  double sum = 0.0;
  for (int64_t i = 0; i < a.size(); ++i) {
    double d = static_cast<double>(x[i]) - static_cast<double>(y[i]);
    sum += d * d;
  }
  return a.size() ? sum / static_cast<double>(a.size()) : 0.0;
}

class AccuracyEvaluator : public QosEvaluator {
 public:
  explicit AccuracyEvaluator(std::vector<int> labels) : labels_(std::move(labels)) {}
  std::string name() const override { return "accuracy"; }
  std::string unit() const override { return "%"; }
  bool higher_is_better() const override { return true; }
  double evaluate(const Tensor& outputs) const override {
    check_float(outputs, name());
    if (row_count(outputs) != static_cast<int64_t>(labels_.size()))
      throw BadInput("QoS metric 'accuracy': outputs have " + std::to_string(row_count(outputs)) + " rows, the split has " +
                     std::to_string(labels_.size()) + " labels");
    std::vector<int> predicted = argmax_rows(outputs);
    int64_t correct = 0;
    for (std::size_t i = 0; i < labels_.size(); ++i) correct += predicted[i] == labels_[i];
    return 100.0 * static_cast<double>(correct) / static_cast<double>(labels_.size());
  }

 private:
  std::vector<int> labels_;
};

class AgreementEvaluator : public QosEvaluator {
 public:
  explicit AgreementEvaluator(const Tensor& exact) : exact_classes_(argmax_rows(exact)), exact_(exact) {}
  std::string name() const override { return "agreement"; }
  std::string unit() const override { return "%"; }
  bool higher_is_better() const override { return true; }
  double evaluate(const Tensor& outputs) const override {
    check_same_size(outputs, exact_, name(), "exact outputs");
    std::vector<int> predicted = argmax_rows(outputs);
    int64_t same = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i) same += predicted[i] == exact_classes_[i];
    return 100.0 * static_cast<double>(same) / static_cast<double>(predicted.size());
  }

 private:
  std::vector<int> exact_classes_;
  Tensor exact_;
};

class MseEvaluator : public QosEvaluator {
 public:
  explicit MseEvaluator(const Tensor& exact) : exact_(exact) {}
  std::string name() const override { return "mse"; }
  std::string unit() const override { return ""; }
  bool higher_is_better() const override { return false; }
  double evaluate(const Tensor& outputs) const override {
    check_same_size(outputs, exact_, name(), "exact outputs");
    return mean_squared_error(outputs, exact_);
  }

 private:
  Tensor exact_;
};

class PsnrEvaluator : public QosEvaluator {
 public:
  explicit PsnrEvaluator(const Tensor& exact) : exact_(exact) {
    const float* data = exact.f32();
    for (int64_t i = 0; i < exact.size(); ++i) peak_ = std::max(peak_, std::fabs(static_cast<double>(data[i])));
  }
  std::string name() const override { return "psnr"; }
  std::string unit() const override { return "dB"; }
  bool higher_is_better() const override { return true; }
  double evaluate(const Tensor& outputs) const override {
    check_same_size(outputs, exact_, name(), "exact outputs");
    double mse = mean_squared_error(outputs, exact_);
    if (mse == 0.0) return kMaxPsnrDb;
    return std::min(kMaxPsnrDb, 10.0 * std::log10(peak_ * peak_ / mse));
  }
  double peak() const { return peak_; }

 private:
  Tensor exact_;
  double peak_ = 0.0;
};

class L1Evaluator : public QosEvaluator {
 public:
  explicit L1Evaluator(const Tensor& targets) : targets_(targets) {}
  std::string name() const override { return "l1"; }
  std::string unit() const override { return ""; }
  bool higher_is_better() const override { return false; }
  double evaluate(const Tensor& outputs) const override {
    check_same_size(outputs, targets_, name(), "targets");
    const float* x = outputs.f32();
    const float* y = targets_.f32();
    double sum = 0.0;
    for (int64_t i = 0; i < outputs.size(); ++i) sum += std::fabs(static_cast<double>(x[i]) - static_cast<double>(y[i]));
    return outputs.size() ? sum / static_cast<double>(outputs.size()) : 0.0;
  }

 private:
  Tensor targets_;
};

std::string names_list() {
  std::string text;
  std::vector<std::string> names = metric_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return text;
}

// Shortest decimal form that reads back as the same double.
std::string shortest(double value) {
  char buffer[64];
  // Plain decimals ("90", "0.1") for everyday magnitudes, exponents only beyond them.
  bool plain = value == 0.0 || (std::fabs(value) >= 1e-4 && std::fabs(value) < 1e15);
  for (int precision = plain ? 0 : 1; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof buffer, plain ? "%.*f" : "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

}  // namespace

std::vector<std::string> metric_names() { return {"accuracy", "agreement", "mse", "psnr", "l1"}; }

std::unique_ptr<QosEvaluator> make_metric_evaluator(const std::string& metric, const QosReference& reference) {
  auto need_exact = [&]() {
    if (reference.exact_outputs.empty())
      throw BadInput("QoS metric '" + metric + "' needs the exact network's outputs on the split");
    check_float(reference.exact_outputs, metric);
  };
  if (metric == "accuracy") {
    if (reference.labels.empty()) throw BadInput("QoS metric 'accuracy' needs labelled data (the split has no labels)");
    return std::make_unique<AccuracyEvaluator>(reference.labels);
  }
  if (metric == "agreement") {
    need_exact();
    if (reference.exact_outputs.size() == 0) throw BadInput("QoS metric 'agreement': the split is empty");
    return std::make_unique<AgreementEvaluator>(reference.exact_outputs);
  }
  if (metric == "mse") {
    need_exact();
    return std::make_unique<MseEvaluator>(reference.exact_outputs);
  }
  if (metric == "psnr") {
    need_exact();
    auto psnr = std::make_unique<PsnrEvaluator>(reference.exact_outputs);
    if (!(psnr->peak() > 0.0))
      throw BadInput("QoS metric 'psnr' needs exact outputs that are not all zero (the peak is 0)");
    return psnr;
  }
  if (metric == "l1") {
    if (reference.targets.empty())
      throw BadInput("QoS metric 'l1' needs regression targets (the data has none)");
    check_float(reference.targets, metric);
    return std::make_unique<L1Evaluator>(reference.targets);
  }
  throw BadInput("unknown QoS metric '" + metric + "' (expected " + names_list() + ")");
}

QosThreshold QosThreshold::parse(const std::string& text) {
  auto fail = [&](const std::string& problem) -> QosThreshold {
    throw BadInput("--qos-loss '" + text + "': " + problem);
  };
  QosThreshold threshold;
  std::string number = text;
  if (!number.empty() && number.front() == '=') {
    threshold.kind = Kind::Absolute;
    number.erase(0, 1);
  } else if (!number.empty() && number.back() == '%') {
    threshold.kind = Kind::RelativeLoss;
    number.pop_back();
  }
  const char* expected = "expected a loss like 1, a relative loss like 1% or a bound like =88.5";
  if (number.empty() || std::isspace(static_cast<unsigned char>(number.front()))) return fail(expected);
  char* end = nullptr;
  threshold.value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return fail(expected);
  if (!std::isfinite(threshold.value)) return fail("the value must be finite");
  if (threshold.value < 0) return fail("the value must not be negative");
  if (threshold.kind == Kind::RelativeLoss && threshold.value >= 100)
    return fail("a relative loss must be below 100%");
  return threshold;
}

std::string QosThreshold::to_string() const {
  switch (kind) {
    case Kind::Loss: return shortest(value);
    case Kind::RelativeLoss: return shortest(value) + "%";
    case Kind::Absolute: return "=" + shortest(value);
  }
  return shortest(value);
}

double QosThreshold::max_loss(const QosEvaluator& metric, double baseline) const {
  const std::string where = "--qos-loss '" + to_string() + "'";
  if (!std::isfinite(baseline))
    throw BadInput(where + ": the exact network's " + metric.name() + " is not finite");
  double allowed = 0.0;
  switch (kind) {
    case Kind::Loss: allowed = value; break;
    case Kind::RelativeLoss: allowed = value / 100.0 * std::fabs(baseline); break;
    case Kind::Absolute:
      allowed = metric.higher_is_better() ? baseline - value : value - baseline;
      if (allowed < 0)
        throw BadInput(where + ": the exact network's " + metric.name() + " is " + shortest(baseline) + metric.unit() +
                       ", already " + (metric.higher_is_better() ? "below" : "above") + " the bound");
      break;
  }
  // Percent metrics (accuracy, agreement) live in [0, 100]: a loss of 100 points allows anything.
  if (metric.unit() == "%" && allowed >= 100.0)
    throw BadInput(where + ": a loss of " + shortest(allowed) + " points of " + metric.name() +
                   " is out of range (it must be below 100)");
  return allowed;
}

}  // namespace coda::tuner
