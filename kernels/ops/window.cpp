#include "kernels/ops/window.h"

#include <algorithm>
#include <string>

#include "kernels/error.h"

namespace coda {

namespace {

// Floor and ceiling division for a positive divisor and any sign of numerator.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

std::string list_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

[[noreturn]] void fail(const Node& node, const std::string& message) {
  throw BadInput(node.describe() + ": " + message);
}

std::vector<int64_t> per_axis(const Node& node, const char* name, std::size_t axes, int64_t fallback,
                              int64_t minimum) {
  std::vector<int64_t> v = node.attrs.get_ints(name, std::vector<int64_t>(axes, fallback));
  if (v.size() != axes)
    fail(node, std::string(name) + " " + list_string(v) + " has " + std::to_string(v.size()) + " values, the input has " +
                   std::to_string(axes) + " spatial axes");
  for (int64_t x : v)
    if (x < minimum)
      fail(node, std::string(name) + " " + list_string(v) + " must be >= " + std::to_string(minimum));
  return v;
}

}  // namespace

void valid_taps(int64_t start, int64_t kernel, int64_t dilation, int64_t lo, int64_t hi, int64_t& first,
                int64_t& last) {
  first = std::max<int64_t>(0, ceil_div(lo - start, dilation));
  last = std::min<int64_t>(kernel, floor_div(hi - 1 - start, dilation) + 1);
}

std::vector<WindowAxis> resolve_window(const Node& node, const Shape& spatial_in, const std::vector<int64_t>& kernel,
                                       const WindowOptions& options) {
  const std::size_t axes = spatial_in.size();
  if (kernel.size() != axes)
    fail(node, "kernel " + list_string(kernel) + " has " + std::to_string(kernel.size()) + " axes, the input has " +
                   std::to_string(axes) + " spatial axes");
  for (int64_t k : kernel)
    if (k < 1) fail(node, "kernel " + list_string(kernel) + " must be positive");
  std::vector<int64_t> strides = per_axis(node, "strides", axes, 1, 1);
  std::vector<int64_t> dilations = per_axis(node, "dilations", axes, 1, 1);
  if (!options.allow_dilations && node.attrs.has("dilations"))
    for (int64_t d : dilations)
      if (d != 1) fail(node, "dilations " + list_string(dilations) + " are not defined for this op");
  std::vector<int64_t> pads = per_axis(node, "pads", 2 * axes, 0, 0);

  // Opset 1-9 models sometimes spell "no auto padding" as an empty string.
  std::string auto_pad = node.attrs.get_string("auto_pad", "NOTSET");
  if (auto_pad.empty()) auto_pad = "NOTSET";
  if (auto_pad != "NOTSET" && auto_pad != "VALID" && auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER")
    fail(node, "auto_pad '" + auto_pad + "' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER");
  if (auto_pad != "NOTSET" && node.attrs.has("pads")) {
    bool all_zero = std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
    if (!all_zero) fail(node, "pads " + list_string(pads) + " cannot be combined with auto_pad " + auto_pad);
  }
  int64_t ceil_mode = node.attrs.get_int("ceil_mode", 0);
  if (ceil_mode != 0 && !options.allow_ceil_mode) fail(node, "ceil_mode is not defined for this op");
  if (ceil_mode != 0 && ceil_mode != 1) fail(node, "ceil_mode " + std::to_string(ceil_mode) + " must be 0 or 1");

  std::vector<WindowAxis> result(axes);
  for (std::size_t a = 0; a < axes; ++a) {
    WindowAxis& w = result[a];
    w.in = spatial_in[a];
    w.kernel = kernel[a];
    w.stride = strides[a];
    w.dilation = dilations[a];
    const std::string axis = "spatial axis " + std::to_string(a);
    if (w.in < 1) fail(node, axis + " of the input is empty");
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      // ONNX: output = ceil(input / stride); an odd total padding puts the extra element at the
      // end for SAME_UPPER and at the beginning for SAME_LOWER.
      w.out = ceil_div(w.in, w.stride);
      int64_t total = std::max<int64_t>(0, (w.out - 1) * w.stride + w.span() - w.in);
      w.pad_begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pad_end = total - w.pad_begin;
      continue;
    }
    if (auto_pad == "NOTSET") {
      w.pad_begin = pads[a];
      w.pad_end = pads[a + axes];
    }
    const int64_t room = w.in + w.pad_begin + w.pad_end - w.span();
    if (room < 0)
      fail(node, axis + ": the dilated kernel (" + std::to_string(w.span()) + ") is larger than the padded input (" +
                     std::to_string(w.in + w.pad_begin + w.pad_end) + ")");
    if (ceil_mode != 0 && auto_pad == "NOTSET") {
      w.out = ceil_div(room, w.stride) + 1;
      // The last window must start inside the input or the left padding (ONNX reference and
      // PyTorch rule); otherwise it would read padding only.
      if ((w.out - 1) * w.stride >= w.in + w.pad_begin) --w.out;
    } else {
      w.out = room / w.stride + 1;
    }
  }
  return result;
}

}  // namespace coda
