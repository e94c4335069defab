// Self-speculative decoding at the model level (generation/speculative.h, model/mtp.h): the batched
// verification equals one-token decode bit for bit, greedy with MTP drafts gives exactly the tokens
// of greedy without, and the MTP caches stay what a from-scratch MTP pass computes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <filesystem>
#include <fstream>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "generation/speculative.h"
#include "io/safetensors.h"
#include "model/model.h"
#include "model/mtp.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

using test::rel_l2;

// Prefills `prompt` into a fresh cache; returns the last position's logits (and all hidden states).
std::vector<float> prefill(const Model& m, const Exec& ex, const std::vector<int32_t>& prompt, LatentCache& cache,
                           std::vector<float>* hidden = nullptr) {
  const int64_t V = m.config().vocab_size, P = int64_t(prompt.size());
  std::vector<float> logits(size_t(P * V));
  if (hidden) hidden->resize(size_t(P * m.config().hidden_size));
  m.forward(ex, prompt.data(), P, cache, AttentionPath::Expanded, logits.data(), hidden ? hidden->data() : nullptr);
  return std::vector<float>(logits.end() - V, logits.end());
}

// One verification over several sequences (counts tokens each) against feeding every token alone.
void expect_verify_equals_sequential(const Model& m, const Exec& ex, const std::vector<int64_t>& counts,
                                     bool bitwise) {
  const int64_t V = m.config().vocab_size, H = m.config().hidden_size, B = int64_t(counts.size());
  std::vector<LatentCache> a, b;
  std::vector<int32_t> tokens;
  for (int64_t s = 0; s < B; ++s) {
    std::vector<int32_t> prompt = {0};
    for (int64_t i = 0; i < 2 + 3 * s; ++i) prompt.push_back(int32_t((17 * s + 29 * i + 3) % V));  // lengths differ
    a.push_back(m.make_cache(32));
    b.push_back(m.make_cache(32));
    prefill(m, ex, prompt, a.back());
    prefill(m, ex, prompt, b.back());
    for (int64_t i = 0; i < counts[size_t(s)]; ++i) tokens.push_back(int32_t((41 * s + 7 * i + 5) % V));
  }
  const int64_t N = int64_t(tokens.size());
  std::vector<LatentCache*> ptrs;
  for (auto& c : a) ptrs.push_back(&c);
  std::vector<float> batched(size_t(N * V)), single(size_t(N * V)), hb(size_t(N * H)), hs(size_t(N * H));
  m.decode_batch(ex, tokens.data(), counts.data(), B, ptrs.data(), batched.data(), hb.data());
  for (int64_t s = 0, t = 0; s < B; ++s)
    for (int64_t i = 0; i < counts[size_t(s)]; ++i, ++t)
      m.forward(ex, &tokens[size_t(t)], 1, b[size_t(s)], AttentionPath::Absorbed, single.data() + t * V,
                hs.data() + t * H);
  for (int64_t s = 0; s < B; ++s) EXPECT_EQ(a[size_t(s)].length(), b[size_t(s)].length());
  if (bitwise) {
    EXPECT_EQ(std::memcmp(batched.data(), single.data(), batched.size() * 4), 0) << "logits differ";
    EXPECT_EQ(std::memcmp(hb.data(), hs.data(), hb.size() * 4), 0) << "hidden states differ";
  } else {
    EXPECT_LT(rel_l2(batched, single), 1e-5);
    EXPECT_LT(rel_l2(hb, hs), 1e-5);
  }
}

