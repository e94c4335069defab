// What every training layer function receives: the config, how to compute, the batch shape, the
// RoPE tables, and the backward scratch shared by all layers (sized once for the largest use).
#pragma once
#include <cstdint>

#include "model/config.h"
#include "training/arena.h"
#include "training/kernels.h"
#include "training/lowp_linear.h"
#include "training/params.h"

namespace fathom::train {

struct Scratch {
  // MLA (forward kv_a split, then gradients)
  float *kv_a = nullptr, *dq = nullptr, *dq_a = nullptr, *dq_a_norm = nullptr, *dkv_a = nullptr;
  float *dc = nullptr, *dc_raw = nullptr, *dk_pe = nullptr, *dk_pe_heads = nullptr, *dkv = nullptr;
  float *dattn = nullptr, *ds = nullptr;
  // MLP / experts
  float *da = nullptr, *dg = nullptr, *du = nullptr;
  // MoE
  float *dy = nullptr, *dxs = nullptr, *dscores = nullptr, *dwk = nullptr;  // dy, dxs in slot order
  float *dye = nullptr, *dxe = nullptr, *stage = nullptr;  // expert-major rows, exchange staging (MoeActs)
  float *choice = nullptr, *group = nullptr, *seq_f = nullptr;
  uint8_t* taken = nullptr;
};

// Where a layer's Linear inputs (keep_input, lowp_linear.h) live as f32. In f32 precision the
// backward reads them, so each layer has its own buffers in the arena. In bf16 / fp8 it reads their
// quantized tiles instead (DeepSeek-V3 stores the Linears' cached inputs in FP8), so every layer
// writes one shared buffer, which holds each input only until keep_input has quantized it.
struct KeptF32 {
  float* shared = nullptr;  // bf16 / fp8: at least the largest kept input; null: per layer
  void take(Arena& arena, float** p, int64_t n) const {
    if (shared)
      *p = shared;
    else
      arena.take(p, n);
  }
};

struct LayerCtx {
  const ModelConfig* cfg = nullptr;
  Ops ops;
  int64_t B = 0, T = 0;  // sequences and positions; N = B*T token rows
  const float *rope_cos = nullptr, *rope_sin = nullptr;  // [T, qk_rope_head_dim/2], YaRN-scaled
  Scratch* s = nullptr;
  float balance_alpha = 0.0f;  // sequence-wise balance loss weight α
  Precision precision = Precision::F32;  // of the decoder layers' Linears (lowp_linear.h)
  LowpWorkspace* lowp = nullptr;
  ExpertShard shard;  // expert parallel: which routed experts this rank runs (params.h)
  int64_t N() const { return B * T; }
  LinearCtx linear() const { return {ops, precision, lowp}; }
};

}  // namespace fathom::train
