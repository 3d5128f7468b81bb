#include "kernels/conv_kernels.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "kernels/ops/window.h"
#include "kernels/tensor.h"

namespace coda {

namespace {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
template <typename M>
using ConstMap = Eigen::Map<const M, Eigen::Unaligned, Eigen::OuterStride<>>;

// A row-major k x m matrix read transposed is the column-major m x k matrix over the same memory,
// so each transpose flag only changes the storage order of the map and Eigen packs accordingly.
template <bool TransposeA, bool TransposeB>
void sgemm_typed(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* b,
                 int64_t ldb, float beta, float* c, int64_t ldc) {
  using AMatrix = std::conditional_t<TransposeA, ColMajorMatrix, RowMajorMatrix>;
  using BMatrix = std::conditional_t<TransposeB, ColMajorMatrix, RowMajorMatrix>;
  ConstMap<AMatrix> A(a, m, k, Eigen::OuterStride<>(lda));
  ConstMap<BMatrix> B(b, k, n, Eigen::OuterStride<>(ldb));
  Eigen::Map<RowMajorMatrix, Eigen::Unaligned, Eigen::OuterStride<>> C(c, m, n, Eigen::OuterStride<>(ldc));
  if (beta == 0.0f) {
    // Eigen zeroes C before accumulating, so garbage (even NaN) in C does not leak through.
    C.noalias() = alpha * A * B;
  } else {
    if (beta != 1.0f) C *= beta;
    C.noalias() += alpha * A * B;
  }
}

// Output columns [lo, hi) whose input coordinate o*stride - pad + tap*dilation falls inside
// [0, extent): the part of a row that reads real data rather than padding.
void valid_outputs(int64_t extent, int64_t out, int64_t stride, int64_t offset, int64_t& lo, int64_t& hi) {
  // offset = tap*dilation - pad; need 0 <= o*stride + offset <= extent - 1.
  lo = std::clamp<int64_t>(ceil_div(-offset, stride), 0, out);
  hi = std::clamp<int64_t>(floor_div(extent - 1 - offset, stride) + 1, lo, out);
}

// The phase-plane layout (kernels/ops/window.h) of the input planes of a depthwise convolution.
PhasePlanes phase_planes(const Conv2dGeometry& g, int64_t extra_rows, int64_t extra_floats) {
  WindowAxis h, w;
  h.in = g.in_h;
  h.kernel = g.kernel_h;
  h.stride = g.stride_h;
  h.dilation = g.dilation_h;
  h.pad_begin = g.pad_top;
  h.out = g.out_h;
  w.in = g.in_w;
  w.kernel = g.kernel_w;
  w.stride = g.stride_w;
  w.dilation = g.dilation_w;
  w.pad_begin = g.pad_left;
  w.out = g.out_w;
  return PhasePlanes(h, w, extra_rows, extra_floats);
}

// im2col restricted to patch rows [row_begin, row_end); rows are written at their own index
// relative to row_begin, `ld` floats apart (by default the tile's width).
void im2col_rows(const Conv2dGeometry& g, const float* image, int64_t pixel_begin, int64_t pixel_end,
                 int64_t row_begin, int64_t row_end, float* columns, int64_t ld = -1) {
  const int64_t width = ld >= 0 ? ld : pixel_end - pixel_begin;
  const int64_t taps = g.kernel_h * g.kernel_w;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t c = r / taps, i = (r % taps) / g.kernel_w, j = r % g.kernel_w;
    const float* plane = image + c * g.in_plane();
    float* dst = columns + (r - row_begin) * width;
    int64_t lo, hi;
    valid_outputs(g.in_w, g.out_w, g.stride_w, j * g.dilation_w - g.pad_left, lo, hi);
    const int64_t col_offset = j * g.dilation_w - g.pad_left;
    int64_t p = pixel_begin;
    while (p < pixel_end) {
      const int64_t oh = p / g.out_w, ow0 = p % g.out_w;
      const int64_t ow1 = std::min(g.out_w, ow0 + (pixel_end - p));
      const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
      if (ih < 0 || ih >= g.in_h) {
        std::fill(dst, dst + (ow1 - ow0), 0.0f);
      } else {
        // Output columns [a, b) of this row segment read input; the rest is padding.
        const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
        std::fill(dst, dst + (a - ow0), 0.0f);
        if (b > a) {
          const float* __restrict src = plane + ih * g.in_w + a * g.stride_w + col_offset;
          float* __restrict d = dst + (a - ow0);
          const int64_t n = b - a;
          if (g.stride_w == 1) {
            std::memcpy(d, src, static_cast<std::size_t>(n) * sizeof(float));
          } else if (g.stride_w == 2) {  // the common downsampling stride: a constant stride vectorises
            for (int64_t x = 0; x < n; ++x) d[x] = src[2 * x];
          } else {
            for (int64_t x = 0; x < n; ++x) d[x] = src[x * g.stride_w];
          }
        }
        std::fill(dst + (b - ow0), dst + (ow1 - ow0), 0.0f);
      }
      dst += ow1 - ow0;
      p += ow1 - ow0;
    }
  }
}

// How conv2d_gemm splits its work: units (image, group) times tiles of output pixels, each tile
// one im2col + one single-threaded GEMM on one thread.
struct TilePlan {
  int64_t tile = 0;   // pixels per tile (the last tile of a plane may be shorter)
  int64_t tiles = 0;  // tiles per plane
  bool use = false;   // false: per unit, a shared im2col and one GEMM per block of output channels
};

// Each tile's GEMM re-packs the whole weight matrix (M x K), so tiles should be wide: at 512
// pixels the re-packing is ~1/512 of the multiply-adds. The tile's im2col block (K x tile
// floats) should stay within a few MB so it is still in cache when the GEMM packs it.
constexpr int64_t kTargetTile = 512;
constexpr int64_t kMaxTileBytes = 2 << 20;
// Below this many columns Eigen's GEMM kernel (48 x 4 register blocks on AVX-512) runs short
// panels; a plane this small is better left to the multi-threaded GEMM.
constexpr int64_t kMinTile = 64;

TilePlan plan_tiles(int64_t patch_size, int64_t plane, int64_t units, int threads) {
  TilePlan p;
  const int64_t by_bytes = kMaxTileBytes / (patch_size * static_cast<int64_t>(sizeof(float)));
  const int64_t target = std::max<int64_t>(kMinTile, std::min(kTargetTile, by_bytes));
  p.tiles = (plane + target - 1) / target;
  // With few tasks, make their number a multiple of the thread count so no thread idles at the end.
  if (units * p.tiles < 4 * threads) {
    while ((units * p.tiles) % threads != 0) ++p.tiles;
  }
  p.tile = (plane + p.tiles - 1) / p.tiles;
  if (p.tile < plane) p.tile = (p.tile + 15) / 16 * 16;  // whole AVX-512 vectors per row
  p.tiles = (plane + p.tile - 1) / p.tile;
  p.use = threads == 1 || (units * p.tiles >= threads && (p.tile >= kMinTile || p.tiles == 1));
  return p;
}

// Sets rows [0, m) of the row-major block (ld = ldc, width n) to bias[row].
void fill_bias(const float* bias, int64_t m, int64_t n, float* c, int64_t ldc) {
  for (int64_t r = 0; r < m; ++r) std::fill(c + r * ldc, c + r * ldc + n, bias[r]);
}

}  // namespace

void sgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
           int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (transpose_a) {
    if (transpose_b) {
      sgemm_typed<true, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    } else {
      sgemm_typed<true, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
  } else if (transpose_b) {
    sgemm_typed<false, true>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  } else {
    sgemm_typed<false, false>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

bool Conv2dGeometry::is_pointwise() const {
  return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_top == 0 && pad_left == 0 &&
         out_h == in_h && out_w == in_w;
}

void im2col(const Conv2dGeometry& g, const float* image, int64_t pixel_begin, int64_t pixel_end, float* columns) {
  im2col_rows(g, image, pixel_begin, pixel_end, 0, g.patch_size(), columns);
}

void conv2d_gemm(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias,
                 float* output) {
  const int64_t M = g.out_channels_per_group(), K = g.patch_size(), P = g.out_plane();
  const int64_t in_group = g.in_channels_per_group() * g.in_plane();  // input floats per group
  if (K == 0) {  // no input channels: the output is the bias alone
    for (int64_t image = 0; image < g.batch; ++image)
      for (int64_t c = 0; c < g.out_channels; ++c)
        std::fill(output + (image * g.out_channels + c) * P, output + (image * g.out_channels + c + 1) * P,
                  bias ? bias[c] : 0.0f);
    return;
  }
  const bool pointwise = g.is_pointwise();
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const TilePlan plan = plan_tiles(K, P, g.batch * g.groups, threads);
  const int64_t tile = plan.tile, tiles_per_plane = plan.tiles;
  const int64_t tasks = g.batch * g.groups * tiles_per_plane;

  // One GEMM per (image, group, pixel tile), each on one thread with its own im2col block, when
  // the tiles keep every thread busy; otherwise (7x7 planes of late layers) see below.
  if (plan.use) {
#pragma omp parallel if (threads > 1)
    {
      std::unique_ptr<Buffer> workspace;
      if (!pointwise) workspace = std::make_unique<Buffer>(static_cast<std::size_t>(K * tile) * sizeof(float));
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < tasks; ++t) {
        const int64_t image = t / (g.groups * tiles_per_plane);
        const int64_t group = (t / tiles_per_plane) % g.groups;
        const int64_t p0 = (t % tiles_per_plane) * tile, p1 = std::min(P, p0 + tile);
        const float* src = input + (image * g.groups + group) * in_group;
        float* dst = output + (image * g.out_channels + group * M) * P + p0;
        const float* b;
        int64_t ldb;
        if (pointwise) {
          b = src + p0;
          ldb = P;
        } else {
          auto* columns = static_cast<float*>(workspace->data());
          im2col(g, src, p0, p1, columns);
          b = columns;
          ldb = p1 - p0;
        }
        if (bias) fill_bias(bias + group * M, M, p1 - p0, dst, P);
        sgemm(false, false, M, p1 - p0, K, 1.0f, weights + group * M * K, K, b, ldb, bias ? 1.0f : 0.0f, dst, P);
      }
    }
    return;
  }

  // Few, small planes (7x7 or 14x14 outputs of the last stages): per image and group, the
  // threads first build the im2col matrix together, then each multiplies its own block of output
  // channels by it. Independent blocks, unlike Eigen's parallel GEMM whose threads wait on each
  // other's packing, keep a thread that the OS delays from stalling the others.
  std::unique_ptr<Buffer> workspace;
  if (!pointwise) workspace = std::make_unique<Buffer>(static_cast<std::size_t>(K * P) * sizeof(float));
  auto* columns = workspace ? static_cast<float*>(workspace->data()) : nullptr;
  // Rows per block: an even split, rounded to Eigen's 48-row register block on AVX-512.
  const int64_t rows_per_block = std::max<int64_t>(48, ((M + threads - 1) / threads + 47) / 48 * 48);
  const int64_t row_blocks = (M + rows_per_block - 1) / rows_per_block;
  const int64_t patch_chunk = (K + threads - 1) / threads;
  for (int64_t image = 0; image < g.batch; ++image) {
    for (int64_t group = 0; group < g.groups; ++group) {
      const float* src = input + (image * g.groups + group) * in_group;
      float* dst = output + (image * g.out_channels + group * M) * P;
      const float* b = pointwise ? src : columns;
#pragma omp parallel num_threads(threads)
      {
        if (!pointwise) {
#pragma omp for schedule(static)
          for (int64_t r0 = 0; r0 < K; r0 += patch_chunk)
            im2col_rows(g, src, 0, P, r0, std::min(K, r0 + patch_chunk), columns + r0 * P);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t blk = 0; blk < row_blocks; ++blk) {
          const int64_t m0 = blk * rows_per_block, m = std::min(M, m0 + rows_per_block) - m0;
          if (bias) fill_bias(bias + group * M + m0, m, P, dst + m0 * P, P);
          sgemm(false, false, m, P, K, 1.0f, weights + (group * M + m0) * K, K, b, P, bias ? 1.0f : 0.0f,
                dst + m0 * P, P);
        }
      }
    }
  }
}

// Outputs per register block of the depthwise kernel: four AVX-512 vectors of accumulators.
constexpr int64_t kDepthwiseBlock = 64;

void conv2d_depthwise(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias,
                      float* output) {
  // Each plane is computed on the phase planes of its zero-padded input (PhasePlanes in
  // kernels/ops/window.h): every tap is one long contiguous multiply-add over out_h*wq elements,
  // whatever the width, stride, dilation or padding, and the wq - out_w extra columns per row are
  // computed and dropped.
  const int64_t multiplier = g.out_channels / g.groups;
  const int64_t taps = g.kernel_h * g.kernel_w;
  // Outputs are accumulated kDepthwiseBlock at a time in registers across all taps (one store
  // per output instead of one per tap). The last block's extra elements and a dropped column's
  // taps read up to wq + kDepthwiseBlock elements past a phase plane.
  const PhasePlanes layout = phase_planes(g, 1, kDepthwiseBlock);
  const int64_t wq = layout.wq;
  const int64_t acc_size = (g.out_h * wq + kDepthwiseBlock - 1) / kDepthwiseBlock * kDepthwiseBlock;
  const std::vector<int64_t>& tap_offset = layout.tap_offset;
  const int64_t planes = g.batch * g.out_channels;
#pragma omp parallel if (planes > 1 && !omp_in_parallel())
  {
    Buffer phase_buffer(static_cast<std::size_t>(layout.size()) * sizeof(float));
    Buffer acc_buffer(static_cast<std::size_t>(acc_size) * sizeof(float));
    auto* phases = static_cast<float*>(phase_buffer.data());
    auto* acc = static_cast<float*>(acc_buffer.data());
    // Every plane writes the same positions, so the padding stays zero from this one fill.
    std::fill(phases, phases + layout.size(), 0.0f);
    const float* staged = nullptr;  // input plane currently in the phase planes
#pragma omp for schedule(static)
    for (int64_t q = 0; q < planes; ++q) {
      const int64_t image = q / g.out_channels, oc = q % g.out_channels;
      const float* in = input + (image * g.in_channels + oc / multiplier) * g.in_plane();
      // With a channel multiplier, consecutive output channels read the same input plane.
      if (in != staged) layout.stage(in, phases);
      staged = in;
      const float* w = weights + oc * taps;
      const float b = bias ? bias[oc] : 0.0f;
      // Fixed-size Eigen arrays compile to whole-vector loads and multiply-adds with the
      // accumulators held in registers (GCC would otherwise vectorise across the taps).
      using Block = Eigen::Array<float, kDepthwiseBlock, 1>;
      for (int64_t t0 = 0; t0 < acc_size; t0 += kDepthwiseBlock) {
        Block a = Block::Constant(b);
        for (int64_t k = 0; k < taps; ++k)
          a += w[k] * Eigen::Map<const Block>(phases + tap_offset[static_cast<std::size_t>(k)] + t0);
        Eigen::Map<Block>(acc + t0) = a;
      }
      float* out = output + q * g.out_plane();
      // Plain loops: rows of 7 or 14 floats are too short for a memcpy call to pay off.
      for (int64_t oh = 0; oh < g.out_h; ++oh)
        for (int64_t ow = 0; ow < g.out_w; ++ow) out[oh * g.out_w + ow] = acc[oh * wq + ow];
    }
  }
}

void conv2d(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias, float* output) {
  if (g.is_depthwise()) {
    conv2d_depthwise(g, input, weights, bias, output);
  } else {
    conv2d_gemm(g, input, weights, bias, output);
  }
}

// ---------------------------------------------------------------------------------------------
// Backward passes

namespace {

// col2im restricted to patch rows [row_begin, row_end), reading row r at its index relative to
// row_begin. Rows of one input channel scatter into that channel only, so callers may split the
// rows between threads at channel boundaries.
void col2im_rows(const Conv2dGeometry& g, const float* columns, int64_t pixel_begin, int64_t pixel_end,
                 int64_t row_begin, int64_t row_end, float* image) {
  const int64_t width = pixel_end - pixel_begin;
  const int64_t taps = g.kernel_h * g.kernel_w;
  for (int64_t r = row_begin; r < row_end; ++r) {
    const int64_t c = r / taps, i = (r % taps) / g.kernel_w, j = r % g.kernel_w;
    float* plane = image + c * g.in_plane();
    const float* src_row = columns + (r - row_begin) * width;
    int64_t lo, hi;
    valid_outputs(g.in_w, g.out_w, g.stride_w, j * g.dilation_w - g.pad_left, lo, hi);
    const int64_t col_offset = j * g.dilation_w - g.pad_left;
    int64_t p = pixel_begin;
    while (p < pixel_end) {
      const int64_t oh = p / g.out_w, ow0 = p % g.out_w;
      const int64_t ow1 = std::min(g.out_w, ow0 + (pixel_end - p));
      const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
      if (ih >= 0 && ih < g.in_h) {
        const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
        if (b > a) {
          float* __restrict d = plane + ih * g.in_w + a * g.stride_w + col_offset;
          const float* __restrict s = src_row + (p - pixel_begin) + (a - ow0);
          const int64_t n = b - a;
          if (g.stride_w == 1) {
            for (int64_t x = 0; x < n; ++x) d[x] += s[x];
          } else if (g.stride_w == 2) {
            for (int64_t x = 0; x < n; ++x) d[2 * x] += s[x];
          } else {
            for (int64_t x = 0; x < n; ++x) d[x * g.stride_w] += s[x];
          }
        }
      }
      p += ow1 - ow0;
    }
  }
}

// Columns per GEMM of the backward passes: about kTargetTile, fewer when a block of `rows` rows
// would outgrow kMaxTileBytes.
int64_t backward_columns(int64_t rows) {
  const int64_t by_bytes = kMaxTileBytes / (std::max<int64_t>(rows, 1) * static_cast<int64_t>(sizeof(float)));
  return std::max<int64_t>(kMinTile, std::min(kTargetTile, by_bytes));
}

// Pixel tiles of a plane for column blocks of `rows` rows: the whole plane when it is small,
// else near-equal tiles of whole AVX-512 vectors.
int64_t backward_tile(int64_t rows, int64_t plane) {
  const int64_t target = backward_columns(rows);
  if (plane <= target) return plane;
  const int64_t tiles = (plane + target - 1) / target;
  return ((plane + tiles - 1) / tiles + 15) / 16 * 16;
}

// Depthwise input gradient by direct loops, one (image, input channel) plane per task: every
// output channel of the group scatters its taps into the plane.
void depthwise_backward_input(const Conv2dGeometry& g, const float* grad_output, const float* weights,
                              float* grad_input) {
  const int64_t multiplier = g.out_channels / g.groups;
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t planes = g.batch * g.in_channels;
  const int64_t sw = g.stride_w;
  std::vector<int64_t> lo(static_cast<std::size_t>(g.kernel_w)), hi(static_cast<std::size_t>(g.kernel_w));
  for (int64_t j = 0; j < g.kernel_w; ++j)
    valid_outputs(g.in_w, g.out_w, sw, j * g.dilation_w - g.pad_left, lo[static_cast<std::size_t>(j)],
                  hi[static_cast<std::size_t>(j)]);
#pragma omp parallel for schedule(static) if (planes > 1 && !omp_in_parallel())
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t image = q / g.in_channels, c = q % g.in_channels;
    float* dx = grad_input + q * g.in_plane();
    std::fill(dx, dx + g.in_plane(), 0.0f);
    for (int64_t o = c * multiplier; o < (c + 1) * multiplier; ++o) {
      const float* dy = grad_output + (image * g.out_channels + o) * g.out_plane();
      for (int64_t i = 0; i < g.kernel_h; ++i)
        for (int64_t j = 0; j < g.kernel_w; ++j) {
          const float w = weights[o * taps + i * g.kernel_w + j];
          const int64_t a = lo[static_cast<std::size_t>(j)], b = hi[static_cast<std::size_t>(j)];
          const int64_t col_offset = j * g.dilation_w - g.pad_left;
          for (int64_t oh = 0; oh < g.out_h; ++oh) {
            const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
            if (ih < 0 || ih >= g.in_h) continue;
            float* __restrict d = dx + ih * g.in_w + col_offset;
            const float* __restrict s = dy + oh * g.out_w;
            if (sw == 1) {
              for (int64_t x = a; x < b; ++x) d[x] += w * s[x];
            } else {
              for (int64_t x = a; x < b; ++x) d[x * sw] += w * s[x];
            }
          }
        }
    }
  }
}

// Depthwise weight gradient, one output channel per task. As in conv2d_depthwise, the padded
// input plane is split into stride_h x stride_w phase planes wq wide, where output (oh, ow) of
// tap (i, j) reads one flat offset per tap from oh*wq + ow; the output gradient is laid out on
// the same wq-wide rows with zeros in the extra columns. Each tap's gradient for one image is
// then a single long dot product (Eigen's, vectorised, in a fixed order), summed over images in
// double.
void depthwise_backward_weights(const Conv2dGeometry& g, const float* input, const float* grad_output,
                                float* grad_weights) {
  const int64_t multiplier = g.out_channels / g.groups;
  const int64_t taps = g.kernel_h * g.kernel_w;
  // A tap's sweep ends at most wq - 1 + (kernel_w - 1) * dilation_w / stride_w <= 2 wq elements
  // past the last full row of its phase plane.
  const PhasePlanes layout = phase_planes(g, 2, 0);
  const int64_t wq = layout.wq;
  const int64_t length = g.out_h * wq;
  const std::vector<int64_t>& tap_offset = layout.tap_offset;
  using Vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;
#pragma omp parallel if (g.out_channels > 1 && !omp_in_parallel())
  {
    Buffer phase_buffer(static_cast<std::size_t>(layout.size()) * sizeof(float));
    Buffer dy_buffer(static_cast<std::size_t>(length) * sizeof(float));
    auto* phases = static_cast<float*>(phase_buffer.data());
    auto* dy_rows = static_cast<float*>(dy_buffer.data());
    // Every plane writes the same positions, so padding and extra columns stay zero.
    std::fill(phases, phases + layout.size(), 0.0f);
    std::fill(dy_rows, dy_rows + length, 0.0f);
    std::vector<double> sums(static_cast<std::size_t>(taps));
#pragma omp for schedule(static)
    for (int64_t o = 0; o < g.out_channels; ++o) {
      std::fill(sums.begin(), sums.end(), 0.0);
      for (int64_t image = 0; image < g.batch; ++image) {
        layout.stage(input + (image * g.in_channels + o / multiplier) * g.in_plane(), phases);
        const float* dy = grad_output + (image * g.out_channels + o) * g.out_plane();
        for (int64_t oh = 0; oh < g.out_h; ++oh)
          std::copy(dy + oh * g.out_w, dy + (oh + 1) * g.out_w, dy_rows + oh * wq);
        const Eigen::Map<const Vector> d(dy_rows, length);
        for (int64_t k = 0; k < taps; ++k)
          sums[static_cast<std::size_t>(k)] +=
              d.dot(Eigen::Map<const Vector>(phases + tap_offset[static_cast<std::size_t>(k)], length));
      }
      for (int64_t k = 0; k < taps; ++k) grad_weights[o * taps + k] = static_cast<float>(sums[static_cast<std::size_t>(k)]);
    }
  }
}

}  // namespace

