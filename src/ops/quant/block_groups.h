// Where a block's quantized bytes live inside a Q8_0 / Q4_0 row: blocks are stored in groups whose
// bytes are interleaved four at a time ("dwords"), so that one 64-byte load holds the same dword of
// 16 consecutive blocks. A vpdpbusd over such a load leaves block j's partial dot product in lane j;
// after a group's loads each lane holds one whole block's dot product, and the per-block scales are
// applied to 16 blocks by one convert and one FMA, with no shuffle. (With blocks stored one after
// another, every 64-byte load needs its own convert, permute of the scales and FMA: about twice the
// instructions per byte, which is what kept single-token decode below the memory's read rate.)
//
// Grouping of a row's nb blocks: groups of 16 while at least 16 remain, then the remainder split by
// its binary digits into one group each of 8, 4, 2 and 1 (whichever are present), in that order.
// Inside a group of G blocks starting at block g0, with B bytes per block (Q8_0: 32, Q4_0: 16),
// dword k (bytes 4k..4k+3 of the block's natural bytes) of block g0 + j is at byte
//     g0 * B + (k * G + j) * 4.
// Because G divides 16, the 16 dwords of any aligned 64-byte load within a group (and of any 32-byte
// load for AVX2: lane l holds block l % G, or l + 8 for the odd loads of a 16-group) belong to blocks
// l % G: every kernel knows which lane holds which block from G alone. A group of one block is the
// block's bytes in natural order.
#pragma once
#include <cstdint>

namespace fathom::ops::quant {

constexpr int64_t kGroupBlocks = 16;

struct BlockGroup {
  int64_t first;   // first block of the group
  int64_t blocks;  // G: 16, 8, 4, 2 or 1
};

// The group that holds block b of a row of nb blocks.
inline BlockGroup block_group(int64_t nb, int64_t b) {
  const int64_t full = nb / kGroupBlocks * kGroupBlocks;
  if (b < full) return {b / kGroupBlocks * kGroupBlocks, kGroupBlocks};
  int64_t first = full;
  for (int64_t g = kGroupBlocks / 2; g >= 1; g /= 2) {
    if (!((nb - full) & g)) continue;
    if (b < first + g) return {first, g};
    first += g;
  }
  return {nb, 0};  // b >= nb
}

// Calls fn(BlockGroup) for the groups of a row of nb blocks, in storage order.
template <typename Fn>
inline void for_each_block_group(int64_t nb, Fn&& fn) {
  const int64_t full = nb / kGroupBlocks * kGroupBlocks;
  for (int64_t b = 0; b < full; b += kGroupBlocks) fn(BlockGroup{b, kGroupBlocks});
  int64_t first = full;
  for (int64_t g = kGroupBlocks / 2; g >= 1; g /= 2)
    if ((nb - full) & g) {
      fn(BlockGroup{first, g});
      first += g;
    }
}

// Byte offset, from the start of the row's quantized bytes, of dword k of block b.
inline int64_t block_dword_offset(int64_t nb, int64_t b, int64_t k, int64_t bytes_per_block) {
  const BlockGroup g = block_group(nb, b);
  return g.first * bytes_per_block + (k * g.blocks + (b - g.first)) * 4;
}

}  // namespace fathom::ops::quant
