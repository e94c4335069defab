// The one generation engine (generation/engine.h) on a synthesized tiny-v3 (random weights, one MTP
// module): greedy with MTP speculation gives token for token the output without it (K = 1, 2, 3, a
// reused prefix, a full context), in the one-slot Generator and in the batched Scheduler where a
// request that must see its logits (logit_bias) decodes beside speculating ones; the features of
// both former engines work through each frontend; one validator refuses bad requests everywhere.
// The CLI and server side of the same checks: tests/server/one_engine.mjs.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "generation/generator.h"
#include "model/model.h"
#include "model/synth.h"
#include "server/scheduler.h"
#include "test_paths.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace fathom {
namespace {

struct Fixture {
  const std::string dir = test::synth_model_with_tokenizer("tiny-v3", SynthDType::F32);
  std::unique_ptr<Model> model = Model::load(dir);
  Tokenizer tok_value = Tokenizer::load(dir);
  const Tokenizer* tok = &tok_value;
  Runtime runtime{1};
};
Fixture& fx() {
  static Fixture f;
  return f;
}

GenerationRequest greedy(std::vector<int32_t> prompt, int64_t n) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = n;
  r.sampling.temperature = 0;
  return r;
}

const std::vector<std::string> kPrompts = {"The sea is", "Hello, how are you? I am", "In the beginning there was"};

TEST(GenerationEngine, GreedyWithMtpEqualsGreedyWithout) {
  Fixture& f = fx();
  for (const std::string& p : kPrompts) {
    Generator plain(*f.model, *f.tok, 128, f.runtime.exec());
    const GenerationResult want = plain.generate(greedy(f.tok->encode(p, true), 20));
    ASSERT_EQ(want.tokens.size(), 20u) << p;
    EXPECT_EQ(want.stats.drafted_tokens, 0);
    for (int k = 1; k <= 3; ++k) {
      Generator mtp(*f.model, *f.tok, 128, f.runtime.exec(), CacheType::F32, k);
      const GenerationResult got = mtp.generate(greedy(f.tok->encode(p, true), 20));
      EXPECT_EQ(got.tokens, want.tokens) << p << " K=" << k;
      EXPECT_EQ(got.text, want.text);
      EXPECT_GT(got.stats.drafted_tokens, 0);
      EXPECT_LE(got.stats.accepted_drafts, got.stats.drafted_tokens);
      EXPECT_LE(got.stats.drafted_tokens, int64_t(k) * 20);

      // The next turn re-sends the history: the reused prefix (main and MTP caches) gives what a
      // fresh engine gives.
      std::vector<int32_t> next = f.tok->encode(p, true);
      next.insert(next.end(), got.tokens.begin(), got.tokens.end());
      for (int32_t t : f.tok->encode(" and then", false)) next.push_back(t);
      const GenerationResult again = mtp.generate(greedy(next, 12));
      EXPECT_GT(again.stats.reused_tokens, 0);
      Generator fresh(*f.model, *f.tok, 128, f.runtime.exec());
      EXPECT_EQ(again.tokens, fresh.generate(greedy(next, 12)).tokens) << p << " K=" << k;
    }
  }
}

TEST(GenerationEngine, FullContextEndsAtTheSameTokenWithMtp) {
  Fixture& f = fx();
  GenerationRequest r = greedy(std::vector<int32_t>(10, 50), -1);
  r.ignore_eos = true;
  Generator plain(*f.model, *f.tok, 24, f.runtime.exec());
  const GenerationResult want = plain.generate(r);
  EXPECT_EQ(want.finish, FinishReason::ContextFull);
  EXPECT_EQ(want.tokens.size(), size_t(24 - 10 + 1));  // the last sampled token needs no cache row
  for (int k = 1; k <= 3; ++k) {
    Generator mtp(*f.model, *f.tok, 24, f.runtime.exec(), CacheType::F32, k);
    const GenerationResult got = mtp.generate(r);
    EXPECT_EQ(got.finish, FinishReason::ContextFull) << "K=" << k;
    EXPECT_EQ(got.tokens, want.tokens) << "K=" << k;
  }
}