// Up to ops::kGemvMaxTokens tokens in all, every product runs the per-token GEMV kernels: the verify
// pass reproduces one-token decode exactly, which is what makes greedy output unchanged.
TEST(SpeculativeVerify, BitIdenticalToOneTokenDecode) {
  for (SynthDType dt : {SynthDType::BF16, SynthDType::FP8}) {
    auto m = Model::load(test::synth_model("tiny-v3", dt));
    Runtime rt(2);
    for (Exec ex : {Exec::oracle(), rt.exec()}) {
      SCOPED_TRACE(ex.reference ? "reference" : "fast");
      expect_verify_equals_sequential(*m, ex, {2}, true);
      expect_verify_equals_sequential(*m, ex, {4}, true);
      expect_verify_equals_sequential(*m, ex, {3, 1, 4}, true);
      // More tokens than the GEMV kernels take: the GEMM's rounding, the reference still exact.
      expect_verify_equals_sequential(*m, ex, {4, 4, 4}, ex.reference);
    }
  }
}

std::vector<int32_t> first(const std::vector<int32_t>& v, int64_t n) {
  return std::vector<int32_t>(v.begin(), v.begin() + std::min<int64_t>(n, int64_t(v.size())));
}

struct Generated {
  std::vector<int32_t> tokens;
  int64_t drafted = 0, accepted = 0;
};

// Greedy decoding of at least n tokens after `prompt`, without MTP (K < 0) or with K drafts a round.
Generated greedy(const Model& m, const Exec& ex, const std::vector<int32_t>& prompt, int64_t n, int64_t K,
                 MtpDrafter* drafter_out_of_scope = nullptr) {
  SamplerParams sp;
  sp.temperature = 0;
  Sampler sampler(sp);
  sampler.accept_prompt(prompt);
  LatentCache cache = m.make_cache(int64_t(prompt.size()) + n + 8);
  std::vector<float> hidden;
  std::vector<float> logits = prefill(m, ex, prompt, cache, &hidden);
  Generated g;
  int32_t t = sampler.sample(logits);
  sampler.accept(t);
  g.tokens.push_back(t);
  if (K < 0) {
    while (int64_t(g.tokens.size()) < n) {
      m.forward(ex, &t, 1, cache, AttentionPath::Absorbed, logits.data(), nullptr);
      t = sampler.sample(logits);
      sampler.accept(t);
      g.tokens.push_back(t);
    }
    return g;
  }
  MtpDrafter local(m, cache.capacity());
  MtpDrafter& drafter = drafter_out_of_scope ? *drafter_out_of_scope : local;
  drafter.observe(ex, prompt.data(), hidden.data(), int64_t(prompt.size()));
  SpeculativeSampler spec(sampler);
  SpeculativeDecoder decoder(m);
  SpeculativeSequence seq;
  seq.cache = &cache;
  seq.drafter = &drafter;
  seq.sampler = &spec;
  seq.max_drafts = K;
  SpeculativeSequence* seqs[] = {&seq};
  while (int64_t(g.tokens.size()) < n) {
    seq.next = t;
    decoder.step(ex, seqs);
    for (int32_t x : seq.tokens) {
      sampler.accept(x);
      g.tokens.push_back(x);
    }
    t = seq.tokens.back();
    g.drafted += seq.drafted;
    g.accepted += seq.accepted;
    EXPECT_EQ(cache.length(), int64_t(prompt.size() + g.tokens.size()) - 1);
  }
  return g;  // the last round may run past n
}

// Random weights: the drafts are nearly always wrong, so nearly every round rejects and rewrites
// cache rows — the output must still be exactly greedy's.
TEST(SpeculativeGreedy, SameTokensAsGreedyOnRandomTinyV3) {
  auto m = Model::load(test::synth_model("tiny-v3", SynthDType::BF16));
  Runtime rt(1);
  const std::vector<int32_t> prompt = {0, 17, 44, 291, 5, 5, 120};
  for (Exec ex : {Exec::oracle(), rt.exec()}) {
    const int64_t n = ex.reference ? 8 : 32;
    const Generated plain = greedy(*m, ex, prompt, n, -1);
    for (int64_t K : ex.reference ? std::vector<int64_t>{2} : std::vector<int64_t>{1, 2, 3}) {
      SCOPED_TRACE("K=" + std::to_string(K) + (ex.reference ? " reference" : " fast"));
      const Generated spec = greedy(*m, ex, prompt, n, K);
      EXPECT_EQ(first(spec.tokens, n), plain.tokens);
      EXPECT_GT(spec.drafted, 0);
    }
  }
}

