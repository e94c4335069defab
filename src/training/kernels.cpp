#include "training/kernels.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "ops/matmul.h"
#include "ops/simd_exp.h"

namespace fathom::train {

namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_hadd_ps(s, s);
  s = _mm_hadd_ps(s, s);
  return _mm_cvtss_f32(s);
}

// An MI x NJ tile of C: MI*NJ 8-wide accumulators (4 x 3 uses all 16 ymm registers).
template <int MI, int NJ>
void tile(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t K, bool acc) {
  __m256 s[MI][NJ];
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) s[i][j] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8) {
    __m256 b[NJ];
    for (int j = 0; j < NJ; ++j) b[j] = _mm256_loadu_ps(B + j * ldb + k);
    for (int i = 0; i < MI; ++i) {
      const __m256 a = _mm256_loadu_ps(A + i * lda + k);
      for (int j = 0; j < NJ; ++j) s[i][j] = _mm256_fmadd_ps(a, b[j], s[i][j]);
    }
  }
  for (int i = 0; i < MI; ++i)
    for (int j = 0; j < NJ; ++j) {
      float r = hsum(s[i][j]);
      for (int64_t kk = k; kk < K; ++kk) r += A[i * lda + kk] * B[j * ldb + kk];
      float& c = C[i * ldc + j];
      c = acc ? c + r : r;
    }
}

using TileFn = void (*)(const float*, int64_t, const float*, int64_t, float*, int64_t, int64_t, bool);
constexpr int kMI = 4, kNJ = 3;
constexpr TileFn kTiles[kMI][kNJ] = {
    {tile<1, 1>, tile<1, 2>, tile<1, 3>},
    {tile<2, 1>, tile<2, 2>, tile<2, 3>},
    {tile<3, 1>, tile<3, 2>, tile<3, 3>},
    {tile<4, 1>, tile<4, 2>, tile<4, 3>},
};

}  // namespace

void gemm_nt(const Ops& ops, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  // Contiguous operands take inference's F32 GEMM (ops::matmul, B as an f32 weight matrix): packed
  // panels and a register-blocked outer-product kernel on the CPU's widest ISA. It computes each
  // element on one thread in a fixed order too (rows of B split across threads, K in fixed
  // blocks), so a run's results still do not depend on the thread count. C += takes a pass more.
  if (lda == K && ldb == K && ldc == N && K > 0) {
    ops::WeightMatrix W;
    W.format = ops::WFormat::F32;
    W.rows = N;
    W.cols = K;
    W.data = B;
    if (!accumulate) return ops::matmul(W, A, M, C, ops.pool);
    thread_local std::vector<float> product;
    product.resize(size_t(M * N));
    ops::matmul(W, A, M, product.data(), ops.pool);
    for (int64_t i = 0; i < M * N; ++i) C[i] += product[size_t(i)];
    return;
  }
  // Blocks of 64 rows x 48 columns: both operand blocks stay in L2 while the tiles sweep them.
  constexpr int64_t BM = 64, BN = 48;
  const int64_t mb = (M + BM - 1) / BM, nb = (N + BN - 1) / BN;
  parallel_for(ops, mb * nb, [&](int64_t task) {
    const int64_t i0 = (task / nb) * BM, j0 = (task % nb) * BN;
    const int64_t i1 = std::min(M, i0 + BM), j1 = std::min(N, j0 + BN);
    for (int64_t i = i0; i < i1; i += kMI) {
      const int mi = int(std::min<int64_t>(kMI, i1 - i));
      for (int64_t j = j0; j < j1; j += kNJ) {
        const int nj = int(std::min<int64_t>(kNJ, j1 - j));
        kTiles[mi - 1][nj - 1](A + i * lda, lda, B + j * ldb, ldb, C + i * ldc + j, ldc, K, accumulate);
      }
    }
  });
}

void transpose(const float* src, int64_t R, int64_t C, float* dst) {
  constexpr int64_t BT = 32;
  for (int64_t r0 = 0; r0 < R; r0 += BT)
    for (int64_t c0 = 0; c0 < C; c0 += BT)
      for (int64_t r = r0; r < std::min(R, r0 + BT); ++r)
        for (int64_t c = c0; c < std::min(C, c0 + BT); ++c) dst[c * R + r] = src[r * C + c];
}

void matmul_forward(const Ops& ops, float* out, const float* inp, const float* weight, int64_t N, int64_t I, int64_t O) {
  gemm_nt(ops, N, O, I, inp, I, weight, I, out, O, false);
}

