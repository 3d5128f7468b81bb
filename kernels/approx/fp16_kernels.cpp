#include "kernels/approx/fp16_kernels.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/approx/approx_kernel.h"
#include "kernels/approx/half_math.h"
#include "kernels/ops/matrix_shapes.h"
#include "kernels/ops/window.h"
#include "kernels/tensor.h"

namespace coda {

namespace {

// ---------------------------------------------------------------------------------------------
// hgemm: an 8 x 32 register block of C per micro-kernel call, op(B) packed into 32-column panels
// (k x 32, contiguous), op(A) read in place (eight rows, or eight columns of A^T, by broadcast).
// Every C element runs its whole sum over p = 0..k-1 inside one call, so the fixed order costs no
// reduction across blocks.
constexpr int64_t kRows = 8;
constexpr int64_t kCols = 32;

#if defined(__AVX512F__)

// Half rounding by the F16C conversions (round to nearest even, subnormals and overflow to
// infinity as IEEE 754 prescribes): two instructions instead of round_to_half's dozen. The tests
// check both against each other bit for bit; only NaN payloads may differ.
inline __m512 round_half(__m512 x) {
  return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

template <bool HalfAccumulate>
void micro_kernel(int64_t k, const float* const* a, int64_t a_step, const float* panel, float* c, int64_t ldc,
                  int64_t rows, int64_t cols) {
  __m512 acc[kRows][2];
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const float* a0 = a[0];
  const float* a1 = a[1];
  const float* a2 = a[2];
  const float* a3 = a[3];
  const float* a4 = a[4];
  const float* a5 = a[5];
  const float* a6 = a[6];
  const float* a7 = a[7];
  for (int64_t p = 0; p < k; ++p) {
    const __m512 b0 = _mm512_load_ps(panel + p * kCols);
    const __m512 b1 = _mm512_load_ps(panel + p * kCols + 16);
    const int64_t o = p * a_step;
    const float av[kRows] = {a0[o], a1[o], a2[o], a3[o], a4[o], a5[o], a6[o], a7[o]};
#pragma GCC unroll 8
    for (int r = 0; r < kRows; ++r) {
      const __m512 x = _mm512_set1_ps(av[r]);
      if constexpr (HalfAccumulate) {
        acc[r][0] = round_half(_mm512_add_ps(acc[r][0], round_half(_mm512_mul_ps(x, b0))));
        acc[r][1] = round_half(_mm512_add_ps(acc[r][1], round_half(_mm512_mul_ps(x, b1))));
      } else {
        // The product of two halves is exact in float, so the fused multiply-add rounds once,
        // exactly like the separate multiply and add of the definition.
        acc[r][0] = _mm512_fmadd_ps(x, b0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(x, b1, acc[r][1]);
      }
    }
  }
  const __mmask16 m0 = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1u);
  const __mmask16 m1 = cols >= 32 ? __mmask16(0xFFFF) : cols > 16 ? __mmask16((1u << (cols - 16)) - 1u) : __mmask16(0);
#pragma GCC unroll 8
  for (int r = 0; r < kRows; ++r) {
    if (r < rows) {
      const __m512 v0 = HalfAccumulate ? acc[r][0] : round_half(acc[r][0]);
      const __m512 v1 = HalfAccumulate ? acc[r][1] : round_half(acc[r][1]);
      _mm512_mask_storeu_ps(c + r * ldc, m0, v0);
      _mm512_mask_storeu_ps(c + r * ldc + 16, m1, v1);
    }
  }
}

#else

// Portable form: GCC vectorises the 32-wide loops over the block's columns.
template <bool HalfAccumulate>
void micro_kernel(int64_t k, const float* const* a, int64_t a_step, const float* panel, float* c, int64_t ldc,
                  int64_t rows, int64_t cols) {
  alignas(64) float acc[kRows][kCols] = {};
  for (int64_t p = 0; p < k; ++p) {
    const float* b = panel + p * kCols;
    for (int64_t r = 0; r < kRows; ++r) {
      const float x = a[r][p * a_step];
      float* s = acc[r];
      if constexpr (HalfAccumulate) {
        for (int64_t j = 0; j < kCols; ++j) s[j] = round_to_half(s[j] + round_to_half(x * b[j]));
      } else {
        for (int64_t j = 0; j < kCols; ++j) s[j] += x * b[j];
      }
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) c[r * ldc + j] = HalfAccumulate ? acc[r][j] : round_to_half(acc[r][j]);
}

#endif

// Panel of op(B) columns [j0, j0 + cols), k x kCols, zero beyond `cols`.
void pack_panel(bool transpose_b, int64_t k, int64_t j0, int64_t cols, const float* b, int64_t ldb, float* panel) {
  if (!transpose_b) {
    for (int64_t p = 0; p < k; ++p) {
      float* dst = panel + p * kCols;
      std::memcpy(dst, b + p * ldb + j0, static_cast<std::size_t>(cols) * sizeof(float));
      std::fill(dst + cols, dst + kCols, 0.0f);
    }
    return;
  }
  if (cols < kCols)
    for (int64_t p = 0; p < k; ++p) std::fill(panel + p * kCols + cols, panel + (p + 1) * kCols, 0.0f);
  // op(B)[p][j] = b[j][p]: rows of b become columns of the panel.
  for (int64_t j = 0; j < cols; ++j) {
    const float* src = b + (j0 + j) * ldb;
    for (int64_t p = 0; p < k; ++p) panel[p * kCols + j] = src[p];
  }
}

int worker_count() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

}  // namespace

void hgemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc, Arithmetic accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  const int64_t row_blocks = (m + kRows - 1) / kRows;
  const int64_t panels = (n + kCols - 1) / kCols;
  // Below ~64K multiply-adds a fork/join costs more than it saves.
  const int threads = m * n * k < (int64_t{1} << 16) ? 1 : worker_count();
  // Tasks own whole panels (each packs its panel once); with fewer panels than threads the
  // row blocks are split too, each part packing its own copy.
  const int64_t row_chunks = std::clamp<int64_t>((2 * threads + panels - 1) / panels, 1, row_blocks);
  const int64_t blocks_per_chunk = (row_blocks + row_chunks - 1) / row_chunks;
  const int64_t tasks = panels * row_chunks;
  const bool half_accumulate = accumulate == Arithmetic::Fp16;
#pragma omp parallel num_threads(threads) if (threads > 1 && tasks > 1)
  {
    Buffer panel_buffer(static_cast<std::size_t>(k * kCols) * sizeof(float));
    auto* panel = static_cast<float*>(panel_buffer.data());
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t j0 = (t / row_chunks) * kCols, cols = std::min(kCols, n - j0);
      const int64_t chunk = t % row_chunks;
      const int64_t block_end = std::min(row_blocks, (chunk + 1) * blocks_per_chunk);
      pack_panel(transpose_b, k, j0, cols, b, ldb, panel);
      for (int64_t blk = chunk * blocks_per_chunk; blk < block_end; ++blk) {
        const int64_t i0 = blk * kRows, rows = std::min(kRows, m - i0);
        // Element (i, p) of op(A) lies at a_row[i] + p * a_step; rows past m repeat the last one
        // (computed, never stored) so the kernel needs no row test in its loop.
        const float* a_row[kRows];
        for (int64_t r = 0; r < kRows; ++r) {
          const int64_t i = i0 + std::min(r, rows - 1);
          a_row[r] = transpose_a ? a + i : a + i * lda;
        }
        const int64_t a_step = transpose_a ? lda : 1;
        if (half_accumulate) {
          micro_kernel<true>(k, a_row, a_step, panel, c + i0 * ldc + j0, ldc, rows, cols);
        } else {
          micro_kernel<false>(k, a_row, a_step, panel, c + i0 * ldc + j0, ldc, rows, cols);
        }
      }
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Lowered convolution over selected patch rows.

namespace {

// im2col over chosen patch rows. Each patch row r = (c, i, j) is input plane c read at row
// oh * stride_h - pad_top + i * dilation_h and column ow * stride_w - pad_left + j * dilation_w,
// zero outside the image. The pixel range is walked row segment by row segment without the two
// divisions per segment of the library's im2col: column-perforated outputs have twice as many
// segments, half as long (measured on 64x56x56, 3x3: 0.30 -> 0.22 ms per residue).
template <int64_t Stride>
inline void gather(const float* __restrict src, float* __restrict dst, int64_t n, int64_t stride) {
  const int64_t s = Stride > 0 ? Stride : stride;
  for (int64_t x = 0; x < n; ++x) dst[x] = src[x * s];
}

void im2col_row(const Conv2dGeometry& g, const float* image, int64_t r, int64_t p0, int64_t p1, float* dst) {
  const int64_t taps = g.kernel_h * g.kernel_w;
  const int64_t ch = r / taps, i = (r % taps) / g.kernel_w, j = r % g.kernel_w;
  const float* plane = image + ch * g.in_plane();
  const int64_t col_offset = j * g.dilation_w - g.pad_left;
  // Output columns [lo, hi) read inside the image; the rest of each row segment is padding.
  const int64_t lo = std::clamp<int64_t>(ceil_div(-col_offset, g.stride_w), 0, g.out_w);
  const int64_t hi = std::clamp<int64_t>(floor_div(g.in_w - 1 - col_offset, g.stride_w) + 1, lo, g.out_w);
  const int64_t sw = g.stride_w;
  int64_t oh = p0 / g.out_w, ow0 = p0 % g.out_w;
  for (int64_t p = p0; p < p1; ++oh, ow0 = 0) {
    const int64_t ow1 = std::min(g.out_w, ow0 + (p1 - p));
    const int64_t ih = oh * g.stride_h - g.pad_top + i * g.dilation_h;
    if (ih < 0 || ih >= g.in_h) {
      std::fill(dst, dst + (ow1 - ow0), 0.0f);
    } else {
      const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
      std::fill(dst, dst + (a - ow0), 0.0f);
      const float* src = plane + ih * g.in_w + a * sw + col_offset;
      float* d = dst + (a - ow0);
      switch (sw) {
        case 1: gather<1>(src, d, b - a, sw); break;
        case 2: gather<2>(src, d, b - a, sw); break;
        case 4: gather<4>(src, d, b - a, sw); break;
        default: gather<0>(src, d, b - a, sw); break;
      }
      std::fill(dst + (b - ow0), dst + (ow1 - ow0), 0.0f);
    }
    dst += ow1 - ow0;
    p += ow1 - ow0;
  }
}

void im2col_select(const Conv2dGeometry& g, const float* image, const int64_t* rows, int64_t row_begin,
                   int64_t row_end, int64_t p0, int64_t p1, float* columns) {
  const int64_t width = p1 - p0;
  for (int64_t q = row_begin; q < row_end; ++q)
    im2col_row(g, image, rows ? rows[q] : q, p0, p1, columns + (q - row_begin) * width);
}

// Tiles of output pixels for the per-thread GEMMs, planned as conv2d_gemm does (conv_kernels.cpp):
// about 512 pixels (so re-reading the weights costs ~1/512 of the multiply-adds), an im2col block
// of at most 2 MB, at least 64 pixels, and enough tiles to keep every thread busy.
struct TilePlan {
  int64_t tile = 0, tiles = 0;
  bool use = false;
};

TilePlan plan_tiles(int64_t patch_rows, int64_t plane, int64_t units, int threads) {
  constexpr int64_t kTargetTile = 512, kMaxTileBytes = 2 << 20, kMinTile = 64;
  TilePlan p;
  const int64_t by_bytes = kMaxTileBytes / (std::max<int64_t>(patch_rows, 1) * static_cast<int64_t>(sizeof(float)));
  const int64_t target = std::max<int64_t>(kMinTile, std::min(kTargetTile, by_bytes));
  p.tiles = (plane + target - 1) / target;
  if (units * p.tiles < 4 * threads)
    while ((units * p.tiles) % threads != 0) ++p.tiles;
  p.tile = (plane + p.tiles - 1) / p.tiles;
  if (p.tile < plane) p.tile = (p.tile + 15) / 16 * 16;
  p.tiles = (plane + p.tile - 1) / p.tile;
  p.use = threads == 1 || (units * p.tiles >= threads && (p.tile >= kMinTile || p.tiles == 1));
  return p;
}

// Output block (rows x width, row stride ld) = round_to_half(block + bias[row]).
void add_bias_half(const float* bias, int64_t rows, int64_t width, float* out, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) {
    const float b = bias[r];
    float* o = out + r * ld;
    for (int64_t x = 0; x < width; ++x) o[x] = round_to_half(o[x] + b);
  }
}

void fill_rows(const float* bias, int64_t rows, int64_t width, float* out, int64_t ld) {
  for (int64_t r = 0; r < rows; ++r) std::fill(out + r * ld, out + r * ld + width, bias ? bias[r] : 0.0f);
}

}  // namespace

void conv2d_lowered(const Conv2dGeometry& g, const float* input, const float* weights, const int64_t* rows,
                    int64_t row_count, const float* bias, float* output, ConvArithmetic arithmetic) {
  const int64_t M = g.out_channels_per_group(), K = row_count, P = g.out_plane();
  if (g.batch <= 0 || M <= 0 || P <= 0) return;
  const int64_t in_group = g.in_channels_per_group() * g.in_plane();
  const bool half = arithmetic.half();
  if (K == 0) {  // every patch row dropped: the bias alone
    for (int64_t image = 0; image < g.batch; ++image)
      fill_rows(bias, g.out_channels, P, output + image * g.out_channels * P, P);
    return;
  }
  const bool pointwise = rows == nullptr && g.is_pointwise();
  const int threads = worker_count();
  const TilePlan plan = plan_tiles(K, P, g.batch * g.groups, threads);
  // One GEMM per output tile of size M x width: float with the bias as starting value, or hgemm
  // followed by the rounded bias add.
  auto multiply = [&](const float* w, const float* b, int64_t m, int64_t width, const float* cols, int64_t ldb,
                      float* dst) {
    if (half) {
      hgemm(false, false, m, width, K, w, K, cols, ldb, dst, P, arithmetic.accumulate);
      if (b) add_bias_half(b, m, width, dst, P);
    } else {
      if (b) fill_rows(b, m, width, dst, P);
      sgemm(false, false, m, width, K, 1.0f, w, K, cols, ldb, b ? 1.0f : 0.0f, dst, P);
    }
  };

  if (plan.use) {
    const int64_t tile = plan.tile, tiles_per_plane = plan.tiles;
    const int64_t tasks = g.batch * g.groups * tiles_per_plane;
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
        const float* cols = src + p0;
        int64_t ldb = P;
        if (!pointwise) {
          auto* columns = static_cast<float*>(workspace->data());
          im2col_select(g, src, rows, 0, K, p0, p1, columns);
          cols = columns;
          ldb = p1 - p0;
        }
        multiply(weights + group * M * K, bias ? bias + group * M : nullptr, M, p1 - p0, cols, ldb,
                 output + (image * g.out_channels + group * M) * P + p0);
      }
    }
    return;
  }

