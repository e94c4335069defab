#include "model/mla_fast.h"

#include <cmath>
#include <cstring>

#include "core/assert.h"
#include "cpu/cpu_features.h"
#include "cpu/thread_pool.h"
#include "model/weights.h"
#include "ops/activation.h"
#include "ops/latent_attention.h"
#include "ops/matmul.h"
#include "ops/quant/q8_0.h"

namespace fathom {

namespace {

ops::WeightMatrix f32_view(const float* data, int64_t rows, int64_t cols) {
  ops::WeightMatrix m;
  m.format = ops::WFormat::F32;
  m.rows = rows;
  m.cols = cols;
  m.data = data;
  return m;
}

// Encodes a row-major f32 matrix into `fmt` at dst (weight_row_bytes(fmt, cols) per row).
void encode_rows(ops::WFormat fmt, const float* src, int64_t rows, int64_t cols, uint8_t* dst) {
  const int64_t rb = ops::weight_row_bytes(fmt, cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * cols;
    uint8_t* d = dst + r * rb;
    if (fmt == ops::WFormat::F32) {
      std::memcpy(d, s, cols * 4);
    } else if (fmt == ops::WFormat::BF16) {
      auto* h = reinterpret_cast<uint16_t*>(d);
      for (int64_t i = 0; i < cols; ++i) h[i] = f32_to_bf16(s[i]);
    } else {
      ops::quant::q8_0_quantize_row(s, cols, d);
    }
  }
}

// Runs fn(task) for task in [0, n) on the pool, or serially without one.
template <typename Fn>
void parallel(const Exec& ex, int64_t n, Fn&& fn) {
  if (ex.pool)
    ex.pool->parallel_for(n, [&](int64_t task, int) { fn(task); });
  else
    for (int64_t i = 0; i < n; ++i) fn(i);
}

}  // namespace

std::shared_ptr<const AbsorbedKvB> make_absorbed_kv_b(const ModelConfig& c, const ops::WeightMatrix& kv_b) {
  const int64_t nh = c.num_attention_heads, dn = c.qk_nope_head_dim, dv = c.v_head_dim, rank = c.kv_lora_rank;
  auto a = std::make_shared<AbsorbedKvB>();
  // BF16 holds bf16 weights exactly; fp8 x block scale and f16 values need f32 to stay exact;
  // quantized checkpoints get Q8_0 (at least as precise as their own format).
  const ops::WFormat fmt = kv_b.format == ops::WFormat::BF16 ? ops::WFormat::BF16
                           : (kv_b.format == ops::WFormat::Q8_0 || kv_b.format == ops::WFormat::Q4_0)
                               ? ops::WFormat::Q8_0
                               : ops::WFormat::F32;
  const int64_t uk_bytes = rank * ops::weight_row_bytes(fmt, dn), uv_bytes = dv * ops::weight_row_bytes(fmt, rank);
  a->storage.resize(size_t(nh * (uk_bytes + uv_bytes)));
  std::vector<float> rows((dn + dv) * rank), uk_t(rank * dn);
  for (int64_t h = 0; h < nh; ++h) {
    for (int64_t r = 0; r < dn + dv; ++r) ops::dequant_row(kv_b, h * (dn + dv) + r, rows.data() + r * rank);
    for (int64_t d = 0; d < dn; ++d)
      for (int64_t i = 0; i < rank; ++i) uk_t[i * dn + d] = rows[d * rank + i];
    uint8_t* uk_dst = a->storage.data() + h * (uk_bytes + uv_bytes);
    uint8_t* uv_dst = uk_dst + uk_bytes;
    encode_rows(fmt, uk_t.data(), rank, dn, uk_dst);
    encode_rows(fmt, rows.data() + dn * rank, dv, rank, uv_dst);
    ops::WeightMatrix uk{fmt, rank, dn, uk_dst}, uv{fmt, dv, rank, uv_dst};
    a->uk_t.push_back(uk);
    a->uv.push_back(uv);
  }
  return a;
}

void attend_expanded_fast(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const float* q, int64_t T,
                          int64_t pos0, const LatentCache& cache, int64_t layer, float* attn_out) {
  const int64_t nh = c.num_attention_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim,
                dq = c.qk_head_dim(), rank = c.kv_lora_rank, row = cache.row_size();
  const int64_t S = pos0 + T;
  const std::vector<float> rows = cache.load_rows(layer, S);  // [S, rank + dr] as f32, any cache type
  std::vector<float> latents(S * rank);
  for (int64_t s = 0; s < S; ++s) std::memcpy(latents.data() + s * rank, rows.data() + s * row, rank * 4);
  std::vector<float> kv(S * nh * (dn + dv));
  linear(ex, w.kv_b_proj, latents.data(), S, kv.data());
  const float scale = float(c.softmax_scale());

  std::vector<float> k(S * dq), vt(dv * S), qh(T * dq), p(T * S), o(T * dv);
  for (int64_t h = 0; h < nh; ++h) {
    for (int64_t s = 0; s < S; ++s) {
      const float* src = kv.data() + (s * nh + h) * (dn + dv);
      std::memcpy(k.data() + s * dq, src, dn * 4);
      std::memcpy(k.data() + s * dq + dn, rows.data() + s * row + rank, dr * 4);
      for (int64_t d = 0; d < dv; ++d) vt[d * S + s] = src[dn + d];
    }
    for (int64_t t = 0; t < T; ++t) std::memcpy(qh.data() + t * dq, q + (t * nh + h) * dq, dq * 4);
    linear(ex, f32_view(k.data(), S, dq), qh.data(), T, p.data());  // scores [T, S]
    parallel(ex, T, [&](int64_t t) {
      float* pr = p.data() + t * S;
      const int64_t visible = pos0 + t + 1;
      for (int64_t s = 0; s < visible; ++s) pr[s] *= scale;
      ops::softmax(cpu::active_isa(), pr, visible);
      for (int64_t s = visible; s < S; ++s) pr[s] = 0.0f;  // causal mask
    });
    linear(ex, f32_view(vt.data(), dv, S), p.data(), T, o.data());  // [T, dv]
    for (int64_t t = 0; t < T; ++t) std::memcpy(attn_out + (t * nh + h) * dv, o.data() + t * dv, dv * 4);
  }
}

void attend_absorbed_fast(const Exec& ex, const ModelConfig& c, const AttentionWeights& w, const float* q, int64_t T,
                          int64_t pos0, const LatentCache& cache, int64_t layer, float* attn_out) {
  const int64_t nh = c.num_attention_heads, dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim,
                dq = c.qk_head_dim(), rank = c.kv_lora_rank, row = cache.row_size();
  FATHOM_ASSERT(w.absorbed, "absorbed MLA without the per-head kv_b (Model::load derives it)");
  const AbsorbedKvB& a = *w.absorbed;
  const float scale = float(c.softmax_scale());
  std::vector<ops::MatmulJob> jobs(nh);
  // A speculative verify's few tokens (at most a GEMV's worth, whose products equal one-token ones
  // bit for bit) go through together: one product per head for all of them on each side of the
  // attention, and one attention call that reads the cache once. More tokens (a prefill), or the
  // 8-bit cache, take them one at a time.
  const int64_t G = T <= ops::kGemvMaxTokens && cache.type() != CacheType::Q8 ? T : 1;
  std::vector<float> qn(nh * G * dn), qk(nh * G * rank), qcat(G * nh * row), o_lat(G * nh * rank),
      lat_h(nh * G * rank), o_h(nh * G * dv);
  for (int64_t t0 = 0; t0 < T; t0 += G) {
    // q_cat[t, h] = [W_UKᵀ q_nope[t, h] ; q_pe[t, h]]: the query in the latent space plus its RoPE part.
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t g = 0; g < G; ++g) std::memcpy(qn.data() + (h * G + g) * dn, q + ((t0 + g) * nh + h) * dq, dn * 4);
    for (int64_t h = 0; h < nh; ++h) jobs[h] = {&a.uk_t[h], qn.data() + h * G * dn, G, qk.data() + h * G * rank};
    linear_batch(ex, jobs);  // uk_t has rows = rank and cols = dn
    for (int64_t g = 0; g < G; ++g)
      for (int64_t h = 0; h < nh; ++h) {
        float* dst = qcat.data() + (g * nh + h) * row;
        std::memcpy(dst, qk.data() + (h * G + g) * rank, rank * 4);
        std::memcpy(dst + rank, q + ((t0 + g) * nh + h) * dq + dn, dr * 4);
      }
    // Every head attends over the shared latent rows; the kernel reads each row once for all heads
    // (of all G tokens, token g seeing the rows up to its own).
    const int64_t visible = pos0 + t0 + G;
    if (cache.type() == CacheType::Q8) {
      const ops::LatentAttentionQ8 la{qcat.data(), nh, cache.q8_rows(layer), visible, scale, o_lat.data()};
      ops::latent_attention(la, ex.pool);
    } else {
      const ops::LatentAttention la{qcat.data(), G * nh, cache.row(layer, 0), row,   visible,
                                    row,         rank,   scale,               o_lat.data(), G};
      ops::latent_attention(la, ex.pool);
    }
    for (int64_t h = 0; h < nh; ++h)
      for (int64_t g = 0; g < G; ++g)
        std::memcpy(lat_h.data() + (h * G + g) * rank, o_lat.data() + (g * nh + h) * rank, rank * 4);
    for (int64_t h = 0; h < nh; ++h) jobs[h] = {&a.uv[h], lat_h.data() + h * G * rank, G, o_h.data() + h * G * dv};
    linear_batch(ex, jobs);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t h = 0; h < nh; ++h)
        std::memcpy(attn_out + ((t0 + g) * nh + h) * dv, o_h.data() + (h * G + g) * dv, dv * 4);
  }
}

}  // namespace fathom
