#include "model/experts.h"

#include <algorithm>
#include <memory>
#include <vector>

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

void moe_forward(const Exec& ex, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t T, float* out) {
  const int64_t H = c.hidden_size, E = c.n_routed_experts;
  // Route every token, then invert: for each expert, the tokens (and weights) that chose it.
  std::vector<Routing> routes = route_tokens(ex, c, w.gate, x, T);
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(E);
  for (int64_t t = 0; t < T; ++t)
    for (size_t k = 0; k < routes[t].experts.size(); ++k) by_expert[routes[t].experts[k]].push_back({t, routes[t].weights[k]});

  // Every active expert (and the shared experts) as one group of jobs, so that the gate/up products
  // of all experts run in one parallel region, then all down products in another.
  struct Group {
    const MlpWeights* mlp;
    int64_t n, inter;
    Buffer xs, g, u, y;
    const float* in = nullptr;  // the tokens' inputs: xs, or x itself for the shared experts
  };
  std::vector<Group> groups;
  std::vector<int64_t> expert_of;
  for (int64_t e = 0; e < E; ++e) {
    if (by_expert[e].empty()) continue;
    const int64_t n = int64_t(by_expert[e].size());
    Group g{&w.experts[e], n, w.experts[e].gate_proj.rows, {}, {}, {}, {}, nullptr};
    g.xs.resize(n * H);
    for (int64_t i = 0; i < n; ++i)
      std::copy(x + by_expert[e][i].first * H, x + (by_expert[e][i].first + 1) * H, g.xs.data() + i * H);
    groups.push_back(std::move(g));
    expert_of.push_back(e);
  }
  if (w.has_shared) {
    Group g{&w.shared_experts, T, w.shared_experts.gate_proj.rows, {}, {}, {}, {}, nullptr};
    g.in = x;  // every token, in order: no gather needed
    groups.push_back(std::move(g));
    expert_of.push_back(-1);
  }
  std::vector<ops::MatmulJob> jobs;
  for (auto& g : groups) {
    g.g.resize(g.n * g.inter);
    g.u.resize(g.n * g.inter);
    g.y.resize(g.n * H);
    const float* in = g.in ? g.in : g.xs.data();
    jobs.push_back({&g.mlp->gate_proj, in, g.n, g.g.data()});
    jobs.push_back({&g.mlp->up_proj, in, g.n, g.u.data()});
  }
  linear_batch(ex, jobs);
  jobs.clear();
  for (auto& g : groups) {
    silu_mul(ex, g.g.data(), g.u.data(), g.n * g.inter, g.g.data());
    jobs.push_back({&g.mlp->down_proj, g.g.data(), g.n, g.y.data()});
  }
  linear_batch(ex, jobs);

  std::fill(out, out + T * H, 0.0f);
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const Group& g = groups[gi];
    const int64_t e = expert_of[gi];
    for (int64_t i = 0; i < g.n; ++i) {
      const int64_t t = e < 0 ? i : by_expert[e][i].first;
      const float wt = e < 0 ? 1.0f : by_expert[e][i].second;
      float* o = out + t * H;
      const float* y = g.y.data() + i * H;
      for (int64_t d = 0; d < H; ++d) o[d] += wt * y[d];
    }
  }
}

}  // namespace fathom