  // Few small planes: the threads build one im2col matrix together, then split the output
  // channels (float) or let hgemm split its panels.
  std::unique_ptr<Buffer> workspace;
  if (!pointwise) workspace = std::make_unique<Buffer>(static_cast<std::size_t>(K * P) * sizeof(float));
  auto* columns = workspace ? static_cast<float*>(workspace->data()) : nullptr;
  const int64_t rows_per_block = std::max<int64_t>(48, ((M + threads - 1) / threads + 47) / 48 * 48);
  const int64_t row_blocks = (M + rows_per_block - 1) / rows_per_block;
  const int64_t row_chunk = (K + threads - 1) / threads;
  for (int64_t image = 0; image < g.batch; ++image) {
    for (int64_t group = 0; group < g.groups; ++group) {
      const float* src = input + (image * g.groups + group) * in_group;
      float* dst = output + (image * g.out_channels + group * M) * P;
      const float* cols = pointwise ? src : columns;
      const float* w = weights + group * M * K;
      const float* b = bias ? bias + group * M : nullptr;
      if (!pointwise) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int64_t r0 = 0; r0 < K; r0 += row_chunk)
          im2col_select(g, src, rows, r0, std::min(K, r0 + row_chunk), 0, P, columns + r0 * P);
      }
      if (half) {
        multiply(w, b, M, P, cols, P, dst);
      } else {
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int64_t blk = 0; blk < row_blocks; ++blk) {
          const int64_t m0 = blk * rows_per_block, m = std::min(M, m0 + rows_per_block) - m0;
          multiply(w + m0 * K, b ? b + m0 : nullptr, m, P, cols, P, dst + m0 * P);
        }
      }
    }
  }
}

