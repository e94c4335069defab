#include "model/mla.h"

#include <cmath>
#include <vector>

#include "model/mla_fast.h"
#include "ops/reference.h"

namespace fathom {

namespace {

// Queries for T tokens: [T, heads, qk_head_dim] with q_pe already rotated.
std::vector<float> project_queries(const Exec& ex, const ModelConfig& c, const AttentionWeights& w,
                                   const Rope& rope, const float* x, int64_t T, const int64_t* pos) {
  const int64_t nh = c.num_attention_heads, dq = c.qk_head_dim();
  std::vector<float> q(T * nh * dq);
  if (c.q_lora_rank > 0) {
    std::vector<float> qa(T * c.q_lora_rank);
    linear(ex, w.q_a_proj, x, T, qa.data());
    for (int64_t t = 0; t < T; ++t) {
      float* r = qa.data() + t * c.q_lora_rank;
      ops::ref::rmsnorm(r, w.q_a_layernorm.data(), c.q_lora_rank, float(c.rms_norm_eps), r);
    }
    linear(ex, w.q_b_proj, qa.data(), T, q.data());
  } else {
    linear(ex, w.q_proj, x, T, q.data());
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < nh; ++h) rope.apply(q.data() + (t * nh + h) * dq + c.qk_nope_head_dim, pos[t]);
  return q;
}

// Latent rows for T tokens, token t written into *caches[t] at position pos[t].
void write_latents(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const Rope& rope,
                   const float* x, int64_t T, const int64_t* pos, LatentCache* const* caches, int64_t layer) {
  const int64_t row = c.kv_lora_rank + c.qk_rope_head_dim;
  std::vector<float> kv(T * row);
  linear(ex, w.kv_a_proj_with_mqa, x, T, kv.data());
  for (int64_t t = 0; t < T; ++t) {
    float* r = kv.data() + t * row;
    ops::ref::rmsnorm(r, w.kv_a_layernorm.data(), c.kv_lora_rank, float(c.rms_norm_eps), r);
    rope.apply(r + c.kv_lora_rank, pos[t]);
    caches[t]->store_row(layer, pos[t], r);
  }
}

// Expanded: k_nope and v for every cached token, then ordinary attention per head.
void attend_expanded(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const float* q,
                     int64_t T, int64_t pos0, const LatentCache& cache, int64_t layer, float* attn_out) {
  const int64_t nh = c.num_attention_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim,
                dv = c.v_head_dim, dq = c.qk_head_dim(), rank = c.kv_lora_rank;
  const int64_t S = pos0 + T;  // tokens visible to the last query
  const int64_t row = rank + dr;
  const std::vector<float> rows = cache.load_rows(layer, S);
  std::vector<float> latents(S * rank);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t i = 0; i < rank; ++i) latents[s * rank + i] = rows[s * row + i];
  std::vector<float> kv(S * nh * (dn + dv));  // [S, heads, dn + dv]
  linear(ex, w.kv_b_proj, latents.data(), S, kv.data());
  const float scale = float(c.softmax_scale());
  std::vector<float> p(S);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t visible = pos0 + t + 1;
    for (int64_t h = 0; h < nh; ++h) {
      const float* qh = q + (t * nh + h) * dq;
      for (int64_t s = 0; s < visible; ++s) {
        const float* kh = kv.data() + (s * nh + h) * (dn + dv);
        const float* kr = rows.data() + s * row + rank;
        p[s] = (ops::ref::dot(qh, kh, dn) + ops::ref::dot(qh + dn, kr, dr)) * scale;
      }
      ops::ref::softmax(p.data(), visible);
      float* o = attn_out + (t * nh + h) * dv;
      for (int64_t d = 0; d < dv; ++d) {
        double acc = 0;
        for (int64_t s = 0; s < visible; ++s) acc += double(p[s]) * kv[(s * nh + h) * (dn + dv) + dn + d];
        o[d] = float(acc);
      }
    }
  }
}