void matmul_backward(const Ops& ops, float* dinp, float* dweight, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t I, int64_t O) {
  if (N <= 0) return;
  if (matmul_scratch(N, I, O) > ops.scratch_size)
    fail("matmul_backward: scratch of {} floats is too small for [{}x{}]·[{}x{}]", ops.scratch_size, N, I, O, I);
  float* dout_t = ops.scratch;       // [O, N]
  float* inp_t = dout_t + O * N;     // [I, N]
  float* weight_t = inp_t + I * N;   // [I, O]
  transpose(dout, N, O, dout_t);
  transpose(inp, N, I, inp_t);
  gemm_nt(ops, O, I, N, dout_t, N, inp_t, N, dweight, I, true);  // dW[o,i] += Σ_n dout[n,o] inp[n,i]
  if (dinp) {
    transpose(weight, O, I, weight_t);
    gemm_nt(ops, N, I, O, dout, O, weight_t, O, dinp, I, true);  // dinp[n,i] += Σ_o dout[n,o] W[o,i]
  }
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps) {
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    double ss = 0;
    for (int64_t c = 0; c < C; ++c) ss += double(x[c]) * x[c];
    const float r = float(1.0 / std::sqrt(ss / double(C) + double(eps)));
    rstd[n] = r;
    float* y = out + n * C;
    for (int64_t c = 0; c < C; ++c) y[c] = x[c] * r * weight[c];
  }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C) {
  // y = x r w, r = (mean x² + eps)^-½:  dx = r (dy w) - x r³/C Σ (dy w x)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    const float* dy = dout + n * C;
    const float r = rstd[n];
    double dot = 0;
    for (int64_t c = 0; c < C; ++c) dot += double(dy[c]) * weight[c] * x[c];
    const float k = float(dot * r * r * r / double(C));
    float* dx = dinp + n * C;
    for (int64_t c = 0; c < C; ++c) {
      dweight[c] += dy[c] * x[c] * r;
      dx[c] += r * dy[c] * weight[c] - k * x[c];
    }
  }
}

void embedding_forward(float* out, const int32_t* tokens, const float* weight, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) std::copy(weight + int64_t(tokens[n]) * C, weight + int64_t(tokens[n] + 1) * C, out + n * C);
}

void embedding_backward(float* dweight, const float* dout, const int32_t* tokens, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n) {
    float* d = dweight + int64_t(tokens[n]) * C;
    for (int64_t c = 0; c < C; ++c) d[c] += dout[n * C + c];
  }
}

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i], sig = 1.0f / (1.0f + std::exp(-g));
    dup[i] = dout[i] * g * sig;
    dgate[i] = dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));  // silu'(g) = σ(1 + g(1-σ))
  }
}

void rope_forward(float* x, const float* cos, const float* sin, int64_t dim) {
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * cos[i] - x1 * sin[i];
    x[2 * i + 1] = x0 * sin[i] + x1 * cos[i];
  }
}

void rope_backward(float* dx, const float* cos, const float* sin, int64_t dim) {
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float d0 = dx[2 * i], d1 = dx[2 * i + 1];
    dx[2 * i] = d0 * cos[i] + d1 * sin[i];
    dx[2 * i + 1] = -d0 * sin[i] + d1 * cos[i];
  }
}

namespace {

// Σ_v e^(z[v] - m) over a row whose max is m (every term <= 1): 8-lane e^x (ops/simd_exp.h, ~2e-7
// relative, a few ulp) summed in double. A row of the output head is V exps, two per logit and step
// with the gradient below: in libm's double exp that was a tenth of a training step.
double sum_exp_below(const float* z, int64_t V, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  int64_t v = 0;
  for (; v + 8 <= V; v += 8) {
    const __m256 e = ops::simd::exp_nonpos(_mm256_sub_ps(_mm256_loadu_ps(z + v), vm));
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  alignas(32) double part[4];
  _mm256_store_pd(part, _mm256_add_pd(lo, hi));
  double sum = (part[0] + part[1]) + (part[2] + part[3]);
  for (; v < V; ++v) sum += std::exp(z[v] - m);
  return sum;
}

// z[v] = e^(z[v] - lse) · dscale (lse >= every z[v]), in place.
void scaled_softmax(float* z, int64_t V, float lse, float dscale) {
  const __m256 vl = _mm256_set1_ps(lse), vs = _mm256_set1_ps(dscale);
  int64_t v = 0;
  for (; v + 8 <= V; v += 8)
    _mm256_storeu_ps(z + v, _mm256_mul_ps(ops::simd::exp_nonpos(_mm256_sub_ps(_mm256_loadu_ps(z + v), vl)), vs));
  for (; v < V; ++v) z[v] = std::exp(z[v] - lse) * dscale;
}

}  // namespace

double cross_entropy_forward_backward(const Ops& ops, float* logits, const int32_t* targets, int64_t N, int64_t V,
                                      float dscale, float* losses) {
  parallel_for(ops, N, [&](int64_t n) {
    float* z = logits + n * V;
    float mx = z[0];
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, z[v]);
    const double lse = std::log(sum_exp_below(z, V, mx)) + mx;
    losses[n] = float(lse - z[targets[n]]);
    if (dscale != 0.0f) {
      scaled_softmax(z, V, float(lse), dscale);
      z[targets[n]] -= dscale;
    }
  });
  double total = 0;
  for (int64_t n = 0; n < N; ++n) total += losses[n];
  return total;
}

}  // namespace fathom::train