// -------------------------------------------------------------------------------------------------
// Depthwise convolution over selected taps.

namespace {

enum class Mode { Float, HalfAcc16, HalfAcc32 };

// The padded input plane split into stride_h x stride_w phase planes, as conv2d_depthwise lays it
// out (PhasePlanes in kernels/ops/window.h): phase (ry, rx) holds padded[ry + sh*yq][rx + sw*xq],
// so output (oh, ow) of tap (i, j) reads one flat offset per tap from oh*wq + ow and each tap is
// one contiguous sweep over out_h*wq positions (the wq - out_w extra columns per row are computed
// and dropped). Unlike PhasePlanes, any padding (negative included: perforation's residues start
// inside the image) and a subset of the taps; phases no kept tap reads are not staged.
struct DepthwiseLayout {
  static constexpr int64_t kBlock = 64;  // outputs per register block: four AVX-512 vectors
  int64_t hq = 1, wq = 1, phase_size = 1, acc_size = 1;
  std::vector<int64_t> tap_offset;  // per listed tap
  std::vector<char> phase_used;     // per phase (ry * sw + rx)

  DepthwiseLayout(const Conv2dGeometry& g, const int64_t* taps, int64_t tap_count) {
    const int64_t sh = g.stride_h, sw = g.stride_w;
    const int64_t ph = (g.out_h - 1) * sh + (g.kernel_h - 1) * g.dilation_h + 1;
    const int64_t pw = (g.out_w - 1) * sw + (g.kernel_w - 1) * g.dilation_w + 1;
    hq = (ph + sh - 1) / sh;
    wq = (pw + sw - 1) / sw;
    acc_size = (g.out_h * wq + kBlock - 1) / kBlock * kBlock;
    // A sweep starts at most (hq - out_h) * wq + wq - 1 into its phase and runs acc_size long.
    phase_size = hq * wq + wq + kBlock;
    phase_used.assign(static_cast<std::size_t>(sh * sw), 0);
    for (int64_t t = 0; t < tap_count; ++t) {
      const int64_t tap = taps ? taps[t] : t;
      const int64_t i = tap / g.kernel_w, j = tap % g.kernel_w;
      const int64_t ry = (i * g.dilation_h) % sh, qy = (i * g.dilation_h) / sh;
      const int64_t rx = (j * g.dilation_w) % sw, qx = (j * g.dilation_w) / sw;
      tap_offset.push_back((ry * sw + rx) * phase_size + qy * wq + qx);
      phase_used[static_cast<std::size_t>(ry * sw + rx)] = 1;
    }
  }

