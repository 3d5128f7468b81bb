// What an op asks of the hardware once its knob is applied: the GEMM it lowers to (for Conv, Gemm
// and MatMul), its multiply-accumulates and other arithmetic, and its tensors' sizes at the
// precision the knob stores them in. Unit models turn a workload into cycles, traffic and energy;
// the knob's effect is computed from its parameters (kept rows, kept filter elements, sampled
// share), not from the catalog's op-count proxy factors.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "kernels/approx/knob_catalog.h"
#include "kernels/executor.h"

namespace coda::sim {

// C (m x n) = A (m x k) x B (k x n), `groups` times (grouped convolution, batched MatMul).
// Convolutions are lowered im2col-style: m = N * H_out * W_out (kept pixels only under
// perforation), k = C_in/groups * k_h * k_w (kept elements only under filter sampling),
// n = C_out/groups.
struct GemmShape {
  int64_t groups = 0;  // 0: the op is not a GEMM
  int64_t m = 0, k = 0, n = 0;
  bool depthwise = false;  // one input channel per group: a direct kernel, not a GEMM
  double macs() const { return static_cast<double>(groups) * m * k * n; }
};

struct OpWorkload {
  std::string op_type;
  bool is_view = false;      // Reshape, Flatten, ...: no work, no traffic
  GemmShape gemm;
  double macs = 0;           // after the knob
  double flops = 0;          // other arithmetic (elementwise, reductions, interpolation)
  double input_bytes = 0;    // activations read (constant inputs excluded)
  double weight_bytes = 0;   // constant inputs read
  double output_bytes = 0;
  double weight_elements = 0;
  double element_bytes = 4;  // storage size of one activation element under the knob
  bool half_arithmetic = false;
  // Shape features for traces and predictors (NeuralPower's: batch, H/W in and out, kernel,
  // stride, channels), all present for Conv; the sizes for every op.
  std::map<std::string, double> features;
};

// The workload of a prepared node under a knob (knob 11 or a pruning knob: the exact op).
OpWorkload describe_op(const Graph& graph, const NodeReport& report, const Knob& knob);

}  // namespace coda::sim
