// Finite-difference gradient checks for every training layer's backward, and the fast matmul
// against a plain loop. Each check uses L = Σ out ⊙ R for a fixed random R, so dout = R.
#include <gtest/gtest.h>

#include <cstring>

#include "cpu/thread_pool.h"
#include "model/rope.h"
#include "train_util.h"
#include "training/kernels.h"
#include "training/mla.h"
#include "training/moe.h"
#include "training/transformer.h"

namespace fathom::train {
namespace {

using test::expect_grad;
using test::random_vec;
using test::sample;

double dotd(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i]) * b[i];
  return s;
}

TEST(TrainKernels, GemmMatchesPlainLoops) {
  cpu::ThreadPool pool(2);
  for (auto [M, N, K] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 5, 13}, {67, 50, 33}, {130, 97, 260}}) {
    auto A = random_vec(M * K, 1), B = random_vec(N * K, 2), C = random_vec(M * N, 3);
    std::vector<float> want(C);
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) want[i * N + j] += float(dotd(A.data() + i * K, B.data() + j * K, K));
    Ops ops{&pool, nullptr, 0};
    gemm_nt(ops, M, N, K, A.data(), K, B.data(), K, C.data(), N, true);
    for (int64_t i = 0; i < M * N; ++i) ASSERT_NEAR(C[i], want[i], 1e-4 * (1 + std::fabs(want[i]))) << M << "x" << N << "x" << K;
  }
}

TEST(TrainGrad, Linear) {
  const int64_t N = 5, I = 11, O = 7;
  auto inp = random_vec(N * I, 1), w = random_vec(O * I, 2), R = random_vec(N * O, 3);
  std::vector<float> out(N * O), dinp(N * I), dw(O * I), scratch(matmul_scratch(N, I, O));
  Ops ops{nullptr, scratch.data(), int64_t(scratch.size())};
  auto f = [&] {
    matmul_forward(ops, out.data(), inp.data(), w.data(), N, I, O);
    return dotd(out.data(), R.data(), N * O);
  };
  f();
  matmul_backward(ops, dinp.data(), dw.data(), R.data(), inp.data(), w.data(), N, I, O);
  expect_grad("linear dinp", f, inp.data(), dinp.data(), sample(dinp.data(), N * I));
  expect_grad("linear dweight", f, w.data(), dw.data(), sample(dw.data(), O * I));
}

TEST(TrainGrad, RmsNorm) {
  const int64_t N = 4, C = 9;
  auto inp = random_vec(N * C, 1), w = random_vec(C, 2), R = random_vec(N * C, 3);
  std::vector<float> out(N * C), rstd(N), dinp(N * C), dw(C);
  auto f = [&] {
    rmsnorm_forward(out.data(), rstd.data(), inp.data(), w.data(), N, C, 1e-6f);
    return dotd(out.data(), R.data(), N * C);
  };
  f();
  rmsnorm_backward(dinp.data(), dw.data(), R.data(), inp.data(), w.data(), rstd.data(), N, C);
  expect_grad("rmsnorm dinp", f, inp.data(), dinp.data(), sample(dinp.data(), N * C, 36));
  expect_grad("rmsnorm dweight", f, w.data(), dw.data(), sample(dw.data(), C));
}

TEST(TrainGrad, Embedding) {
  const int64_t V = 6, C = 4, N = 5;
  std::vector<int32_t> tok = {1, 3, 1, 5, 0};
  auto w = random_vec(V * C, 1), R = random_vec(N * C, 2);
  std::vector<float> out(N * C), dw(V * C);
  auto f = [&] {
    embedding_forward(out.data(), tok.data(), w.data(), N, C);
    return dotd(out.data(), R.data(), N * C);
  };
  f();
  embedding_backward(dw.data(), R.data(), tok.data(), N, C);
  std::vector<int64_t> all(V * C);
  for (int64_t i = 0; i < V * C; ++i) all[i] = i;
  expect_grad("embedding dweight", f, w.data(), dw.data(), all);
}

