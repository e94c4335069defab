#include "server/scheduler.h"

#include <chrono>

#include "core/error.h"
#include "model/model.h"

namespace fathom::server {

namespace {

using Clock = std::chrono::steady_clock;
double now_seconds() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

constexpr double kRateWindow = 5.0;  // seconds of decode steps behind decode_tokens_per_second

EngineOptions engine_options(const SchedulerOptions& o) {
  if (o.max_queue < 0) fail("queue size must be >= 0 (got {})", o.max_queue);
  EngineOptions e;
  e.context = o.context;
  e.parallel = o.parallel;
  e.prefill_chunk = o.prefill_chunk;
  e.cache_type = o.cache_type;
  e.mtp_draft = o.mtp_draft;
  return e;
}

// The last event of a request that never reached the engine.
void fail_request(const EventSink& sink, std::string error) {
  EngineEvent e;
  e.done = true;
  e.finish = FinishReason::Cancelled;
  e.error = std::move(error);
  sink(std::move(e));
}

}  // namespace

Scheduler::Scheduler(const Model& model, const tok::Tokenizer& tokenizer, Exec exec, SchedulerOptions options)
    : model_(model), opt_(options), engine_(model, tokenizer, exec, engine_options(options)) {
  stats_.kv_tokens_capacity = opt_.context * opt_.parallel;
  stats_.kv_bytes_capacity = stats_.kv_tokens_capacity * engine_.kv_bytes_per_token();
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
  validate_request(request, model_.config(), opt_.context);
  // The engine reports every token; the HTTP side wants only events that carry something.
  EventSink wanted = [sink = std::move(sink)](EngineEvent&& e) {
    if (e.done || !e.text.empty() || !e.logprobs.empty()) sink(std::move(e));
  };
  auto ticket = std::make_shared<Ticket>();
  {
    std::lock_guard lk(mu_);
    if (stopping_ || int64_t(queue_.size()) >= opt_.max_queue) return nullptr;
    queue_.push_back({ticket, std::move(request), std::move(wanted)});
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
      // The engine is this thread's alone, so reading it under the lock is safe.
      cv_.wait(lk, [&] { return stopping_ || engine_.active() > 0 || (!queue_.empty() && engine_.free_slots() > 0); });
      stopping = stopping_;
      if (stopping) {
        for (auto& p : queue_) incoming.push_back(std::move(p));
        queue_.clear();
      } else {
        for (int64_t n = engine_.free_slots(); n > 0 && !queue_.empty(); --n) {
          incoming.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      stats_.queued = int64_t(queue_.size());
    }
    if (stopping) {
      for (auto& p : incoming) fail_request(p.sink, "server shutting down");
      engine_.fail_all("server shutting down");
      engine_.send_ended();
      return;
    }
    const int64_t decoded_before = engine_.counters().decode_batch_tokens;
    for (auto& p : incoming) {
      EventSink sink = p.sink;  // add() consumes its own copy, also when it throws
      try {
        engine_.add(std::move(p.ticket), std::move(p.request), std::move(p.sink));
      } catch (const std::exception& e) {  // validated at submit: only an engine fault lands here
        fail_request(sink, e.what());
      }
    }
    engine_.step();
    publish_stats(decoded_before);
    engine_.send_ended();
  }
}

void Scheduler::publish_stats(int64_t decoded_before) {
  const EngineCounters& c = engine_.counters();
  const double now = now_seconds();
  std::lock_guard lk(mu_);
  stats_.active = engine_.active();
  stats_.kv_tokens_used = engine_.kv_tokens_used();
  stats_.prompt_tokens = c.prompt_tokens;
  stats_.cached_prompt_tokens = c.cached_prompt_tokens;
  stats_.completion_tokens = c.completion_tokens;
  stats_.requests_finished = c.requests_finished;
  stats_.requests_cancelled = c.requests_cancelled;
  stats_.decode_steps = c.decode_steps;
  stats_.decode_batch_tokens = c.decode_batch_tokens;
  stats_.drafted_tokens = c.drafted_tokens;
  stats_.accepted_drafts = c.accepted_drafts;
  stats_.prefill_seconds = c.prefill_seconds;
  stats_.decode_seconds = c.decode_seconds;
  if (c.decode_batch_tokens > decoded_before) {
    recent_.emplace_back(now, c.decode_batch_tokens - decoded_before);
    while (!recent_.empty() && now - recent_.front().first > kRateWindow) recent_.pop_front();
  }
}

}  // namespace fathom::server