// The trained default model: its MTP module agrees with the target most of the time, so rounds keep
// several tokens; the output is still exactly greedy's, and the acceptance shows the drafts are
// made from the right cache rows and hidden states (stale rows would make them guesses).
TEST(SpeculativeGreedy, SameTokensAsGreedyOnDefaultModel) {
  const std::filesystem::path dir = std::filesystem::path(FATHOM_SOURCE_DIR) / "models/default";
  if (!std::filesystem::exists(dir / "config.json")) GTEST_SKIP() << "no models/default";
  auto m = Model::load(dir.string());
  const tok::Tokenizer tk = tok::Tokenizer::load(dir);
  std::vector<int32_t> prompt = {int32_t(m->config().bos_token_id)};
  for (int32_t id : tk.encode("And God said, Let there be light: and there was light. And God saw the light,"))
    prompt.push_back(id);
  Runtime rt(1);
  const Exec ex = rt.exec();
  const Generated plain = greedy(*m, ex, prompt, 64, -1);
  for (int64_t K : {1, 2, 3}) {
    SCOPED_TRACE("K=" + std::to_string(K));
    const Generated spec = greedy(*m, ex, prompt, 64, K);
    EXPECT_EQ(first(spec.tokens, 64), plain.tokens);
    ASSERT_GT(spec.drafted, 0);
    const double acceptance = double(spec.accepted) / double(spec.drafted);
    std::printf("K=%lld: accepted %lld/%lld (%.0f%%)\n", (long long)K, (long long)spec.accepted,
                (long long)spec.drafted, 100.0 * acceptance);
    if (K == 1) {
      EXPECT_GT(acceptance, 0.5);
    }
  }
  // The engine's draft weights (sub-vocabulary head, Q8_0 copies): still exactly greedy's output,
  // and the acceptance stays high (the drafts the full head makes are mostly frequent tokens).
  const int64_t V = m->config().vocab_size;
  const std::vector<int32_t> ids = draft_vocabulary(tk, V, default_draft_vocabulary_size(V));
  ASSERT_EQ(int64_t(ids.size()), std::min<int64_t>(V, std::max<int64_t>(1024, V / 4)));
  EXPECT_EQ(ids[0], tk.eos_id());
  EXPECT_NE(std::find(ids.begin(), ids.end(), tk.token_to_id("Ġthe")), ids.end());
  MtpDrafter drafter(*m, int64_t(prompt.size()) + 64 + 8, CacheType::F32,
                     std::make_shared<const DraftWeights>(*m, DraftWeights::Options{ids, true}));
  const Generated spec = greedy(*m, ex, prompt, 64, 1, &drafter);
  EXPECT_EQ(first(spec.tokens, 64), plain.tokens);
  ASSERT_GT(spec.drafted, 0);
  EXPECT_GT(double(spec.accepted) / double(spec.drafted), 0.5);
}

