// The continuous-batching scheduler on a synthesized tiny model: batched greedy output equals the
// single-sequence Generator's, prefixes are reused, cancel frees the slot, a full context ends with
// ContextFull, logit_bias steers sampling, and the queue bound holds.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "generation/generator.h"
#include "model/model.h"
#include "model/synth.h"
#include "server/scheduler.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace fathom::server {
namespace {

struct Fixture {
  std::unique_ptr<Model> model;
  std::optional<Tokenizer> tok;
  Fixture() {
    std::string dir = test::synth_model("tiny-v3", SynthDType::F32);
    if (!std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json"))
      synth_write_tokenizer(synth_preset_config("tiny-v3"), dir, "");
    model = Model::load(dir);
    tok.emplace(Tokenizer::load(dir));
  }
};
Fixture& fx() {
  static Fixture f;
  return f;
}

// Collects one request's events.
struct Collector {
  std::mutex mu;
  std::condition_variable cv;
  std::string text;
  std::vector<int32_t> tokens;
  EngineEvent last;
  bool done = false;
  int events = 0;

  EventSink sink() {
    return [this](EngineEvent&& e) {
      std::lock_guard lk(mu);
      text += e.text;
      for (auto& lp : e.logprobs) tokens.push_back(lp.token);
      ++events;
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
  void wait_events(int n) {
    std::unique_lock lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(60), [&] { return events >= n || done; }));
  }
};

EngineRequest greedy(std::vector<int32_t> prompt, int64_t max_tokens) {
  EngineRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  r.top_logprobs = 0;  // logprobs carry the sampled ids
  return r;
}

TEST(ServerScheduler, BatchedGreedyEqualsGenerator) {
  Fixture& f = fx();
  const std::vector<std::string> prompts = {"The sea is", "Hello, how are you? I am", "In the beginning there was the word, and"};
  Generator gen(*f.model, *f.tok, 256, Exec::oracle());
  std::vector<GenerationResult> expect;
  for (auto& p : prompts) {
    gen.reset();
    GenerationRequest g;
    g.prompt = f.tok->encode(p, true);
    g.max_tokens = 10;
    g.sampling.temperature = 0;
    expect.push_back(gen.generate(g));
  }
  SchedulerOptions o;
  o.context = 256;
  o.parallel = 3;
  Scheduler s(*f.model, *f.tok, Exec::oracle(), o);
  std::vector<Collector> got(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i)
    ASSERT_TRUE(s.submit(greedy(f.tok->encode(prompts[i], true), 10), got[i].sink()));
  for (size_t i = 0; i < prompts.size(); ++i) {
    got[i].wait();
    EXPECT_EQ(int64_t(got[i].tokens.size()), got[i].last.completion_tokens);
    EXPECT_EQ(got[i].tokens, expect[i].tokens) << prompts[i];
    EXPECT_EQ(got[i].text, expect[i].text);
  }
  EXPECT_GT(s.stats().decode_batch_tokens, s.stats().decode_steps);  // some steps advanced several sequences
}

TEST(ServerScheduler, NextTurnReusesThePrefix) {
  Fixture& f = fx();
  SchedulerOptions o;
  o.context = 256;
  o.parallel = 2;
  Scheduler s(*f.model, *f.tok, Exec::oracle(), o);
  const auto first = f.tok->encode("The sea is wide", true);
  Collector a;
  ASSERT_TRUE(s.submit(greedy(first, 4), a.sink()));
  a.wait();
  EXPECT_EQ(a.last.cached_tokens, 0);
  auto second = first;
  for (int32_t t : f.tok->encode(" and the waves", false)) second.push_back(t);
  Collector b;
  ASSERT_TRUE(s.submit(greedy(second, 4), b.sink()));
  b.wait();
  EXPECT_EQ(b.last.cached_tokens, int64_t(first.size()));
  EXPECT_EQ(s.stats().cached_prompt_tokens, int64_t(first.size()));
  // The reused cache gives the same tokens as a fresh one.
  Scheduler fresh(*f.model, *f.tok, Exec::oracle(), o);
  Collector c;
  ASSERT_TRUE(fresh.submit(greedy(second, 4), c.sink()));
  c.wait();
  EXPECT_EQ(b.tokens, c.tokens);
}

TEST(ServerScheduler, CancelFreesTheSlot) {
  Fixture& f = fx();
  SchedulerOptions o;
  o.context = 4096;
  o.parallel = 1;
  Scheduler s(*f.model, *f.tok, Exec::oracle(), o);
  EngineRequest r = greedy(f.tok->encode("Hello", true), -1);
  r.logit_bias = {{1, -100.0f}};  // never EOS
  Collector a;
  auto ticket = s.submit(r, a.sink());
  ASSERT_TRUE(ticket);
  a.wait_events(3);
  ticket->cancel();
  a.wait();
  EXPECT_EQ(a.last.finish, FinishReason::Cancelled);
  EXPECT_LT(a.last.completion_tokens, 4000);
  // The one slot is free again.
  Collector b;
  ASSERT_TRUE(s.submit(greedy(f.tok->encode("Hello", true), 2), b.sink()));
  b.wait();
  EXPECT_EQ(b.last.finish == FinishReason::MaxTokens || b.last.finish == FinishReason::Eos, true);
  EXPECT_EQ(s.stats().requests_cancelled, 1);
}

TEST(ServerScheduler, FullContextEndsWithContextFull) {
  Fixture& f = fx();
  SchedulerOptions o;
  o.context = 16;
  o.parallel = 1;
  Scheduler s(*f.model, *f.tok, Exec::oracle(), o);
  EngineRequest r = greedy(std::vector<int32_t>(10, 50), -1);
  r.logit_bias = {{1, -100.0f}};
  Collector a;
  ASSERT_TRUE(s.submit(r, a.sink()));
  a.wait();
  EXPECT_EQ(a.last.finish, FinishReason::ContextFull);
  EXPECT_EQ(a.last.completion_tokens, 16 - 10 + 1);  // the last sampled token needs no cache row
  EXPECT_THROW(s.submit(greedy(std::vector<int32_t>(17, 50), 1), [](EngineEvent&&) {}), Error);
}

TEST(ServerScheduler, LogitBiasForcesAToken) {
  Fixture& f = fx();
  SchedulerOptions o;
  o.context = 64;
  o.parallel = 1;
  Scheduler s(*f.model, *f.tok, Exec::oracle(), o);
  EngineRequest r = greedy(f.tok->encode("Hello", true), 5);
  r.sampling.temperature = 0.7f;
  r.logit_bias = {{100, 100.0f}};
  Collector a;
  ASSERT_TRUE(s.submit(r, a.sink()));
  a.wait();
  EXPECT_EQ(a.tokens, std::vector<int32_t>(5, 100));
}

TEST(ServerScheduler, QueueBound) {
  Fixture& f = fx();
  SchedulerOptions o;
  o.context = 4096;
  o.parallel = 1;
  o.max_queue = 1;
  Scheduler s(*f.model, *f.tok, Exec::oracle(), o);
  EngineRequest r = greedy(f.tok->encode("Hello", true), -1);
  r.logit_bias = {{1, -100.0f}};
  std::vector<Collector> cs(4);
  std::vector<std::pair<std::shared_ptr<Ticket>, Collector*>> accepted;
  int refused = 0;
  for (auto& c : cs) {
    auto t = s.submit(r, c.sink());
    if (t)
      accepted.emplace_back(t, &c);
    else
      ++refused;
  }
  EXPECT_GE(refused, 2);  // one slot and one queue place
  // Which ones were accepted depends on when the engine moves the first from the queue to the slot
  // (the second may be refused and the third queued): wait for those, not for the first ones.
  for (auto& [t, c] : accepted) t->cancel();
  for (auto& [t, c] : accepted) c->wait();
}

}  // namespace
}  // namespace fathom::server
