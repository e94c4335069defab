// Int8 activations for the Q8_0 / Q4_0 GEMV kernels (AVX2 and AVX-512 share the layout), laid out to
// meet the block-interleaved weights (ops/quant/block_groups.h) load for load.
//
// Each token is quantized per 32-block, q = round(x / dx), dx = amax / 127, and stored as:
//   q   int8  [q_bytes]  per weight group of G blocks, at the group's offset:
//                        Q8_0: the same interleave as the weights (dword k of block j at (k*G + j)*4),
//                              so the weights' 64-byte load i meets activation bytes [64i, 64i + 64).
//                        Q4_0: per 64 weight bytes (16 dwords d = k*G + j, dword k of a block
//                              holding elements 4k.. in its low nibbles and 16+4k.. in its high
//                              ones), 64 bytes for the low nibbles then 64 for the high:
//                              x[4k..4k+3] at i*128 + l*4 and x[16+4k..] at i*128 + 64 + l*4,
//                              d = 16i + l. AVX2's 32-byte load h of that 64 meets + 32h.
//   dx  f32   [nbp]      per block; 0 in the padding
//   c   int32 [nbp]      per block, the integer correction for the weights' unsigned storage:
//                        Q8_0 stores q + 128, Q4_0 q + 8, so sum(u * x) = sum(q * x) + off * sum(x)
//                        and c = -off * sum(x) (off = 128 / 8) restores the signed dot product.
// Full groups sit at first * 32 (512 activation bytes per 16 blocks in both formats); the tail groups
// (8, 4, 2, 1 blocks) follow, each at least one load's worth (64 / 128 bytes), zero-padded.
// nbp = nb rounded up to 16, so a 16-lane load of dx or c at any group's first block stays inside.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ops/quant/block_groups.h"
#include "ops/weight.h"

namespace fathom::ops::detail {

struct QActLayout {
  struct Group {
    int64_t first, blocks, offset;  // offset: of the group's activation bytes in q
  };
  bool q4;
  int64_t nb, nbp, full;  // full: blocks in groups of 16
  int n_tail = 0;
  Group tail[4];
  int64_t q_bytes, token_bytes;

  explicit QActLayout(const WeightMatrix& W) : q4(W.format == WFormat::Q4_0) {
    nb = (W.cols + 31) / 32;
    nbp = (nb + 15) / 16 * 16;
    full = nb / quant::kGroupBlocks * quant::kGroupBlocks;
    int64_t off = full * 32;
    quant::for_each_block_group(nb, [&](quant::BlockGroup g) {
      if (g.blocks == quant::kGroupBlocks) return;
      tail[n_tail++] = {g.first, g.blocks, off};
      off += std::max<int64_t>(32 * g.blocks, q4 ? 128 : 64);
    });
    q_bytes = (off + 63) / 64 * 64;
    token_bytes = q_bytes + nbp * 8;
  }
  int8_t* q(void* prep, int64_t t) const { return static_cast<int8_t*>(prep) + t * token_bytes; }
  float* dx(void* prep, int64_t t) const { return reinterpret_cast<float*>(q(prep, t) + q_bytes); }
  int32_t* c(void* prep, int64_t t) const { return reinterpret_cast<int32_t*>(dx(prep, t) + nbp); }

  // Offset in q of the group holding block b, and that group's size.
  Group group_of(int64_t b) const {
    if (b < full) return {b / 16 * 16, 16, b / 16 * 16 * 32};
    for (int i = 0; i < n_tail; ++i)
      if (b < tail[i].first + tail[i].blocks) return tail[i];
    return {nb, 0, q_bytes};
  }

  // Stores block b's 32 quantized activations (natural order) into token area q, and its dx and c.
  void place(int8_t* q, float* dx, int32_t* c, int64_t b, const int8_t v[32], float d, int32_t sum) const {
    const Group g = group_of(b);
    const int64_t j = b - g.first;
    int8_t* base = q + g.offset;
    if (q4) {
      for (int64_t k = 0; k < 4; ++k) {
        const int64_t dw = k * g.blocks + j, at = dw / 16 * 128 + dw % 16 * 4;
        std::memcpy(base + at, v + 4 * k, 4);
        std::memcpy(base + at + 64, v + 16 + 4 * k, 4);
      }
    } else {
      for (int64_t k = 0; k < 8; ++k) std::memcpy(base + (k * g.blocks + j) * 4, v + 4 * k, 4);
    }
    dx[b] = d;
    c[b] = (q4 ? -8 : -128) * sum;
  }
};

// Calls fn(std::integral_constant<int, G>) for a tail group's size G (8, 4, 2 or 1): the kernels
// compile each tail shape as straight-line code.
template <typename Fn>
inline void with_tail_size(int64_t blocks, Fn&& fn) {
  switch (blocks) {
    case 8: return fn(std::integral_constant<int, 8>());
    case 4: return fn(std::integral_constant<int, 4>());
    case 2: return fn(std::integral_constant<int, 2>());
    default: return fn(std::integral_constant<int, 1>());
  }
}

// Tokens t0 .. t0 + NT of a prepared batch, as the kernels read them.
template <int NT>
struct QTokens {
  const int8_t* q[NT];
  const float* dx[NT];
  const int32_t* c[NT];
  QTokens(const QActLayout& L, const void* prep, int64_t t0) {
    void* p = const_cast<void*>(prep);
    #pragma GCC unroll 8
    for (int t = 0; t < NT; ++t) {
      q[t] = L.q(p, t0 + t);
      dx[t] = L.dx(p, t0 + t);
      c[t] = L.c(p, t0 + t);
    }
  }
};

}  // namespace fathom::ops::detail
