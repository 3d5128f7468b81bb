#include "kernels/conv_kernels.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

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
  auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  auto floor_div = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  lo = std::clamp<int64_t>(ceil_div(-offset, stride), 0, out);
  hi = std::clamp<int64_t>(floor_div(extent - 1 - offset, stride) + 1, lo, out);
}

// im2col restricted to patch rows [row_begin, row_end); rows are written at their own index
// relative to row_begin.
void im2col_rows(const Conv2dGeometry& g, const float* image, int64_t pixel_begin, int64_t pixel_end,
                 int64_t row_begin, int64_t row_end, float* columns) {
  const int64_t width = pixel_end - pixel_begin;
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
          const float* src = plane + ih * g.in_w + a * g.stride_w + col_offset;
          float* d = dst + (a - ow0);
          if (g.stride_w == 1) {
            std::memcpy(d, src, static_cast<std::size_t>(b - a) * sizeof(float));
          } else {
            for (int64_t x = 0; x < b - a; ++x) d[x] = src[x * g.stride_w];
          }
        }
        std::fill(dst + (b - ow0), dst + (ow1 - ow0), 0.0f);
      }
      dst += ow1 - ow0;
      p += ow1 - ow0;
    }
  }
}

// Pixels per im2col tile: the tile (patch_size x pixels floats) should stay in a core's L2 while
// the GEMM streams it, next to Eigen's packed copy of it.
constexpr int64_t kTileBytes = 192 * 1024;
constexpr int64_t kMinTilePixels = 64;

int64_t tile_pixels(int64_t patch_size, int64_t plane) {
  int64_t t = kTileBytes / (patch_size * static_cast<int64_t>(sizeof(float)));
  t = std::max(kMinTilePixels, t / 16 * 16);
  return std::min(t, plane);
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
  const bool pointwise = g.is_pointwise();
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t tile = tile_pixels(K, P);
  const int64_t tiles_per_plane = (P + tile - 1) / tile;
  const int64_t tasks = g.batch * g.groups * tiles_per_plane;

  // One GEMM per (image, group, pixel tile), each on one thread with its im2col tile hot in L2,
  // when there are enough tiles to keep every thread busy. Otherwise (small late layers: 7x7
  // outputs, few tiles) one im2col per image and group feeds Eigen's multi-threaded GEMM.
  if (tasks >= 2 * threads || threads == 1) {
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

  std::unique_ptr<Buffer> workspace;
  if (!pointwise) workspace = std::make_unique<Buffer>(static_cast<std::size_t>(K * P) * sizeof(float));
  auto* columns = workspace ? static_cast<float*>(workspace->data()) : nullptr;
  for (int64_t image = 0; image < g.batch; ++image) {
    for (int64_t group = 0; group < g.groups; ++group) {
      const float* src = input + (image * g.groups + group) * in_group;
      float* dst = output + (image * g.out_channels + group * M) * P;
      const float* b = src;
      if (!pointwise) {
        // Split the patch rows across threads; each row is an independent strided copy.
        const int64_t chunk = (K + threads - 1) / threads;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t r0 = 0; r0 < K; r0 += chunk)
          im2col_rows(g, src, 0, P, r0, std::min(K, r0 + chunk), columns + r0 * P);
        b = columns;
      }
      if (bias) fill_bias(bias + group * M, M, P, dst, P);
      sgemm(false, false, M, P, K, 1.0f, weights + group * M * K, K, b, P, bias ? 1.0f : 0.0f, dst, P);
    }
  }
}

void conv2d_depthwise(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias,
                      float* output) {
  const int64_t multiplier = g.out_channels / g.groups;
  const int64_t taps = g.kernel_h * g.kernel_w;
  // Per kernel column, the output columns that read real input: the inner loop then runs
  // branch-free over a contiguous (unit stride) or strided input row.
  std::vector<int64_t> lo(static_cast<std::size_t>(g.kernel_w)), hi(static_cast<std::size_t>(g.kernel_w));
  for (int64_t j = 0; j < g.kernel_w; ++j)
    valid_outputs(g.in_w, g.out_w, g.stride_w, j * g.dilation_w - g.pad_left, lo[static_cast<std::size_t>(j)],
                  hi[static_cast<std::size_t>(j)]);
  const int64_t planes = g.batch * g.out_channels;
#pragma omp parallel for schedule(static) if (planes > 1 && !omp_in_parallel())
  for (int64_t q = 0; q < planes; ++q) {
    const int64_t image = q / g.out_channels, oc = q % g.out_channels;
    const float* in = input + (image * g.in_channels + oc / multiplier) * g.in_plane();
    const float* w = weights + oc * taps;
    float* out = output + q * g.out_plane();
    const float b = bias ? bias[oc] : 0.0f;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      float* orow = out + oh * g.out_w;
      std::fill(orow, orow + g.out_w, b);
      for (int64_t i = 0; i < g.kernel_h; ++i) {
        const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
        if (ih < 0 || ih >= g.in_h) continue;
        for (int64_t j = 0; j < g.kernel_w; ++j) {
          const float wv = w[i * g.kernel_w + j];
          const int64_t a = lo[static_cast<std::size_t>(j)], n = hi[static_cast<std::size_t>(j)] - a;
          if (n <= 0) continue;
          const float* __restrict src = in + ih * g.in_w + a * g.stride_w + j * g.dilation_w - g.pad_left;
          float* __restrict dst = orow + a;
          if (g.stride_w == 1) {
            for (int64_t x = 0; x < n; ++x) dst[x] += wv * src[x];
          } else {
            const int64_t s = g.stride_w;
            for (int64_t x = 0; x < n; ++x) dst[x] += wv * src[x * s];
          }
        }
      }
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

}  // namespace coda
