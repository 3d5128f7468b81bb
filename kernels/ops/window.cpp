#include "kernels/ops/window.h"

#include <algorithm>
#include <string>

#include "kernels/error.h"

namespace coda {

namespace {

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

Conv2dGeometry conv_geometry(const Node& node, const Shape& x, const Shape& w, const Shape* b) {
  if (x.size() == 5) fail(node, "3-D convolution not supported (input " + shape_string(x) + ")");
  if (x.size() != 3 && x.size() != 4)
    fail(node, "input " + shape_string(x) + " must be (N, C, L) or (N, C, H, W)");
  if (w.size() != x.size())
    fail(node, "weights " + shape_string(w) + " must have the rank of the input " + shape_string(x));
  const int64_t groups = node.attrs.get_int("group", 1);
  if (groups < 1) fail(node, "group " + std::to_string(groups) + " must be >= 1");
  const int64_t in_channels = x[1], out_channels = w[0];
  if (in_channels % groups != 0)
    fail(node, "input channels " + std::to_string(in_channels) + " are not divisible by group " +
                   std::to_string(groups));
  if (w[1] * groups != in_channels)
    fail(node, "weights " + shape_string(w) + " expect " + std::to_string(w[1]) + " input channels per group, the input " +
                   shape_string(x) + " has " + std::to_string(in_channels) + " channels in " + std::to_string(groups) +
                   " group(s)");
  if (out_channels < 1 || out_channels % groups != 0)
    fail(node, "output channels " + std::to_string(out_channels) + " of weights " + shape_string(w) +
                   " are not a positive multiple of group " + std::to_string(groups));
  if (b && (b->size() != 1 || (*b)[0] != out_channels))
    fail(node, "bias " + shape_string(*b) + " must be (" + std::to_string(out_channels) + ")");

  Shape spatial(x.begin() + 2, x.end());
  std::vector<int64_t> kernel(w.begin() + 2, w.end());
  if (node.attrs.has("kernel_shape") && node.attrs.get_ints("kernel_shape") != kernel)
    fail(node, "kernel_shape does not match the weights " + shape_string(w));
  std::vector<WindowAxis> axes = resolve_window(node, spatial, kernel, WindowOptions{});

  Conv2dGeometry g;
  g.batch = x[0];
  g.in_channels = in_channels;
  g.out_channels = out_channels;
  g.groups = groups;
  // The last axis is the width; a 1-D convolution keeps the default height of 1.
  const WindowAxis& wa = axes.back();
  g.in_w = wa.in;
  g.out_w = wa.out;
  g.kernel_w = wa.kernel;
  g.stride_w = wa.stride;
  g.dilation_w = wa.dilation;
  g.pad_left = wa.pad_begin;
  if (axes.size() == 2) {
    const WindowAxis& ha = axes.front();
    g.in_h = ha.in;
    g.out_h = ha.out;
    g.kernel_h = ha.kernel;
    g.stride_h = ha.stride;
    g.dilation_h = ha.dilation;
    g.pad_top = ha.pad_begin;
  }
  return g;
}

PoolGeometry pool_geometry(const Node& node, const Shape& x) {
  if (x.size() == 5) fail(node, "3-D pooling not supported (input " + shape_string(x) + ")");
  if (x.size() != 3 && x.size() != 4) fail(node, "input " + shape_string(x) + " must be (N, C, L) or (N, C, H, W)");
  if (!node.attrs.has("kernel_shape")) fail(node, "kernel_shape is required");
  WindowOptions options;
  options.allow_ceil_mode = true;
  // AveragePool gained dilations in opset 19; accepting them earlier is harmless.
  options.allow_dilations = true;
  std::vector<WindowAxis> axes =
      resolve_window(node, Shape(x.begin() + 2, x.end()), node.attrs.get_ints("kernel_shape"), options);
  PoolGeometry g;
  g.planes = x[0] * x[1];
  g.w = axes.back();
  if (axes.size() == 2) g.h = axes.front();
  return g;
}

std::vector<int64_t> average_divisors(const WindowAxis& a, bool include_pad) {
  std::vector<int64_t> d(static_cast<std::size_t>(a.out));
  for (int64_t o = 0; o < a.out; ++o) {
    int64_t first, last;
    if (include_pad) {
      valid_taps(a.start(o), a.kernel, a.dilation, -a.pad_begin, a.in + a.pad_end, first, last);
    } else {
      valid_taps(a.start(o), a.kernel, a.dilation, 0, a.in, first, last);
    }
    d[static_cast<std::size_t>(o)] = std::max<int64_t>(0, last - first);
  }
  return d;
}

PhasePlanes::PhasePlanes(const WindowAxis& h, const WindowAxis& w, int64_t extra_rows, int64_t extra_floats)
    : stride_h(h.stride), stride_w(w.stride), in_w_(w.in), pad_top_(h.pad_begin), pad_left_(w.pad_begin) {
  const int64_t sh = stride_h, sw = stride_w;
  // Extent of the padded input that the windows read, starting at (-pad_top, -pad_left).
  const int64_t ph = (h.out - 1) * sh + h.span(), pw = (w.out - 1) * sw + w.span();
  hq = (ph + sh - 1) / sh;
  wq = (pw + sw - 1) / sw;
  phase_size = hq * wq + extra_rows * wq + extra_floats;
  for (int64_t i = 0; i < h.kernel; ++i)
    for (int64_t j = 0; j < w.kernel; ++j) {
      const int64_t ry = (i * h.dilation) % sh, qy = (i * h.dilation) / sh;
      const int64_t rx = (j * w.dilation) % sw, qx = (j * w.dilation) / sw;
      tap_offset.push_back((ry * sw + rx) * phase_size + qy * wq + qx);
    }
  rows_ = std::min(h.in, ph - pad_top_);
  const int64_t cols = std::min(w.in, pw - pad_left_);
  // Input columns ix with (ix + pad_left) % sw == c land in phase column c, from column first[c]
  // of the input and position (first[c] + pad_left) / sw of the phase row.
  first_.resize(static_cast<std::size_t>(sw));
  count_.resize(static_cast<std::size_t>(sw));
  for (int64_t c = 0; c < sw; ++c) {
    const int64_t ix0 = ((c - pad_left_) % sw + sw) % sw;
    first_[static_cast<std::size_t>(c)] = ix0;
    count_[static_cast<std::size_t>(c)] = ix0 < cols ? (cols - ix0 + sw - 1) / sw : 0;
  }
}

void PhasePlanes::stage(const float* plane, float* phases) const {
  const int64_t sh = stride_h, sw = stride_w;
  for (int64_t iy = 0; iy < rows_; ++iy) {
    const int64_t y = iy + pad_top_;
    const float* __restrict row = plane + iy * in_w_;
    float* base = phases + (y % sh) * sw * phase_size + (y / sh) * wq;
    for (int64_t c = 0; c < sw; ++c) {
      const int64_t ix0 = first_[static_cast<std::size_t>(c)], n = count_[static_cast<std::size_t>(c)];
      float* __restrict dst = base + c * phase_size + (ix0 + pad_left_) / sw;
      if (sw == 1) {
        for (int64_t x = 0; x < n; ++x) dst[x] = row[x];
      } else if (sw == 2) {  // the common downsampling stride: a constant stride vectorises
        for (int64_t x = 0; x < n; ++x) dst[x] = row[ix0 + 2 * x];
      } else {
        for (int64_t x = 0; x < n; ++x) dst[x] = row[ix0 + x * sw];
      }
    }
  }
}

}  // namespace coda
