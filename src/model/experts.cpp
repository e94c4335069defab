#include "model/experts.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "model/expert_parallel.h"
#include "model/router.h"
#include "ops/matmul.h"

namespace fathom {
namespace {

// Activation buffers left uninitialized: every element is written (by a matrix product or a copy)
// before it is read, and zero-filling them costs a visible share of a long prefill (they are tens
// of MB per MoE layer at V2-Lite's shape; figures in docs/PERFORMANCE.md).
struct Buffer {
  std::unique_ptr<float[]> p;
  Buffer() = default;
  explicit Buffer(int64_t n) { resize(n); }
  void resize(int64_t n) { p.reset(n > 0 ? new float[size_t(n)] : nullptr); }
  float* data() { return p.get(); }
  const float* data() const { return p.get(); }
};

}  // namespace

void mlp_forward(const Exec& ex, const MlpWeights& w, const float* x, int64_t T, float* out) {
  const int64_t inter = w.gate_proj.rows;
  Buffer g(T * inter), u(T * inter);
  linear(ex, w.gate_proj, x, T, g.data());
  linear(ex, w.up_proj, x, T, u.data());
  silu_mul(ex, g.data(), u.data(), T * inter, g.data());
  linear(ex, w.down_proj, g.data(), T, out);
}

void assign_expert_slots(const int32_t* experts, int64_t N, int64_t K, int64_t E, int32_t* count, int32_t* offset,
                         int32_t* slot, int32_t* slot_token) {
  std::fill(count, count + E, 0);
  for (int64_t i = 0; i < N * K; ++i) count[experts[i]]++;
  offset[0] = 0;
  for (int64_t e = 0; e < E; ++e) offset[e + 1] = offset[e] + count[e];
  // count serves as each expert's fill cursor, then is restored.
  std::copy(offset, offset + E, count);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int32_t s = count[experts[n * K + k]]++;
      slot[n * K + k] = s;
      slot_token[s] = int32_t(n);
    }
  for (int64_t e = 0; e < E; ++e) count[e] = offset[e + 1] - offset[e];
}

void gather_expert_inputs(const float* x, const int32_t* slot_token, int64_t n_slots, int64_t H, float* xs) {
  for (int64_t s = 0; s < n_slots; ++s)
    std::memcpy(xs + s * H, x + int64_t(slot_token[s]) * H, size_t(H) * sizeof(float));
}

void run_experts(const Exec& ex, std::span<const ExpertRun> runs) {
  struct Scratch {
    Buffer g, u;  // [n, inter]: gate, up (then silu(gate) * up in g)
  };
  std::vector<Scratch> scratch(runs.size());
  std::vector<ops::MatmulJob> jobs;
  for (size_t i = 0; i < runs.size(); ++i) {
    const ExpertRun& r = runs[i];
    const int64_t inter = r.mlp->gate_proj.rows;
    scratch[i].g.resize(r.n * inter);
    scratch[i].u.resize(r.n * inter);
    jobs.push_back({&r.mlp->gate_proj, r.in, r.n, scratch[i].g.data()});
    jobs.push_back({&r.mlp->up_proj, r.in, r.n, scratch[i].u.data()});
  }
  linear_batch(ex, jobs);
  jobs.clear();
  for (size_t i = 0; i < runs.size(); ++i) {
    const ExpertRun& r = runs[i];
    const int64_t n = r.n * r.mlp->gate_proj.rows;
    silu_mul(ex, scratch[i].g.data(), scratch[i].u.data(), n, scratch[i].g.data());
    jobs.push_back({&r.mlp->down_proj, scratch[i].g.data(), r.n, r.out});
  }
  linear_batch(ex, jobs);
}

void moe_forward(const Exec& ex, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t T, float* out) {
  if (expert_parallel::active()) return expert_parallel::moe_forward(ex, c, w, x, T, out);
  const int64_t H = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok;
  // Route every token, then invert: each expert's tokens as one run of slots.
  const Routes routes = route_tokens(ex, c, w.gate, x, T);
  std::vector<int32_t> count(E), offset(E + 1), slot(T * K), slot_token(T * K);
  assign_expert_slots(routes.experts.data(), T, K, E, count.data(), offset.data(), slot.data(), slot_token.data());
  std::vector<float> slot_weight(T * K);
  for (int64_t i = 0; i < T * K; ++i) slot_weight[slot[i]] = routes.weights[i];

  // Every active expert (and the shared experts) as one group of runs. xs: the expert's tokens,
  // gathered; one small buffer per expert rather than one for all: a large allocation comes from
  // mmap, and its pages fault in afresh on every call.
  std::vector<Buffer> xs, ys;
  std::vector<ExpertRun> runs;
  std::vector<int64_t> expert_of;
  for (int64_t e = 0; e < E; ++e) {
    if (count[e] == 0) continue;
    xs.emplace_back(count[e] * H);
    ys.emplace_back(count[e] * H);
    gather_expert_inputs(x, slot_token.data() + offset[e], count[e], H, xs.back().data());
    runs.push_back({&w.experts[e], xs.back().data(), count[e], ys.back().data()});
    expert_of.push_back(e);
  }
  if (w.has_shared) {
    ys.emplace_back(T * H);
    runs.push_back({&w.shared_experts, x, T, ys.back().data()});  // every token
    expert_of.push_back(-1);
  }
  run_experts(ex, runs);

  // Combine in expert order, the shared experts last (training/moe.cpp sums in its own order).
  std::fill(out, out + T * H, 0.0f);
  for (size_t gi = 0; gi < runs.size(); ++gi) {
    const int64_t e = expert_of[gi];
    for (int64_t i = 0; i < runs[gi].n; ++i) {
      const int64_t t = e < 0 ? i : slot_token[offset[e] + i];
      const float wt = e < 0 ? 1.0f : slot_weight[offset[e] + i];
      float* o = out + t * H;
      const float* y = runs[gi].out + i * H;
      for (int64_t d = 0; d < H; ++d) o[d] += wt * y[d];
    }
  }
}

}  // namespace fathom