// A draft head over a sub-vocabulary (FR-Spec) scores exactly what the full head scores for its ids
// (the same stored rows; FP8 rows keep their block scales) and -inf for every other token.
TEST(SpeculativeDrafter, SubVocabularyHeadScoresItsIdsAsTheFullHead) {
  for (SynthDType dt : {SynthDType::BF16, SynthDType::FP8}) {
    auto m = Model::load(test::synth_model("tiny-v3", dt));
    const int64_t V = m->config().vocab_size, H = m->config().hidden_size;
    Runtime rt(1);
    const Exec ex = rt.exec();
    const std::vector<int32_t> ids = {int32_t(V - 1), 3, 200, 7, 130, 0};
    const DraftWeights sub(*m, {ids, false}), full(*m, {});
    EXPECT_EQ(sub.vocab_size(), int64_t(ids.size()));
    EXPECT_EQ(full.vocab_size(), V);
    std::vector<float> h(static_cast<size_t>(H)), got(static_cast<size_t>(V)), want(static_cast<size_t>(V)), scratch;
    for (int64_t i = 0; i < H; ++i) h[size_t(i)] = std::sin(0.37f * float(i));
    sub.logits(ex, 0, h.data(), scratch, got.data());
    full.logits(ex, 0, h.data(), scratch, want.data());
    for (int64_t v = 0; v < V; ++v) {
      if (std::find(ids.begin(), ids.end(), int32_t(v)) != ids.end())
        EXPECT_EQ(got[size_t(v)], want[size_t(v)]) << "id " << v;
      else
        EXPECT_EQ(got[size_t(v)], -std::numeric_limits<float>::infinity()) << "id " << v;
    }
    EXPECT_THROW(DraftWeights(*m, {{1, 1}, false}), Error);
    EXPECT_THROW(DraftWeights(*m, {{int32_t(V)}, false}), Error);
  }
}

// After many rounds of drafts (with the last module chained on its own output, K = 3), the drafter's
// next draft is what a single MTP pass over the whole committed sequence computes: the rows written
// for drafts were all rewritten with the verified tokens and hidden states.
TEST(SpeculativeDrafter, CachesEqualAFreshMtpPass) {
  auto m = Model::load(test::synth_model("tiny-v3", SynthDType::BF16));
  const int64_t V = m->config().vocab_size, H = m->config().hidden_size;
  Runtime rt(1);
  const Exec ex = rt.exec();
  const std::vector<int32_t> prompt = {0, 9, 8, 7, 250, 31};
  MtpDrafter drafter(*m, 64);
  const Generated g = greedy(*m, ex, prompt, 30, 3, &drafter);
  ASSERT_GT(g.drafted, g.accepted);  // some rounds rejected
  // The sequence the drafter has committed: prompt + generated tokens fed so far.
  std::vector<int32_t> seq = prompt;
  seq.insert(seq.end(), g.tokens.begin(), g.tokens.end());
  const int64_t L = drafter.length();
  ASSERT_GE(int64_t(seq.size()), L + 1);
  LatentCache cache = m->make_cache(L);
  std::vector<float> hidden(size_t(L * H));
  m->forward(ex, seq.data(), L, cache, AttentionPath::Expanded, nullptr, hidden.data());
  LatentCache mcache = m->make_mtp_cache(L);
  std::vector<float> fresh(size_t(L * V));
  mtp_forward(ex, *m, 0, hidden.data(), seq.data() + 1, L, mcache, AttentionPath::Expanded, fresh.data());
  const std::span<const float> draft = drafter.first_draft(ex, seq[size_t(L)]);
  const std::vector<float> got(draft.begin(), draft.end()), want(fresh.end() - V, fresh.end());
  EXPECT_LT(rel_l2(got, want), 1e-4);
}