  // Writes every used phase of `plane` (in_h x in_w) into `phases`, zeros where the padded plane
  // lies outside the image. The slack after each phase is never written (zeroed once).
  void stage(const Conv2dGeometry& g, const float* plane, float* phases) const {
    const int64_t sh = g.stride_h, sw = g.stride_w;
    for (int64_t ry = 0; ry < sh; ++ry)
      for (int64_t rx = 0; rx < sw; ++rx) {
        if (!phase_used[static_cast<std::size_t>(ry * sw + rx)]) continue;
        float* phase = phases + (ry * sw + rx) * phase_size;
        // Phase columns xq read input column xq * sw + rx - pad_left: inside for xq in [a, b).
        const int64_t x0 = rx - g.pad_left;
        const int64_t a = std::clamp<int64_t>(ceil_div(-x0, sw), 0, wq);
        const int64_t b = std::clamp<int64_t>(floor_div(g.in_w - 1 - x0, sw) + 1, a, wq);
        for (int64_t yq = 0; yq < hq; ++yq) {
          float* dst = phase + yq * wq;
          const int64_t iy = yq * sh + ry - g.pad_top;
          if (iy < 0 || iy >= g.in_h) {
            std::fill(dst, dst + wq, 0.0f);
            continue;
          }
          std::fill(dst, dst + a, 0.0f);
          const float* src = plane + iy * g.in_w + x0;
          if (sw == 1) {
            for (int64_t xq = a; xq < b; ++xq) dst[xq] = src[xq];
          } else if (sw == 2) {
            for (int64_t xq = a; xq < b; ++xq) dst[xq] = src[2 * xq];
          } else {
            for (int64_t xq = a; xq < b; ++xq) dst[xq] = src[xq * sw];
          }
          std::fill(dst + b, dst + wq, 0.0f);
        }
      }
  }
};

// One block of kBlock sweep positions starting at t0: out[p] = the taps' sum at p (in the mode's
// arithmetic) plus the bias.
template <Mode M>
inline void sweep_block(const float* phases, const int64_t* offsets, const float* w, int64_t taps, int64_t t0,
                        float bias, bool has_bias, float* out) {
  constexpr int64_t B = DepthwiseLayout::kBlock;
#if defined(__AVX512F__)
  __m512 acc[B / 16];
  for (int v = 0; v < B / 16; ++v) acc[v] = _mm512_set1_ps(M == Mode::Float ? bias : 0.0f);
  for (int64_t t = 0; t < taps; ++t) {
    const __m512 wv = _mm512_set1_ps(w[t]);
    const float* src = phases + offsets[t] + t0;
#pragma GCC unroll 4
    for (int v = 0; v < B / 16; ++v) {
      const __m512 x = _mm512_loadu_ps(src + 16 * v);
      if constexpr (M == Mode::HalfAcc16) {
        acc[v] = round_half(_mm512_add_ps(acc[v], round_half(_mm512_mul_ps(wv, x))));
      } else {
        acc[v] = _mm512_fmadd_ps(wv, x, acc[v]);
      }
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < B / 16; ++v) {
    __m512 r = acc[v];
    if constexpr (M == Mode::HalfAcc32) r = round_half(r);
    if (M != Mode::Float && has_bias) r = round_half(_mm512_add_ps(r, _mm512_set1_ps(bias)));
    _mm512_storeu_ps(out + 16 * v, r);
  }
#else
  float acc[B];
  for (int64_t p = 0; p < B; ++p) acc[p] = M == Mode::Float ? bias : 0.0f;
  for (int64_t t = 0; t < taps; ++t) {
    const float wt = w[t];
    const float* src = phases + offsets[t] + t0;
    for (int64_t p = 0; p < B; ++p) {
      if constexpr (M == Mode::HalfAcc16) {
        acc[p] = round_to_half(acc[p] + round_to_half(wt * src[p]));
      } else {
        acc[p] += wt * src[p];
      }
    }
  }
  for (int64_t p = 0; p < B; ++p) {
    float r = acc[p];
    if constexpr (M == Mode::HalfAcc32) r = round_to_half(r);
    if (M != Mode::Float && has_bias) r = round_to_half(r + bias);
    out[p] = r;
  }
#endif
}

template <Mode M>
void depthwise_planes(const Conv2dGeometry& g, const float* input, const float* weights, const int64_t* taps,
                      int64_t tap_count, const float* bias, float* output, const OutputStrides& strides) {
  const bool dense = strides.plane == 0;
  const int64_t plane_stride = dense ? g.out_plane() : strides.plane;
  const int64_t row_stride = dense ? g.out_w : strides.row, column_stride = dense ? 1 : strides.column;
  const int64_t multiplier = g.out_channels / g.groups;
  const int64_t planes = g.batch * g.out_channels;
  const DepthwiseLayout layout(g, taps, tap_count);
  const int64_t phases_size = g.stride_h * g.stride_w * layout.phase_size;
  const int64_t wq = layout.wq;
#pragma omp parallel if (planes > 1 && !omp_in_parallel())
  {
    Buffer phase_buffer(static_cast<std::size_t>(phases_size) * sizeof(float));
    Buffer acc_buffer(static_cast<std::size_t>(layout.acc_size) * sizeof(float));
    auto* phases = static_cast<float*>(phase_buffer.data());
    auto* acc = static_cast<float*>(acc_buffer.data());
    std::fill(phases, phases + phases_size, 0.0f);  // the slack stays zero
    const float* staged = nullptr;
#pragma omp for schedule(static)
    for (int64_t q = 0; q < planes; ++q) {
      const int64_t image = q / g.out_channels, oc = q % g.out_channels;
      const float* in = input + (image * g.in_channels + oc / multiplier) * g.in_plane();
      // With a channel multiplier, consecutive output channels read the same input plane.
      if (in != staged) layout.stage(g, in, phases);
      staged = in;
      const float* w = weights + oc * tap_count;
      const float b = bias ? bias[oc] : 0.0f;
      for (int64_t t0 = 0; t0 < layout.acc_size; t0 += DepthwiseLayout::kBlock)
        sweep_block<M>(phases, layout.tap_offset.data(), w, tap_count, t0, b, bias != nullptr, acc + t0);
      float* out = output + q * plane_stride;
      for (int64_t oh = 0; oh < g.out_h; ++oh) {
        float* __restrict o = out + oh * row_stride;
        const float* __restrict a = acc + oh * wq;
        if (column_stride == 1) {
          for (int64_t ow = 0; ow < g.out_w; ++ow) o[ow] = a[ow];
        } else {
          for (int64_t ow = 0; ow < g.out_w; ++ow) o[ow * column_stride] = a[ow];
        }
      }
    }
  }
}

}  // namespace

void conv2d_depthwise_taps(const Conv2dGeometry& g, const float* input, const float* weights, const int64_t* taps,
                           int64_t tap_count, const float* bias, float* output, ConvArithmetic arithmetic,
                           const OutputStrides& strides) {
  if (!arithmetic.half()) {
    depthwise_planes<Mode::Float>(g, input, weights, taps, tap_count, bias, output, strides);
  } else if (arithmetic.accumulate == Arithmetic::Fp16) {
    depthwise_planes<Mode::HalfAcc16>(g, input, weights, taps, tap_count, bias, output, strides);
  } else {
    depthwise_planes<Mode::HalfAcc32>(g, input, weights, taps, tap_count, bias, output, strides);
  }
}

namespace {

// A half-rounded copy of n floats.
std::vector<float> rounded_copy(const float* data, int64_t n) {
  std::vector<float> out(data, data + n);
  round_to_half(out.data(), n);
  return out;
}

}  // namespace

void conv2d_half(const Conv2dGeometry& g, const float* input, const float* weights, const float* bias,
                 float* output, Arithmetic accumulate) {
  const std::vector<float> x = rounded_copy(input, g.batch * g.in_channels * g.in_plane());
  const std::vector<float> w = rounded_copy(weights, g.out_channels * g.patch_size());
  const std::vector<float> b = bias ? rounded_copy(bias, g.out_channels) : std::vector<float>();
  const ConvArithmetic arithmetic{Arithmetic::Fp16, accumulate};
  const float* bp = bias ? b.data() : nullptr;
  if (g.is_depthwise()) {
    conv2d_depthwise_taps(g, x.data(), w.data(), nullptr, g.kernel_h * g.kernel_w, bp, output, arithmetic);
  } else {
    conv2d_lowered(g, x.data(), w.data(), nullptr, g.patch_size(), bp, output, arithmetic);
  }
}

// -------------------------------------------------------------------------------------------------
// The fp16 knob family.

namespace {

class Fp16ConvKernel : public ApproxKernel {
 public:
  Fp16ConvKernel(const OpKernel& exact, Arithmetic accumulate) : ApproxKernel(exact), accumulate_(accumulate) {}
  void run(const RunContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& w = ctx.input(1);
    const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const Conv2dGeometry g = conv_geometry(ctx.node(), x.shape(), w.shape(), b ? &b->shape() : nullptr);
    conv2d_half(g, x.f32(), w.f32(), b ? b->f32() : nullptr, ctx.output(0).f32(), accumulate_);
  }

