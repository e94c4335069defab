#include "generation/generator.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "generation/logits_check.h"
#include "generation/stop_strings.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace fathom {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

bool cancelled(const std::atomic<bool>* c) { return c && c->load(std::memory_order_relaxed); }

}  // namespace

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Eos: return "eos";
    case FinishReason::StopString: return "stop";
    case FinishReason::MaxTokens: return "length";
    case FinishReason::ContextFull: return "context";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "?";
}

double GenerationStats::prompt_tokens_per_second() const {
  const int64_t n = prompt_tokens - reused_tokens;
  return prompt_seconds > 0 ? double(n) / prompt_seconds : 0.0;
}

double GenerationStats::generation_tokens_per_second() const {
  return generation_seconds > 0 ? double(generated_tokens) / generation_seconds : 0.0;
}

Generator::Generator(const Model& model, const tok::Tokenizer& tokenizer, int64_t context, Exec exec,
                     CacheType cache_type)
    : model_(model), tok_(tokenizer), exec_(exec) {
  if (context < 1) fail("context must be at least 1 token (got {})", context);
  cache_ = model_.make_cache(context, cache_type);
}

void Generator::reset() {
  cache_.clear();
  cached_.clear();
}

void Generator::prefill(std::span<const int32_t> tokens, const std::atomic<bool>* cancel,
                        std::vector<float>& logits) {
  const ModelConfig& c = model_.config();
  const int64_t H = c.hidden_size;
  std::vector<float> hidden;
  for (size_t at = 0; at < tokens.size();) {
    if (cancelled(cancel)) return;
    const int64_t n = std::min<int64_t>(kPrefillChunk, int64_t(tokens.size() - at));
    hidden.resize(size_t(n * H));
    // Only the last position's logits are needed: ask for the final hidden states and apply
    // lm_head to one row instead of n (vocab x hidden each).
    model_.forward(exec_, tokens.data() + at, n, cache_, AttentionPath::Expanded, nullptr, hidden.data());
    cached_.insert(cached_.end(), tokens.begin() + at, tokens.begin() + at + n);
    at += size_t(n);
    if (at == tokens.size()) linear(exec_, model_.weights().lm_head, hidden.data() + (n - 1) * H, 1, logits.data());
  }
}

GenerationResult Generator::generate(const GenerationRequest& req, const OnToken& on_token) {
  const ModelConfig& c = model_.config();
  const int64_t P = int64_t(req.prompt.size());
  if (P == 0) fail("empty prompt: nothing to generate from");
  if (P > context())
    fail("the prompt is {} tokens, longer than the context of {} tokens (raise --ctx, at most {})", P, context(),
         c.max_position_embeddings);
  if (req.max_tokens < -1) fail("max tokens must be >= 0, or -1 for no limit (got {})", req.max_tokens);
  for (int32_t id : req.prompt)
    if (id < 0 || id >= c.vocab_size) fail("prompt token id {} is outside the model's vocabulary [0, {})", id, c.vocab_size);
  Sampler sampler(req.sampling);  // validates the parameters before any work
  StopMatcher stop(req.stop);

  std::vector<int32_t> eos = req.stop_tokens;
  if (!req.ignore_eos) {
    if (c.eos_token_id >= 0) eos.push_back(int32_t(c.eos_token_id));
    if (tok_.eos_id() >= 0) eos.push_back(tok_.eos_id());
  }
  auto is_eos = [&](int32_t t) { return std::find(eos.begin(), eos.end(), t) != eos.end(); };

  GenerationResult r;
  r.stats.prompt_tokens = P;
  // Reuse the common prefix, but always recompute at least the last prompt token: its logits are
  // what the first sample needs, and the cache keeps no logits.
  int64_t reuse = 0;
  while (reuse < int64_t(cached_.size()) && reuse < P - 1 && cached_[reuse] == req.prompt[reuse]) ++reuse;
  cache_.truncate(reuse);
  cached_.resize(size_t(reuse));
  r.stats.reused_tokens = reuse;

  std::vector<float> logits(size_t(c.vocab_size));
  auto t0 = Clock::now();
  prefill(std::span(req.prompt).subspan(size_t(reuse)), req.cancel, logits);
  r.stats.prompt_seconds = seconds_since(t0);
  if (int64_t(cached_.size()) < P) {  // cancelled while prefilling
    r.finish = FinishReason::Cancelled;
    return r;
  }

  sampler.accept_prompt(req.prompt);
  tok::StreamDecoder decoder(tok_, req.skip_special);
  auto t1 = Clock::now();
  bool finished = false;
  while (!finished) {
    if (req.max_tokens >= 0 && int64_t(r.tokens.size()) >= req.max_tokens) {
      r.finish = FinishReason::MaxTokens;
      break;
    }
    if (cancelled(req.cancel)) {
      r.finish = FinishReason::Cancelled;
      break;
    }
    check_logits_finite(logits, int64_t(req.prompt.size() + r.tokens.size()) - 1);
    const int32_t t = sampler.sample(logits);
    if (is_eos(t)) {
      r.finish = FinishReason::Eos;
      break;
    }
    sampler.accept(t);
    r.tokens.push_back(t);
    const std::string released = stop.push(decoder.put(t));
    r.text += released;
    const bool go_on = on_token ? on_token({t, released}) : true;
    if (stop.stopped()) {
      r.finish = FinishReason::StopString;
      r.stop_string = stop.matched();
      finished = true;
    } else if (!go_on) {
      r.finish = FinishReason::Cancelled;
      finished = true;
    } else if (req.max_tokens >= 0 && int64_t(r.tokens.size()) >= req.max_tokens) {
      r.finish = FinishReason::MaxTokens;  // no need to feed the last token
      finished = true;
    } else if (cache_.length() >= cache_.capacity()) {
      r.finish = FinishReason::ContextFull;
      finished = true;
    } else {
      model_.forward(exec_, &t, 1, cache_, AttentionPath::Absorbed, logits.data(), nullptr);
      cached_.push_back(t);
    }
  }
  if (!stop.stopped()) {  // release what was held back: it did not turn into a stop string
    std::string tail = stop.push(decoder.finish());
    if (!stop.stopped()) tail += stop.flush();
    if (stop.stopped()) {
      r.finish = FinishReason::StopString;
      r.stop_string = stop.matched();
    }
    r.text += tail;
    if (on_token && !tail.empty()) on_token({-1, tail});
  }
  r.stats.generated_tokens = int64_t(r.tokens.size());
  r.stats.generation_seconds = seconds_since(t1);
  return r;
}

}  // namespace fathom
