// The one generation engine: continuous batching over a fixed pool of sequence slots, driven one
// step() at a time by its owner. `fathom run` and `fathom chat` drive it with one slot from their
// own thread (generation/generator.h); the HTTP server drives it with several slots from its engine
// thread (server/scheduler.h). Request validation, prefix reuse, prefill, sampling, stop handling
// and the end of a sequence are written here once, so the same prompt, settings and seed give the
// same tokens through every frontend.
//
// Each step() ends the cancelled sequences, runs one prefill chunk for each sequence still reading
// its prompt (expanded attention), and advances every decoding sequence with ONE
// Model::decode_batch call, so the expert and attention weights are read once per step for the whole
// batch. Events (a token and the text it released, its logprobs, the end) go to each request's sink
// on the calling thread.
//
// Slots keep their cache after a request ends. A new request takes the free slot whose cached tokens
// share the longest prefix with its prompt (the next turn of a chat re-sends the history), and only
// the rest is prefilled. The KV budget is fixed at construction: parallel x context tokens.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "generation/sampler.h"
#include "model/compute.h"
#include "model/kv_cache.h"

namespace fathom {

class Model;
class SpeculativeDecoder;
struct ModelConfig;
namespace tok { class Tokenizer; }
namespace gen {
struct CompiledSchema;
struct TokenVocabulary;
}

struct EngineRequest {
  std::vector<int32_t> prompt;  // token ids, template and BOS already applied
  int64_t max_tokens = -1;      // -1: until EOS, a stop string or a full context
  SamplerParams sampling;
  std::vector<std::string> stop;     // stop strings, matched on the decoded text
  std::vector<int32_t> stop_tokens;  // besides the EOS ids of config.json and the tokenizer
  bool ignore_eos = false;           // the EOS ids no longer end the sequence (stop_tokens still do)
  std::vector<std::pair<int32_t, float>> logit_bias;  // added to the logits before sampling
  int top_logprobs = -1;     // -1: no logprobs; else also the n most likely alternatives (0..20)
  bool skip_special = true;  // leave special tokens (BOS, EOS, pad) out of the text
  // With MTP on (EngineOptions::mtp_draft > 0), false makes this request decode one token per step;
  // the output is the same either way, only the speed differs.
  bool speculate = true;
  // Structured output: every token must continue a document valid under this schema
  // (generation/json_schema.h), and EOS comes only once it is whole. Under MTP the mask applies
  // inside the speculative round to drafts and targets alike (RoundMask, generation/speculative.h).
  std::shared_ptr<const gen::CompiledSchema> json_schema;
};

// The one request validator (every frontend's requests pass through it before any work). Throws
// fathom::Error naming the field: an empty prompt, one longer than `context`, token ids outside the
// vocabulary, a bad max_tokens, sampling parameter or top_logprobs, an empty stop string, a JSON
// schema with ignore_eos (the document's end could not end the output).
void validate_request(const EngineRequest& r, const ModelConfig& c, int64_t context);

enum class FinishReason { Eos, StopString, MaxTokens, ContextFull, Cancelled };
const char* finish_reason_name(FinishReason r);  // "eos", "stop", "length", "context", "cancelled"

struct GenerationStats {
  int64_t prompt_tokens = 0;     // the whole prompt
  int64_t reused_tokens = 0;     // of those, already in the cache from an earlier request
  int64_t generated_tokens = 0;  // sampled tokens returned (EOS not counted)
  double prompt_seconds = 0;     // prefill of the prompt tokens not reused
  double generation_seconds = 0; // from the end of the prefill to the end
  int64_t drafted_tokens = 0;    // MTP drafts verified (0 without --mtp)
  int64_t accepted_drafts = 0;   // of those, accepted
  double prompt_tokens_per_second() const;
  double generation_tokens_per_second() const;
};

struct TokenLogprob {
  int32_t token;
  float logprob;
  std::vector<std::pair<int32_t, float>> top;  // most likely first
};

struct EngineEvent {
  int32_t token = -1;                  // the generated token behind this event; -1 on the last event
  std::string text;                    // text released now (often empty: held back or partial)
  std::vector<TokenLogprob> logprobs;  // the token's logprob, when asked for
  bool done = false;
  // Set on the last event (done):
  FinishReason finish = FinishReason::Eos;
  std::string stop_string;  // which stop string matched, for FinishReason::StopString
  std::string error;        // the engine failed this request (finish is Cancelled)
  int64_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  GenerationStats stats;
};
using EventSink = std::function<void(EngineEvent&&)>;

// A request's cancel switch, shared by its submitter and the engine.
class Ticket {
 public:
  void cancel() { cancel_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancel_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancel_{false};
};

struct EngineOptions {
  int64_t context = 4096;  // tokens per slot (prompt + generated)
  int parallel = 1;        // slots: sequences generating at once
  // Tokens per forward call while prefilling: bounds the expanded attention's scratch memory, and
  // lets other sequences decode (and a cancel land) between the chunks of a long prompt.
  int64_t prefill_chunk = 512;
  CacheType cache_type = CacheType::F32;  // of every slot's latent cache
  // Self-speculative decoding with the model's MTP modules: drafts per step (0: off). A model
  // without MTP weights (num_nextn_predict_layers 0) is an error when this is > 0.
  int mtp_draft = 0;
};

// Counters over the engine's life (for the server's metrics).
struct EngineCounters {
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
  int64_t requests_finished = 0, requests_cancelled = 0;
  int64_t decode_steps = 0, decode_batch_tokens = 0;  // mean batch = tokens / steps
  int64_t drafted_tokens = 0, accepted_drafts = 0;
  double prefill_seconds = 0, decode_seconds = 0;
};

class Engine {
 public:
  // Model, tokenizer and the exec's pool must outlive the engine. Allocates every slot's cache.
  Engine(const Model& model, const tok::Tokenizer& tokenizer, Exec exec, EngineOptions options);
  ~Engine();

