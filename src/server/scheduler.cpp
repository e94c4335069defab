#include "server/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "core/error.h"
#include "generation/logits_check.h"
#include "generation/stop_strings.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace fathom::server {

namespace {

using Clock = std::chrono::steady_clock;
double now_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

constexpr double kRateWindow = 5.0;  // seconds of decode steps behind decode_tokens_per_second

}  // namespace

struct Scheduler::Slot {
  LatentCache cache;
  std::vector<int32_t> cached;  // ids whose rows are in the cache, in order
  int64_t last_used = 0;
  bool busy = false;
};

struct Scheduler::Sequence {
  std::shared_ptr<Ticket> ticket;
  EngineRequest req;
  EventSink sink;
  Slot* slot = nullptr;
  int64_t reused = 0;     // prompt tokens found in the slot's cache
  int64_t prefilled = 0;  // prompt tokens in the cache so far
  Sampler sampler;
  StopMatcher stop;
  tok::StreamDecoder decoder;
  std::vector<int32_t> generated;
  int32_t feed = -1;  // the last sampled token, to be appended by the next decode step
  bool done = false;

  Sequence(Pending&& p, const tok::Tokenizer& tok)
      : ticket(std::move(p.ticket)), req(std::move(p.request)), sink(std::move(p.sink)), sampler(req.sampling),
        stop(req.stop), decoder(tok, req.skip_special) {}
  bool prefilling() const { return prefilled < int64_t(req.prompt.size()); }
};