// Absorbed: attention in the latent space; kv_b is applied to the query and the output instead.
void attend_absorbed(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const float* q,
                     int64_t T, int64_t pos0, const LatentCache& cache, int64_t layer, float* attn_out) {
  const int64_t nh = c.num_attention_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim,
                dv = c.v_head_dim, dq = c.qk_head_dim(), rank = c.kv_lora_rank;
  // kv_b rows per head: dn rows of W_UK then dv rows of W_UV, each [rank].
  std::vector<float> wkv(w.kv_b_proj.rows * rank);
  for (int64_t r = 0; r < w.kv_b_proj.rows; ++r) ops::dequant_row(w.kv_b_proj, r, wkv.data() + r * rank);
  const float scale = float(c.softmax_scale());
  const int64_t row_size = rank + dr;
  const std::vector<float> rows = cache.load_rows(layer, pos0 + T);
  std::vector<float> q_lat(rank), o_lat(rank), p(pos0 + T);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t visible = pos0 + t + 1;
    for (int64_t h = 0; h < nh; ++h) {
      const float* qh = q + (t * nh + h) * dq;
      const float* w_uk = wkv.data() + h * (dn + dv) * rank;  // [dn, rank]
      const float* w_uv = w_uk + dn * rank;                    // [dv, rank]
      for (int64_t i = 0; i < rank; ++i) {                     // q_lat = W_UKᵀ q_nope
        double acc = 0;
        for (int64_t d = 0; d < dn; ++d) acc += double(qh[d]) * w_uk[d * rank + i];
        q_lat[i] = float(acc);
      }
      for (int64_t s = 0; s < visible; ++s) {
        const float* row = rows.data() + s * row_size;
        p[s] = (ops::ref::dot(q_lat.data(), row, rank) + ops::ref::dot(qh + dn, row + rank, dr)) * scale;
      }
      ops::ref::softmax(p.data(), visible);
      for (int64_t i = 0; i < rank; ++i) {  // o_lat = Σ p c
        double acc = 0;
        for (int64_t s = 0; s < visible; ++s) acc += double(p[s]) * rows[s * row_size + i];
        o_lat[i] = float(acc);
      }
      float* o = attn_out + (t * nh + h) * dv;
      for (int64_t d = 0; d < dv; ++d) o[d] = ops::ref::dot(w_uv + d * rank, o_lat.data(), rank);
    }
  }
}

}  // namespace

void mla_forward(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const Rope& rope,
                 const float* x, int64_t T, LatentCache& cache, int64_t layer, AttentionPath path, float* out) {
  const int64_t pos0 = cache.length();
  cache.check_room(T);
  std::vector<int64_t> pos(T);
  std::vector<LatentCache*> caches(T, &cache);
  for (int64_t t = 0; t < T; ++t) pos[t] = pos0 + t;
  std::vector<float> q = project_queries(ex, c, w, rope, x, T, pos.data());
  write_latents(ex, c, w, rope, x, T, pos.data(), caches.data(), layer);
  std::vector<float> attn(T * c.num_attention_heads * c.v_head_dim);
  if (ex.reference) {
    if (path == AttentionPath::Expanded)
      attend_expanded(ex, c, w, q.data(), T, pos0, cache, layer, attn.data());
    else
      attend_absorbed(ex, c, w, q.data(), T, pos0, cache, layer, attn.data());
  } else {
    if (path == AttentionPath::Expanded)
      attend_expanded_fast(ex, c, w, q.data(), T, pos0, cache, layer, attn.data());
    else
      attend_absorbed_fast(ex, c, w, q.data(), T, pos0, cache, layer, attn.data());
  }
  linear(ex, w.o_proj, attn.data(), T, out);
}

void mla_write_latents(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const Rope& rope,
                       const float* x, int64_t T, LatentCache& cache, int64_t layer) {
  cache.check_room(T);
  std::vector<int64_t> pos(T);
  std::vector<LatentCache*> caches(T, &cache);
  for (int64_t t = 0; t < T; ++t) pos[t] = cache.length() + t;
  write_latents(ex, c, w, rope, x, T, pos.data(), caches.data(), layer);
}

void mla_decode_batch(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const Rope& rope,
                      const float* x, int64_t B, LatentCache* const* caches, int64_t layer, float* out,
                      const int64_t* counts) {
  int64_t N = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = counts ? counts[b] : 1;
    caches[b]->check_room(n);
    N += n;
  }
  // Per token: its position and its sequence's cache.
  std::vector<int64_t> pos(N);
  std::vector<LatentCache*> token_cache(N);
  for (int64_t b = 0, t = 0; b < B; ++b)
    for (int64_t i = 0; i < (counts ? counts[b] : 1); ++i, ++t) {
      pos[t] = caches[b]->length() + i;
      token_cache[t] = caches[b];
    }
  std::vector<float> q = project_queries(ex, c, w, rope, x, N, pos.data());
  // Every latent row first: a sequence's later tokens attend to its earlier ones.
  write_latents(ex, c, w, rope, x, N, pos.data(), token_cache.data(), layer);
  const int64_t dq = c.qk_head_dim(), nh = c.num_attention_heads, dv = c.v_head_dim;
  std::vector<float> attn(N * nh * dv);
  for (int64_t b = 0, t = 0; b < B; ++b) {  // each sequence attends over its own cache
    const int64_t n = counts ? counts[b] : 1;
    const float* qb = q.data() + t * nh * dq;
    float* ob = attn.data() + t * nh * dv;
    if (ex.reference)
      attend_absorbed(ex, c, w, qb, n, pos[t], *caches[b], layer, ob);
    else
      attend_absorbed_fast(ex, c, w, qb, n, pos[t], *caches[b], layer, ob);
    t += n;
  }
  linear(ex, w.o_proj, attn.data(), N, out);
}

}  // namespace fathom
