// The server's side of the one generation engine (generation/engine.h): a queue of requests and
// an engine thread that owns the model. The thread moves queued requests into free slots and steps
// the engine (continuous batching: one batched decode per step for every decoding sequence).
// Events (released text, logprobs, the end) go to each request's callback from the engine thread;
// callbacks must not block.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "generation/engine.h"
#include "model/compute.h"

namespace fathom {
class Model;
namespace tok { class Tokenizer; }
}  // namespace fathom

namespace fathom::server {

using fathom::EngineEvent;
using fathom::EngineRequest;
using fathom::EventSink;
using fathom::Ticket;
using fathom::TokenLogprob;

struct SchedulerOptions {
  int64_t context = 4096;  // tokens per slot (prompt + generated)
  int parallel = 4;        // slots: sequences generating at once
  int max_queue = 64;      // requests waiting for a slot; more are refused
  int64_t prefill_chunk = 512;
  CacheType cache_type = CacheType::F32;  // of every slot's latent cache
  int mtp_draft = 0;  // MTP drafts per decode step (EngineOptions::mtp_draft; 0: off)
};

struct SchedulerStats {
  int64_t queued = 0, active = 0;
  int64_t kv_tokens_used = 0, kv_tokens_capacity = 0, kv_bytes_capacity = 0;
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
  int64_t requests_finished = 0, requests_cancelled = 0;
  int64_t decode_steps = 0, decode_batch_tokens = 0;  // mean batch = tokens / steps
  int64_t drafted_tokens = 0, accepted_drafts = 0;    // MTP speculative decoding
  double prefill_seconds = 0, decode_seconds = 0;
  double decode_tokens_per_second = 0;  // over the last few seconds
};

class Scheduler {
 public:
  // Model, tokenizer and the exec's pool must outlive the scheduler. Allocates every slot's cache.
  Scheduler(const Model& model, const tok::Tokenizer& tokenizer, Exec exec, SchedulerOptions options);
  ~Scheduler();  // ends every request (error "server shutting down") and stops the thread

  // Queues a request. Throws fathom::Error for a request the engine cannot run (validate_request:
  // empty prompt, one longer than the context, bad ids or sampling parameters). Returns null when
  // the queue is full.
  std::shared_ptr<Ticket> submit(EngineRequest request, EventSink sink);

  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Pending {
    std::shared_ptr<Ticket> ticket;
    EngineRequest request;
    EventSink sink;
  };

  void run();
  void publish_stats(int64_t decoded_before);  // engine counters -> stats_, under mu_

  const Model& model_;
  SchedulerOptions opt_;
  Engine engine_;  // engine thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  SchedulerStats stats_;  // under mu_
  std::deque<std::pair<double, int64_t>> recent_;  // (time, tokens) of recent decode steps

  std::thread thread_;
};

}  // namespace fathom::server
