// End-to-end generation on synthesized checkpoints (V2-Lite-like and V3-like, with their
// synthesized tokenizers): greedy output equals the argmax chain of the model's logits computed
// independently in one prefill pass; seeded sampling repeats; the cache's prefix reuse, chunked
// prefill, stop strings and the context limit behave.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "generation/generator.h"
#include "model/model.h"
#include "model/synth.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using namespace fathom;

namespace {

struct Loaded {
  std::unique_ptr<Model> model;
  std::optional<Tokenizer> tok;
};

Loaded load(const std::string& preset, SynthDType dtype) {
  std::string dir = test::synth_model(preset, dtype);
  // A checkpoint cached by an older build may predate the synthesized tokenizer.
  if (!std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json"))
    synth_write_tokenizer(synth_preset_config(preset), dir, "");
  Loaded l;
  l.model = Model::load(dir);
  l.tok.emplace(Tokenizer::load(dir));
  return l;
}

// Logits of every position of `ids` in one expanded-attention pass over a fresh cache.
std::vector<float> prefill_logits(const Model& m, const std::vector<int32_t>& ids) {
  const int64_t T = int64_t(ids.size()), V = m.config().vocab_size;
  std::vector<float> logits(size_t(T * V));
  LatentCache cache = m.make_cache(T);
  m.forward(Exec::oracle(), ids.data(), T, cache, AttentionPath::Expanded, logits.data(), nullptr);
  return logits;
}

int32_t argmax(const float* x, int64_t n) {
  int32_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = int32_t(i);
  return best;
}

GenerationRequest greedy(std::vector<int32_t> prompt, int64_t n) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = n;
  r.sampling.temperature = 0;
  r.ignore_eos = true;  // a fixed length to compare
  return r;
}

void expect_argmax_chain(const std::string& preset, SynthDType dtype) {
  Loaded l = load(preset, dtype);
  Generator gen(*l.model, *l.tok, 64, Exec::oracle());
  std::vector<int32_t> prompt = l.tok->encode("The capital of France is", true);
  ASSERT_EQ(prompt[0], 0);  // BOS from tokenizer_config.json
  GenerationResult r = gen.generate(greedy(prompt, 16));
  ASSERT_EQ(r.tokens.size(), 16u);
  EXPECT_EQ(r.finish, FinishReason::MaxTokens);

  std::vector<int32_t> all = prompt;
  all.insert(all.end(), r.tokens.begin(), r.tokens.end());
  const int64_t V = l.model->config().vocab_size, P = int64_t(prompt.size());
  std::vector<float> logits = prefill_logits(*l.model, all);
  for (int64_t i = 0; i < 16; ++i)
    EXPECT_EQ(r.tokens[i], argmax(logits.data() + (P - 1 + i) * V, V)) << preset << " token " << i;
  // The streamed text is the decoded tokens (specials skipped).
  EXPECT_EQ(r.text, l.tok->decode(r.tokens, true));
}

}  // namespace

TEST(GenerationGreedy, V2LiteMatchesArgmaxOfReferenceLogits) { expect_argmax_chain("tiny-v2-lite", SynthDType::F32); }
TEST(GenerationGreedy, V3MatchesArgmaxOfReferenceLogits) { expect_argmax_chain("tiny-v3", SynthDType::FP8); }
TEST(GenerationGreedy, V2MatchesArgmaxOfReferenceLogits) { expect_argmax_chain("tiny-v2", SynthDType::BF16); }

TEST(GenerationGreedy, ChunkedPrefillMatchesOnePass) {
  Loaded l = load("tiny-v2-lite", SynthDType::F32);
  const int64_t P = Generator::kPrefillChunk + 77;  // two chunks, the second partial
  std::vector<int32_t> prompt(static_cast<size_t>(P));
  for (int64_t i = 0; i < P; ++i) prompt[i] = int32_t(3 + (i * 37) % 290);
  Generator gen(*l.model, *l.tok, P + 8, Exec::oracle());
  GenerationResult r = gen.generate(greedy(prompt, 3));
  ASSERT_EQ(r.tokens.size(), 3u);
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), r.tokens.begin(), r.tokens.end());
  const int64_t V = l.model->config().vocab_size;
  std::vector<float> logits = prefill_logits(*l.model, all);
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(r.tokens[i], argmax(logits.data() + (P - 1 + i) * V, V));
}