void col2im(const Conv2dGeometry& g, const float* columns, int64_t pixel_begin, int64_t pixel_end, float* image) {
  col2im_rows(g, columns, pixel_begin, pixel_end, 0, g.patch_size(), image);
}

void conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output, const float* weights,
                           float* grad_input) {
  const int64_t M = g.out_channels_per_group(), K = g.patch_size(), P = g.out_plane();
  const int64_t in_size = g.batch * g.in_channels * g.in_plane();
  if (K == 0 || M == 0 || P == 0) {
    std::fill(grad_input, grad_input + in_size, 0.0f);
    return;
  }
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t cg = g.in_channels_per_group();
  const int64_t multiplier = g.out_channels / g.groups;
  // Transposed convolution as a plain one: input row ih gathers output rows
  // oh = ih + pad' - i'*dilation with i' = kernel - 1 - i and pad' = (kernel - 1)*dilation - pad,
  // valid while pad' >= 0 (bottom and right padding then follow from the extents). Its GEMMs
  // have one row per input channel of a group, so with fewer than 16 (an RGB first layer) the
  // col2im path below is faster (measured: 3x for 3 channels, 1.2x for 8); a depthwise layer
  // with a channel multiplier would become a grouped GEMM of single rows and uses direct loops.
  const bool as_convolution = g.stride_h == 1 && g.stride_w == 1 &&
                              g.pad_top <= (g.kernel_h - 1) * g.dilation_h &&
                              g.pad_left <= (g.kernel_w - 1) * g.dilation_w &&
                              (g.is_depthwise() ? multiplier == 1 : cg >= 16);
  if (as_convolution) {
    Conv2dGeometry t = g;
    t.in_channels = g.out_channels;
    t.in_h = g.out_h;
    t.in_w = g.out_w;
    t.out_channels = g.in_channels;
    t.out_h = g.in_h;
    t.out_w = g.in_w;
    t.pad_top = (g.kernel_h - 1) * g.dilation_h - g.pad_top;
    t.pad_left = (g.kernel_w - 1) * g.dilation_w - g.pad_left;
    // Transposed weights (in_channels, out_channels/groups, kh, kw), each kernel rotated 180 degrees.
    Buffer flipped_buffer(static_cast<std::size_t>(g.in_channels * M * taps) * sizeof(float));
    auto* flipped = static_cast<float*>(flipped_buffer.data());
    for (int64_t group = 0; group < g.groups; ++group)
      for (int64_t o = 0; o < M; ++o)
        for (int64_t c = 0; c < cg; ++c) {
          const float* src = weights + ((group * M + o) * cg + c) * taps;
          float* dst = flipped + ((group * cg + c) * M + o) * taps;
          for (int64_t k = 0; k < taps; ++k) dst[taps - 1 - k] = src[k];
        }
    conv2d(t, grad_output, flipped, nullptr, grad_input);
    return;
  }
  if (g.is_depthwise()) {
    depthwise_backward_input(g, grad_output, weights, grad_input);
    return;
  }

  // Strided: per image and group, columns = W_g^T x dY (K x tile), scattered back by col2im.
  const int64_t in_group = cg * g.in_plane();
  const int64_t units = g.batch * g.groups;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (units >= threads) {
    const int64_t tile = backward_tile(K, P);
#pragma omp parallel if (threads > 1)
    {
      Buffer workspace(static_cast<std::size_t>(K * tile) * sizeof(float));
      auto* columns = static_cast<float*>(workspace.data());
#pragma omp for schedule(dynamic, 1)
      for (int64_t u = 0; u < units; ++u) {
        const int64_t image = u / g.groups, group = u % g.groups;
        float* dx = grad_input + (image * g.groups + group) * in_group;
        std::fill(dx, dx + in_group, 0.0f);
        const float* dy = grad_output + (image * g.out_channels + group * M) * P;
        for (int64_t p0 = 0; p0 < P; p0 += tile) {
          const int64_t p1 = std::min(P, p0 + tile);
          sgemm(true, false, K, p1 - p0, M, 1.0f, weights + group * M * K, K, dy + p0, P, 0.0f, columns, p1 - p0);
          col2im(g, columns, p0, p1, dx);
        }
      }
    }
    return;
  }
  // Fewer images x groups than threads: Eigen's multi-threaded GEMM for the columns of the
  // whole plane, then the threads scatter disjoint channels.
  Buffer workspace(static_cast<std::size_t>(K * P) * sizeof(float));
  auto* columns = static_cast<float*>(workspace.data());
  for (int64_t u = 0; u < units; ++u) {
    const int64_t image = u / g.groups, group = u % g.groups;
    float* dx = grad_input + (image * g.groups + group) * in_group;
    std::fill(dx, dx + in_group, 0.0f);
    sgemm(true, false, K, P, M, 1.0f, weights + group * M * K, K,
          grad_output + (image * g.out_channels + group * M) * P, P, 0.0f, columns, P);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t c = 0; c < cg; ++c)
      col2im_rows(g, columns + c * taps * P, 0, P, c * taps, (c + 1) * taps, dx);
  }
}

