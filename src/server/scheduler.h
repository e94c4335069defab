// The server's streaming engine: continuous batching over a fixed pool of sequence slots.
//
// One engine thread owns the model. Each step it admits queued requests into free slots, runs one
// prefill chunk for each sequence still reading its prompt (expanded attention), and advances every
// decoding sequence with ONE Model::decode_batch call, so the expert and attention weights are read
// once per step for the whole batch. Events (released text, logprobs, the end) go to each request's
// callback from the engine thread; callbacks must not block.
//
// Slots keep their cache after a request ends. A new request takes the free slot whose cached
// tokens share the longest prefix with its prompt (the next turn of a chat re-sends the history),
// and only the rest is prefilled. The KV budget is fixed at start: parallel x context tokens.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "generation/generator.h"
#include "generation/sampler.h"
#include "model/compute.h"

namespace fathom {
class Model;
namespace tok { class Tokenizer; }
}  // namespace fathom

namespace fathom::server {

struct EngineRequest {
  std::vector<int32_t> prompt;  // template and BOS applied
  int64_t max_tokens = -1;      // -1: until EOS, a stop string or the context is full
  SamplerParams sampling;
  std::vector<std::string> stop;
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits before sampling
  int top_logprobs = -1;  // -1: no logprobs; else also the n most likely alternatives (0..20)
  bool skip_special = true;  // leave special tokens (BOS, EOS, pad) out of the text
};

struct TokenLogprob {
  int32_t token;
  float logprob;
  std::vector<std::pair<int32_t, float>> top;  // most likely first
};

struct EngineEvent {
  std::string text;                    // text released now (may be empty)
  std::vector<TokenLogprob> logprobs;  // the tokens behind it, when asked for
  bool done = false;
  // Set on the last event:
  FinishReason finish = FinishReason::Eos;
  std::string error;  // the engine failed this request (finish is Cancelled)
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
};
using EventSink = std::function<void(EngineEvent&&)>;

// A submitted request, as its submitter sees it.
class Ticket {
 public:
  void cancel() { cancel_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancel_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancel_{false};
};

struct SchedulerOptions {
  int64_t context = 4096;  // tokens per slot (prompt + generated)
  int parallel = 4;        // slots: sequences generating at once
  int max_queue = 64;      // requests waiting for a slot; more are refused
  int64_t prefill_chunk = 512;
  CacheType cache_type = CacheType::F32;  // of every slot's latent cache
};

struct SchedulerStats {
  int64_t queued = 0, active = 0;
  int64_t kv_tokens_used = 0, kv_tokens_capacity = 0, kv_bytes_capacity = 0;
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
  int64_t requests_finished = 0, requests_cancelled = 0;
  int64_t decode_steps = 0, decode_batch_tokens = 0;  // mean batch = tokens / steps
  double prefill_seconds = 0, decode_seconds = 0;
  double decode_tokens_per_second = 0;  // over the last few seconds
};

class Scheduler {
 public:
  // Model, tokenizer and the exec's pool must outlive the scheduler. Allocates every slot's cache.
  Scheduler(const Model& model, const tok::Tokenizer& tokenizer, Exec exec, SchedulerOptions options);
  ~Scheduler();  // ends every request (error "server shutting down") and stops the thread

  // Queues a request. Throws fathom::Error for a request the engine cannot run (empty prompt, one
  // longer than the context, bad ids or sampling parameters). Returns null when the queue is full.
  std::shared_ptr<Ticket> submit(EngineRequest request, EventSink sink);

  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Slot;
  struct Sequence;
  struct Pending {
    std::shared_ptr<Ticket> ticket;
    EngineRequest request;
    EventSink sink;
  };

  void run();
  void step(std::vector<Pending>& incoming);  // admit, cancel, prefill chunks, one batched decode
  void admit(std::vector<Pending>& incoming);
  void prefill_step(Sequence& s);
  void decode_step(std::vector<Sequence*>& batch);
  // Samples from one position's logits; feeds the stream; ends the sequence when it is done.
  void sample_next(Sequence& s, float* logits);
  // Ends a sequence. Its last event waits in ended_ until send_ended(), after the stats stop
  // counting it: a client told "done" must never find its slot still active or its cache rows used.
  void finish(Sequence& s, FinishReason reason, std::string error = {});
  void send_ended();

  const Model& model_;
  const tok::Tokenizer& tok_;
  Exec exec_;
  SchedulerOptions opt_;
  std::vector<int32_t> eos_ids_;

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<Sequence>> running_;  // engine thread only
  int64_t clock_ = 0;                               // slot LRU clock
  std::vector<std::pair<EventSink, EngineEvent>> ended_;  // engine thread only: see finish()

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  SchedulerStats stats_;  // under mu_
  std::deque<std::pair<double, int64_t>> recent_;  // (time, tokens) of recent decode steps

  std::thread thread_;
};

}  // namespace fathom::server
