// Dispatch and the portable kernel for ops::latent_attention (the AVX2 and AVX-512 kernels live in
// latent_attention_avx2.cpp / _avx512.cpp). The portable kernel is plain loops written so the
// compiler can vectorize the inner ones; it serves the Scalar family.
#include "ops/latent_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/assert.h"
#include "core/error.h"
#include "cpu/cpu_features.h"
#include "cpu/kernel_isa.h"

namespace fathom::ops {
namespace detail {

namespace {

// A dot product in 16 independent lanes: a fixed-width inner loop the compiler turns into vector
// FMAs without reassociating a single sum (which it may not do without -ffast-math).
float dot_lanes(const float* a, const float* b, int64_t n) {
  constexpr int64_t L = 16;
  float acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int64_t k = 0; k < L; ++k) acc[k] += a[i + k] * b[i + k];
  float sum = 0.0f;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (int64_t k = 0; k < L; ++k) sum += acc[k];
  return sum;
}

}  // namespace

void latent_partial_portable(const LatentAttention& a, int64_t s0, int64_t s1, float* m, float* l, float* o) {
  const int64_t H = a.heads, dk = a.dk, dv = a.dv;
  constexpr int64_t B = 64;  // positions per block: their rows stay in L1/L2 while every head uses them
  thread_local std::vector<float> sc;
  thread_local std::vector<int64_t> visible;  // per head: the rows it sees (a.queries > 1: fewer)
  sc.resize(size_t(H * B));
  visible.resize(size_t(H));
  for (int64_t h = 0; h < H; ++h) visible[size_t(h)] = visible_rows(a, h);
  std::fill(m, m + H, -std::numeric_limits<float>::infinity());
  std::fill(l, l + H, 0.0f);
  std::fill(o, o + H * dv, 0.0f);
  for (int64_t b0 = s0; b0 < s1; b0 += B) {
    const int64_t nb = std::min(B, s1 - b0);
    for (int64_t j = 0; j < nb; ++j) {
      const float* c = a.cache + (b0 + j) * a.stride;
      for (int64_t h = 0; h < H; ++h) {
        const float* q = a.q + h * dk;
        sc[h * B + j] = b0 + j < visible[size_t(h)] ? dot_lanes(q, c, dk) * a.scale
                                                    : -std::numeric_limits<float>::infinity();
      }
    }
    // Online softmax: rescale what was summed so far to the new running maximum.
    for (int64_t h = 0; h < H; ++h) {
      float* p = sc.data() + h * B;
      float bm = p[0];
      for (int64_t j = 1; j < nb; ++j) bm = std::max(bm, p[j]);
      const float nm = std::max(m[h], bm);
      const float f = std::exp(m[h] - nm);  // 0 on the first block (m = -inf)
      float sum = 0.0f;
      for (int64_t j = 0; j < nb; ++j) sum += (p[j] = std::exp(p[j] - nm));
      l[h] = l[h] * f + sum;
      if (f != 1.0f)
        for (int64_t i = 0; i < dv; ++i) o[h * dv + i] *= f;
      m[h] = nm;
    }
    for (int64_t j = 0; j < nb; ++j) {
      const float* c = a.cache + (b0 + j) * a.stride;
      for (int64_t h = 0; h < H; ++h) {
        const float p = sc[h * B + j];
        float* oh = o + h * dv;
        for (int64_t i = 0; i < dv; ++i) oh[i] += p * c[i];
      }
    }
  }
}

void store_group_partial(const float* mm, const float* ll, const float* og, int64_t lanes, int64_t h0, int64_t live,
                         int64_t dv, float* m, float* l, float* o) {
  for (int64_t i = 0; i < live; ++i) {
    m[h0 + i] = mm[i];
    l[h0 + i] = ll[i];
  }
  for (int64_t d = 0; d < dv; ++d)
    for (int64_t i = 0; i < live; ++i) o[(h0 + i) * dv + d] = og[d * lanes + i];
}

}  // namespace detail

