#include "sim/op_workload.h"

#include <algorithm>

#include "kernels/ops/window.h"

namespace coda::sim {
namespace {

// Lines i in [0, extent) kept by a knob that drops those with i % k == offset.
int64_t kept_lines(int64_t extent, int k, int offset) {
  if (k <= 1) return extent;
  int64_t dropped = offset < extent ? (extent - 1 - offset) / k + 1 : 0;
  return extent - dropped;
}

double element_count(const Shape& shape) {
  double count = 1;
  for (int64_t d : shape) count *= static_cast<double>(std::max<int64_t>(d, 0));
  return count;
}

bool input_is_constant(const Graph& graph, const Node& node, std::size_t i) {
  int id = node.inputs[i];
  return id >= 0 && graph.values[static_cast<std::size_t>(id)].constant.has_value();
}

// Bytes one element occupies under the knob: fp16 storage halves it, fixed point and the
// 8-bit accelerators store their width.
double storage_bytes(const Knob& knob) {
  switch (knob.family) {
    case KnobFamily::Promise: return 1;
    case KnobFamily::ShiftAdd: return knob.activation_bits <= 8 ? 1 : 2;
    case KnobFamily::Precision: return knob.bits / 8.0;
    default: return knob.precision == Arithmetic::Fp16 ? 2 : 4;
  }
}

void describe_gemm(const Graph& graph, const NodeReport& report, const Knob& knob, OpWorkload& work) {
  const Node& node = *report.node;
  if (node.op_type == "Conv" && report.inputs.size() >= 2) {
    const Shape* bias = report.inputs.size() > 2 && !report.inputs[2].shape.empty() ? &report.inputs[2].shape : nullptr;
    Conv2dGeometry g = conv_geometry(node, report.inputs[0].shape, report.inputs[1].shape, bias);
    int64_t out_h = g.out_h, out_w = g.out_w, patch = g.patch_size();
    if (knob.family == KnobFamily::Perforation) {
      if (knob.axis == 0) out_h = kept_lines(g.out_h, knob.k, knob.offset);
      else out_w = kept_lines(g.out_w, knob.k, knob.offset);
      // Each skipped output is interpolated from its two neighbours.
      work.flops += 2.0 * g.batch * g.out_channels * (g.out_plane() - out_h * out_w);
    } else if (knob.family == KnobFamily::FilterSampling) {
      patch = kept_lines(patch, knob.k, knob.offset);
    }
    work.gemm.groups = g.groups;
    work.gemm.m = g.batch * out_h * out_w;
    work.gemm.k = patch;
    work.gemm.n = g.out_channels_per_group();
    work.gemm.depthwise = g.is_depthwise();
    auto& f = work.features;
    f["batch"] = static_cast<double>(g.batch);
    f["in_channels"] = static_cast<double>(g.in_channels);
    f["in_h"] = static_cast<double>(g.in_h);
    f["in_w"] = static_cast<double>(g.in_w);
    f["out_channels"] = static_cast<double>(g.out_channels);
    f["out_h"] = static_cast<double>(g.out_h);
    f["out_w"] = static_cast<double>(g.out_w);
    f["kernel_h"] = static_cast<double>(g.kernel_h);
    f["kernel_w"] = static_cast<double>(g.kernel_w);
    f["stride"] = static_cast<double>(g.stride_h);
    f["padding"] = static_cast<double>(g.pad_top);
    f["groups"] = static_cast<double>(g.groups);
    return;
  }
  if ((node.op_type == "Gemm" || node.op_type == "MatMul") && report.inputs.size() >= 2) {
    const Shape& a = report.inputs[0].shape;
    const Shape& b = report.inputs[1].shape;
    const Shape& y = report.outputs[0].shape;
    if (a.empty() || b.empty() || y.empty()) return;
    int64_t k = node.op_type == "Gemm" && node.attrs.get_int("transA", 0) ? a.front() : a.back();
    int64_t n = y.back();
    int64_t m = y.size() >= 2 ? y[y.size() - 2] : 1;
    int64_t batches = 1;
    for (std::size_t i = 0; i + 2 < y.size(); ++i) batches *= y[i];
    work.gemm.groups = batches;
    work.gemm.m = m;
    work.gemm.k = k;
    work.gemm.n = n;
    work.features["batch"] = static_cast<double>(m * batches);
    work.features["in_features"] = static_cast<double>(k);
    work.features["out_features"] = static_cast<double>(n);
  }
  (void)graph;
}

// Pooling, normalisation and elementwise ops on NCHW tensors: their sizes, and for pooling the
// window, so predictors see the same shape features a convolution has.
void describe_spatial(const NodeReport& report, OpWorkload& work) {
  if (report.inputs.empty() || report.outputs.empty()) return;
  const Shape& x = report.inputs[0].shape;
  const Shape& y = report.outputs[0].shape;
  if (x.size() != 4 || y.size() != 4) return;
  auto& f = work.features;
  f["batch"] = static_cast<double>(x[0]);
  f["in_channels"] = static_cast<double>(x[1]);
  f["in_h"] = static_cast<double>(x[2]);
  f["in_w"] = static_cast<double>(x[3]);
  f["out_channels"] = static_cast<double>(y[1]);
  f["out_h"] = static_cast<double>(y[2]);
  f["out_w"] = static_cast<double>(y[3]);
  const Node& node = *report.node;
  if (node.op_type == "GlobalAveragePool" || node.op_type == "GlobalMaxPool") {
    f["kernel_h"] = static_cast<double>(x[2]);
    f["kernel_w"] = static_cast<double>(x[3]);
    f["stride"] = 1;
  } else if (node.op_type == "MaxPool" || node.op_type == "AveragePool") {
    std::vector<int64_t> kernel = node.attrs.get_ints("kernel_shape", {});
    std::vector<int64_t> strides = node.attrs.get_ints("strides", {});
    if (kernel.size() == 2) {
      f["kernel_h"] = static_cast<double>(kernel[0]);
      f["kernel_w"] = static_cast<double>(kernel[1]);
    }
    f["stride"] = strides.empty() ? 1.0 : static_cast<double>(strides[0]);
  }
}

}  // namespace

OpWorkload describe_op(const Graph& graph, const NodeReport& report, const Knob& knob) {
  const Node& node = *report.node;
  OpWorkload work;
  work.op_type = node.op_type;
  const OpKernel* kernel = find_op(node.op_type);
  work.is_view = kernel != nullptr && kernel->is_view();
  work.element_bytes = storage_bytes(knob);
  work.half_arithmetic = knob.precision == Arithmetic::Fp16;
  double scale = work.element_bytes / 4.0;

  for (std::size_t i = 0; i < report.inputs.size() && i < node.inputs.size(); ++i) {
    double elements = element_count(report.inputs[i].shape);
    if (report.inputs[i].shape.empty() && node.inputs[i] < 0) continue;
    if (input_is_constant(graph, node, i)) {
      work.weight_elements += elements;
      work.weight_bytes += elements * scale;
    } else {
      work.input_bytes += elements * scale;
    }
  }
  for (const TensorInfo& out : report.outputs) work.output_bytes += element_count(out.shape) * scale;
  if (work.is_view) {
    work.input_bytes = work.weight_bytes = work.output_bytes = 0;
    return work;
  }

  describe_gemm(graph, report, knob, work);
  if (work.gemm.groups == 0) describe_spatial(report, work);
  if (work.gemm.groups > 0) {
    // The lowered GEMM after the knob: what tile- and bank-quantized costs are counted on.
    work.features["gemm_groups"] = static_cast<double>(work.gemm.groups);
    work.features["gemm_m"] = static_cast<double>(work.gemm.m);
    work.features["gemm_k"] = static_cast<double>(work.gemm.k);
    work.features["gemm_n"] = static_cast<double>(work.gemm.n);
    work.macs = work.gemm.macs();
    // Filter sampling reads only the kept filter elements.
    if (knob.family == KnobFamily::FilterSampling && report.cost.macs > 0)
      work.weight_bytes *= work.macs / static_cast<double>(report.cost.macs);
  }
  work.flops += static_cast<double>(report.cost.flops);
  if (knob.family == KnobFamily::ReductionSampling) {
    work.flops *= knob.fraction;
    work.input_bytes *= knob.fraction;
  }
  work.features["input_bytes"] = work.input_bytes;
  work.features["weight_bytes"] = work.weight_bytes;
  work.features["output_bytes"] = work.output_bytes;
  work.features["macs"] = work.macs;
  work.features["flops"] = work.flops;
  return work;
}

}  // namespace coda::sim