 private:
  Arithmetic accumulate_;
};

// Y = alpha * op(A) op(B) + beta * C in half: Y = r(r(alpha * P) + r(beta * C)) with P the hgemm
// product and alpha, beta, A, B, C rounded to half (C is left out when beta is 0, as in the
// exact kernel).
class Fp16GemmKernel : public ApproxKernel {
 public:
  Fp16GemmKernel(const OpKernel& exact, Arithmetic accumulate) : ApproxKernel(exact), accumulate_(accumulate) {}
  void run(const RunContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    const Tensor* c = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    const GemmShape s = gemm_shape(ctx.node(), a.shape(), b.shape(), c ? &c->shape() : nullptr);
    const std::vector<float> ah = rounded_copy(a.f32(), a.size());
    const std::vector<float> bh = rounded_copy(b.f32(), b.size());
    float* y = ctx.output(0).f32();
    hgemm(s.transpose_a, s.transpose_b, s.m, s.n, s.k, ah.data(), a.shape()[1], bh.data(), b.shape()[1], y, s.n,
          accumulate_);
    const float alpha = round_to_half(s.alpha), beta = round_to_half(s.beta);
    const bool with_c = c && s.beta != 0.0f;
    const float* cd = with_c ? c->f32() : nullptr;
#pragma omp parallel for schedule(static) if (s.m * s.n >= (1 << 16) && !omp_in_parallel())
    for (int64_t i = 0; i < s.m; ++i) {
      float* out = y + i * s.n;
      for (int64_t j = 0; j < s.n; ++j) out[j] = round_to_half(alpha * out[j]);
      if (!with_c) continue;
      const float* row = cd + (s.c_rows == 1 ? 0 : i) * s.c_cols;
      for (int64_t j = 0; j < s.n; ++j) {
        const float cv = round_to_half(row[s.c_cols == 1 ? 0 : j]);
        out[j] = round_to_half(out[j] + round_to_half(beta * cv));
      }
    }
  }

