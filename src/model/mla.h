// Multi-head latent attention (DeepSeek-V2 §2.1, DeepSeek-V3 §2.1.1).
//
//   q      = q_b(RMSNorm(q_a(x)))  or  q_proj(x)        -> per head [q_nope (dn) | q_pe (dr)]
//   [c|kr] = kv_a_proj_with_mqa(x);  c = RMSNorm(c)     -> latent (kv_lora_rank) + shared RoPE key
//   [k_nope | v] per head = kv_b_proj(c)
//   score  = (q_nope·k_nope + rope(q_pe)·rope(kr)) * softmax_scale, causal softmax, out = o_proj(Σ p v)
//
// Two paths over the same latent cache:
//   expanded — decompress k_nope and v for every cached token (prefill: many queries share them);
//   absorbed — fold kv_b's key half into the query (q_lat = W_UKᵀ q_nope) and its value half into
//              the output (o = W_UV Σ p c), so attention runs in the latent space (decode).
#pragma once
#include <cstdint>

#include "model/compute.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/rope.h"
#include "model/weights.h"

namespace fathom {

enum class AttentionPath { Expanded, Absorbed };

// x: [T, hidden] normalised inputs for positions cache.length() .. +T-1 (the cache must have room).
// Writes those positions' latent rows into cache slot `layer` and out: [T, hidden].
void mla_forward(const Exec& ex, const ModelConfig& cfg, const AttentionWeights& w, const Rope& rope,
                 const float* x, int64_t T, LatentCache& cache, int64_t layer, AttentionPath path, float* out);

// Only the latent rows of x: [T, hidden] normalised inputs, written into cache slot `layer` at
// positions cache.length() .. +T-1 (the cache is not advanced). What mla_forward writes for the same
// rows; for rows whose attention output nobody reads (an MTP drafter's catch-up rows, model/mtp.h).
void mla_write_latents(const Exec& ex, const ModelConfig& cfg, const AttentionWeights& w, const Rope& rope,
                       const float* x, int64_t T, LatentCache& cache, int64_t layer);

// Batched decode: one new token for each of B independent sequences (continuous batching). The
// projections run over all B tokens at once (weights read once); token b attends over *caches[b]
// (absorbed path) and is written at position caches[b]->length().
// counts (optional): sequence b brings counts[b] consecutive tokens (rows of x one after the other),
// written at positions caches[b]->length() onwards, each attending causally to the ones before it.
void mla_decode_batch(const Exec& ex, const ModelConfig& cfg, const AttentionWeights& w, const Rope& rope,
                      const float* x, int64_t B, LatentCache* const* caches, int64_t layer, float* out,
                      const int64_t* counts = nullptr);

}  // namespace fathom