namespace {

detail::LatentPartialFn partial_for(cpu::Isa isa) {
  if (!cpu::isa_supported(isa)) fail("latent_attention: this CPU does not support {}", cpu::isa_name(isa));
  switch (isa) {
    case cpu::Isa::Scalar: return detail::latent_partial_portable;
    case cpu::Isa::Avx2: return detail::latent_partial_avx2;
    case cpu::Isa::Avx512: return detail::latent_partial_avx512;
  }
  fail("latent_attention: unknown ISA");
}

void check(const LatentAttention& a) {
  FATHOM_ASSERT(a.heads >= 1 && a.positions >= 1 && a.dk >= 1 && a.dv >= 1 && a.dv <= a.dk && a.stride >= a.dk,
                "latent_attention: bad shape (heads {}, positions {}, dk {}, dv {}, stride {})", a.heads, a.positions,
                a.dk, a.dv, a.stride);
  FATHOM_ASSERT(a.queries >= 1 && a.heads % a.queries == 0 && a.positions >= a.queries,
                "latent_attention: {} queries over {} heads and {} positions", a.queries, a.heads, a.positions);
  FATHOM_ASSERT(a.q && a.cache && a.out, "latent_attention: null query, cache or output");
}

// The chunks run_split splits `positions` rows into: one per thread, a few hundred rows at least, so
// short contexts stay on one thread and skip the merge.
int64_t split_chunks(int64_t positions, const cpu::ThreadPool* pool) {
  constexpr int64_t kMinChunk = 256;
  const int threads = pool ? pool->size() : 1;
  return std::max<int64_t>(1, std::min<int64_t>(threads, positions / kMinChunk));
}

// Splits positions into contiguous chunks (split_chunks; chunk starts are multiples of `align`), runs
// partial(s0, s1, m, l, o) on each and merges them into out [H, dv].
template <class Partial>
void run_split(int64_t H, int64_t dv, int64_t positions, int64_t align, float* out, cpu::ThreadPool* pool,
               const Partial& partial) {
  const int64_t chunks = split_chunks(positions, pool);
  if (chunks == 1) {
    thread_local std::vector<float> ml;
    ml.resize(size_t(2 * H));
    partial(0, positions, ml.data(), ml.data() + H, out);
    for (int64_t h = 0; h < H; ++h) {
      const float inv = 1.0f / ml[H + h];
      for (int64_t i = 0; i < dv; ++i) out[h * dv + i] *= inv;
    }
    return;
  }
  thread_local std::vector<float> scratch;
  const int64_t per = H * (2 + dv);
  scratch.resize(size_t(chunks * per));
  float* base = scratch.data();
  const int64_t step = ((positions + chunks - 1) / chunks + align - 1) / align * align;
  pool->parallel_for(chunks, [&](int64_t c, int) {
    float* m = base + c * per;
    const int64_t s0 = std::min(positions, c * step), s1 = std::min(positions, s0 + step);
    if (s0 == s1) {  // rounding to `align` left this chunk nothing
      std::fill(m, m + H, -std::numeric_limits<float>::infinity());
      std::fill(m + H, m + per, 0.0f);
      return;
    }
    partial(s0, s1, m, m + H, m + 2 * H);
  });
  // Merge: each chunk's sums are rescaled from its own maximum to the global one.
  for (int64_t h = 0; h < H; ++h) {
    float gm = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < chunks; ++c) gm = std::max(gm, base[c * per + h]);
    float* o_h = out + h * dv;
    std::fill(o_h, o_h + dv, 0.0f);
    float lsum = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) {
      const float* m = base + c * per;
      if (m[h] == -std::numeric_limits<float>::infinity()) continue;  // an empty chunk
      const float f = std::exp(m[h] - gm);
      lsum += f * m[H + h];
      const float* o = m + 2 * H + h * dv;
      for (int64_t i = 0; i < dv; ++i) o_h[i] += f * o[i];
    }
    const float inv = 1.0f / lsum;
    for (int64_t i = 0; i < dv; ++i) o_h[i] *= inv;
  }
}