 private:
  Arithmetic accumulate_;
};

class Fp16MatMulKernel : public ApproxKernel {
 public:
  Fp16MatMulKernel(const OpKernel& exact, Arithmetic accumulate) : ApproxKernel(exact), accumulate_(accumulate) {}
  void run(const RunContext& ctx) const override {
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(1);
    const MatMulShape s = matmul_shape(ctx.node(), a.shape(), b.shape(), true);
    float* y = ctx.output(0).f32();
    const auto batches = static_cast<int64_t>(s.a_offsets.size());
    if (batches == 0 || s.m == 0 || s.n == 0) return;
    const std::vector<float> ah = rounded_copy(a.f32(), a.size());
    const std::vector<float> bh = rounded_copy(b.f32(), b.size());
    if (s.b_matrices == 1) {  // one B for every batch: one product over all of A's rows
      hgemm(false, false, batches * s.m, s.n, s.k, ah.data(), s.k, bh.data(), s.n, y, s.n, accumulate_);
      return;
    }
    const bool outer = batches >= omp_get_max_threads() && !omp_in_parallel();
#pragma omp parallel for schedule(dynamic, 1) if (outer)
    for (int64_t i = 0; i < batches; ++i)
      hgemm(false, false, s.m, s.n, s.k, ah.data() + s.a_offsets[static_cast<std::size_t>(i)], s.k,
            bh.data() + s.b_offsets[static_cast<std::size_t>(i)], s.n, y + i * s.m * s.n, s.n, accumulate_);
  }