// tiny-v3 with a second MTP module (model.layers.4.*, a copy of module 0 with its eh_proj scaled so
// the two differ): DeepSeek's chained modules, which no released checkpoint has.
std::string two_module_model() {
  namespace fs = std::filesystem;
  const fs::path src = test::synth_model("tiny-v3", SynthDType::F32);
  const fs::path dir = fs::path(FATHOM_TEST_TMP) / "models" / ("tiny-v3-mtp2-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(src, dir);
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  const int64_t first = cfg["num_hidden_layers"].get<int64_t>();
  cfg["num_nextn_predict_layers"] = 2;
  std::ofstream(dir / "config.json") << cfg.dump(2);
  nlohmann::json index = nlohmann::json::parse(std::ifstream(dir / "model.safetensors.index.json"));
  const std::string from = "model.layers." + std::to_string(first) + ".", to = "model.layers." + std::to_string(first + 1) + ".";
  std::vector<std::unique_ptr<io::SafetensorsFile>> shards;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".safetensors") shards.push_back(std::make_unique<io::SafetensorsFile>(e.path().string()));
  io::SafetensorsWriter w((dir / "model-mtp2.safetensors").string());
  std::vector<const io::TensorView*> copies;
  for (const auto& shard : shards)
    for (const auto& [name, t] : shard->tensors())
      if (name.rfind(from, 0) == 0) {
        w.add(to + name.substr(from.size()), t.dtype, t.shape);
        index["weight_map"][to + name.substr(from.size())] = "model-mtp2.safetensors";
        copies.push_back(&t);
      }
  w.begin();
  for (const io::TensorView* t : copies) {
    std::vector<float> v(size_t(t->numel()));
    EXPECT_EQ(t->dtype, DType::F32);
    std::memcpy(v.data(), t->data, t->nbytes);
    if (t->name.find("eh_proj") != std::string::npos)
      for (float& x : v) x *= 1.5f;
    w.write(to + t->name.substr(from.size()), v.data(), t->nbytes);
  }
  w.finish();
  std::ofstream(dir / "model.safetensors.index.json") << index.dump(2);
  return dir.string();
}

// With two modules: after rounds of K = 3 (module 0, module 1 chained on module 0's output and
// draft, then module 1 again one row further), each module's draft equals a fresh pass over the
// committed sequence, and greedy output is unchanged.
TEST(SpeculativeDrafter, TwoChainedModulesStayExact) {
  const std::string dir = two_module_model();
  auto m = Model::load(dir);
  ASSERT_EQ(m->weights().mtp.size(), 2u);
  const int64_t V = m->config().vocab_size, H = m->config().hidden_size;
  Runtime rt(1);
  const Exec ex = rt.exec();
  const std::vector<int32_t> prompt = {0, 9, 8, 7, 250, 31};
  const Generated plain = greedy(*m, ex, prompt, 24, -1);
  for (int64_t K : {1, 2, 3}) {
    SCOPED_TRACE("K=" + std::to_string(K));
    MtpDrafter drafter(*m, 64);
    const Generated g = greedy(*m, ex, prompt, 24, K, &drafter);
    EXPECT_EQ(first(g.tokens, 24), plain.tokens);
    std::vector<int32_t> seq = prompt;
    seq.insert(seq.end(), g.tokens.begin(), g.tokens.end());
    const int64_t L = drafter.length();
    ASSERT_GE(int64_t(seq.size()), L + 1);
    // Fresh: main hidden states, module 0 over rows 0..L-1 (tokens 1..L), its draft d1 (argmax),
    // module 1 over the same rows on module 0's outputs with tokens 2..L, d1.
    LatentCache cache = m->make_cache(L);
    std::vector<float> hidden(size_t(L * H)), h1(size_t(L * H)), l0(size_t(L * V)), l1(size_t(L * V));
    m->forward(ex, seq.data(), L, cache, AttentionPath::Expanded, nullptr, hidden.data());
    LatentCache c0 = m->make_mtp_cache(L), c1 = m->make_mtp_cache(L);
    mtp_forward(ex, *m, 0, hidden.data(), seq.data() + 1, L, c0, AttentionPath::Expanded, l0.data(), h1.data());
    const std::span<const float> got0 = drafter.first_draft(ex, seq[size_t(L)]);
    EXPECT_LT(rel_l2(std::vector<float>(got0.begin(), got0.end()), std::vector<float>(l0.end() - V, l0.end())), 1e-4);
    const int32_t d1 = 17;
    std::vector<int32_t> next2(seq.begin() + 2, seq.begin() + L + 1);
    next2.push_back(d1);
    mtp_forward(ex, *m, 1, h1.data(), next2.data(), L, c1, AttentionPath::Expanded, l1.data());
    const std::span<const float> got1 = drafter.next_draft(ex, d1);
    EXPECT_LT(rel_l2(std::vector<float>(got1.begin(), got1.end()), std::vector<float>(l1.end() - V, l1.end())), 1e-4);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fathom
