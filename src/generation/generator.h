// The streaming generation engine shared by `fathom run`, `fathom chat` and the HTTP server:
// a model, its tokenizer and one latent cache. generate() takes a tokenized prompt, reuses the
// longest prefix already in the cache (multi-turn chat re-sends the whole history), prefills the
// rest in chunks, then samples token by token, calling on_token with the text that became safe to
// show (never a split UTF-8 character, never a possible start of a stop string).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "generation/sampler.h"
#include "model/compute.h"
#include "model/kv_cache.h"

namespace fathom {

class Model;
namespace tok { class Tokenizer; }

struct GenerationRequest {
  std::vector<int32_t> prompt;  // token ids, template and BOS already applied
  int64_t max_tokens = -1;      // -1: until EOS, a stop string or a full context
  SamplerParams sampling;
  std::vector<std::string> stop;     // stop strings, matched on the decoded text
  std::vector<int32_t> stop_tokens;  // besides the EOS ids of config.json and the tokenizer
  bool ignore_eos = false;
  bool skip_special = true;  // leave special tokens (BOS, pad, ...) out of the text
  // Polled between tokens and prefill chunks; set from another thread or a signal handler.
  const std::atomic<bool>* cancel = nullptr;
};

enum class FinishReason { Eos, StopString, MaxTokens, ContextFull, Cancelled };
const char* finish_reason_name(FinishReason r);  // "eos", "stop", "length", "context", "cancelled"

struct GenerationStats {
  int64_t prompt_tokens = 0;     // the whole prompt
  int64_t reused_tokens = 0;     // of those, already in the cache from an earlier call
  int64_t generated_tokens = 0;  // sampled tokens returned (EOS not counted)
  double prompt_seconds = 0;     // prefill of the prompt tokens not reused
  double generation_seconds = 0; // from the end of the prefill to the end
  double prompt_tokens_per_second() const;
  double generation_tokens_per_second() const;
};

struct GenerationResult {
  std::string text;             // the released text (the stop string excluded)
  std::vector<int32_t> tokens;  // generated ids (a matched EOS excluded)
  FinishReason finish = FinishReason::Eos;
  std::string stop_string;  // which stop string matched, for FinishReason::StopString
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
  // Model and tokenizer must outlive it.
  Generator(const Model& model, const tok::Tokenizer& tokenizer, int64_t context, Exec exec,
            CacheType cache_type = CacheType::F32);

  // Throws fathom::Error for an empty prompt, one longer than the context, or bad parameters.
  GenerationResult generate(const GenerationRequest& req, const OnToken& on_token = {});

  void reset();  // drop the cache
  int64_t context() const { return cache_.capacity(); }
  std::span<const int32_t> cached_tokens() const { return cached_; }
  const Model& model() const { return model_; }
  const tok::Tokenizer& tokenizer() const { return tok_; }
  int64_t kv_bytes_per_token() const { return cache_.bytes_per_token(); }

  // Tokens per forward call while prefilling: bounds the expanded attention's scratch memory and
  // lets a cancel request interrupt a long prompt.
  static constexpr int64_t kPrefillChunk = 512;

 private:
  // Feeds prompt[from..) into the cache; writes the last position's logits.
  void prefill(std::span<const int32_t> tokens, const std::atomic<bool>* cancel, std::vector<float>& logits);

  const Model& model_;
  const tok::Tokenizer& tok_;
  Exec exec_;
  LatentCache cache_;
  std::vector<int32_t> cached_;  // the ids whose rows are in cache_, in order
};

}  // namespace fathom
