// Decode-time attention over an MLA latent cache (the "absorbed" path): every head's query lives in
// the latent space, so all heads attend over the same cache rows — multi-query attention with one
// shared key/value row per position. The kernel reads each cache row once for all heads (the cache
// is the only thing that grows with context), computes scores and the weighted sum of latents in one
// pass with an online softmax (flash-decoding), and splits the positions across threads, merging
// the partial softmaxes at the end.
//
//   out[h, :] = Σ_s softmax_s(scale · q[h] · C[s, 0:dk]) · C[s, 0:dv]      for h < heads
//
// C rows are [kv_lora_rank latent | qk_rope_head_dim rotated key] (dk = rank + rope, dv = rank).
// Tolerance against the two-pass reference (scores, softmax, weighted sum in f32): every path sums
// in a different order and uses its own exp; relative L2 error of out < 1e-5 (tests/
// ops_latent_attention_test.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"
#include "ops/quant/latent_q8.h"

namespace fathom::ops {

struct LatentAttention {
  const float* q;       // [heads, dk]
  int64_t heads;
  const float* cache;   // row s at cache + s * stride, s < positions
  int64_t stride;       // floats between rows (>= dk)
  int64_t positions;    // visible rows (>= 1)
  int64_t dk, dv;       // dot length; leading values of each row summed into out (dv <= dk)
  float scale;          // softmax scale applied to the dot products
  float* out;           // [heads, dv]
  // Consecutive tokens of one sequence in one call (a speculative verify): q holds `queries`
  // tokens' heads one token after the other (heads = queries x heads per token), and token j sees
  // only the first positions - (queries - 1 - j) rows, not the rows of the tokens after it. Each
  // token's output is bit for bit what a call with it alone gives: on one thread, where the
  // AVX-512 and portable kernels mask the rows in one pass (the cache is read once for all the
  // tokens, and small head counts fill more of a vector); otherwise one call per token.
  int64_t queries = 1;
};

void latent_attention(const LatentAttention& a, cpu::ThreadPool* pool);
// On an explicit kernel family (tests, benchmarks). Fails if this CPU lacks it.
void latent_attention(cpu::Isa isa, const LatentAttention& a, cpu::ThreadPool* pool);

// The same attention over the 8-bit cache (ops/quant/latent_q8.h): dk = rank + rope, dv = rank.
// The AVX-512 kernel (VNNI) quantizes the query per head and part to int8 and each 64-row block's
// probabilities per head to u8, and sums both phases in int32 with vpdpbusd; the other families
// dequantize blocks of rows and run their f32 kernel on them, so they compute exactly the f32
// attention over the dequantized cache. Tolerance of the int8 kernel against that (the f32
// reference over latent_q8_load_row rows): relative L2 error of out < 2e-2 (query and probability
// rounding; tests/ops_latent_attention_test.cpp).
struct LatentAttentionQ8 {
  const float* q;  // [heads, rank + rope]
  int64_t heads;
  LatentQ8Rows cache;
  int64_t positions;  // visible rows (>= 1)
  float scale;
  float* out;  // [heads, rank]
};
void latent_attention(const LatentAttentionQ8& a, cpu::ThreadPool* pool);
void latent_attention(cpu::Isa isa, const LatentAttentionQ8& a, cpu::ThreadPool* pool);

namespace detail {
// One thread's share: positions [s0, s1) of a. Writes the unnormalised partial softmax:
//   m[h] = max_s score, l[h] = Σ_s exp(score - m[h]), o[h, :] = Σ_s exp(score - m[h]) C[s, 0:dv].
// With a.queries > 1 (portable and AVX-512 kernels only), rows a head's token does not see count as
// score -inf and probability exactly 0, so its sums are those of a call without them.
using LatentPartialFn = void (*)(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o);
void latent_partial_portable(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o);
void latent_partial_avx2(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o);
void latent_partial_avx512(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o);
// The int8 kernel over the 8-bit cache; s0 is a multiple of 16.
void latent_partial_q8_avx512vbmi(const LatentAttentionQ8& a, int64_t s0, int64_t s1, float* m, float* l, float* o);

// Shared by the SIMD kernels, which vectorize across heads ("lanes" heads per register); their exp
// is in ops/simd_exp.h.

// 64-byte aligned per-thread scratch that keeps its capacity.
class KernelScratch {
 public:
  float* get(int64_t floats) {
    v_.resize(size_t((floats + 15) / 16));
    return v_.data()->f;
  }

 private:
  struct alignas(64) Line {
    float f[16];
  };
  std::vector<Line> v_;
};

// Writes one head group's partial softmax in the interface's per-head layout: m, l from the
// group's lane vectors, o[h, :] from the transposed sums og[d * lanes + i]; heads h0 .. h0 + live.
// The first row head h of a may not see (a.queries > 1): a.positions for heads of the last token.
inline int64_t visible_rows(const LatentAttention& a, int64_t h) {
  return a.positions - (a.queries - 1 - h / (a.heads / a.queries));
}

void store_group_partial(const float* mm, const float* ll, const float* og, int64_t lanes, int64_t h0, int64_t live,
                         int64_t dv, float* m, float* l, float* o);
}  // namespace detail

}  // namespace fathom::ops