// models/default (trained with one MTP layer: most drafts accepted, so a round commits several
// tokens): greedy output equals greedy without MTP up to a full context, where the accepted drafts'
// rows fill the cache to its last row.
TEST(GenerationEngine, DefaultModelGreedyWithMtpEqualsWithoutToAFullContext) {
  const std::filesystem::path dir = FATHOM_SOURCE_DIR + "/models/default";
  if (!std::filesystem::exists(dir / "config.json")) GTEST_SKIP() << "no models/default in this checkout";
  Fixture& f = fx();
  auto model = Model::load(dir.string());
  const Tokenizer tok = Tokenizer::load(dir.string());
  for (const char* p : {"The LORD is my shepherd;", "And God said, Let there be light:"}) {
    GenerationRequest r = greedy(tok.encode(p, true), -1);
    r.ignore_eos = true;
    const int64_t ctx = int64_t(r.prompt.size()) + 40;
    Generator plain(*model, tok, ctx, f.runtime.exec());
    const GenerationResult want = plain.generate(r);
    EXPECT_EQ(want.finish, FinishReason::ContextFull);
    for (int k = 1; k <= 3; ++k) {
      Generator mtp(*model, tok, ctx, f.runtime.exec(), CacheType::F32, k);
      const GenerationResult got = mtp.generate(r);
      EXPECT_EQ(got.finish, FinishReason::ContextFull) << p << " K=" << k;
      EXPECT_EQ(got.text, want.text) << p << " K=" << k;
      EXPECT_GT(got.stats.accepted_drafts, 0) << p << " K=" << k;
    }
  }
}

// Collects one scheduler request's events.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int32_t> tokens;
  std::string text;
  EngineEvent last;
  bool done = false;
  EventSink sink() {
    return [this](EngineEvent&& e) {
      std::lock_guard lk(mu);
      for (auto& lp : e.logprobs) tokens.push_back(lp.token);
      text += e.text;
      if (e.done) {
        done = true;
        last = std::move(e);
      }
      cv.notify_all();
    };
  }
  void wait() {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(60), [&] { return done; }));
  }
};

TEST(GenerationEngine, SchedulerSpeculatesPerRequestInOneBatch) {
  Fixture& f = fx();
  // What each request gives alone, without MTP. The last one carries a logit_bias, so it samples
  // from its own logits beside the speculating ones.
  std::vector<EngineRequest> reqs;
  for (auto& p : kPrompts) reqs.push_back(greedy(f.tok->encode(p, true), 16));
  reqs.push_back(greedy(f.tok->encode("Hello", true), 16));
  reqs.back().logit_bias = {{7, 5.0f}};
  std::vector<GenerationResult> want;
  for (auto& r : reqs) {
    Generator g(*f.model, *f.tok, 128, f.runtime.exec());
    GenerationRequest gr;
    static_cast<EngineRequest&>(gr) = r;
    want.push_back(g.generate(gr));
  }
  server::SchedulerOptions o;
  o.context = 128;
  o.parallel = int(reqs.size());
  o.mtp_draft = 2;
  server::Scheduler s(*f.model, *f.tok, f.runtime.exec(), o);
  std::vector<Collector> got(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EngineRequest r = reqs[i];
    r.top_logprobs = i + 1 == reqs.size() ? 0 : -1;  // logprobs also keep a request off speculation
    ASSERT_TRUE(s.submit(r, got[i].sink()));
  }
  for (size_t i = 0; i < reqs.size(); ++i) got[i].wait();
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(got[i].text, want[i].text) << i;
    EXPECT_EQ(got[i].last.completion_tokens, int64_t(want[i].tokens.size())) << i;
  }
  for (size_t i = 0; i + 1 < reqs.size(); ++i) EXPECT_GT(got[i].last.stats.drafted_tokens, 0) << kPrompts[i];
  EXPECT_EQ(got.back().tokens, want.back().tokens);
  EXPECT_EQ(got.back().last.stats.drafted_tokens, 0);
  EXPECT_GT(s.stats().drafted_tokens, 0);
  EXPECT_LE(s.stats().accepted_drafts, s.stats().drafted_tokens);
}

