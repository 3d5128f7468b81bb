#include "tests/support/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>

namespace coda::test {

namespace {

using Dims = std::vector<int64_t>;

[[noreturn]] void unsupported(const std::string& what) { throw std::runtime_error("reference interpreter: " + what); }

int64_t numel(const Dims& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Row-major strides.
Dims strides_of(const Dims& s) {
  Dims st(s.size(), 1);
  for (int k = static_cast<int>(s.size()) - 2; k >= 0; --k)
    st[static_cast<std::size_t>(k)] = st[static_cast<std::size_t>(k) + 1] * s[static_cast<std::size_t>(k) + 1];
  return st;
}

// Advances a row-major coordinate; false after the last one.
bool next_coord(Dims& coord, const Dims& shape) {
  for (int k = static_cast<int>(shape.size()) - 1; k >= 0; --k) {
    auto uk = static_cast<std::size_t>(k);
    if (++coord[uk] < shape[uk]) return true;
    coord[uk] = 0;
  }
  return false;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& op) {
  if (axis < -rank || axis >= rank) unsupported(op + ": axis " + std::to_string(axis) + " out of range");
  return axis < 0 ? axis + rank : axis;
}

std::string dims_str(const Dims& s) {
  std::string r = "[";
  for (std::size_t k = 0; k < s.size(); ++k) r += (k ? "," : "") + std::to_string(s[k]);
  return r + "]";
}

// A result tensor of the same storage kind as `like`.
RefTensor make_like(const RefTensor& like, Dims shape) {
  RefTensor t;
  t.shape = std::move(shape);
  t.is_int = like.is_int;
  if (t.is_int) {
    t.i.assign(static_cast<std::size_t>(numel(t.shape)), 0);
  } else {
    t.f.assign(static_cast<std::size_t>(numel(t.shape)), 0.0);
  }
  return t;
}

RefTensor make_float(Dims shape) {
  RefTensor t;
  t.shape = std::move(shape);
  t.f.assign(static_cast<std::size_t>(numel(t.shape)), 0.0);
  return t;
}

// Output element `o` takes element `src_index[o]` of `src` (any storage kind): every pure data
// movement op (Transpose, Concat pieces, Gather, Slice, Pad copies) reduces to this.
void copy_element(const RefTensor& src, int64_t s, RefTensor& dst, int64_t d) {
  if (src.is_int) {
    dst.i[static_cast<std::size_t>(d)] = src.i[static_cast<std::size_t>(s)];
  } else {
    dst.f[static_cast<std::size_t>(d)] = src.f[static_cast<std::size_t>(s)];
  }
}

const std::vector<double>& need_float(const RefTensor& t, const std::string& op) {
  if (t.is_int) unsupported(op + ": expects a float tensor");
  return t.f;
}

std::vector<int64_t> as_ints(const RefTensor& t) {
  if (t.is_int) return t.i;
  std::vector<int64_t> r;
  for (double v : t.f) r.push_back(static_cast<int64_t>(v));
  return r;
}

// IEEE 754 binary16 -> double, written out so the reference needs no half type.
double half_to_double(uint16_t h) {
  int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v;
  if (exponent == 0) {
    v = std::ldexp(mantissa, -24);
  } else if (exponent == 31) {
    v = mantissa ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else {
    v = std::ldexp(mantissa + 1024, exponent - 25);
  }
  return sign ? -v : v;
}

template <typename T>
std::vector<T> raw_values(const std::string& raw, int64_t n) {
  if (raw.size() != static_cast<std::size_t>(n) * sizeof(T)) unsupported("raw_data size does not match dims");
  std::vector<T> v(static_cast<std::size_t>(n));
  if (n) std::memcpy(v.data(), raw.data(), raw.size());
  return v;
}

// ---------------------------------------------------------------------------------------------
// Attribute access for one node.
class NodeView {
 public:
  NodeView(const onnx::NodeProto& node, int opset) : node_(node), opset_(opset) {}
  int opset() const { return opset_; }
  const std::string& op() const { return node_.op_type(); }

  const onnx::AttributeProto* find(const std::string& name) const {
    for (const auto& a : node_.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  bool has(const std::string& name) const { return find(name) != nullptr; }
  int64_t i(const std::string& name, int64_t fallback) const {
    const auto* a = find(name);
    return a ? a->i() : fallback;
  }
  double f(const std::string& name, double fallback) const {
    const auto* a = find(name);
    return a ? static_cast<double>(a->f()) : fallback;
  }
  std::string s(const std::string& name, const std::string& fallback) const {
    const auto* a = find(name);
    return a ? a->s() : fallback;
  }
  Dims ints(const std::string& name, const Dims& fallback = {}) const {
    const auto* a = find(name);
    if (!a) return fallback;
    return Dims(a->ints().begin(), a->ints().end());
  }

 private:
  const onnx::NodeProto& node_;
  int opset_;
};

// ---------------------------------------------------------------------------------------------
// Broadcasting (ONNX multidirectional broadcasting = numpy rules).
Dims broadcast_shape(const Dims& a, const Dims& b) {
  std::size_t r = std::max(a.size(), b.size());
  Dims out(r);
  for (std::size_t k = 0; k < r; ++k) {
    int64_t da = k < r - a.size() ? 1 : a[k - (r - a.size())];
    int64_t db = k < r - b.size() ? 1 : b[k - (r - b.size())];
    if (da == db || db == 1) {
      out[k] = da;
    } else if (da == 1) {
      out[k] = db;
    } else {
      unsupported("cannot broadcast " + dims_str(a) + " with " + dims_str(b));
    }
  }
  return out;
}

// For each flat index of `out`, the flat index in a tensor of shape `src` broadcast to `out`.
std::vector<int64_t> broadcast_index(const Dims& src, const Dims& out) {
  std::size_t r = out.size(), off = r - src.size();
  Dims sst = strides_of(src);
  std::vector<int64_t> idx(static_cast<std::size_t>(numel(out)));
  Dims coord(r, 0);
  for (std::size_t flat = 0; flat < idx.size(); ++flat) {
    int64_t s = 0;
    for (std::size_t k = off; k < r; ++k)
      if (src[k - off] != 1) s += coord[k] * sst[k - off];
    idx[flat] = s;
    next_coord(coord, out);
  }
  return idx;
}

RefTensor binary(const RefTensor& a, const RefTensor& b, const std::function<double(double, double)>& fop,
                 const std::function<int64_t(int64_t, int64_t)>& iop, const std::string& op) {
  Dims out_shape = broadcast_shape(a.shape, b.shape);
  auto ia = broadcast_index(a.shape, out_shape), ib = broadcast_index(b.shape, out_shape);
  if (a.is_int != b.is_int) unsupported(op + ": mixed integer and float inputs");
  RefTensor out = make_like(a, out_shape);
  for (std::size_t o = 0; o < ia.size(); ++o) {
    auto sa = static_cast<std::size_t>(ia[o]), sb = static_cast<std::size_t>(ib[o]);
    if (a.is_int) {
      if (!iop) unsupported(op + ": integer inputs");
      out.i[o] = iop(a.i[sa], b.i[sb]);
    } else {
      out.f[o] = fop(a.f[sa], b.f[sb]);
    }
  }
  return out;
}

RefTensor unary(const RefTensor& x, const std::function<double(double)>& fop, const std::string& op) {
  const auto& xf = need_float(x, op);
  RefTensor out = make_float(x.shape);
  for (std::size_t k = 0; k < xf.size(); ++k) out.f[k] = fop(xf[k]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sliding windows (Conv, MaxPool, AveragePool) on 1-D or 2-D spatial data. A 1-D window is
// treated as a 2-D one of height 1, which keeps a single set of loops.
struct Window {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  int64_t ih = 1, iw = 1, oh = 1, ow = 1;
};

int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, bool ceil_mode) {
  int64_t eff = (k - 1) * d + 1;
  int64_t span = in + pb + pe - eff;
  if (span < 0) unsupported("window larger than padded input");
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  // Ceil mode must not start a window in the end padding (PyTorch's rule, which ONNX Runtime
  // follows and the MaxPool-19 spec text states).
  if (ceil_mode && (out - 1) * s >= in + pb) --out;
  return out;
}

Window make_window(const NodeView& nv, const Dims& x_shape, Dims kernel, bool pooling) {
  const std::size_t spatial = x_shape.size() - 2;
  if (spatial != 1 && spatial != 2) unsupported(nv.op() + ": only 1-D and 2-D spatial data");
  if (kernel.size() != spatial) unsupported(nv.op() + ": kernel rank does not match input");
  Dims strides = nv.ints("strides", Dims(spatial, 1));
  Dims dilations = nv.ints("dilations", Dims(spatial, 1));
  Dims pads = nv.ints("pads", Dims(2 * spatial, 0));
  bool ceil_mode = pooling && nv.i("ceil_mode", 0) != 0;
  std::string auto_pad = nv.s("auto_pad", "NOTSET");
  if (strides.size() != spatial || dilations.size() != spatial || pads.size() != 2 * spatial)
    unsupported(nv.op() + ": attribute ranks do not match input");
  Dims in(x_shape.begin() + 2, x_shape.end());
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    for (std::size_t d = 0; d < spatial; ++d) {
      int64_t out = (in[d] + strides[d] - 1) / strides[d];
      int64_t total = std::max<int64_t>((out - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - in[d], 0);
      int64_t small = total / 2, large = total - small;
      pads[d] = auto_pad == "SAME_UPPER" ? small : large;
      pads[d + spatial] = auto_pad == "SAME_UPPER" ? large : small;
    }
  } else if (auto_pad == "VALID") {
    std::fill(pads.begin(), pads.end(), 0);
  } else if (auto_pad != "NOTSET") {
    unsupported(nv.op() + ": auto_pad " + auto_pad);
  }
  Window w;
  if (spatial == 1) {
    w.kw = kernel[0];
    w.sw = strides[0];
    w.dw = dilations[0];
    w.pl = pads[0];
    w.pr = pads[1];
    w.iw = in[0];
  } else {
    w.kh = kernel[0];
    w.kw = kernel[1];
    w.sh = strides[0];
    w.sw = strides[1];
    w.dh = dilations[0];
    w.dw = dilations[1];
    w.pt = pads[0];
    w.pl = pads[1];
    w.pb = pads[2];
    w.pr = pads[3];
    w.ih = in[0];
    w.iw = in[1];
  }
  w.oh = window_out(w.ih, w.kh, w.sh, w.dh, w.pt, w.pb, ceil_mode);
  w.ow = window_out(w.iw, w.kw, w.sw, w.dw, w.pl, w.pr, ceil_mode);
  return w;
}

Dims window_output_shape(const Dims& x_shape, int64_t channels, const Window& w) {
  if (x_shape.size() == 3) return {x_shape[0], channels, w.ow};
  return {x_shape[0], channels, w.oh, w.ow};
}

RefTensor conv(const NodeView& nv, const RefTensor& x, const RefTensor& wt, const RefTensor* bias, RefStats& stats) {
  const auto& xf = need_float(x, "Conv");
  const auto& wf = need_float(wt, "Conv");
  if (x.shape.size() < 3 || wt.shape.size() != x.shape.size()) unsupported("Conv: input/weight ranks");
  Dims kernel = nv.ints("kernel_shape", Dims(wt.shape.begin() + 2, wt.shape.end()));
  Window w = make_window(nv, x.shape, kernel, false);
  const int64_t n_batch = x.shape[0], cin = x.shape[1], cout = wt.shape[0], group = nv.i("group", 1);
  if (cin % group || cout % group || wt.shape[1] != cin / group) unsupported("Conv: channel/group mismatch");
  const int64_t cin_g = cin / group, cout_g = cout / group;
  RefTensor y = make_float(window_output_shape(x.shape, cout, w));
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t oc = 0; oc < cout; ++oc) {
      const int64_t g = oc / cout_g;
      for (int64_t oh = 0; oh < w.oh; ++oh)
        for (int64_t ow = 0; ow < w.ow; ++ow) {
          double acc = bias ? bias->f[static_cast<std::size_t>(oc)] : 0.0;
          for (int64_t icg = 0; icg < cin_g; ++icg) {
            const int64_t ic = g * cin_g + icg;
            for (int64_t kh = 0; kh < w.kh; ++kh) {
              const int64_t ih = oh * w.sh - w.pt + kh * w.dh;
              if (ih < 0 || ih >= w.ih) continue;
              for (int64_t kw = 0; kw < w.kw; ++kw) {
                const int64_t iw = ow * w.sw - w.pl + kw * w.dw;
                if (iw < 0 || iw >= w.iw) continue;
                const int64_t xi = ((n * cin + ic) * w.ih + ih) * w.iw + iw;
                const int64_t wi = ((oc * cin_g + icg) * w.kh + kh) * w.kw + kw;
                acc += xf[static_cast<std::size_t>(xi)] * wf[static_cast<std::size_t>(wi)];
              }
            }
          }
          y.f[static_cast<std::size_t>(((n * cout + oc) * w.oh + oh) * w.ow + ow)] = acc;
        }
    }
  stats.macs += n_batch * cout * w.oh * w.ow * cin_g * w.kh * w.kw;
  return y;
}

RefTensor pool(const NodeView& nv, const RefTensor& x, bool is_max) {
  const auto& xf = need_float(x, nv.op());
  if (x.shape.size() < 3) unsupported(nv.op() + ": rank < 3");
  Window w = make_window(nv, x.shape, nv.ints("kernel_shape"), true);
  if (!is_max && (w.dh != 1 || w.dw != 1)) unsupported("AveragePool with dilations");
  const bool include_pad = nv.i("count_include_pad", 0) != 0;
  const int64_t planes = x.shape[0] * x.shape[1];
  RefTensor y = make_float(window_output_shape(x.shape, x.shape[1], w));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t oh = 0; oh < w.oh; ++oh)
      for (int64_t ow = 0; ow < w.ow; ++ow) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0.0;
        int64_t valid = 0, padded = 0;
        for (int64_t kh = 0; kh < w.kh; ++kh) {
          const int64_t ih = oh * w.sh - w.pt + kh * w.dh;
          for (int64_t kw = 0; kw < w.kw; ++kw) {
            const int64_t iw = ow * w.sw - w.pl + kw * w.dw;
            // Positions inside the padded extent count for count_include_pad; positions beyond
            // it (only reachable in ceil mode) never do.
            if (ih < w.ih + w.pb && iw < w.iw + w.pr) ++padded;
            if (ih < 0 || ih >= w.ih || iw < 0 || iw >= w.iw) continue;
            const double v = xf[static_cast<std::size_t>((p * w.ih + ih) * w.iw + iw)];
            best = std::max(best, v);
            sum += v;
            ++valid;
          }
        }
        double out = is_max ? best : sum / static_cast<double>(include_pad ? padded : valid);
        y.f[static_cast<std::size_t>((p * w.oh + oh) * w.ow + ow)] = out;
      }
  return y;
}

RefTensor global_pool(const RefTensor& x, bool is_max) {
  const auto& xf = need_float(x, "GlobalPool");
  if (x.shape.size() < 3) unsupported("GlobalPool: rank < 3");
  Dims out_shape = x.shape;
  int64_t inner = 1;
  for (std::size_t k = 2; k < out_shape.size(); ++k) {
    inner *= out_shape[k];
    out_shape[k] = 1;
  }
  RefTensor y = make_float(out_shape);
  for (int64_t p = 0; p < x.shape[0] * x.shape[1]; ++p) {
    double best = -std::numeric_limits<double>::infinity(), sum = 0.0;
    for (int64_t k = 0; k < inner; ++k) {
      double v = xf[static_cast<std::size_t>(p * inner + k)];
      best = std::max(best, v);
      sum += v;
    }
    y.f[static_cast<std::size_t>(p)] = is_max ? best : sum / static_cast<double>(inner);
  }
  return y;
}

RefTensor batch_norm(const NodeView& nv, const RefTensor& x, const RefTensor& scale, const RefTensor& bias,
                     const RefTensor& mean, const RefTensor& var) {
  if (nv.i("spatial", 1) != 1) unsupported("BatchNormalization spatial=0");
  if (nv.i("training_mode", 0) != 0) unsupported("BatchNormalization training_mode");
  const auto& xf = need_float(x, "BatchNormalization");
  const double eps = nv.f("epsilon", 1e-5);
  const int64_t n_batch = x.shape[0], channels = x.shape.size() > 1 ? x.shape[1] : 1;
  int64_t inner = 1;
  for (std::size_t k = 2; k < x.shape.size(); ++k) inner *= x.shape[k];
  for (const RefTensor* t : {&scale, &bias, &mean, &var})
    if (t->size() != channels) unsupported("BatchNormalization: parameter size != channels");
  RefTensor y = make_float(x.shape);
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      auto uc = static_cast<std::size_t>(c);
      const double a = scale.f[uc] / std::sqrt(var.f[uc] + eps);
      for (int64_t k = 0; k < inner; ++k) {
        auto idx = static_cast<std::size_t>((n * channels + c) * inner + k);
        y.f[idx] = a * (xf[idx] - mean.f[uc]) + bias.f[uc];
      }
    }
  return y;
}

RefTensor lrn(const NodeView& nv, const RefTensor& x) {
  const auto& xf = need_float(x, "LRN");
  const int64_t size = nv.i("size", 0);
  if (size <= 0) unsupported("LRN without size");
  const double alpha = nv.f("alpha", 1e-4), beta = nv.f("beta", 0.75), bias = nv.f("bias", 1.0);
  const int64_t n_batch = x.shape[0], channels = x.shape[1];
  int64_t inner = 1;
  for (std::size_t k = 2; k < x.shape.size(); ++k) inner *= x.shape[k];
  // ONNX LRN: the window over channels is [c - floor((size-1)/2), c + ceil((size-1)/2)].
  const int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
  RefTensor y = make_float(x.shape);
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t k = 0; k < inner; ++k) {
        double sq = 0.0;
        for (int64_t j = std::max<int64_t>(0, c - lo); j <= std::min(channels - 1, c + hi); ++j) {
          double v = xf[static_cast<std::size_t>((n * channels + j) * inner + k)];
          sq += v * v;
        }
        auto idx = static_cast<std::size_t>((n * channels + c) * inner + k);
        y.f[idx] = xf[idx] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta);
      }
  return y;
}

RefTensor gemm(const NodeView& nv, const RefTensor& a, const RefTensor& b, const RefTensor* c, RefStats& stats) {
  if (a.shape.size() != 2 || b.shape.size() != 2) unsupported("Gemm: inputs must be 2-D");
  const bool ta = nv.i("transA", 0) != 0, tb = nv.i("transB", 0) != 0;
  const double alpha = nv.f("alpha", 1.0), beta = nv.f("beta", 1.0);
  const int64_t m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1];
  const int64_t kb = tb ? b.shape[1] : b.shape[0], n = tb ? b.shape[0] : b.shape[1];
  if (k != kb) unsupported("Gemm: inner dimensions differ");
  const auto& af = need_float(a, "Gemm");
  const auto& bf = need_float(b, "Gemm");
  RefTensor y = make_float({m, n});
  std::vector<int64_t> ci;
  if (c) ci = broadcast_index(c->shape, y.shape);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t col = 0; col < n; ++col) {
      double acc = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const double av = af[static_cast<std::size_t>(ta ? j * m + r : r * k + j)];
        const double bv = bf[static_cast<std::size_t>(tb ? col * k + j : j * n + col)];
        acc += av * bv;
      }
      auto o = static_cast<std::size_t>(r * n + col);
      y.f[o] = alpha * acc + (c ? beta * c->f[static_cast<std::size_t>(ci[o])] : 0.0);
    }
  stats.macs += m * n * k;
  return y;
}