Scheduler::Scheduler(const Model& model, const tok::Tokenizer& tokenizer, Exec exec, SchedulerOptions options)
    : model_(model), tok_(tokenizer), exec_(exec), opt_(options) {
  if (opt_.context < 1) fail("context must be at least 1 token (got {})", opt_.context);
  if (opt_.parallel < 1) fail("parallel must be at least 1 (got {})", opt_.parallel);
  if (opt_.max_queue < 0) fail("queue size must be >= 0 (got {})", opt_.max_queue);
  const ModelConfig& c = model_.config();
  if (c.eos_token_id >= 0) eos_ids_.push_back(int32_t(c.eos_token_id));
  if (tok_.eos_id() >= 0) eos_ids_.push_back(tok_.eos_id());
  for (int i = 0; i < opt_.parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->cache = model_.make_cache(opt_.context, opt_.cache_type);
    slots_.push_back(std::move(s));
  }
  stats_.kv_tokens_capacity = opt_.context * opt_.parallel;
  stats_.kv_bytes_capacity = stats_.kv_tokens_capacity * slots_[0]->cache.bytes_per_token();
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<Ticket> Scheduler::submit(EngineRequest request, EventSink sink) {
  const ModelConfig& c = model_.config();
  const int64_t P = int64_t(request.prompt.size());
  if (P == 0) fail("the prompt is empty");
  if (P > opt_.context)
    fail("the prompt is {} tokens, longer than the context of {} tokens", P, opt_.context);
  for (int32_t id : request.prompt)
    if (id < 0 || id >= c.vocab_size) fail("prompt token id {} is outside the vocabulary [0, {})", id, c.vocab_size);
  for (auto& [id, bias] : request.logit_bias)
    if (id < 0 || id >= c.vocab_size) fail("logit_bias token id {} is outside the vocabulary [0, {})", id, c.vocab_size);
  if (request.max_tokens < -1) fail("max_tokens must be >= 0 (got {})", request.max_tokens);
  request.sampling.validate();
  StopMatcher check_stops(request.stop);  // throws on an empty stop string

  auto ticket = std::make_shared<Ticket>();
  {
    std::lock_guard lk(mu_);
    if (stopping_ || int64_t(queue_.size()) >= opt_.max_queue) return nullptr;
    queue_.push_back({ticket, std::move(request), std::move(sink)});
    stats_.queued = int64_t(queue_.size());
  }
  cv_.notify_all();
  return ticket;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lk(mu_);
  SchedulerStats s = stats_;
  double tokens = 0;
  const double now = now_seconds();
  for (auto& [t, n] : recent_)
    if (now - t <= kRateWindow) tokens += double(n);
  s.decode_tokens_per_second = tokens / kRateWindow;
  return s;
}

void Scheduler::run() {
  for (;;) {
    std::vector<Pending> incoming;
    bool stopping = false;
    {
      std::unique_lock lk(mu_);
      const auto free_slots = [&] {
        return std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return !s->busy; });
      };
      cv_.wait(lk, [&] { return stopping_ || !running_.empty() || (!queue_.empty() && free_slots() > 0); });
      stopping = stopping_;
      if (stopping) {
        for (auto& p : queue_) incoming.push_back(std::move(p));
        queue_.clear();
      } else {
        for (int64_t n = free_slots(); n > 0 && !queue_.empty(); --n) {
          incoming.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      stats_.queued = int64_t(queue_.size());
    }
    if (stopping) {
      for (auto& p : incoming) {
        EngineEvent e;
        e.done = true;
        e.finish = FinishReason::Cancelled;
        e.error = "server shutting down";
        p.sink(std::move(e));
      }
      for (auto& s : running_) finish(*s, FinishReason::Cancelled, "server shutting down");
      send_ended();
      return;
    }
    try {
      step(incoming);
    } catch (const std::exception& e) {  // never take the server down: fail what was running
      for (auto& s : running_) finish(*s, FinishReason::Cancelled, e.what());
    }
    std::erase_if(running_, [](auto& s) { return s->done; });
    {
      std::lock_guard lk(mu_);
      stats_.active = int64_t(running_.size());
      int64_t used = 0;
      for (auto& s : running_) used += s->slot->cache.length();
      stats_.kv_tokens_used = used;
    }
    send_ended();
  }
}

void Scheduler::send_ended() {
  for (auto& [sink, event] : ended_) sink(std::move(event));
  ended_.clear();
}

void Scheduler::step(std::vector<Pending>& incoming) {
  admit(incoming);

  // Cancelled requests (a client went away) end before any more work is spent on them.
  for (auto& s : running_)
    if (!s->done && s->ticket->cancelled()) finish(*s, FinishReason::Cancelled);

  // Prompts advance one chunk per step, so a long prompt does not stall the others' decoding.
  const double t0 = now_seconds();
  bool prefilled = false;
  for (auto& s : running_)
    if (!s->done && s->prefilling()) {
      prefill_step(*s);
      prefilled = true;
    }
  const double t1 = now_seconds();

  std::vector<Sequence*> batch;
  for (auto& s : running_)
    if (!s->done && !s->prefilling() && s->feed >= 0) batch.push_back(s.get());
  if (!batch.empty()) decode_step(batch);
  const double t2 = now_seconds();

  std::lock_guard lk(mu_);
  if (prefilled) stats_.prefill_seconds += t1 - t0;
  if (!batch.empty()) {
    stats_.decode_seconds += t2 - t1;
    stats_.decode_steps += 1;
    stats_.decode_batch_tokens += int64_t(batch.size());
    recent_.emplace_back(t2, int64_t(batch.size()));
    while (!recent_.empty() && t2 - recent_.front().first > kRateWindow) recent_.pop_front();
  }
}

void Scheduler::admit(std::vector<Pending>& incoming) {
  for (auto& p : incoming) {
    auto s = std::make_unique<Sequence>(std::move(p), tok_);
    if (s->ticket->cancelled()) {  // gave up while queued: never takes a slot
      finish(*s, FinishReason::Cancelled);
      continue;
    }
    // The free slot sharing the longest prefix with the prompt; among equals the least recently
    // used. At least the last prompt token is recomputed: its logits start the generation.
    const auto& prompt = s->req.prompt;
    Slot* best = nullptr;
    int64_t best_len = -1;
    for (auto& slot : slots_) {
      if (slot->busy) continue;
      int64_t n = 0;
      const int64_t limit = std::min<int64_t>(int64_t(slot->cached.size()), int64_t(prompt.size()) - 1);
      while (n < limit && slot->cached[size_t(n)] == prompt[size_t(n)]) ++n;
      if (n > best_len || (n == best_len && slot->last_used < best->last_used)) {
        best = slot.get();
        best_len = n;
      }
    }
    best->busy = true;
    best->last_used = ++clock_;
    best->cache.truncate(best_len);
    best->cached.resize(size_t(best_len));
    s->slot = best;
    s->reused = s->prefilled = best_len;
    s->sampler.accept_prompt(prompt);
    {
      std::lock_guard lk(mu_);
      stats_.prompt_tokens += int64_t(prompt.size());
      stats_.cached_prompt_tokens += best_len;
    }
    running_.push_back(std::move(s));
  }
}

void Scheduler::prefill_step(Sequence& s) {
  const int64_t H = model_.config().hidden_size;
  const auto& prompt = s.req.prompt;
  const int64_t n = std::min<int64_t>(opt_.prefill_chunk, int64_t(prompt.size()) - s.prefilled);
  std::vector<float> hidden(size_t(n * H));
  try {
    // Only the last position's logits are needed: final hidden states, then lm_head on one row.
    model_.forward(exec_, prompt.data() + s.prefilled, n, s.slot->cache, AttentionPath::Expanded, nullptr,
                   hidden.data());
  } catch (const std::exception& e) {
    s.slot->cache.truncate(int64_t(s.slot->cached.size()));
    finish(s, FinishReason::Cancelled, e.what());
    return;
  }
  s.slot->cached.insert(s.slot->cached.end(), prompt.begin() + s.prefilled, prompt.begin() + s.prefilled + n);
  s.prefilled += n;
  if (s.prefilling()) return;
  std::vector<float> logits(size_t(model_.config().vocab_size));
  linear(exec_, model_.weights().lm_head, hidden.data() + (n - 1) * H, 1, logits.data());
  sample_next(s, logits.data());
}

void Scheduler::decode_step(std::vector<Sequence*>& batch) {
  const int64_t B = int64_t(batch.size()), V = model_.config().vocab_size;
  std::vector<int32_t> tokens(static_cast<size_t>(B));
  std::vector<LatentCache*> caches(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    tokens[size_t(b)] = batch[size_t(b)]->feed;
    caches[size_t(b)] = &batch[size_t(b)]->slot->cache;
  }
  std::vector<float> logits(size_t(B * V));
  try {
    model_.decode_batch(exec_, tokens.data(), B, caches.data(), logits.data());
  } catch (const std::exception& e) {
    for (Sequence* s : batch) {
      s->slot->cache.truncate(int64_t(s->slot->cached.size()));
      finish(*s, FinishReason::Cancelled, e.what());
    }
    return;
  }
  for (int64_t b = 0; b < B; ++b) {
    Sequence& s = *batch[size_t(b)];
    s.slot->cached.push_back(s.feed);
    s.feed = -1;
    sample_next(s, logits.data() + b * V);
  }
}

void Scheduler::sample_next(Sequence& s, float* logits) {
  const int64_t V = model_.config().vocab_size;
  try {
    check_logits_finite(std::span<const float>(logits, size_t(V)), int64_t(s.slot->cached.size()) - 1);
  } catch (const Error& e) {
    finish(s, FinishReason::Cancelled, e.what());
    return;
  }
  for (auto& [id, bias] : s.req.logit_bias) logits[id] += bias;
  const int32_t t = s.sampler.sample(std::span<const float>(logits, size_t(V)));

  EngineEvent ev;
  if (s.req.top_logprobs >= 0) {  // log-softmax of the (biased) logits, before the sampling filters
    const float mx = *std::max_element(logits, logits + V);
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += std::exp(double(logits[i] - mx));
    const float lse = mx + float(std::log(sum));
    TokenLogprob lp{t, logits[t] - lse, {}};
    if (s.req.top_logprobs > 0) {
      std::vector<int32_t> ids(static_cast<size_t>(V));
      for (int32_t i = 0; i < int32_t(V); ++i) ids[size_t(i)] = i;
      const int64_t k = std::min<int64_t>(s.req.top_logprobs, V);
      std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
      });
      for (int64_t i = 0; i < k; ++i) lp.top.push_back({ids[size_t(i)], logits[ids[size_t(i)]] - lse});
    }
    ev.logprobs.push_back(std::move(lp));
  }

  if (std::find(eos_ids_.begin(), eos_ids_.end(), t) != eos_ids_.end()) {
    finish(s, FinishReason::Eos);
    return;
  }
  s.sampler.accept(t);
  s.generated.push_back(t);
  ev.text = s.stop.push(s.decoder.put(t));
  if (!ev.text.empty() || !ev.logprobs.empty()) s.sink(std::move(ev));

  const int64_t n = int64_t(s.generated.size());
  if (s.stop.stopped())
    finish(s, FinishReason::StopString);
  else if (s.req.max_tokens >= 0 && n >= s.req.max_tokens)
    finish(s, FinishReason::MaxTokens);
  else if (s.slot->cache.length() >= s.slot->cache.capacity())
    finish(s, FinishReason::ContextFull);
  else
    s.feed = t;
}

void Scheduler::finish(Sequence& s, FinishReason reason, std::string error) {
  if (s.done) return;
  s.done = true;
  EngineEvent ev;
  ev.done = true;
  ev.finish = reason;
  ev.error = std::move(error);
  if (!s.stop.stopped() && ev.error.empty()) {  // release what was held back
    std::string tail = s.stop.push(s.decoder.finish());
    if (!s.stop.stopped()) tail += s.stop.flush();
    if (s.stop.stopped()) ev.finish = FinishReason::StopString;
    ev.text = std::move(tail);
  }
  ev.prompt_tokens = int64_t(s.req.prompt.size());
  ev.cached_tokens = s.reused;
  ev.completion_tokens = int64_t(s.generated.size());
  if (s.slot) {
    s.slot->busy = false;
    s.slot->last_used = ++clock_;
  }
  {
    std::lock_guard lk(mu_);
    stats_.completion_tokens += ev.completion_tokens;
    if (reason == FinishReason::Cancelled)
      ++stats_.requests_cancelled;
    else
      ++stats_.requests_finished;
  }
  ended_.emplace_back(s.sink, std::move(ev));
}

}  // namespace fathom::server