TEST(GenerationEngine, BothFrontendsHaveEveryFeature) {
  Fixture& f = fx();
  const auto prompt = f.tok->encode("Hello", true);
  // logit_bias and logprobs through the Generator (once only the server's).
  Generator g(*f.model, *f.tok, 64, f.runtime.exec());
  GenerationRequest r = greedy(prompt, 4);
  r.logit_bias = {{100, 100.0f}};
  r.top_logprobs = 2;
  GenerationResult out = g.generate(r);
  EXPECT_EQ(out.tokens, std::vector<int32_t>(4, 100));
  ASSERT_EQ(out.logprobs.size(), 4u);
  EXPECT_EQ(out.logprobs[0].top.size(), 2u);
  EXPECT_EQ(out.logprobs[0].top[0].first, 100);

  // stop_tokens and ignore_eos through the Scheduler (once only the CLI's).
  server::SchedulerOptions o;
  o.context = 64;
  o.parallel = 1;
  server::Scheduler s(*f.model, *f.tok, f.runtime.exec(), o);
  EngineRequest stop = greedy(prompt, 8);
  stop.logit_bias = {{100, 100.0f}};
  stop.stop_tokens = {100};
  Collector a;
  ASSERT_TRUE(s.submit(stop, a.sink()));
  a.wait();
  EXPECT_EQ(a.last.finish, FinishReason::Eos);
  EXPECT_EQ(a.last.completion_tokens, 0);
  EngineRequest past = greedy(prompt, 3);
  past.logit_bias = {{f.tok->eos_id(), 100.0f}};
  past.ignore_eos = true;
  Collector b;
  ASSERT_TRUE(s.submit(past, b.sink()));
  b.wait();
  EXPECT_EQ(b.last.finish, FinishReason::MaxTokens);
  EXPECT_EQ(b.last.completion_tokens, 3);
}

TEST(GenerationEngine, OneValidatorForEveryFrontend) {
  Fixture& f = fx();
  Generator g(*f.model, *f.tok, 16, f.runtime.exec());
  server::SchedulerOptions o;
  o.context = 16;
  o.parallel = 1;
  server::Scheduler s(*f.model, *f.tok, f.runtime.exec(), o);
  auto message = [](auto&& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  std::vector<GenerationRequest> bad(6, greedy({1, 2, 3}, 2));
  bad[0].prompt.clear();
  bad[1].prompt.assign(17, 5);
  bad[2].stop_tokens = {1 << 20};
  bad[3].top_logprobs = 21;
  bad[4].stop = {""};
  bad[5].sampling.top_p = 2;
  for (const GenerationRequest& r : bad) {
    const std::string a = message([&] { g.generate(r); });
    const std::string b = message([&] { s.submit(r, [](EngineEvent&&) {}); });
    EXPECT_NE(a, "(accepted)");
    EXPECT_EQ(a, b);
  }
  // A model without MTP weights: an engine asked to speculate names the config field.
  auto v2 = Model::load(test::synth_model_with_tokenizer("tiny-v2", SynthDType::F32));
  const std::string e = message([&] { Generator(*v2, *f.tok, 16, f.runtime.exec(), CacheType::F32, 1); });
  EXPECT_NE(e.find("num_nextn_predict_layers"), std::string::npos) << e;
}

TEST(GenerationEngine, SeedRule) {
  EXPECT_EQ(sequence_seed(7), 7u);
  EXPECT_EQ(sequence_seed(7, 2), 9u);
  EXPECT_EQ(sequence_seed(UINT64_MAX, 1), 0u);  // wraps
  EXPECT_NE(sequence_seed(std::nullopt), sequence_seed(std::nullopt));  // 64 random bits each
}

}  // namespace
}  // namespace fathom
