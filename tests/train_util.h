// Helpers for the training tests: tiny configs, well-scaled random parameters, finite differences.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/config.h"
#include "training/params.h"

namespace fathom::train::test {

// A tiny DeepSeek-V3 config with every mechanism live: q_lora, YaRN (original context 4 < T),
// noaux_tc with groups, norm_topk_prob, routed scaling, a shared expert, a dense first layer, MTP.
inline ModelConfig tiny_config() {
  ModelConfig c;
  c.model_type = "deepseek_v3";
  c.vocab_size = 37;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.moe_intermediate_size = 8;
  c.num_hidden_layers = 2;
  c.num_nextn_predict_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.q_lora_rank = 12;
  c.kv_lora_rank = 8;
  c.qk_nope_head_dim = 6;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 5;
  c.n_routed_experts = 8;
  c.n_shared_experts = 1;
  c.num_experts_per_tok = 2;
  c.n_group = 2;
  c.topk_group = 1;
  c.topk_method = TopkMethod::NoauxTc;
  c.scoring_func = ScoringFunc::Sigmoid;
  c.norm_topk_prob = true;
  c.routed_scaling_factor = 2.5;
  c.first_k_dense_replace = 1;
  c.max_position_embeddings = 64;
  c.rope_theta = 10000;
  c.rope_scaling = RopeScaling{"yarn", 4.0, 4, 32.0, 1.0, 1.0, 1.0};
  c.rms_norm_eps = 1e-6;
  return c;
}

// Parameters with unit-variance outputs (large enough gradients for finite differences).
inline void random_params(const ParamLayout& layout, float* p, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const auto& t : layout.tensors()) {
    const int64_t cols = t.shape.size() > 1 ? t.shape[1] : 1;
    for (int64_t i = 0; i < t.numel; ++i) {
      float& x = p[t.offset + i];
      switch (t.kind) {
        case ParamKind::Matrix: x = u(rng) * std::sqrt(3.0f / float(cols)); break;
        case ParamKind::Embedding: x = u(rng); break;
        case ParamKind::Norm: x = 1.0f + 0.2f * u(rng); break;
        case ParamKind::RouterBias: x = 0.05f * u(rng); break;
      }
    }
  }
}

inline std::vector<float> random_vec(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Central differences of f at the coordinates idx of x, compared with the analytic gradient g:
// ‖fd − g‖ / ‖fd‖ over those coordinates must be below tol. `valid` (optional) rejects a
// coordinate whose perturbation changed something discrete (an expert selection).
inline void expect_grad(const std::string& what, const std::function<double()>& f, float* x, const float* g,
                        const std::vector<int64_t>& idx, double tol = 1e-2, float eps = 1e-2f,
                        const std::function<bool()>& valid = {}) {
  double num = 0, den = 0;
  int used = 0;
  for (int64_t i : idx) {
    const float x0 = x[i];
    x[i] = x0 + eps;
    const double fp = f();
    const bool ok_p = !valid || valid();
    x[i] = x0 - eps;
    const double fm = f();
    const bool ok_m = !valid || valid();
    x[i] = x0;
    if (!ok_p || !ok_m) continue;
    const double fd = (fp - fm) / (2.0 * double(eps));
    num += (fd - g[i]) * (fd - g[i]);
    den += fd * fd;
    ++used;
  }
  f();  // restore the activations of the unperturbed point
  ASSERT_GT(used, 0) << what << ": every coordinate changed the routing";
  const double rel = std::sqrt(num / std::max(den, 1e-30));
  EXPECT_LT(rel, tol) << what << ": relative gradient error " << rel << " over " << used << " coordinates";
}

// Up to k coordinates of [0, n): the largest |g| first (best signal), then spread evenly.
inline std::vector<int64_t> sample(const float* g, int64_t n, int k = 12) {
  std::vector<int64_t> idx;
  if (n <= k) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    return idx;
  }
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (std::fabs(g[i]) > std::fabs(g[best])) best = i;
  idx.push_back(best);
  for (int j = 1; j < k; ++j) idx.push_back((best + int64_t(j) * (n / k) + j) % n);
  return idx;
}

// A learnable token stream: mostly t' = (3t + 1) mod V, sometimes random; EOS (0) every ~50 tokens.
inline void write_data(const std::string& dir, int64_t V, int64_t n_train, int64_t n_val) {
  std::mt19937 rng(5);
  auto stream = [&](int64_t n) {
    std::vector<uint32_t> v(n);
    uint32_t t = 1;
    for (int64_t i = 0; i < n; ++i) {
      if (rng() % 50 == 0)
        t = 0;
      else
        t = rng() % 8 == 0 ? 1 + rng() % (V - 1) : (3 * t + 1) % V;
      v[i] = t;
    }
    return v;
  };
  for (auto [name, n] : {std::pair<const char*, int64_t>{"train.bin", n_train}, {"val.bin", n_val}}) {
    auto v = stream(n);
    std::ofstream(std::filesystem::path(dir) / name, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), n * 4);
  }
  nlohmann::json meta = {{"vocab_size", V}, {"eos_id", 0}, {"bos_id", 0}, {"tokenizer", ""},
               {"train_tokens", n_train}, {"val_tokens", n_val}};
  std::ofstream(std::filesystem::path(dir) / "meta.json") << meta.dump();
}

}  // namespace fathom::train::test
