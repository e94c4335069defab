// The SIMD low-precision GEMM of lowp_gemm.h, written once over a vector type V and instantiated
// for AVX2 (lowp_gemm.cpp, 8 lanes) and AVX-512 (lowp_gemm_avx512.cpp, 16 lanes). Include it only
// from those two files: it must be compiled with each one's ISA flags.
//
// Outer-product form, so that each output element sees exactly the scalar reference's operations:
// a micro-tile of MR rows x 2 vectors of columns keeps P[m, n] and the accumulators in registers
// (V::MR = 6 on AVX-512: 12 + 12 + 3 of 32 zmm; 3 on AVX2: 6 + 6 + 3 of 16 ymm); for each k it
// broadcasts A[m, k] and multiplies it into B[k, n..n+2W) (one fma per lane: P += a·b, exact
// product, one rounding, ascending k). After each 128-block of k the tile is promoted into its
// accumulator, acc = fma(sA·sB, P, acc), which lives in C itself (loaded at the start of a chunk,
// stored at its end), so K is cut into chunks of KC without changing any element's arithmetic.
//
// Operands are decoded exactly to f32 once per use: B's chunk of KC rows into panels of 2W columns
// [k][2W] (zero-padded past N) shared by all tasks; each task decodes its MR rows of A's chunk into
// an L1/L2-resident buffer. Tasks are (strip of MR rows) x (group of panels); an element's arithmetic
// does not depend on which task or thread computes it.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "training/lowp_gemm.h"

namespace fathom::train::lowp_kernel {

constexpr int64_t kKc = 512;  // k per chunk: a multiple of kLowpBlock

// Decodes n (<= V::W) consecutive elements of a row of m from column c into f32 lanes (exact),
// zero past n.
template <class V>
typename V::vec decode(const LowpMatrix& m, int64_t r, int64_t c, int64_t n) {
  if (n == V::W) return m.format == LowpFormat::E4M3 ? V::e4m3(m.e4m3_row(r) + c) : V::bf16(m.bf16_row(r) + c);
  alignas(64) float t[V::W] = {};
  for (int64_t i = 0; i < n; ++i)
    t[i] = m.format == LowpFormat::E4M3 ? e4m3_to_f32(m.e4m3_row(r)[c + i]) : bf16_to_f32(m.bf16_row(r)[c + i]);
  return V::load(t);
}

// Rows [r0, r0 + rows) of A, columns [k0, k0 + kc), as f32 [rows][lda] (lda: kc rounded up to W).
template <class V>
void decode_rows(const LowpMatrix& A, int64_t r0, int64_t rows, int64_t k0, int64_t kc, int64_t lda, float* out) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t k = 0; k < kc; k += V::W) V::store(out + i * lda + k, decode<V>(A, r0 + i, k0 + k, std::min(V::W, kc - k)));
}

