// Pad with modes constant, reflect, edge and wrap (opset 19). Pads come from the `paddings`
// (opset 1) or `pads` (opsets 2-10) attribute with the `value` attribute, or from the constant
// input 1 with the optional constant_value input 2 (opset 11) and axes input 3 (opset 18).
// pads = [x1_begin, x2_begin, ..., x1_end, x2_end, ...]. Negative pads crop: as in ONNX Runtime,
// the input is first cropped by the negative pads and then padded by the positive ones, so
// reflect/edge/wrap read from the cropped tensor. reflect mirrors about the edge element without
// repeating it (numpy's "reflect"), extended periodically when a pad exceeds the dimension.
#include <algorithm>
#include <cstring>

#include "kernels/error.h"
#include "kernels/op.h"
#include "kernels/ops/broadcast.h"

namespace coda {

namespace {

enum class Mode { Constant, Reflect, Edge, Wrap };

struct PadSpec {
  Mode mode = Mode::Constant;
  std::vector<int64_t> begin;  // per input dimension
  std::vector<int64_t> end;
};

template <typename Ctx>
Mode parse_mode(const Ctx& ctx) {
  const std::string mode = ctx.attrs().get_string("mode", "constant");
  if (mode == "constant") return Mode::Constant;
  if (mode == "reflect") return Mode::Reflect;
  if (mode == "edge") return Mode::Edge;
  if (mode == "wrap") return Mode::Wrap;
  ctx.fail("mode must be constant, reflect, edge or wrap, got '" + mode + "'");
}

// Pads per dimension from attributes or constant inputs; `pads_input`/`axes_input` are the
// constant inputs (nullptr when the opset uses attributes or the input is omitted).
template <typename Ctx>
PadSpec pad_spec(const Ctx& ctx, std::size_t rank, const Tensor* pads_input, const Tensor* axes_input) {
  PadSpec spec;
  spec.mode = parse_mode(ctx);
  std::vector<int64_t> pads;
  if (ctx.node().opset < 11) {
    const char* name = ctx.node().opset < 2 ? "paddings" : "pads";
    if (!ctx.attrs().has(name)) ctx.fail(std::string("the '") + name + "' attribute is required");
    pads = ctx.attrs().get_ints(name);
  } else {
    if (!pads_input) ctx.fail("the pads input must be a constant");
    if (pads_input->dtype() != DType::Int64) ctx.fail("the pads input must be int64");
    pads = pads_input->to_int64_vector();
  }
  std::vector<int64_t> axes;
  if (axes_input) {
    axes = axes_input->to_int64_vector();
  } else {
    for (std::size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
  }
  if (pads.size() != 2 * axes.size())
    ctx.fail("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * axes.size()) +
             " (begin and end for each of " + std::to_string(axes.size()) + " axes)");
  spec.begin.assign(rank, 0);
  spec.end.assign(rank, 0);
  std::vector<bool> seen(rank, false);
  for (std::size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i];
    if (!elementwise::normalize_axis(a, static_cast<int64_t>(rank)))
      ctx.fail("axis " + std::to_string(axes[i]) + " is out of range for rank " + std::to_string(rank));
    if (seen[static_cast<std::size_t>(a)]) ctx.fail("axis " + std::to_string(axes[i]) + " is given twice");
    seen[static_cast<std::size_t>(a)] = true;
    spec.begin[static_cast<std::size_t>(a)] = pads[i];
    spec.end[static_cast<std::size_t>(a)] = pads[i + axes.size()];
  }
  return spec;
}

// Input index along one dimension for each output index, -1 for the constant.
std::vector<int64_t> index_map(int64_t dim, int64_t begin, int64_t end, Mode mode) {
  const int64_t crop = std::max<int64_t>(-begin, 0);
  const int64_t kept = dim + std::min<int64_t>(begin, 0) + std::min<int64_t>(end, 0);
  const int64_t before = std::max<int64_t>(begin, 0);
  const int64_t after = std::max<int64_t>(end, 0);
  std::vector<int64_t> map(static_cast<std::size_t>(before + kept + after));
  for (int64_t o = 0; o < static_cast<int64_t>(map.size()); ++o) {
    int64_t rel = o - before;
    if (rel < 0 || rel >= kept) {
      switch (mode) {
        case Mode::Constant: rel = -1; break;
        case Mode::Edge: rel = std::clamp<int64_t>(rel, 0, kept - 1); break;
        case Mode::Wrap: rel = ((rel % kept) + kept) % kept; break;
        case Mode::Reflect:
          if (kept == 1) {
            rel = 0;
          } else {
            const int64_t period = 2 * (kept - 1);
            rel = ((rel % period) + period) % period;
            if (rel >= kept) rel = period - rel;
          }
          break;
      }
    }
    map[static_cast<std::size_t>(o)] = rel < 0 ? -1 : crop + rel;
  }
  return map;
}

template <typename T>
void pad_typed(const T* in, T* out, const Shape& in_shape, const Shape& out_shape, const PadSpec& spec, T value) {
  const std::size_t rank = in_shape.size();
  int64_t total = 1;
  for (int64_t d : out_shape) total *= d;
  if (total == 0) return;
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  std::vector<std::vector<int64_t>> maps(rank);
  for (std::size_t d = 0; d < rank; ++d) maps[d] = index_map(in_shape[d], spec.begin[d], spec.end[d], spec.mode);
  std::vector<int64_t> in_strides(rank, 1);
  for (std::size_t d = rank - 1; d-- > 0;) in_strides[d] = in_strides[d + 1] * in_shape[d + 1];
  const int64_t inner = out_shape[rank - 1];
  const std::vector<int64_t>& last = maps[rank - 1];
  // The middle of the last dimension reads one contiguous run of the input.
  const int64_t before = std::max<int64_t>(spec.begin[rank - 1], 0);
  const int64_t kept = in_shape[rank - 1] + std::min<int64_t>(spec.begin[rank - 1], 0) +
                       std::min<int64_t>(spec.end[rank - 1], 0);
  const int64_t crop = std::max<int64_t>(-spec.begin[rank - 1], 0);
  const int64_t rows = total / inner;
  const bool parallel = total >= elementwise::kParallelMin && rows > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; ++r) {
    T* o = out + r * inner;
    int64_t offset = 0;
    bool padding_row = false;
    int64_t rest = r;
    for (std::size_t d = rank - 1; d-- > 0;) {
      const int64_t i = maps[d][static_cast<std::size_t>(rest % out_shape[d])];
      rest /= out_shape[d];
      if (i < 0) padding_row = true;
      offset += i * in_strides[d];
    }
    if (padding_row) {
      std::fill(o, o + inner, value);
      continue;
    }
    const T* row_in = in + offset;
    for (int64_t x = 0; x < before; ++x) o[x] = last[static_cast<std::size_t>(x)] < 0 ? value : row_in[last[static_cast<std::size_t>(x)]];
    if (kept > 0) std::memcpy(o + before, row_in + crop, static_cast<std::size_t>(kept) * sizeof(T));
    for (int64_t x = before + std::max<int64_t>(kept, 0); x < inner; ++x)
      o[x] = last[static_cast<std::size_t>(x)] < 0 ? value : row_in[last[static_cast<std::size_t>(x)]];
  }
}

class PadOp final : public OpKernel {
 public:
  std::vector<TensorInfo> infer(const InferContext& ctx) const override {
    const TensorInfo& data = ctx.input(0);
    const std::size_t rank = data.shape.size();
    const bool from_inputs = ctx.node().opset >= 11;
    if (from_inputs && !ctx.has_input(1)) ctx.fail("needs the pads input");
    if (from_inputs && ctx.has_input(3) && !ctx.constant(3)) ctx.fail("the axes input must be a constant");
    const PadSpec spec = pad_spec(ctx, rank, from_inputs ? ctx.constant(1) : nullptr,
                                  from_inputs && ctx.has_input(3) ? ctx.constant(3) : nullptr);
    if (from_inputs && ctx.has_input(2)) {
      const TensorInfo& value = ctx.input(2);
      if (element_count(value.shape) != 1)
        ctx.fail("constant_value must be a scalar, got shape " + shape_string(value.shape));
      if (value.dtype != data.dtype)
        ctx.fail(std::string("constant_value is ") + dtype_name(value.dtype) + ", the data is " + dtype_name(data.dtype));
    }
    Shape out(rank);
    for (std::size_t d = 0; d < rank; ++d) {
      const int64_t kept = data.shape[d] + std::min<int64_t>(spec.begin[d], 0) + std::min<int64_t>(spec.end[d], 0);
      if (kept < 0)
        ctx.fail("pads " + std::to_string(spec.begin[d]) + ", " + std::to_string(spec.end[d]) + " crop more than the " +
                 std::to_string(data.shape[d]) + " elements of axis " + std::to_string(d));
      out[d] = data.shape[d] + spec.begin[d] + spec.end[d];
      if (kept == 0 && out[d] > 0 && spec.mode != Mode::Constant)
        ctx.fail("cannot pad the empty axis " + std::to_string(d) + " in " + ctx.attrs().get_string("mode", "") +
                 " mode");
    }
    return {TensorInfo{out, data.dtype}};
  }