TEST(TrainGrad, SwiGlu) {
  const int64_t n = 20;
  auto g = random_vec(n, 1, 2.0f), u = random_vec(n, 2), R = random_vec(n, 3);
  std::vector<float> out(n), dg(n), du(n);
  auto f = [&] {
    swiglu_forward(out.data(), g.data(), u.data(), n);
    return dotd(out.data(), R.data(), n);
  };
  f();
  swiglu_backward(dg.data(), du.data(), R.data(), g.data(), u.data(), n);
  expect_grad("swiglu dgate", f, g.data(), dg.data(), sample(dg.data(), n, 20), 1e-2, 1e-3f);
  expect_grad("swiglu dup", f, u.data(), du.data(), sample(du.data(), n, 20), 1e-2, 1e-3f);
}

TEST(TrainGrad, RopeWithYarn) {
  ModelConfig c = test::tiny_config();
  c.qk_rope_head_dim = 8;
  Rope rope(c);
  const int64_t dim = 8;
  std::vector<float> cs(dim / 2), sn(dim / 2);
  for (int64_t i = 0; i < dim / 2; ++i) {
    cs[i] = float(std::cos(7.0 * rope.inv_freq()[i]) * rope.attention_factor());
    sn[i] = float(std::sin(7.0 * rope.inv_freq()[i]) * rope.attention_factor());
  }
  auto x = random_vec(dim, 1), R = random_vec(dim, 2);
  // Forward matches the inference Rope at position 7.
  std::vector<float> a(x), b(x);
  rope_forward(a.data(), cs.data(), sn.data(), dim);
  rope.apply(b.data(), 7);
  for (int64_t i = 0; i < dim; ++i) EXPECT_NEAR(a[i], b[i], 1e-5);
  std::vector<float> out(dim), dx(R);
  auto f = [&] {
    out = x;
    rope_forward(out.data(), cs.data(), sn.data(), dim);
    return dotd(out.data(), R.data(), dim);
  };
  rope_backward(dx.data(), cs.data(), sn.data(), dim);
  expect_grad("rope dinp", f, x.data(), dx.data(), sample(dx.data(), dim, 8));
}

TEST(TrainGrad, CrossEntropy) {
  const int64_t N = 3, V = 7;
  auto logits = random_vec(N * V, 1, 2.0f);
  std::vector<int32_t> tgt = {2, 0, 6};
  std::vector<float> work(N * V), losses(N);
  auto f = [&] {
    work = logits;
    return cross_entropy_forward_backward({}, work.data(), tgt.data(), N, V, 0.0f, losses.data()) / double(N);
  };
  work = logits;
  cross_entropy_forward_backward({}, work.data(), tgt.data(), N, V, 1.0f / float(N), losses.data());
  std::vector<float> d(work);
  expect_grad("cross-entropy dlogits", f, logits.data(), d.data(), sample(d.data(), N * V, 21), 1e-2, 1e-3f);
}

// One layer of the tiny config with its own arena: MLA, the dense MLP, the MoE.
struct LayerHarness {
  ModelConfig c;
  ParamLayout layout;
  std::vector<float> params, grads, cosv, sinv;
  ModelWeights p, g;
  Arena arena;
  Scratch s;
  LayerCtx ctx;
  float* mscratch = nullptr;
  int64_t B = 2, T = 5;

