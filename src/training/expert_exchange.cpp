#include "training/expert_exchange.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "dist/comm.h"
#include "model/expert_parallel.h"

namespace fathom::train {

namespace {

// Rank r's experts are [first[r], first[r + 1]) (owner() grows with e: contiguous blocks).
std::vector<int64_t> first_experts(int64_t E, int R) {
  std::vector<int64_t> first(R + 1, E);
  for (int64_t e = E - 1; e >= 0; --e) first[expert_parallel::owner(e, E, R)] = e;
  for (int r = R - 1; r >= 0; --r) first[r] = std::min(first[r], first[r + 1]);
  return first;
}

std::vector<int64_t> prefix(const std::vector<int64_t>& counts) {
  std::vector<int64_t> off(counts.size(), 0);
  for (size_t r = 1; r < counts.size(); ++r) off[r] = off[r - 1] + counts[r - 1];
  return off;
}

// The rows' block sizes: what this rank sends to each rank (its slots of that rank's experts) and
// receives from each (that rank's slots of this rank's experts), in rows, with their offsets.
struct Blocks {
  std::vector<int64_t> send, send_off, recv, recv_off;
};

Blocks blocks(const LayerCtx& ctx, const MoeActs& a) {
  const int R = ctx.shard.ranks, me = ctx.shard.rank;
  const int64_t E = ctx.cfg->n_routed_experts;
  const std::vector<int64_t> first = first_experts(E, R);
  Blocks b;
  b.send.assign(R, 0);
  b.recv.assign(R, 0);
  b.send_off.assign(R, 0);
  for (int r = 0; r < R; ++r) {
    b.send_off[r] = a.offset[first[r]];
    b.send[r] = a.offset[first[r + 1]] - a.offset[first[r]];
    for (int64_t e = first[me]; e < first[me + 1]; ++e) b.recv[r] += a.recv_count[r * E + e];
  }
  b.recv_off = prefix(b.recv);
  return b;
}

// Copies each (sending rank s, expert e) block between the received order (s-major: the blocks of
// s back to back, its experts in order) and the expert-major order of a.e_offset.
template <typename Copy>
void for_each_block(const LayerCtx& ctx, const MoeActs& a, Copy copy) {
  const int R = ctx.shard.ranks;
  const int64_t E = ctx.cfg->n_routed_experts;
  std::vector<int64_t> at(E);  // next expert-major row of each expert
  for (int64_t e = 0; e < E; ++e) at[e] = a.e_offset[e];
  int64_t recv_row = 0;
  for (int s = 0; s < R; ++s)
    for (int64_t e = 0; e < E; ++e) {
      const int64_t n = a.recv_count[s * E + e];
      if (n == 0) continue;
      copy(recv_row, at[e], n);
      recv_row += n;
      at[e] += n;
    }
}

}  // namespace

void expert_dispatch(const LayerCtx& ctx, MoeActs& a) {
  const int64_t E = ctx.cfg->n_routed_experts;
  if (!ctx.shard.active()) {
    std::copy(a.offset, a.offset + E + 1, a.e_offset);
    return;
  }
  const int R = ctx.shard.ranks, me = ctx.shard.rank;
  const std::vector<int64_t> first = first_experts(E, R);
  // Counts: rank r gets this rank's counts of r's experts, into its row for this rank.
  std::vector<int64_t> send(R), send_off(R), recv(R), recv_off(R);
  for (int r = 0; r < R; ++r) {
    send[r] = first[r + 1] - first[r];
    send_off[r] = first[r];
    recv[r] = first[me + 1] - first[me];
    recv_off[r] = r * E + first[me];
  }
  std::fill(a.recv_count, a.recv_count + R * E, 0);
  dist::alltoallv(a.count, send.data(), send_off.data(), a.recv_count, recv.data(), recv_off.data(), sizeof(int32_t));
  a.e_offset[0] = 0;
  for (int64_t e = 0; e < E; ++e) {
    int64_t rows = 0;
    for (int s = 0; s < R; ++s) {
      if (a.recv_count[s * E + e] < 0) fail("expert parallel: rank {} got a negative row count", me);
      rows += a.recv_count[s * E + e];
    }
    a.e_offset[e + 1] = int32_t(a.e_offset[e] + rows);
  }
  const int64_t limit = expert_rows(*ctx.cfg, ctx.N(), ctx.shard);
  if (a.e_offset[E] > limit)
    fail("expert parallel: rank {} was sent {} rows, more than the {} its buffers hold", me, a.e_offset[E], limit);
  to_experts(ctx, a, a.xs, a.xe);
}

void to_experts(const LayerCtx& ctx, const MoeActs& a, const float* slots, float* rows) {
  if (!ctx.shard.active()) return;  // rows alias slots
  const int64_t H = ctx.cfg->hidden_size;
  const Blocks b = blocks(ctx, a);
  float* stage = ctx.s->stage;
  dist::alltoallv(slots, b.send.data(), b.send_off.data(), stage, b.recv.data(), b.recv_off.data(),
                  size_t(H) * sizeof(float));
  for_each_block(ctx, a, [&](int64_t from, int64_t to, int64_t n) {
    std::memcpy(rows + to * H, stage + from * H, size_t(n * H) * sizeof(float));
  });
}

void from_experts(const LayerCtx& ctx, const MoeActs& a, const float* rows, float* slots) {
  if (!ctx.shard.active()) return;
  const int64_t H = ctx.cfg->hidden_size;
  const Blocks b = blocks(ctx, a);
  float* stage = ctx.s->stage;
  for_each_block(ctx, a, [&](int64_t to, int64_t from, int64_t n) {
    std::memcpy(stage + to * H, rows + from * H, size_t(n * H) * sizeof(float));
  });
  dist::alltoallv(stage, b.recv.data(), b.recv_off.data(), slots, b.send.data(), b.send_off.data(),
                  size_t(H) * sizeof(float));
}

}  // namespace fathom::train