 private:
  Arithmetic accumulate_;
};

// Any other op: its exact kernel on half-rounded float inputs, float outputs rounded to half.
// For +, -, * and / this is the correctly rounded half operation (half_math.h); for other
// functions it is the float result of the half operands rounded once.
class Fp16GenericKernel : public ApproxKernel {
 public:
  explicit Fp16GenericKernel(const OpKernel& exact) : ApproxKernel(exact) {}
  void run(const RunContext& ctx) const override {
    std::vector<Tensor> rounded(static_cast<std::size_t>(ctx.input_count()));
    std::vector<const Tensor*> inputs(rounded.size(), nullptr);
    for (int i = 0; i < ctx.input_count(); ++i) {
      if (!ctx.has_input(i)) continue;
      const Tensor& in = ctx.input(i);
      const auto s = static_cast<std::size_t>(i);
      if (in.dtype() == DType::Float32) {
        rounded[s] = in.clone();
        round_to_half(rounded[s].f32(), rounded[s].size());
        inputs[s] = &rounded[s];
      } else {
        inputs[s] = &in;
      }
    }
    std::vector<Tensor*> outputs(static_cast<std::size_t>(ctx.output_count()), nullptr);
    for (int o = 0; o < ctx.output_count(); ++o)
      if (ctx.has_output(o)) outputs[static_cast<std::size_t>(o)] = &ctx.output(o);
    exact_.run(RunContext(ctx.node(), inputs, outputs));
    for (Tensor* out : outputs)
      if (out && out->dtype() == DType::Float32) round_to_half(out->f32(), out->size());
  }
};

std::unique_ptr<OpKernel> make_fp16_kernel(const KnobRequest& request) {
  const std::string& op = request.node.op_type;
  const Arithmetic accumulate = request.knob.accumulate;
  if (op == "Conv") return std::make_unique<Fp16ConvKernel>(request.exact, accumulate);
  if (op == "Gemm") return std::make_unique<Fp16GemmKernel>(request.exact, accumulate);
  if (op == "MatMul") return std::make_unique<Fp16MatMulKernel>(request.exact, accumulate);
  return std::make_unique<Fp16GenericKernel>(request.exact);
}

}  // namespace

CODA_REGISTER_KNOB_FAMILY(Fp16, make_fp16_kernel);

}  // namespace coda