TEST(GenerationGreedy, PrefixReuseGivesTheSameTokens) {
  Loaded l = load("tiny-v3", SynthDType::BF16);
  Generator gen(*l.model, *l.tok, 128, Exec::oracle());
  std::vector<int32_t> first = l.tok->encode("Hello, how are you?", true);
  GenerationResult a = gen.generate(greedy(first, 6));
  // The next turn re-sends everything: the first prompt, the answer, then more text.
  std::vector<int32_t> second = first;
  second.insert(second.end(), a.tokens.begin(), a.tokens.end());
  for (int32_t t : l.tok->encode(" I am fine.", false)) second.push_back(t);
  GenerationResult b = gen.generate(greedy(second, 6));
  EXPECT_EQ(b.stats.reused_tokens, int64_t(first.size() + a.tokens.size() - 1));  // the last answer token was never fed
  Generator fresh(*l.model, *l.tok, 128, Exec::oracle());
  GenerationResult c = fresh.generate(greedy(second, 6));
  EXPECT_EQ(c.stats.reused_tokens, 0);
  EXPECT_EQ(b.tokens, c.tokens);
  // A different prompt shares only BOS.
  GenerationResult d = gen.generate(greedy(l.tok->encode("Write a poem", true), 2));
  EXPECT_EQ(d.stats.reused_tokens, 1);
}

TEST(GenerationSampling, SameSeedSameOutputOtherSeedOtherOutput) {
  Loaded l = load("tiny-v3", SynthDType::FP8);
  auto run = [&](uint64_t seed) {
    Generator gen(*l.model, *l.tok, 64, Exec::oracle());
    GenerationRequest r;
    r.prompt = l.tok->encode("Once upon a time", true);
    r.max_tokens = 24;
    r.ignore_eos = true;
    r.sampling.temperature = 1.0f;
    r.sampling.top_k = 0;
    r.sampling.top_p = 1.0f;
    r.sampling.min_p = 0.0f;
    r.sampling.seed = seed;
    return gen.generate(r).tokens;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST(GenerationStops, StopStringCutsTheText) {
  Loaded l = load("tiny-v2-lite", SynthDType::F32);
  Generator gen(*l.model, *l.tok, 64, Exec::oracle());
  std::vector<int32_t> prompt = l.tok->encode("The sea", true);
  GenerationResult full = gen.generate(greedy(prompt, 20));
  ASSERT_GE(full.text.size(), 8u);
  // Some text from the middle of the greedy answer, starting on a character boundary.
  size_t at = full.text.size() / 2;
  while (at > 0 && (static_cast<unsigned char>(full.text[at]) & 0xC0) == 0x80) --at;
  const std::string stop = full.text.substr(at, 2);
  GenerationRequest req = greedy(prompt, 20);
  req.stop = {stop};
  std::string streamed;
  GenerationResult cut = gen.generate(req, [&](const TokenEvent& e) {
    streamed += e.text;
    return true;
  });
  EXPECT_EQ(cut.finish, FinishReason::StopString);
  EXPECT_EQ(cut.stop_string, stop);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  EXPECT_EQ(streamed, cut.text);
}

TEST(GenerationStops, ContextLimitAndCallbackCancel) {
  Loaded l = load("tiny-v2-lite", SynthDType::F32);
  std::vector<int32_t> prompt = l.tok->encode("Hello", true);
  const int64_t P = int64_t(prompt.size());
  Generator gen(*l.model, *l.tok, P + 3, Exec::oracle());
  GenerationResult r = gen.generate(greedy(prompt, -1));
  EXPECT_EQ(r.finish, FinishReason::ContextFull);
  EXPECT_EQ(r.tokens.size(), 4u);  // 3 fed into the cache, the 4th sampled from the last logits

  int calls = 0;
  GenerationResult c = gen.generate(greedy(prompt, -1), [&](const TokenEvent&) { return ++calls < 2; });
  EXPECT_EQ(c.finish, FinishReason::Cancelled);
  EXPECT_EQ(c.tokens.size(), 2u);

  std::atomic<bool> cancel{true};
  GenerationRequest pre = greedy(prompt, 5);
  pre.cancel = &cancel;
  EXPECT_EQ(gen.generate(pre).finish, FinishReason::Cancelled);
}

TEST(GenerationErrors, BadRequests) {
  Loaded l = load("tiny-v2-lite", SynthDType::F32);
  Generator gen(*l.model, *l.tok, 8, Exec::oracle());
  EXPECT_THROW(gen.generate(greedy({}, 1)), fathom::Error);
  EXPECT_THROW(gen.generate(greedy(std::vector<int32_t>(9, 5), 1)), fathom::Error);  // longer than the context
  EXPECT_THROW(gen.generate(greedy({0, 300}, 1)), fathom::Error);                    // outside the vocabulary
  EXPECT_THROW(gen.generate(greedy({0, 5}, -2)), fathom::Error);
  GenerationRequest bad = greedy({0, 5}, 1);
  bad.sampling.top_p = 2.0f;
  EXPECT_THROW(gen.generate(bad), fathom::Error);
  // Exactly the context: one token can still be sampled.
  GenerationResult r = gen.generate(greedy(std::vector<int32_t>(8, 5), -1));
  EXPECT_EQ(r.tokens.size(), 1u);
  EXPECT_EQ(r.finish, FinishReason::ContextFull);
}
