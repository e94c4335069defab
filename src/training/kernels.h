// The generic operations of training, each forward with its backward right below it (same
// argument names: inp/dinp, weight/dweight, out/dout). They know nothing of DeepSeek.
// Conventions: matrices are row-major f32; a Linear weight is [out_features, in_features] as in
// PyTorch; backward functions ADD into dinp and dweight (callers zero what must start at zero).
#pragma once
#include <cstdint>

namespace fathom::cpu { class ThreadPool; }

namespace fathom::train {

// How ops run: the thread pool (null = serial) and scratch memory for matmul_backward's transposes.
struct Ops {
  cpu::ThreadPool* pool = nullptr;
  float* scratch = nullptr;
  int64_t scratch_size = 0;  // floats
};

// Scratch floats matmul_backward needs for N rows of I inputs and O outputs.
inline int64_t matmul_scratch(int64_t N, int64_t I, int64_t O) { return N * O + N * I + O * I; }

// C[M, N] (+)= A[M, K] · B[N, K]ᵀ; rows of A and B contiguous with strides lda, ldb (>= K).
// Each element is computed by one thread in a fixed order, so results do not depend on threads.
void gemm_nt(const Ops& ops, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc, bool accumulate);

// dst[C, R] = src[R, C]ᵀ
void transpose(const float* src, int64_t R, int64_t C, float* dst);

// out[N, O] = inp[N, I] · weight[O, I]ᵀ
void matmul_forward(const Ops& ops, float* out, const float* inp, const float* weight, int64_t N, int64_t I, int64_t O);
// dinp[N, I] += dout · weight (skipped if dinp is null);  dweight[O, I] += doutᵀ · inp
void matmul_backward(const Ops& ops, float* dinp, float* dweight, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t I, int64_t O);

// out = inp / sqrt(mean(inp²) + eps) * weight, per row of C; rstd[N] saved for backward.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N, int64_t C, float eps);
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                      const float* rstd, int64_t N, int64_t C);

// out[N, C] = weight[tokens[n]]
void embedding_forward(float* out, const int32_t* tokens, const float* weight, int64_t N, int64_t C);
void embedding_backward(float* dweight, const float* dout, const int32_t* tokens, int64_t N, int64_t C);

// out = silu(gate) * up, elementwise over n.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
// dgate, dup are overwritten.
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);

// Rotates interleaved pairs (x[2i], x[2i+1]) by the angle whose scaled cos/sin are cos[i], sin[i]
// (dim/2 of each). The backward is the rotation by the negative angle (the transpose).
void rope_forward(float* x, const float* cos, const float* sin, int64_t dim);
void rope_backward(float* dx, const float* cos, const float* sin, int64_t dim);

// Softmax cross-entropy per row of logits[N, V] against targets[N]; losses[N] receives each row's
// loss. If dscale != 0 the logits are overwritten by dscale * (softmax - onehot). Returns Σ losses.
double cross_entropy_forward_backward(const Ops& ops, float* logits, const int32_t* targets, int64_t N, int64_t V,
                                      float dscale, float* losses);

// fn(i) for i in [0, n) on the pool (serially when ops.pool is null).
template <typename Fn>
void parallel_for(const Ops& ops, int64_t n, Fn&& fn);

}  // namespace fathom::train

#include "cpu/thread_pool.h"

namespace fathom::train {
template <typename Fn>
void parallel_for(const Ops& ops, int64_t n, Fn&& fn) {
  if (!ops.pool || n <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  ops.pool->parallel_for(n, [&](int64_t i, int) { fn(i); });
}
}  // namespace fathom::train
