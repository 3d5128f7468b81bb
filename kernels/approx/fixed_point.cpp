#include "kernels/approx/fixed_point.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "kernels/approx/quantize.h"
#include "kernels/error.h"

namespace coda {

FixedPointScales fixed_point_scales(const ValueRange& input_range, const float* weights, int64_t weight_count,
                                    int bits) {
  FixedPointScales s;
  s.input = symmetric_scale(std::max(std::fabs(input_range.low), std::fabs(input_range.high)), bits);
  s.weights = symmetric_scale(max_abs(weights, weight_count), bits);
  return s;
}

namespace {

// The fixed-point kernel of one Conv, Gemm or MatMul node: the exact kernel runs on the quantized
// input (input 0) and weights (input 1); other inputs (the bias) pass through.
class FixedPointKernel final : public ApproxKernel {
 public:
  explicit FixedPointKernel(const KnobRequest& request)
      : ApproxKernel(request.exact), bits_(request.knob.bits), input_range_(request.ranges->input) {
    symmetric_max_code(bits_);  // rejects a width the quantizer cannot represent
  }

  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const int bits = bits_;
    std::shared_ptr<const Tensor> weights = weights_.get(w, [bits](const Tensor& source, Tensor& quantized) {
      const float scale = symmetric_scale(max_abs(source.f32(), source.size()), bits);
      fake_quantize_symmetric(source.f32(), quantized.f32(), source.size(), scale, bits);
    });
    Tensor input(x.shape());
    const float input_scale =
        symmetric_scale(std::max(std::fabs(input_range_.low), std::fabs(input_range_.high)), bits);
    fake_quantize_symmetric(x.f32(), input.f32(), x.size(), input_scale, bits);

    std::vector<const Tensor*> inputs;
    for (int i = 0; i < ctx.input_count(); ++i) inputs.push_back(ctx.has_input(i) ? &ctx.input(i) : nullptr);
    inputs[0] = &input;
    inputs[1] = weights.get();
    std::vector<Tensor*> outputs;
    for (int i = 0; i < ctx.output_count(); ++i) outputs.push_back(ctx.has_output(i) ? &ctx.output(i) : nullptr);
    exact_.run(RunContext(ctx.node(), std::move(inputs), std::move(outputs)));
  }

 private:
  int bits_;
  ValueRange input_range_;
  QuantizedWeightCache weights_;
};

std::unique_ptr<OpKernel> make_fixed_point_kernel(const KnobRequest& request) {
  const std::string& op = request.node.op_type;
  if (op != "Conv" && op != "Gemm" && op != "MatMul")
    throw BadInput(request.node.describe() + ": the fixed-point knob " + std::to_string(request.knob.id) +
                   " computes Conv, Gemm and MatMul only");
  if (!request.ranges)
    throw BadInput(request.node.describe() + ": the fixed-point knob " + std::to_string(request.knob.id) +
                   " needs a calibrated input range");
  return std::make_unique<FixedPointKernel>(request);
}

}  // namespace

CODA_REGISTER_KNOB_FAMILY(Precision, make_fixed_point_kernel);

}  // namespace coda