  void run(const RunContext& ctx) const override {
    const Tensor& data = ctx.input(0);
    Tensor& out = ctx.output(0);
    const bool from_inputs = ctx.node().opset >= 11;
    const PadSpec spec = pad_spec(ctx, data.shape().size(), from_inputs ? &ctx.input(1) : nullptr,
                                  from_inputs && ctx.has_input(3) ? &ctx.input(3) : nullptr);
    elementwise::with_element_type(data.dtype(), [&](auto zero) {
      using T = decltype(zero);
      T value = 0;
      if (data.dtype() == DType::Int64) {
        int64_t v = 0;
        if (from_inputs && ctx.has_input(2)) {
          v = ctx.input(2).i64()[0];
        } else if (!from_inputs) {
          v = static_cast<int64_t>(ctx.attrs().get_float("value", 0.0f));
        }
        if constexpr (sizeof(T) == sizeof(v)) std::memcpy(&value, &v, sizeof(T));
      } else if (data.dtype() == DType::Float32) {
        float v = 0.0f;
        if (from_inputs && ctx.has_input(2)) {
          v = ctx.input(2).f32()[0];
        } else if (!from_inputs) {
          v = ctx.attrs().get_float("value", 0.0f);
        }
        if constexpr (sizeof(T) == sizeof(v)) std::memcpy(&value, &v, sizeof(T));
      } else {
        ctx.fail("float16 data: the importer should have widened it to float32");
      }
      pad_typed(static_cast<const T*>(data.raw()), static_cast<T*>(out.raw()), data.shape(), out.shape(), spec, value);
    });
  }
};

}  // namespace

CODA_REGISTER_OP(Pad, PadOp);

}  // namespace coda