// The MR x NV tile at (rows i0.., panel columns j0..): the chunk's blocks, each summed into P and
// promoted into C. a: [MR][lda] decoded rows, sa: [MR][nkb] their scales; b: [kc][2W] the panel,
// sb: [nkb][2W] its scales. cols: the valid columns of the panel (< 2W only in the last one).
template <class V, int MR, int NV>
void tile(const float* a, int64_t lda, const float* sa, const float* b, const float* sb, int64_t kc, int64_t nkb,
          float* C, int64_t ldc, int64_t cols, bool load_c) {
  using vec = typename V::vec;
  constexpr int64_t NR = 2 * V::W;
  vec acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) {
      const int64_t n = std::min<int64_t>(V::W, cols - v * V::W);
      acc[i][v] = load_c ? V::load_partial(C + i * ldc + v * V::W, n) : V::zero();
    }
  for (int64_t kb = 0; kb < nkb; ++kb) {
    vec p[MR][NV];
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) p[i][v] = V::zero();
    const int64_t k1 = std::min(kc, (kb + 1) * kLowpBlock);
    for (int64_t k = kb * kLowpBlock; k < k1; ++k) {
      vec bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = V::load(b + k * NR + v * V::W);
      for (int i = 0; i < MR; ++i) {
        const vec av = V::set1(a[i * lda + k]);
        for (int v = 0; v < NV; ++v) p[i][v] = V::fma(av, bv[v], p[i][v]);
      }
    }
    for (int i = 0; i < MR; ++i) {
      const vec s = V::set1(sa[i * nkb + kb]);
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(V::mul(s, V::load(sb + kb * NR + v * V::W)), p[i][v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) V::store_partial(C + i * ldc + v * V::W, acc[i][v], std::min<int64_t>(V::W, cols - v * V::W));
}

template <class V, int MR, int NV>
void tile_rows(int mr, const float* a, int64_t lda, const float* sa, const float* b, const float* sb, int64_t kc,
               int64_t nkb, float* C, int64_t ldc, int64_t cols, bool load_c) {
  if constexpr (MR > 0) {
    if (mr == MR) return tile<V, MR, NV>(a, lda, sa, b, sb, kc, nkb, C, ldc, cols, load_c);
    tile_rows<V, MR - 1, NV>(mr, a, lda, sa, b, sb, kc, nkb, C, ldc, cols, load_c);
  }
}

template <class V>
void gemm(const Ops& ops, const LowpMatrix& A, const LowpMatrix& B, float* C, int64_t ldc, bool accumulate) {
  constexpr int64_t W = V::W, NR = 2 * W, MR = V::MR;
  const int64_t M = A.rows, K = A.cols, N = B.cols;
  const int64_t np = (N + NR - 1) / NR, strips = (M + MR - 1) / MR;
  // Enough tasks for the pool: split the panels into groups only when the strips are few.
  const int64_t groups = std::min<int64_t>(np, std::max<int64_t>(1, 16 / strips));
  const int64_t per_group = (np + groups - 1) / groups;
  thread_local std::vector<float> bp, sbp;  // the calling thread's panels, read by every task
  for (int64_t k0 = 0; k0 < K; k0 += kKc) {
    const int64_t kc = std::min(kKc, K - k0), nkb = (kc + kLowpBlock - 1) / kLowpBlock;
    bp.resize(size_t(np * kc * NR));
    sbp.resize(size_t(np * nkb * NR));
    float* bpd = bp.data();
    float* sbd = sbp.data();
    parallel_for(serial_below(ops, kc * N, kLowpSerialElems), np, [&](int64_t jp) {
      const int64_t j0 = jp * NR, cols = std::min(NR, N - j0);
      float* panel = bpd + jp * kc * NR;
      for (int64_t k = 0; k < kc; ++k)
        for (int64_t v = 0; v < NR; v += W)
          V::store(panel + k * NR + v, cols > v ? decode<V>(B, k0 + k, j0 + v, std::min(W, cols - v)) : V::zero());
      for (int64_t kb = 0; kb < nkb; ++kb)
        for (int64_t c = 0; c < NR; ++c) sbd[(jp * nkb + kb) * NR + c] = c < cols ? B.scale_of(k0 + kb * kLowpBlock, j0 + c) : 0.0f;
    });
    const bool load_c = accumulate || k0 > 0;
    parallel_for(ops, strips * groups, [&](int64_t task) {
      const int64_t s = task / groups, g = task % groups;
      const int64_t i0 = s * MR, mr = std::min(MR, M - i0);
      thread_local std::vector<float> a, sa;
      const int64_t lda = (kc + W - 1) / W * W;
      a.resize(size_t(MR * lda));
      sa.resize(size_t(MR * nkb));
      decode_rows<V>(A, i0, mr, k0, kc, lda, a.data());
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t kb = 0; kb < nkb; ++kb) sa[i * nkb + kb] = A.scale_of(i0 + i, k0 + kb * kLowpBlock);
      for (int64_t jp = g * per_group; jp < std::min(np, (g + 1) * per_group); ++jp) {
        const int64_t j0 = jp * NR, cols = std::min(NR, N - j0);
        const float* b = bpd + jp * kc * NR;
        const float* sb = sbd + jp * nkb * NR;
        float* c = C + i0 * ldc + j0;
        if (cols > W)
          tile_rows<V, MR, 2>(int(mr), a.data(), lda, sa.data(), b, sb, kc, nkb, c, ldc, cols, load_c);
        else
          tile_rows<V, MR, 1>(int(mr), a.data(), lda, sa.data(), b, sb, kc, nkb, c, ldc, cols, load_c);
      }
    });
  }
}

}  // namespace fathom::train::lowp_kernel