  explicit LayerHarness(const ModelConfig& cfg = test::tiny_config()) : c(cfg), layout(c) {
    params.resize(layout.numel());
    grads.resize(layout.numel());
    test::random_params(layout, params.data(), 7);
    p = layout.bind(params.data());
    g = layout.bind(grads.data());
    Rope rope(c);
    const int64_t dr = c.qk_rope_head_dim;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < dr / 2; ++i) {
        cosv.push_back(float(std::cos(t * rope.inv_freq()[i]) * rope.attention_factor()));
        sinv.push_back(float(std::sin(t * rope.inv_freq()[i]) * rope.attention_factor()));
      }
  }
  void finish() {
    const int64_t ms = 1 << 16;
    arena.take(&mscratch, ms);
    mla_declare_scratch(arena, s, c, B, T);
    ffn_declare_scratch(arena, s, c, B * T);
    arena.allocate();
    ctx.cfg = &c;
    ctx.ops = Ops{nullptr, mscratch, ms};
    ctx.B = B;
    ctx.T = T;
    ctx.rope_cos = cosv.data();
    ctx.rope_sin = sinv.data();
    ctx.s = &s;
  }
  // Checks every tensor whose name starts with prefix.
  void check_params(const std::string& prefix, const std::function<double()>& f, const std::function<bool()>& valid = {},
                    double tol = 2e-2) {
    int n = 0;
    for (const auto& t : layout.tensors()) {
      if (t.name.rfind(prefix, 0) != 0 || t.kind == ParamKind::RouterBias) continue;
      expect_grad(t.name, f, params.data() + t.offset, grads.data() + t.offset,
                  sample(grads.data() + t.offset, t.numel, 8), tol, 1e-2f, valid);
      ++n;
    }
    EXPECT_GT(n, 0) << prefix;
  }
};

TEST(TrainGrad, MlaWithQLoraAndYarn) {
  for (int64_t q_lora : {12, 0}) {
    ModelConfig c = test::tiny_config();
    c.q_lora_rank = q_lora;
    LayerHarness h(c);
    MlaActs acts;
    acts.declare(h.arena, h.c, h.B, h.T);
    h.finish();
    const int64_t N = h.B * h.T, H = h.c.hidden_size;
    auto inp = random_vec(N * H, 1), R = random_vec(N * H, 2);
    std::vector<float> out(N * H), dinp(N * H);
    auto f = [&] {
      mla_forward(h.ctx, out.data(), acts, inp.data(), h.p.layers[0].attn);
      return dotd(out.data(), R.data(), N * H);
    };
    f();
    mla_backward(h.ctx, dinp.data(), h.g.layers[0].attn, R.data(), acts, inp.data(), h.p.layers[0].attn);
    expect_grad("mla dinp", f, inp.data(), dinp.data(), sample(dinp.data(), N * H, 24));
    h.check_params("model.layers.0.self_attn.", f);
  }
}

TEST(TrainGrad, Mlp) {
  LayerHarness h;
  MlpActs acts;
  const int64_t N = h.B * h.T, H = h.c.hidden_size;
  acts.declare(h.arena, N, h.c.intermediate_size);
  h.finish();
  auto inp = random_vec(N * H, 1), R = random_vec(N * H, 2);
  std::vector<float> out(N * H), dinp(N * H);
  auto f = [&] {
    mlp_forward(h.ctx, out.data(), acts, inp.data(), h.p.layers[0].mlp, N);
    return dotd(out.data(), R.data(), N * H);
  };
  f();
  mlp_backward(h.ctx, dinp.data(), h.g.layers[0].mlp, R.data(), acts, inp.data(), h.p.layers[0].mlp, N);
  expect_grad("mlp dinp", f, inp.data(), dinp.data(), sample(dinp.data(), N * H, 24));
  h.check_params("model.layers.0.mlp.", f);
}

TEST(TrainGrad, MoeRouterExpertsAndBalanceLoss) {
  for (const char* scoring : {"sigmoid", "softmax"}) {
    ModelConfig c = test::tiny_config();
    c.scoring_func = parse_scoring_func(scoring).value();
    LayerHarness h(c);
    MoeActs acts;
    const int64_t N = h.B * h.T, H = h.c.hidden_size, K = h.c.num_experts_per_tok;
    acts.declare(h.arena, h.c, N);
    h.finish();
    h.ctx.balance_alpha = 0.3f;  // large, so its gradient is visible
    auto inp = random_vec(N * H, 1), R = random_vec(N * H, 2);
    std::vector<float> out(N * H), dinp(N * H);
    const MoeWeights& w = h.p.layers[1].moe;
    auto f = [&] {
      moe_forward(h.ctx, out.data(), acts, inp.data(), w);
      return dotd(out.data(), R.data(), N * H) + acts.balance_loss;
    };
    f();
    const std::vector<int32_t> chosen(acts.chosen, acts.chosen + N * K);
    auto same_routing = [&] { return std::equal(chosen.begin(), chosen.end(), acts.chosen); };
    moe_backward(h.ctx, dinp.data(), h.g.layers[1].moe, R.data(), acts, inp.data(), w);
    expect_grad(std::string("moe dinp ") + scoring, f, inp.data(), dinp.data(), sample(dinp.data(), N * H, 24), 2e-2,
                1e-3f, same_routing);
    h.check_params("model.layers.1.mlp.", f, same_routing);
  }
}