RefTensor matmul(const RefTensor& a0, const RefTensor& b0, RefStats& stats) {
  RefTensor a = a0, b = b0;
  const bool a_vec = a.shape.size() == 1, b_vec = b.shape.size() == 1;
  if (a_vec) a.shape.insert(a.shape.begin(), 1);
  if (b_vec) b.shape.push_back(1);
  const int64_t m = a.shape[a.shape.size() - 2], k = a.shape.back();
  const int64_t kb = b.shape[b.shape.size() - 2], n = b.shape.back();
  if (k != kb) unsupported("MatMul: inner dimensions differ");
  Dims a_batch(a.shape.begin(), a.shape.end() - 2), b_batch(b.shape.begin(), b.shape.end() - 2);
  Dims batch = broadcast_shape(a_batch, b_batch);
  auto ia = broadcast_index(a_batch, batch), ib = broadcast_index(b_batch, batch);
  const auto& af = need_float(a, "MatMul");
  const auto& bf = need_float(b, "MatMul");
  Dims out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  RefTensor y = make_float(out_shape);
  for (std::size_t bt = 0; bt < ia.size(); ++bt)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t col = 0; col < n; ++col) {
        double acc = 0.0;
        for (int64_t j = 0; j < k; ++j)
          acc += af[static_cast<std::size_t>(ia[bt] * m * k + r * k + j)] *
                 bf[static_cast<std::size_t>(ib[bt] * k * n + j * n + col)];
        y.f[static_cast<std::size_t>((static_cast<int64_t>(bt) * m + r) * n + col)] = acc;
      }
  stats.macs += static_cast<int64_t>(ia.size()) * m * n * k;
  Dims final_shape = batch;
  if (!a_vec) final_shape.push_back(m);
  if (!b_vec) final_shape.push_back(n);
  y.shape = final_shape;
  return y;
}

