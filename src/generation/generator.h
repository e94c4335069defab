// Synchronous generation for `fathom run`, `fathom chat` and `fathom bench`: the one engine
// (generation/engine.h) with one slot, stepped from the caller's thread. generate() takes a
// tokenized prompt, reuses the longest prefix already in the cache (multi-turn chat re-sends the
// whole history), prefills the rest in chunks, then generates token by token, calling on_token
// with the text that became safe to show (never a split UTF-8 character, never a possible start of
// a stop string).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "generation/engine.h"

namespace fathom {

struct GenerationRequest : EngineRequest {
  // Polled between engine steps (tokens and prefill chunks); set from another thread or a signal
  // handler.
  const std::atomic<bool>* cancel = nullptr;
};

struct GenerationResult {
  std::string text;             // the released text (the stop string excluded)
  std::vector<int32_t> tokens;  // generated ids (a matched EOS excluded)
  FinishReason finish = FinishReason::Eos;
  std::string stop_string;  // which stop string matched, for FinishReason::StopString
  std::vector<TokenLogprob> logprobs;  // one per token, when the request asked for them
  GenerationStats stats;
};

struct TokenEvent {
  int32_t token;          // the sampled id; -1 for the final flush of held-back text
  std::string_view text;  // text released by this token (often empty: held back or partial)
};
// Returns false to stop generating (FinishReason::Cancelled).
using OnToken = std::function<bool(const TokenEvent&)>;

class Generator {
 public:
  // `context`: cache capacity in tokens (prompt + generated), of storage type `cache_type`. `exec` is
  // explicit: the fast kernels (Runtime::exec()) or, by name, the reference path (Exec::oracle()).
  // `mtp_draft` > 0: self-speculative decoding with that many MTP drafts per step. Model and
  // tokenizer must outlive it.
  Generator(const Model& model, const tok::Tokenizer& tokenizer, int64_t context, Exec exec,
            CacheType cache_type = CacheType::F32, int mtp_draft = 0);

  // Throws fathom::Error for a request validate_request() refuses, or when the engine fails it
  // (e.g. non-finite logits).
  GenerationResult generate(const GenerationRequest& req, const OnToken& on_token = {});

  void reset();  // drop the cache
  int64_t context() const { return engine_.options().context; }
  std::span<const int32_t> cached_tokens() const { return engine_.cached_tokens(0); }
  const Model& model() const { return engine_.model(); }
  const tok::Tokenizer& tokenizer() const { return engine_.tokenizer(); }
  int64_t kv_bytes_per_token() const { return engine_.kv_bytes_per_token(); }
  const Engine& engine() const { return engine_; }

  // Tokens per forward call while prefilling (EngineOptions::prefill_chunk).
  static constexpr int64_t kPrefillChunk = 512;

 private:
  Engine engine_;
};

}  // namespace fathom