// The sequence-wise balance loss alone (dout = 0, so nothing else reaches the router): its gradient
// into the gate weights and the input must match finite differences of L_bal. In the test above it
// is a small part of a larger gradient, where dropping it would go unnoticed.
TEST(TrainGrad, SequenceBalanceLossAlone) {
  for (const char* scoring : {"sigmoid", "softmax"}) {
    ModelConfig c = test::tiny_config();
    c.scoring_func = parse_scoring_func(scoring).value();
    LayerHarness h(c);
    MoeActs acts;
    const int64_t N = h.B * h.T, H = h.c.hidden_size, K = h.c.num_experts_per_tok, E = h.c.n_routed_experts;
    acts.declare(h.arena, h.c, N);
    h.finish();
    h.ctx.balance_alpha = 1.0f;
    auto inp = random_vec(N * H, 1);
    std::vector<float> out(N * H), dinp(N * H), zero(N * H, 0.0f);
    const auto& w = h.p.layers[1].moe;
    auto f = [&] {
      moe_forward(h.ctx, out.data(), acts, inp.data(), w);
      return acts.balance_loss;
    };
    const double loss = f();
    ASSERT_GT(loss, 0.1) << scoring;  // α Σ f_i P_i with α = 1: about 1
    const std::vector<int32_t> chosen(acts.chosen, acts.chosen + N * K);
    auto same_routing = [&] { return std::equal(chosen.begin(), chosen.end(), acts.chosen); };
    moe_backward(h.ctx, dinp.data(), h.g.layers[1].moe, zero.data(), acts, inp.data(), w);
    const float* dgate = f32(h.g.layers[1].moe.gate.weight);
    double norm = 0;
    for (int64_t i = 0; i < E * H; ++i) norm += double(dgate[i]) * dgate[i];
    ASSERT_GT(norm, 0.0) << scoring << ": no gradient reached the router gate";
    expect_grad(std::string("balance loss dgate ") + scoring, f, writable(w.gate.weight), dgate, sample(dgate, E * H, 24), 1e-2,
                1e-2f, same_routing);
    expect_grad(std::string("balance loss dinp ") + scoring, f, inp.data(), dinp.data(),
                sample(dinp.data(), N * H, 24), 1e-2, 1e-2f, same_routing);
  }
}

// The whole model: embedding, both layers, final norm, lm_head, cross-entropy, the MTP module,
// the balance loss; every tensor's gradient against finite differences of the total loss.
TEST(TrainGrad, FullModelWithMtp) {
  ModelConfig c = test::tiny_config();
  TrainSettings s;
  s.mtp_weight = 0.5f;
  s.balance_alpha = 0.1f;
  Model m(c, 2, 6, nullptr, s);
  test::random_params(m.layout(), m.params(), 3);
  std::vector<int32_t> win(2 * m.window());
  for (size_t i = 0; i < win.size(); ++i) win[i] = int32_t((i * 17 + 5) % c.vocab_size);
  m.zero_grad();
  m.step(win.data(), true);
  const auto load0 = m.expert_load();
  auto f = [&] { return m.step(win.data(), false).total; };
  auto same_routing = [&] { return m.expert_load() == load0; };
  for (const auto& t : m.layout().tensors()) {
    if (t.kind == ParamKind::RouterBias) continue;
    expect_grad(t.name, f, m.params() + t.offset, m.grads() + t.offset, sample(m.grads() + t.offset, t.numel, 6),
                3e-2, 1e-2f, same_routing);
  }
}

}  // namespace
}  // namespace fathom::train