// Softmax / LogSoftmax. Opset >= 13: along one axis (default -1). Before: the input is coerced to
// 2-D at `axis` (default 1) and normalised over the whole second dimension.
RefTensor softmax(const NodeView& nv, const RefTensor& x, bool log) {
  const auto& xf = need_float(x, nv.op());
  const auto rank = static_cast<int64_t>(x.shape.size());
  const bool modern = nv.opset() >= 13;
  const int64_t axis = normalize_axis(nv.i("axis", modern ? -1 : 1), rank, nv.op());
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t k = 0; k < rank; ++k) {
    const int64_t d = x.shape[static_cast<std::size_t>(k)];
    if (k < axis) {
      outer *= d;
    } else if (k == axis || !modern) {
      len *= d;
    } else {
      inner *= d;
    }
  }
  RefTensor y = make_float(x.shape);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      auto at = [&](int64_t j) { return static_cast<std::size_t>((o * len + j) * inner + in); };
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < len; ++j) mx = std::max(mx, xf[at(j)]);
      double sum = 0.0;
      for (int64_t j = 0; j < len; ++j) sum += std::exp(xf[at(j)] - mx);
      for (int64_t j = 0; j < len; ++j)
        y.f[at(j)] = log ? xf[at(j)] - mx - std::log(sum) : std::exp(xf[at(j)] - mx) / sum;
    }
  return y;
}

