#include "model/expert_parallel.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "cpu/thread_pool.h"
#include "dist/comm.h"
#include "model/experts.h"
#include "model/router.h"

namespace fathom::expert_parallel {

namespace {

bool g_enabled = false;
ModelConfig g_cfg;
std::vector<const MoeWeights*> g_layers;  // the loaded model's MoE layers: main layers, then MTP

// What rank 0 announces before each MoE call: which layer, and on which path (the serving ranks
// must compute exactly what one process would).
enum : int32_t { kStop = 0, kMoe = 1 };
struct Header {
  int32_t cmd = kStop, layer = 0, reference = 0;
};

std::vector<int64_t> prefix(const std::vector<int64_t>& counts) {
  std::vector<int64_t> off(counts.size(), 0);
  for (size_t r = 1; r < counts.size(); ++r) off[r] = off[r - 1] + counts[r - 1];
  return off;
}

// One MoE call on every rank: T tokens x [T, H] on rank 0, none (T = 0) on the others. Rank 0's
// rows go to the experts' ranks and their outputs come back; out [T, H] is written on rank 0.
void exchange(const Exec& ex, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t T, float* out) {
  const int R = dist::size(), me = dist::rank();
  const int64_t H = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok, N = T * K;
  // Rank 0: route, then order the (token, expert) rows by expert (one process's slot order), which
  // also orders them by destination rank since owner() grows with e.
  std::vector<int32_t> count(E, 0), offset(E + 1, 0), slot(N), slot_token(N), ids(N);
  std::vector<float> slot_weight(N), xs(N * H);
  if (T > 0) {
    const Routes routes = route_tokens(ex, c, w.gate, x, T);
    assign_expert_slots(routes.experts.data(), T, K, E, count.data(), offset.data(), slot.data(), slot_token.data());
    for (int64_t i = 0; i < N; ++i) slot_weight[slot[i]] = routes.weights[i];
    gather_expert_inputs(x, slot_token.data(), N, H, xs.data());
    for (int64_t e = 0; e < E; ++e) std::fill(ids.begin() + offset[e], ids.begin() + offset[e + 1], int32_t(e));
  }
  std::vector<int64_t> send_counts(R, 0), recv_counts(R, 0);
  for (int64_t e = 0; e < E; ++e) send_counts[owner(e, E, R)] += count[e];
  dist::alltoall_counts(send_counts.data(), recv_counts.data());
  const std::vector<int64_t> send_off = prefix(send_counts), recv_off = prefix(recv_counts);
  const int64_t n_recv = recv_off[R - 1] + recv_counts[R - 1];

  // Dispatch: each row's expert id, then the rows.
  std::vector<int32_t> rids(n_recv);
  std::vector<float> rx(n_recv * H), ry(n_recv * H);
  dist::alltoallv(ids.data(), send_counts.data(), send_off.data(), rids.data(), recv_counts.data(), recv_off.data(),
                  sizeof(int32_t));
  dist::alltoallv(xs.data(), send_counts.data(), send_off.data(), rx.data(), recv_counts.data(), recv_off.data(),
                  size_t(H) * sizeof(float));

  // This rank's experts over the rows received (rows of one expert arrive in one process's order).
  std::vector<int64_t> rows_of(E, 0);
  for (int64_t i = 0; i < n_recv; ++i) {
    const int32_t e = rids[i];
    if (e < 0 || e >= E || owner(e, E, R) != me)
      fail("expert parallel: rank {} received a row for expert {}, which it does not hold", me, e);
    rows_of[e]++;
  }
  std::vector<std::vector<float>> gx(E), gy(E);
  std::vector<ExpertRun> runs;
  for (int64_t e = 0; e < E; ++e)
    if (rows_of[e] > 0) {
      gx[e].reserve(rows_of[e] * H);
      gy[e].resize(rows_of[e] * H);
    }
  for (int64_t i = 0; i < n_recv; ++i) gx[rids[i]].insert(gx[rids[i]].end(), rx.begin() + i * H, rx.begin() + (i + 1) * H);
  for (int64_t e = 0; e < E; ++e)
    if (rows_of[e] > 0) runs.push_back({&w.experts[e], gx[e].data(), rows_of[e], gy[e].data()});
  std::vector<float> shared;
  if (T > 0 && w.has_shared) {
    shared.resize(T * H);
    runs.push_back({&w.shared_experts, x, T, shared.data()});
  }
  run_experts(ex, runs);
  std::fill(rows_of.begin(), rows_of.end(), 0);
  for (int64_t i = 0; i < n_recv; ++i) {
    const int32_t e = rids[i];
    std::copy_n(gy[e].begin() + rows_of[e]++ * H, H, ry.begin() + i * H);
  }

  // Combine: the outputs travel back to rank 0, which sums them exactly as one process does (slot
  // order, the shared experts last).
  std::vector<float> ys(N * H);
  dist::alltoallv(ry.data(), recv_counts.data(), recv_off.data(), ys.data(), send_counts.data(), send_off.data(),
                  size_t(H) * sizeof(float));
  if (T == 0) return;
  std::fill(out, out + T * H, 0.0f);
  for (int64_t s = 0; s < N; ++s) {
    float* o = out + int64_t(slot_token[s]) * H;
    const float* y = ys.data() + s * H;
    for (int64_t d = 0; d < H; ++d) o[d] += slot_weight[s] * y[d];
  }
  for (int64_t i = 0; i < int64_t(shared.size()); ++i) out[i] += shared[i];
}

// Ranks other than 0: answer rank 0's MoE calls until it says stop, then end the process.
[[noreturn]] void serve() {
  cpu::ThreadPool pool(std::max(1, cpu::available_cores() / dist::local_size()));
  for (;;) {
    Header h;
    dist::broadcast(&h, sizeof h, 0);
    if (h.cmd == kStop) break;
    if (h.cmd != kMoe || h.layer < 0 || h.layer >= int32_t(g_layers.size()))
      fail("expert parallel: rank {} got an unknown request ({}, layer {})", dist::rank(), h.cmd, h.layer);
    exchange(h.reference ? Exec::oracle() : Exec::fast(&pool), g_cfg, *g_layers[size_t(h.layer)], nullptr, 0, nullptr);
  }
  dist::finalize();
  std::exit(0);
}

}  // namespace

void enable() { g_enabled = true; }
bool active() { return g_enabled; }

io::CheckpointOptions checkpoint_options(const io::CheckpointOptions& given) {
  io::CheckpointOptions o = given;
  if (g_enabled) o.in_memory = false;
  return o;
}

void place_experts(const ModelConfig& cfg, ModelWeights& w) {
  if (!g_enabled) return;
  if (!g_layers.empty()) fail("--expert-parallel: a run serves one model, and a second one was loaded");
  const int R = dist::size(), me = dist::rank();
  const int64_t E = cfg.n_routed_experts;
  std::vector<MoeWeights*> layers;
  for (auto& L : w.layers)
    if (L.is_moe) layers.push_back(&L.moe);
  for (auto& m : w.mtp)
    if (m.layer.is_moe) layers.push_back(&m.layer.moe);
  for (MoeWeights* moe : layers) {
    for (int64_t e = 0; e < E; ++e)
      if (owner(e, E, R) != me) moe->experts[size_t(e)] = MlpWeights{};
    g_layers.push_back(moe);
  }
  g_cfg = cfg;
  if (me != 0) serve();
}

void moe_forward(const Exec& ex, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t T, float* out) {
  const auto it = std::find(g_layers.begin(), g_layers.end(), &w);
  if (it == g_layers.end()) fail("expert parallel: an MoE layer of a model other than the one loaded was run");
  Header h{kMoe, int32_t(it - g_layers.begin()), ex.reference ? 1 : 0};
  dist::broadcast(&h, sizeof h, 0);
  exchange(ex, c, w, x, T, out);
}

void finish() {
  if (!g_enabled || g_layers.empty() || dist::rank() != 0) return;
  Header h{kStop, 0, 0};
  dist::broadcast(&h, sizeof h, 0);
}

}  // namespace fathom::expert_parallel