// The 8-bit cache on a family without an int8 kernel: blocks of rows dequantized to f32 (exactly
// latent_q8_load_row's values) and handed to that family's f32 kernel, the blocks' partial
// softmaxes merged as they come.
void q8_partial_dequantized(detail::LatentPartialFn f32, const LatentAttentionQ8& a, int64_t s0, int64_t s1,
                            float* m, float* l, float* o) {
  const int64_t H = a.heads, rank = a.cache.layout.rank, dk = rank + a.cache.layout.rope;
  constexpr int64_t B = 256;
  thread_local std::vector<float> rows, part;
  rows.resize(size_t(B * dk));
  part.resize(size_t(H * (2 + rank)));
  float *bm = part.data(), *bl = bm + H, *bo = bl + H;
  std::fill(m, m + H, -std::numeric_limits<float>::infinity());
  std::fill(l, l + H, 0.0f);
  std::fill(o, o + H * rank, 0.0f);
  for (int64_t b0 = s0; b0 < s1; b0 += B) {
    const int64_t nb = std::min(B, s1 - b0);
    for (int64_t j = 0; j < nb; ++j) latent_q8_load_row(a.cache, b0 + j, rows.data() + j * dk);
    const LatentAttention la{a.q, H, rows.data(), dk, nb, dk, rank, a.scale, nullptr};
    f32(la, 0, nb, bm, bl, bo);
    for (int64_t h = 0; h < H; ++h) {
      const float nm = std::max(m[h], bm[h]);
      const float f_old = std::exp(m[h] - nm), f_new = std::exp(bm[h] - nm);
      l[h] = l[h] * f_old + bl[h] * f_new;
      for (int64_t i = 0; i < rank; ++i) o[h * rank + i] = o[h * rank + i] * f_old + bo[h * rank + i] * f_new;
      m[h] = nm;
    }
  }
}

}  // namespace

void latent_attention(cpu::Isa isa, const LatentAttention& a, cpu::ThreadPool* pool) {
  check(a);
  const detail::LatentPartialFn partial = partial_for(isa);
  // Several tokens in one pass only where that is exactly what each alone gives: one chunk for every
  // token (the split depends on the row count), and a kernel that masks (the AVX2 one does not).
  if (a.queries > 1 && (isa == cpu::Isa::Avx2 || split_chunks(a.positions, pool) > 1)) {
    const int64_t hq = a.heads / a.queries;
    for (int64_t j = 0; j < a.queries; ++j) {
      LatentAttention one = a;
      one.q = a.q + j * hq * a.dk;
      one.heads = hq;
      one.positions = a.positions - (a.queries - 1 - j);
      one.out = a.out + j * hq * a.dv;
      one.queries = 1;
      run_split(hq, a.dv, one.positions, 1, one.out, pool,
                [&](int64_t s0, int64_t s1, float* m, float* l, float* o) { partial(one, s0, s1, m, l, o); });
    }
    return;
  }
  run_split(a.heads, a.dv, a.positions, 1, a.out, pool,
            [&](int64_t s0, int64_t s1, float* m, float* l, float* o) { partial(a, s0, s1, m, l, o); });
}

void latent_attention(cpu::Isa isa, const LatentAttentionQ8& a, cpu::ThreadPool* pool) {
  const LatentQ8Layout& L = a.cache.layout;
  FATHOM_ASSERT(a.heads >= 1 && a.positions >= 1 && L.rank >= 1,
                "latent_attention (q8): bad shape (heads {}, positions {}, rank {})", a.heads, a.positions, L.rank);
  FATHOM_ASSERT(a.q && a.out && a.cache.data && a.cache.scale_lat && a.cache.scale_rope,
                "latent_attention (q8): null query, cache or output");
  const detail::LatentPartialFn f32 = partial_for(isa);
  if (isa >= cpu::Isa::Avx512 && cpu::kernel_isa_supported(cpu::KernelIsa::avx512vbmi)) {
    run_split(a.heads, L.rank, a.positions, 64, a.out, pool, [&](int64_t s0, int64_t s1, float* m, float* l, float* o) {
      detail::latent_partial_q8_avx512vbmi(a, s0, s1, m, l, o);
    });
    return;
  }
  run_split(a.heads, L.rank, a.positions, 1, a.out, pool, [&](int64_t s0, int64_t s1, float* m, float* l, float* o) {
    q8_partial_dequantized(f32, a, s0, s1, m, l, o);
  });
}

void latent_attention(const LatentAttentionQ8& a, cpu::ThreadPool* pool) {
  latent_attention(cpu::active_isa(), a, pool);
}

void latent_attention(const LatentAttention& a, cpu::ThreadPool* pool) {
  latent_attention(cpu::active_isa(), a, pool);
}

}  // namespace fathom::ops