RefTensor concat(const NodeView& nv, const std::vector<const RefTensor*>& xs) {
  if (xs.empty()) unsupported("Concat without inputs");
  const auto rank = static_cast<int64_t>(xs[0]->shape.size());
  const int64_t axis = normalize_axis(nv.i("axis", 1), rank, "Concat");
  Dims out_shape = xs[0]->shape;
  out_shape[static_cast<std::size_t>(axis)] = 0;
  for (const RefTensor* t : xs) {
    if (static_cast<int64_t>(t->shape.size()) != rank || t->is_int != xs[0]->is_int)
      unsupported("Concat: rank or type mismatch");
    for (int64_t k = 0; k < rank; ++k)
      if (k != axis && t->shape[static_cast<std::size_t>(k)] != xs[0]->shape[static_cast<std::size_t>(k)])
        unsupported("Concat: shape mismatch " + dims_str(t->shape) + " vs " + dims_str(xs[0]->shape));
    out_shape[static_cast<std::size_t>(axis)] += t->shape[static_cast<std::size_t>(axis)];
  }
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= out_shape[static_cast<std::size_t>(k)];
  for (int64_t k = axis + 1; k < rank; ++k) inner *= out_shape[static_cast<std::size_t>(k)];
  RefTensor y = make_like(*xs[0], out_shape);
  const int64_t out_len = out_shape[static_cast<std::size_t>(axis)];
  int64_t offset = 0;
  for (const RefTensor* t : xs) {
    const int64_t len = t->shape[static_cast<std::size_t>(axis)];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < len; ++j)
        for (int64_t in = 0; in < inner; ++in)
          copy_element(*t, (o * len + j) * inner + in, y, (o * out_len + offset + j) * inner + in);
    offset += len;
  }
  return y;
}

RefTensor reshape_to(const RefTensor& x, const Dims& requested, bool allow_zero) {
  Dims shape = requested;
  int64_t known = 1, infer_at = -1;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] == 0 && !allow_zero) {
      if (k >= x.shape.size()) unsupported("Reshape: 0 beyond input rank");
      shape[k] = x.shape[k];
    }
    if (shape[k] == -1) {
      if (infer_at >= 0) unsupported("Reshape: two -1 dimensions");
      infer_at = static_cast<int64_t>(k);
    } else {
      known *= shape[k];
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || x.size() % known) unsupported("Reshape: cannot infer -1");
    shape[static_cast<std::size_t>(infer_at)] = x.size() / known;
  }
  if (numel(shape) != x.size()) unsupported("Reshape: " + dims_str(x.shape) + " to " + dims_str(requested));
  RefTensor y = x;
  y.shape = shape;
  return y;
}