void conv2d_backward_weights(const Conv2dGeometry& g, const float* input, const float* grad_output,
                             float* grad_weights, float* grad_bias) {
  const int64_t M = g.out_channels_per_group(), K = g.patch_size(), P = g.out_plane();
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (grad_bias) {
    // Per output channel, a float sum per plane (vectorised) and a double sum over images.
    using Vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;
#pragma omp parallel for schedule(static) if (threads > 1 && g.out_channels > 1)
    for (int64_t o = 0; o < g.out_channels; ++o) {
      double sum = 0.0;
      for (int64_t image = 0; image < g.batch; ++image)
        sum += Eigen::Map<const Vector>(grad_output + (image * g.out_channels + o) * P, P).sum();
      grad_bias[o] = static_cast<float>(sum);
    }
  }
  if (!grad_weights || K == 0 || M == 0) return;
  if (g.is_depthwise()) {
    depthwise_backward_weights(g, input, grad_output, grad_weights);
    return;
  }
  const int64_t in_group = g.in_channels_per_group() * g.in_plane();
  // Tasks: (group, slice of patch rows); each sums its M x slice block of dW over every image in
  // order, so no two threads ever add into the same element. Slices keep at least 8 rows.
  const int64_t slices = std::max<int64_t>(
      1, std::min<int64_t>((threads + g.groups - 1) / g.groups, K / 8));
  const int64_t slice_rows = (K + slices - 1) / slices;
  const int64_t tasks = g.groups * slices;
  // Columns per GEMM: tiles of a large plane, or several whole small planes side by side (their
  // output gradients packed into one M x width block), so each GEMM has a long inner dimension.
  const int64_t tile = backward_tile(slice_rows, P);
  const int64_t images_per_chunk =
      tile < P ? 1 : std::clamp<int64_t>(backward_columns(slice_rows) / P, 1, std::max<int64_t>(g.batch, 1));
  const int64_t width = tile < P ? tile : images_per_chunk * P;
  const bool pack = images_per_chunk > 1;
  // Few output channels make a short, inefficient GEMM panel (Eigen's register block is 48 rows
  // on AVX-512); then the transposed product col x dY^T (slice x M) is accumulated instead and
  // transposed once at the end.
  const bool transposed = M < 48;
#pragma omp parallel if (threads > 1 && tasks > 1)
  {
    Buffer column_buffer(static_cast<std::size_t>(slice_rows * width) * sizeof(float));
    Buffer packed_buffer(pack ? static_cast<std::size_t>(M * width) * sizeof(float) : 1);
    Buffer transposed_buffer(transposed ? static_cast<std::size_t>(slice_rows * M) * sizeof(float) : 1);
    auto* columns = static_cast<float*>(column_buffer.data());
    auto* packed = static_cast<float*>(packed_buffer.data());
    auto* acc = static_cast<float*>(transposed_buffer.data());
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t group = t / slices;
      const int64_t k0 = (t % slices) * slice_rows, k1 = std::min(K, k0 + slice_rows);
      if (k0 >= k1) continue;
      float* dw = grad_weights + group * M * K + k0;
      if (transposed) {
        std::fill(acc, acc + (k1 - k0) * M, 0.0f);
      } else {
        for (int64_t m = 0; m < M; ++m) std::fill(dw + m * K, dw + m * K + (k1 - k0), 0.0f);
      }
      for (int64_t image = 0; image < g.batch; image += images_per_chunk) {
        const int64_t images = std::min(images_per_chunk, g.batch - image);
        for (int64_t p0 = 0; p0 < P; p0 += width) {
          const int64_t p1 = pack ? P : std::min(P, p0 + width);
          const int64_t cols = pack ? images * P : p1 - p0;
          const float* dy;
          int64_t ldy;
          if (pack) {
            for (int64_t m = 0; m < M; ++m)
              for (int64_t k = 0; k < images; ++k)
                std::memcpy(packed + m * cols + k * P,
                            grad_output + ((image + k) * g.out_channels + group * M + m) * P,
                            static_cast<std::size_t>(P) * sizeof(float));
            for (int64_t k = 0; k < images; ++k)
              im2col_rows(g, input + ((image + k) * g.groups + group) * in_group, 0, P, k0, k1, columns + k * P,
                          cols);
            dy = packed;
            ldy = cols;
          } else {
            im2col_rows(g, input + (image * g.groups + group) * in_group, p0, p1, k0, k1, columns);
            dy = grad_output + (image * g.out_channels + group * M) * P + p0;
            ldy = P;
          }
          if (transposed) {
            sgemm(false, true, k1 - k0, M, cols, 1.0f, columns, cols, dy, ldy, 1.0f, acc, M);
          } else {
            sgemm(false, true, M, k1 - k0, cols, 1.0f, dy, ldy, columns, cols, 1.0f, dw, K);
          }
        }
      }
      if (transposed)
        for (int64_t m = 0; m < M; ++m)
          for (int64_t k = 0; k < k1 - k0; ++k) dw[m * K + k] = acc[k * M + m];
    }
  }
}

}  // namespace coda
