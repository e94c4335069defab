#include "model/experts.h"

#include <vector>

#include "model/router.h"

namespace fathom {

void mlp_forward(const Exec& ex, const MlpWeights& w, const float* x, int64_t T, float* out) {
  const int64_t inter = w.gate_proj.rows;
  std::vector<float> g(T * inter), u(T * inter);
  linear(ex, w.gate_proj, x, T, g.data());
  linear(ex, w.up_proj, x, T, u.data());
  ops::ref::silu_mul(g.data(), u.data(), T * inter, g.data());
  linear(ex, w.down_proj, g.data(), T, out);
}

void moe_forward(const Exec& ex, const ModelConfig& c, const MoeWeights& w, const float* x, int64_t T, float* out) {
  const int64_t H = c.hidden_size, E = c.n_routed_experts;
  // Route every token, then invert: for each expert, the tokens (and weights) that chose it.
  std::vector<std::vector<std::pair<int64_t, float>>> by_expert(E);
  for (int64_t t = 0; t < T; ++t) {
    Routing r = route_token(c, w.gate, x + t * H);
    for (size_t k = 0; k < r.experts.size(); ++k) by_expert[r.experts[k]].push_back({t, r.weights[k]});
  }
  if (w.has_shared)
    mlp_forward(ex, w.shared_experts, x, T, out);
  else
    std::fill(out, out + T * H, 0.0f);
  std::vector<float> xs, ys;
  for (int64_t e = 0; e < E; ++e) {
    const auto& toks = by_expert[e];
    if (toks.empty()) continue;
    const int64_t n = int64_t(toks.size());
    xs.resize(n * H);
    ys.resize(n * H);
    for (int64_t i = 0; i < n; ++i) std::copy(x + toks[i].first * H, x + (toks[i].first + 1) * H, xs.begin() + i * H);
    mlp_forward(ex, w.experts[e], xs.data(), n, ys.data());
    for (int64_t i = 0; i < n; ++i) {
      float* o = out + toks[i].first * H;
      const float wt = toks[i].second;
      for (int64_t d = 0; d < H; ++d) o[d] += wt * ys[i * H + d];
    }
  }
}

}  // namespace fathom