RefTensor transpose(const NodeView& nv, const RefTensor& x) {
  const std::size_t rank = x.shape.size();
  Dims perm = nv.ints("perm");
  if (perm.empty())
    for (std::size_t k = 0; k < rank; ++k) perm.push_back(static_cast<int64_t>(rank - 1 - k));
  if (perm.size() != rank) unsupported("Transpose: perm size");
  Dims out_shape(rank), in_strides = strides_of(x.shape);
  for (std::size_t k = 0; k < rank; ++k) out_shape[k] = x.shape[static_cast<std::size_t>(perm[k])];
  RefTensor y = make_like(x, out_shape);
  Dims coord(rank, 0);
  for (int64_t o = 0; o < y.size(); ++o) {
    int64_t src = 0;
    for (std::size_t k = 0; k < rank; ++k) src += coord[k] * in_strides[static_cast<std::size_t>(perm[k])];
    copy_element(x, src, y, o);
    next_coord(coord, out_shape);
  }
  return y;
}

RefTensor gather(const NodeView& nv, const RefTensor& data, const RefTensor& indices) {
  const auto rank = static_cast<int64_t>(data.shape.size());
  const int64_t axis = normalize_axis(nv.i("axis", 0), rank, "Gather");
  const std::vector<int64_t> idx = as_ints(indices);
  const int64_t dim = data.shape[static_cast<std::size_t>(axis)];
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= data.shape[static_cast<std::size_t>(k)];
  for (int64_t k = axis + 1; k < rank; ++k) inner *= data.shape[static_cast<std::size_t>(k)];
  Dims out_shape(data.shape.begin(), data.shape.begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape.begin(), indices.shape.end());
  out_shape.insert(out_shape.end(), data.shape.begin() + axis + 1, data.shape.end());
  RefTensor y = make_like(data, out_shape);
  const auto n_idx = static_cast<int64_t>(idx.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < n_idx; ++j) {
      int64_t src = idx[static_cast<std::size_t>(j)];
      if (src < 0) src += dim;
      if (src < 0 || src >= dim) unsupported("Gather: index out of range");
      for (int64_t in = 0; in < inner; ++in)
        copy_element(data, (o * dim + src) * inner + in, y, (o * n_idx + j) * inner + in);
    }
  return y;
}

RefTensor pad(const NodeView& nv, const RefTensor& x, const Dims& pads, double value) {
  const std::size_t rank = x.shape.size();
  if (pads.size() != 2 * rank) unsupported("Pad: pads size");
  const std::string mode = nv.s("mode", "constant");
  Dims out_shape(rank);
  for (std::size_t k = 0; k < rank; ++k) out_shape[k] = x.shape[k] + pads[k] + pads[k + rank];
  RefTensor y = make_like(x, out_shape);
  Dims in_strides = strides_of(x.shape), coord(rank, 0);
  for (int64_t o = 0; o < y.size(); ++o) {
    int64_t src = 0;
    bool inside = true;
    for (std::size_t k = 0; k < rank; ++k) {
      int64_t i = coord[k] - pads[k];
      const int64_t n = x.shape[k];
      if (i < 0 || i >= n) {
        if (mode == "constant") {
          inside = false;
        } else if (mode == "edge") {
          i = std::clamp<int64_t>(i, 0, n - 1);
        } else if (mode == "reflect") {
          if (n == 1) {
            i = 0;
          } else {
            while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
          }
        } else {
          unsupported("Pad mode " + mode);
        }
      }
      src += i * in_strides[k];
    }
    if (inside) {
      copy_element(x, src, y, o);
    } else if (y.is_int) {
      y.i[static_cast<std::size_t>(o)] = static_cast<int64_t>(value);
    } else {
      y.f[static_cast<std::size_t>(o)] = value;
    }
    next_coord(coord, out_shape);
  }
  return y;
}

RefTensor slice(const RefTensor& x, Dims starts, Dims ends, Dims axes, Dims steps) {
  const auto rank = static_cast<int64_t>(x.shape.size());
  if (axes.empty())
    for (std::size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<int64_t>(k));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    unsupported("Slice: argument sizes");
  Dims begin(static_cast<std::size_t>(rank), 0), step(static_cast<std::size_t>(rank), 1), out_shape = x.shape;
  for (std::size_t j = 0; j < starts.size(); ++j) {
    auto a = static_cast<std::size_t>(normalize_axis(axes[j], rank, "Slice"));
    const int64_t n = x.shape[a], s = steps[j];
    if (s == 0) unsupported("Slice: step 0");
    int64_t st = starts[j] < 0 ? starts[j] + n : starts[j];
    int64_t en = ends[j] < 0 ? ends[j] + n : ends[j];
    // Clamping per the Slice-13 specification.
    if (s > 0) {
      st = std::clamp<int64_t>(st, 0, n);
      en = std::clamp<int64_t>(en, 0, n);
      out_shape[a] = en > st ? (en - st + s - 1) / s : 0;
    } else {
      st = std::clamp<int64_t>(st, 0, n - 1);
      en = std::clamp<int64_t>(en, -1, n - 1);
      out_shape[a] = st > en ? (st - en - s - 1) / -s : 0;
    }
    begin[a] = st;
    step[a] = s;
  }
  RefTensor y = make_like(x, out_shape);
  Dims in_strides = strides_of(x.shape), coord(static_cast<std::size_t>(rank), 0);
  for (int64_t o = 0; o < y.size(); ++o) {
    int64_t src = 0;
    for (std::size_t k = 0; k < static_cast<std::size_t>(rank); ++k) src += (begin[k] + coord[k] * step[k]) * in_strides[k];
    copy_element(x, src, y, o);
    next_coord(coord, out_shape);
  }
  return y;
}

std::vector<RefTensor> split(const NodeView& nv, const RefTensor& x, const RefTensor* split_input, int outputs) {
  const auto rank = static_cast<int64_t>(x.shape.size());
  const int64_t axis = normalize_axis(nv.i("axis", 0), rank, "Split");
  const int64_t dim = x.shape[static_cast<std::size_t>(axis)];
  Dims sizes = split_input ? as_ints(*split_input) : nv.ints("split");
  if (sizes.empty()) {
    // Equal parts; Split-18 lets the last one be smaller.
    const int64_t part = (dim + outputs - 1) / outputs;
    for (int k = 0; k < outputs; ++k) sizes.push_back(std::min(part, dim - part * k));
  }
  if (static_cast<int>(sizes.size()) != outputs) unsupported("Split: split sizes do not match outputs");
  std::vector<RefTensor> ys;
  int64_t start = 0;
  for (int64_t s : sizes) {
    ys.push_back(slice(x, {start}, {start + s}, {axis}, {1}));
    start += s;
  }
  if (start != dim) unsupported("Split: sizes do not sum to the dimension");
  return ys;
}

