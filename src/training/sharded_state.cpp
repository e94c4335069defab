#include "training/sharded_state.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "dist/comm.h"
#include "model/expert_parallel.h"

namespace fathom::train {

namespace {

// Walks full's tensors in order alongside local's (a subsequence of them, same names and order):
// f(full tensor, local tensor or null when another rank holds it).
template <typename F>
void match(const ParamLayout& local, const ParamLayout& full, F f) {
  const auto& lt = local.tensors();
  size_t j = 0;
  for (const ParamTensor& t : full.tensors()) {
    const bool here = j < lt.size() && lt[j].name == t.name;
    f(t, here ? &lt[j] : nullptr);
    if (here) ++j;
  }
  if (j != lt.size()) fail("internal: a sharded parameter layout is not part of the full one ('{}')", lt[j].name);
}

}  // namespace

void take_local(const ParamLayout& local, const ParamLayout& full, const float* src, float* dst) {
  match(local, full, [&](const ParamTensor& t, const ParamTensor* l) {
    if (l) std::copy_n(src + t.offset, t.numel, dst + l->offset);
  });
}

void gather_full(const ParamLayout& local, const ParamLayout& full, const float* src, float* dst) {
  const bool root = dist::is_root();
  const int R = local.shard().active() ? local.shard().ranks : 1, me = local.shard().rank;
  const int64_t E = full.config().n_routed_experts;
  // Replicated tensors (identical on every rank) come from rank 0's own buffer.
  if (root)
    match(local, full, [&](const ParamTensor& t, const ParamTensor* l) {
      if (t.expert < 0) std::copy_n(src + l->offset, t.numel, dst + t.offset);
    });
  // Routed experts, one MoE layer (a run of expert tensors in the full order) at a time: every
  // rank's experts of the layer are one contiguous range in its buffer and in the full layout.
  const auto& ft = full.tensors();
  std::vector<const ParamTensor*> mine(ft.size(), nullptr);
  {
    size_t i = 0;
    match(local, full, [&](const ParamTensor&, const ParamTensor* l) { mine[i++] = l; });
  }
  std::vector<int64_t> send(R, 0), send_off(R, 0), recv(R, 0), recv_off(R, 0);
  for (size_t i = 0; i < ft.size();) {
    if (ft[i].expert < 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < ft.size() && ft[j].expert >= 0 && (j == i || ft[j].expert >= ft[j - 1].expert)) ++j;
    // [i, j): one layer's experts. Each rank's part: its tensors' extent, relative to ft[i].
    std::fill(recv.begin(), recv.end(), 0);
    std::fill(recv_off.begin(), recv_off.end(), 0);
    std::fill(send.begin(), send.end(), 0);
    const float* my_first = nullptr;
    for (size_t k = i; k < j; ++k) {
      const int r = local.shard().active() ? expert_parallel::owner(ft[k].expert, E, R) : 0;
      if (recv[r] == 0) recv_off[r] = ft[k].offset - ft[i].offset;
      recv[r] += ft[k].numel;
      if (r == me) {
        if (!mine[k]) fail("internal: rank {} lacks its expert tensor '{}'", me, ft[k].name);
        if (!my_first) my_first = src + mine[k]->offset;
        send[0] += ft[k].numel;
      }
    }
    if (!root) std::fill(recv.begin(), recv.end(), 0);
    dist::alltoallv(my_first, send.data(), send_off.data(), root ? dst + ft[i].offset : nullptr, recv.data(),
                    recv_off.data(), sizeof(float));
    i = j;
  }
}

}  // namespace fathom::train