  // Starts a request in a free slot (free_slots() > 0). Validates it first (validate_request).
  void add(std::shared_ptr<Ticket> ticket, EngineRequest request, EventSink sink);
  // One round of work: see the file comment. Never throws for a request's failure: a failed
  // sequence ends with its error in the last event.
  void step();
  // Delivers the last events of the sequences that ended. Call after reading counters(): a
  // submitter told "done" must never find its slot still active or its cache rows counted.
  void send_ended();
  // Ends every running sequence with `error` (finish Cancelled); send_ended() delivers them.
  void fail_all(const std::string& error);
  // Forgets what every free slot has cached (the next request prefills its whole prompt).
  void forget_cached();

  int free_slots() const;
  int64_t active() const { return int64_t(running_.size()); }
  int64_t kv_tokens_used() const;  // cache rows held by running sequences
  const EngineCounters& counters() const { return counters_; }
  const EngineOptions& options() const { return opt_; }
  int64_t kv_bytes_per_token() const;
  // The ids cached in a slot, in order (0 <= slot < parallel).
  std::span<const int32_t> cached_tokens(int slot) const;
  const Model& model() const { return model_; }
  const tok::Tokenizer& tokenizer() const { return tok_; }

 private:
  struct Slot;
  struct Sequence;

  void prefill_step(Sequence& s);
  // One decode step for sequences that sample every token themselves (no MTP, or a request whose
  // logits the engine must see: logit_bias, logprobs).
  void decode_step(std::vector<Sequence*>& batch);
  // One speculative round (draft with MTP, one batched verify, accept, cut the caches) for each.
  void speculative_step(std::vector<Sequence*>& batch);
  // A failed step: each sequence's caches go back to its committed tokens, and it ends with `error`.
  void fail_step(std::vector<Sequence*>& batch, const std::string& error);
  // The logits of one position as the sampler sees them: checked finite, then the request's
  // logit_bias, then its JSON schema's mask (-inf for every token that cannot continue the
  // document). Every token the engine samples one at a time comes through here; a speculative
  // round applies the same schema mask through SchemaRoundMask (engine.cpp), and logit_bias
  // requests never speculate.
  void prepare_logits(Sequence& s, float* logits, int64_t position) const;
  // Samples from prepared logits and emits the token. Returns whether the sequence goes on.
  bool sample_and_emit(Sequence& s, float* logits);
  // Emits token t drawn from `logits` (null for a token a speculative round accepted: such requests
  // ask for no logprobs): logprobs, EOS / stop / limits, the event. Returns whether the sequence
  // goes on (it ended otherwise).
  bool emit(Sequence& s, int32_t t, const float* logits);
  void finish(Sequence& s, FinishReason reason, std::string error = {});

  const Model& model_;
  const tok::Tokenizer& tok_;
  Exec exec_;
  EngineOptions opt_;
  std::vector<int32_t> eos_ids_;  // config.json's and the tokenizer's

  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<Sequence>> running_;
  int64_t clock_ = 0;  // slot LRU clock
  std::vector<std::pair<EventSink, EngineEvent>> ended_;
  EngineCounters counters_;
  std::unique_ptr<SpeculativeDecoder> speculative_;  // with mtp_draft > 0
  // The tokenizer's byte strings and their trie, built for the first request with a JSON schema.
  std::shared_ptr<const gen::TokenVocabulary> vocabulary_;
  std::vector<float> logits_, hidden_;  // step scratch
};

}  // namespace fathom