RefTensor constant_from_attrs(const NodeView& nv) {
  if (const auto* a = nv.find("value")) return ref_from_proto(a->t());
  if (const auto* a = nv.find("value_float")) return RefTensor::floats({}, {a->f()});
  if (const auto* a = nv.find("value_floats"))
    return RefTensor::floats({a->floats_size()}, std::vector<float>(a->floats().begin(), a->floats().end()));
  if (const auto* a = nv.find("value_int")) return RefTensor::ints({}, {a->i()});
  if (const auto* a = nv.find("value_ints"))
    return RefTensor::ints({a->ints_size()}, std::vector<int64_t>(a->ints().begin(), a->ints().end()));
  unsupported("Constant without a supported value attribute");
}

Dims unsqueeze_shape(const Dims& in, Dims axes) {
  const auto out_rank = static_cast<int64_t>(in.size() + axes.size());
  for (int64_t& a : axes) a = normalize_axis(a, out_rank, "Unsqueeze");
  std::set<int64_t> axis_set(axes.begin(), axes.end());
  if (axis_set.size() != axes.size()) unsupported("Unsqueeze: repeated axis");
  Dims out;
  std::size_t src = 0;
  for (int64_t k = 0; k < out_rank; ++k) out.push_back(axis_set.count(k) ? 1 : in[src++]);
  return out;
}

Dims squeeze_shape(const Dims& in, Dims axes) {
  const auto rank = static_cast<int64_t>(in.size());
  for (int64_t& a : axes) a = normalize_axis(a, rank, "Squeeze");
  Dims out;
  for (int64_t k = 0; k < rank; ++k) {
    const bool listed = std::find(axes.begin(), axes.end(), k) != axes.end();
    const int64_t d = in[static_cast<std::size_t>(k)];
    if ((axes.empty() && d == 1) || listed) {
      if (d != 1) unsupported("Squeeze of a dimension that is not 1");
      continue;
    }
    out.push_back(d);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
class Interpreter {
 public:
  Interpreter(const onnx::ModelProto& model, RefStats& stats) : model_(model), stats_(stats) {
    for (const auto& imp : model.opset_import())
      if (imp.domain().empty() || imp.domain() == "ai.onnx") opset_ = static_cast<int>(imp.version());
  }

  std::vector<RefTensor> run(const std::vector<RefTensor>& inputs) {
    const auto& g = model_.graph();
    std::set<std::string> init_names;
    for (const auto& t : g.initializer()) {
      if (t.data_location() == onnx::TensorProto::EXTERNAL) unsupported("external initializer data");
      env_[t.name()] = ref_from_proto(t);
      init_names.insert(t.name());
    }
    std::size_t bound = 0;
    for (const auto& in : g.input()) {
      if (init_names.count(in.name())) continue;
      if (bound >= inputs.size()) unsupported("fewer inputs given than the model has");
      env_[in.name()] = inputs[bound++];
    }
    if (bound != inputs.size()) unsupported("more inputs given than the model has");
    for (const auto& node : g.node()) {
      if (!node.domain().empty() && node.domain() != "ai.onnx") unsupported("domain " + node.domain());
      ++stats_.op_counts[node.op_type()];
      std::vector<RefTensor> outs = run_node(NodeView(node, opset_), node);
      for (int k = 0; k < node.output_size() && k < static_cast<int>(outs.size()); ++k)
        if (!node.output(k).empty()) env_[node.output(k)] = std::move(outs[static_cast<std::size_t>(k)]);
    }
    std::vector<RefTensor> results;
    for (const auto& out : g.output()) {
      auto it = env_.find(out.name());
      if (it == env_.end()) unsupported("graph output '" + out.name() + "' never produced");
      results.push_back(it->second);
    }
    return results;
  }

 private:
  const RefTensor* input(const onnx::NodeProto& node, int k) const {
    if (k >= node.input_size() || node.input(k).empty()) return nullptr;
    auto it = env_.find(node.input(k));
    if (it == env_.end()) unsupported("value '" + node.input(k) + "' used before it is produced");
    return &it->second;
  }
  const RefTensor& need(const onnx::NodeProto& node, int k) const {
    const RefTensor* t = input(node, k);
    if (!t) unsupported(node.op_type() + ": missing input " + std::to_string(k));
    return *t;
  }

  std::vector<RefTensor> run_node(const NodeView& nv, const onnx::NodeProto& node) {
    const std::string& op = node.op_type();
    auto x = [&](int k) -> const RefTensor& { return need(node, k); };
    if (op == "Conv") return {conv(nv, x(0), x(1), input(node, 2), stats_)};
    if (op == "Gemm") return {gemm(nv, x(0), x(1), input(node, 2), stats_)};
    if (op == "MatMul") return {matmul(x(0), x(1), stats_)};
    if (op == "MaxPool") {
      if (node.output_size() > 1 && !node.output(1).empty()) unsupported("MaxPool Indices output");
      return {pool(nv, x(0), true)};
    }
    if (op == "AveragePool") return {pool(nv, x(0), false)};
    if (op == "GlobalAveragePool") return {global_pool(x(0), false)};
    if (op == "GlobalMaxPool") return {global_pool(x(0), true)};
    if (op == "BatchNormalization") {
      for (int k = 1; k < node.output_size(); ++k)
        if (!node.output(k).empty()) unsupported("BatchNormalization training outputs");
      return {batch_norm(nv, x(0), x(1), x(2), x(3), x(4))};
    }
    if (op == "LRN") return {lrn(nv, x(0))};
    if (op == "Softmax" || op == "LogSoftmax") return {softmax(nv, x(0), op == "LogSoftmax")};

    if (op == "Relu") return {unary(x(0), [](double v) { return v > 0.0 ? v : 0.0; }, op)};
    if (op == "Sigmoid") return {unary(x(0), [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, op)};
    if (op == "Tanh") return {unary(x(0), [](double v) { return std::tanh(v); }, op)};
    if (op == "Exp") return {unary(x(0), [](double v) { return std::exp(v); }, op)};
    if (op == "Log") return {unary(x(0), [](double v) { return std::log(v); }, op)};
    if (op == "Sqrt") return {unary(x(0), [](double v) { return std::sqrt(v); }, op)};
    if (op == "Abs") return {unary(x(0), [](double v) { return std::fabs(v); }, op)};
    if (op == "Neg") return {unary(x(0), [](double v) { return -v; }, op)};
    if (op == "Reciprocal") return {unary(x(0), [](double v) { return 1.0 / v; }, op)};
    if (op == "Softplus") return {unary(x(0), [](double v) { return std::log(std::exp(v) + 1.0); }, op)};
    if (op == "Softsign") return {unary(x(0), [](double v) { return v / (1.0 + std::fabs(v)); }, op)};
    if (op == "LeakyRelu") {
      const double alpha = nv.f("alpha", 0.01);
      return {unary(x(0), [alpha](double v) { return v >= 0.0 ? v : alpha * v; }, op)};
    }
    if (op == "Elu") {
      const double alpha = nv.f("alpha", 1.0);
      return {unary(x(0), [alpha](double v) { return v >= 0.0 ? v : alpha * (std::exp(v) - 1.0); }, op)};
    }
    if (op == "Selu") {
      // Defaults from the Selu specification (Klambauer et al., 2017).
      const double alpha = nv.f("alpha", 1.67326319217681884765625);
      const double gamma = nv.f("gamma", 1.05070102214813232421875);
      return {unary(x(0), [=](double v) { return v > 0.0 ? gamma * v : gamma * alpha * (std::exp(v) - 1.0); }, op)};
    }
    if (op == "HardSigmoid") {
      const double alpha = nv.f("alpha", 0.2), beta = nv.f("beta", 0.5);
      return {unary(x(0), [=](double v) { return std::clamp(alpha * v + beta, 0.0, 1.0); }, op)};
    }
    if (op == "Clip") {
      double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
      if (nv.opset() < 11) {
        lo = nv.f("min", lo);
        hi = nv.f("max", hi);
      } else {
        if (const RefTensor* t = input(node, 1)) lo = need_float(*t, op).at(0);
        if (const RefTensor* t = input(node, 2)) hi = need_float(*t, op).at(0);
      }
      return {unary(x(0), [=](double v) { return std::min(std::max(v, lo), hi); }, op)};
    }
    if (op == "PRelu") {
      RefTensor slope = x(1);
      // PRelu-1/6 apply a slope of C values per channel (axis 1), as Caffe and PyTorch 0.3 meant
      // it; PRelu-7 switched to unidirectional numpy broadcasting.
      const Dims& xs = x(0).shape;
      if (nv.opset() < 7 && slope.shape.size() == 1 && xs.size() > 2 && slope.shape[0] == xs[1]) {
        slope.shape = Dims(xs.size() - 1, 1);
        slope.shape[0] = xs[1];
      }
      return {binary(x(0), slope, [](double v, double s) { return v < 0.0 ? s * v : v; }, nullptr, op)};
    }

    if (op == "Add") return {binary(x(0), x(1), std::plus<double>(), std::plus<int64_t>(), op)};
    if (op == "Sub") return {binary(x(0), x(1), std::minus<double>(), std::minus<int64_t>(), op)};
    if (op == "Mul") return {binary(x(0), x(1), std::multiplies<double>(), std::multiplies<int64_t>(), op)};
    if (op == "Div") return {binary(x(0), x(1), std::divides<double>(), std::divides<int64_t>(), op)};
    if (op == "Pow") return {binary(x(0), x(1), [](double a, double b) { return std::pow(a, b); }, nullptr, op)};
    if (op == "Sum" || op == "Max" || op == "Min" || op == "Mean") {
      std::function<double(double, double)> f = std::plus<double>();
      std::function<int64_t(int64_t, int64_t)> fi = std::plus<int64_t>();
      if (op == "Max") {
        f = [](double a, double b) { return std::max(a, b); };
        fi = [](int64_t a, int64_t b) { return std::max(a, b); };
      } else if (op == "Min") {
        f = [](double a, double b) { return std::min(a, b); };
        fi = [](int64_t a, int64_t b) { return std::min(a, b); };
      }
      RefTensor acc = x(0);
      for (int k = 1; k < node.input_size(); ++k) acc = binary(acc, x(k), f, fi, op);
      if (op == "Mean")
        for (double& v : acc.f) v /= node.input_size();
      return {acc};
    }

    if (op == "Identity") return {x(0)};
    if (op == "Dropout") {
      if (nv.opset() >= 12) {
        if (const RefTensor* t = input(node, 2))
          if (as_ints(*t).at(0) != 0) unsupported("Dropout in training mode");
      }
      RefTensor mask = RefTensor::ints(x(0).shape, std::vector<int64_t>(static_cast<std::size_t>(x(0).size()), 1));
      return {x(0), mask};
    }
    if (op == "Concat") {
      std::vector<const RefTensor*> xs;
      for (int k = 0; k < node.input_size(); ++k) xs.push_back(&x(k));
      return {concat(nv, xs)};
    }
    if (op == "Reshape") {
      if (nv.opset() < 5) return {reshape_to(x(0), nv.ints("shape"), false)};
      return {reshape_to(x(0), as_ints(x(1)), nv.i("allowzero", 0) != 0)};
    }
    if (op == "Flatten") {
      const auto rank = static_cast<int64_t>(x(0).shape.size());
      int64_t axis = nv.i("axis", 1);
      if (axis < 0) axis += rank;
      if (axis < 0 || axis > rank) unsupported("Flatten: axis out of range");
      int64_t outer = 1;
      for (int64_t k = 0; k < axis; ++k) outer *= x(0).shape[static_cast<std::size_t>(k)];
      return {reshape_to(x(0), {outer, outer ? x(0).size() / outer : 0}, true)};
    }
    if (op == "Transpose") return {transpose(nv, x(0))};
    if (op == "Shape") {
      const auto rank = static_cast<int64_t>(x(0).shape.size());
      int64_t start = nv.i("start", 0), end = nv.i("end", rank);
      if (start < 0) start += rank;
      if (end < 0) end += rank;
      start = std::clamp<int64_t>(start, 0, rank);
      end = std::clamp<int64_t>(end, 0, rank);
      Dims dims(x(0).shape.begin() + start, x(0).shape.begin() + std::max(start, end));
      return {RefTensor::ints({static_cast<int64_t>(dims.size())}, dims)};
    }
    if (op == "Gather") return {gather(nv, x(0), x(1))};
    if (op == "Unsqueeze" || op == "Squeeze") {
      Dims axes = nv.opset() >= 13 ? (input(node, 1) ? as_ints(x(1)) : Dims{}) : nv.ints("axes");
      RefTensor y = x(0);
      y.shape = op == "Unsqueeze" ? unsqueeze_shape(y.shape, axes) : squeeze_shape(y.shape, axes);
      return {y};
    }
    if (op == "Constant") return {constant_from_attrs(nv)};
    if (op == "ConstantOfShape") {
      Dims shape = as_ints(x(0));
      RefTensor value = nv.has("value") ? ref_from_proto(nv.find("value")->t()) : RefTensor::floats({1}, {0.0f});
      RefTensor y = make_like(value, shape);
      if (y.is_int) {
        std::fill(y.i.begin(), y.i.end(), value.i.at(0));
      } else {
        std::fill(y.f.begin(), y.f.end(), value.f.at(0));
      }
      return {y};
    }
    if (op == "Cast") {
      const int64_t to = nv.i("to", onnx::TensorProto::FLOAT);
      const RefTensor& in = x(0);
      RefTensor y;
      y.shape = in.shape;
      if (to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE || to == onnx::TensorProto::FLOAT16) {
        if (in.is_int) {
          y.f.assign(in.i.begin(), in.i.end());
        } else {
          y.f = in.f;
        }
      } else if (to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32) {
        y.is_int = true;
        y.i = as_ints(in);
      } else {
        unsupported("Cast to type " + std::to_string(to));
      }
      return {y};
    }
    if (op == "Pad") {
      Dims pads;
      double value = 0.0;
      if (nv.opset() < 11) {
        pads = nv.ints("pads");
        value = nv.f("value", 0.0);
      } else {
        pads = as_ints(x(1));
        if (const RefTensor* v = input(node, 2)) value = v->is_int ? static_cast<double>(v->i.at(0)) : v->f.at(0);
        if (input(node, 3)) unsupported("Pad with axes");
      }
      return {pad(nv, x(0), pads, value)};
    }
    if (op == "Slice") {
      if (nv.opset() < 10) return {slice(x(0), nv.ints("starts"), nv.ints("ends"), nv.ints("axes"), {})};
      Dims axes = input(node, 3) ? as_ints(x(3)) : Dims{};
      Dims steps = input(node, 4) ? as_ints(x(4)) : Dims{};
      return {slice(x(0), as_ints(x(1)), as_ints(x(2)), axes, steps)};
    }
    if (op == "Split") {
      const RefTensor* sizes = nv.opset() >= 13 ? input(node, 1) : nullptr;
      return split(nv, x(0), sizes, node.output_size());
    }
    unsupported("op type " + op);
  }

  const onnx::ModelProto& model_;
  RefStats& stats_;
  int opset_ = 1;
  std::map<std::string, RefTensor> env_;
};

}  // namespace

int64_t RefTensor::size() const { return numel(shape); }

RefTensor RefTensor::floats(std::vector<int64_t> shape, const std::vector<float>& values) {
  RefTensor t;
  t.shape = std::move(shape);
  t.f.assign(values.begin(), values.end());
  if (static_cast<int64_t>(t.f.size()) != t.size()) unsupported("RefTensor::floats: size mismatch");
  return t;
}

RefTensor RefTensor::doubles(std::vector<int64_t> shape, std::vector<double> values) {
  RefTensor t;
  t.shape = std::move(shape);
  t.f = std::move(values);
  if (static_cast<int64_t>(t.f.size()) != t.size()) unsupported("RefTensor::doubles: size mismatch");
  return t;
}

RefTensor RefTensor::ints(std::vector<int64_t> shape, std::vector<int64_t> values) {
  RefTensor t;
  t.shape = std::move(shape);
  t.is_int = true;
  t.i = std::move(values);
  if (static_cast<int64_t>(t.i.size()) != t.size()) unsupported("RefTensor::ints: size mismatch");
  return t;
}

std::vector<float> RefTensor::to_floats() const {
  std::vector<float> r;
  r.reserve(static_cast<std::size_t>(size()));
  if (is_int) {
    for (int64_t v : i) r.push_back(static_cast<float>(v));
  } else {
    for (double v : f) r.push_back(static_cast<float>(v));
  }
  return r;
}

RefTensor ref_from_proto(const onnx::TensorProto& proto) {
  Dims shape(proto.dims().begin(), proto.dims().end());
  const int64_t n = numel(shape);
  const bool raw = proto.has_raw_data();
  RefTensor t;
  t.shape = shape;
  switch (proto.data_type()) {
    case onnx::TensorProto::FLOAT:
      if (raw) {
        for (float v : raw_values<float>(proto.raw_data(), n)) t.f.push_back(v);
      } else {
        t.f.assign(proto.float_data().begin(), proto.float_data().end());
      }
      break;
    case onnx::TensorProto::DOUBLE:
      if (raw) {
        t.f = raw_values<double>(proto.raw_data(), n);
      } else {
        t.f.assign(proto.double_data().begin(), proto.double_data().end());
      }
      break;
    case onnx::TensorProto::FLOAT16:
      // Non-raw half data sits in int32_data, one value per element (onnx.proto).
      if (raw) {
        for (uint16_t h : raw_values<uint16_t>(proto.raw_data(), n)) t.f.push_back(half_to_double(h));
      } else {
        for (int32_t h : proto.int32_data()) t.f.push_back(half_to_double(static_cast<uint16_t>(h)));
      }
      break;
    case onnx::TensorProto::INT64:
      t.is_int = true;
      if (raw) {
        t.i = raw_values<int64_t>(proto.raw_data(), n);
      } else {
        t.i.assign(proto.int64_data().begin(), proto.int64_data().end());
      }
      break;
    case onnx::TensorProto::INT32:
      t.is_int = true;
      if (raw) {
        for (int32_t v : raw_values<int32_t>(proto.raw_data(), n)) t.i.push_back(v);
      } else {
        t.i.assign(proto.int32_data().begin(), proto.int32_data().end());
      }
      break;
    case onnx::TensorProto::BOOL:
      t.is_int = true;
      if (raw) {
        for (uint8_t v : raw_values<uint8_t>(proto.raw_data(), n)) t.i.push_back(v);
      } else {
        t.i.assign(proto.int32_data().begin(), proto.int32_data().end());
      }
      break;
    default:
      unsupported("tensor '" + proto.name() + "' of data type " + std::to_string(proto.data_type()));
  }
  if (t.size() != static_cast<int64_t>(t.is_int ? t.i.size() : t.f.size()))
    unsupported("tensor '" + proto.name() + "': data size does not match dims");
  return t;
}

std::vector<RefTensor> reference_run(const onnx::ModelProto& model, const std::vector<RefTensor>& inputs,
                                     RefStats* stats) {
  RefStats local;
  Interpreter interp(model, stats ? *stats : local);
  return interp.run(inputs);
}

std::vector<float> random_input(int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(count));
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace coda::test
