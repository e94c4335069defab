#include "generation/engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "generation/json_schema_constraint.h"
#include "generation/logits_check.h"
#include "generation/speculative.h"
#include "generation/stop_strings.h"
#include "model/model.h"
#include "model/mtp.h"
#include "tokenizer/tokenizer.h"

namespace fathom {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

constexpr int kMaxTopLogprobs = 20;  // OpenAI's bound

// log-softmax of logits [V] at t, and the n most likely alternatives (n may be 0).
TokenLogprob token_logprob(const float* logits, int64_t V, int32_t t, int n) {
  const float mx = *std::max_element(logits, logits + V);
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += std::exp(double(logits[i] - mx));
  const float lse = mx + float(std::log(sum));
  TokenLogprob lp{t, logits[t] - lse, {}};
  if (n > 0) {
    std::vector<int32_t> ids(static_cast<size_t>(V));
    for (int32_t i = 0; i < int32_t(V); ++i) ids[size_t(i)] = i;
    const int64_t k = std::min<int64_t>(n, V);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    });
    // Tokens a JSON schema masked (-inf) are no alternatives: the list stops before them.
    for (int64_t i = 0; i < k && std::isfinite(logits[ids[size_t(i)]]); ++i)
      lp.top.push_back({ids[size_t(i)], logits[ids[size_t(i)]] - lse});
  }
  return lp;
}

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

void validate_request(const EngineRequest& r, const ModelConfig& c, int64_t context) {
  const int64_t P = int64_t(r.prompt.size());
  if (P == 0) fail("the prompt is empty: nothing to generate from");
  if (P > context)
    fail("the prompt is {} tokens, longer than the context of {} tokens (at most the model's {})", P, context,
         c.max_position_embeddings);
  for (int32_t id : r.prompt)
    if (id < 0 || id >= c.vocab_size) fail("prompt token id {} is outside the vocabulary [0, {})", id, c.vocab_size);
  if (r.max_tokens < -1) fail("max_tokens must be >= 0, or -1 for no limit (got {})", r.max_tokens);
  for (int32_t id : r.stop_tokens)
    if (id < 0 || id >= c.vocab_size) fail("stop token id {} is outside the vocabulary [0, {})", id, c.vocab_size);
  for (auto& [id, bias] : r.logit_bias) {
    if (id < 0 || id >= c.vocab_size) fail("logit_bias token id {} is outside the vocabulary [0, {})", id, c.vocab_size);
    if (!std::isfinite(bias)) fail("logit_bias for token {} must be finite", id);
  }
  if (r.top_logprobs < -1 || r.top_logprobs > kMaxTopLogprobs)
    fail("top_logprobs must be in [0, {}] (got {})", kMaxTopLogprobs, r.top_logprobs);
  r.sampling.validate();
  StopMatcher check_stops(r.stop);  // throws on an empty stop string
  if (r.json_schema && r.ignore_eos)
    fail("ignore_eos cannot be combined with a JSON schema: the output ends when the document is whole");
}

namespace {

// Sets the logits [V] of the tokens a JSON schema's state forbids to -inf. Bit t of the mask: token
// t's bytes continue the document (EOS: the document is whole). Ids past the tokenizer's vocabulary
// (lm_head rows for padding) are never allowed. False when no token is.
bool apply_schema_mask(gen::JsonSchemaConstraint& c, const gen::JsonSchemaConstraint::State& st, float* logits,
                       int64_t V) {
  const std::vector<uint64_t>& allowed = c.allowed(st);
  const int64_t words = std::min<int64_t>(int64_t(allowed.size()), (V + 63) / 64);
  bool any = false;
  for (int64_t w = 0; w < words; ++w) {
    const uint64_t bits = allowed[size_t(w)];
    any |= bits != 0;
    if (bits == ~uint64_t(0)) continue;
    const int64_t end = std::min<int64_t>(V, (w + 1) * 64);
    for (int64_t t = w * 64; t < end; ++t)
      if (!(bits >> (t % 64) & 1)) logits[t] = -INFINITY;
  }
  for (int64_t t = words * 64; t < V; ++t) logits[t] = -INFINITY;
  return any;
}

// A request's schema inside a speculative round: a copy of its state walks the round's drafts, so
// the draft and target distributions are masked as ordinary decoding would mask them.
class SchemaRoundMask final : public RoundMask {
 public:
  SchemaRoundMask(gen::JsonSchemaConstraint& c, const gen::JsonSchemaConstraint::State& request_state)
      : c_(c), request_state_(request_state) {}
  void restart() override {
    state_ = request_state_;
    ended_ = false;
  }
  // After EOS (the one token the matcher does not advance over) nothing of the round is emitted:
  // the rows that follow are left as they are.
  bool apply(std::span<float> logits) override {
    return ended_ || apply_schema_mask(c_, state_, logits.data(), int64_t(logits.size()));
  }
  void advance(int32_t token) override { ended_ = ended_ || !c_.advance(state_, token); }

 private:
  gen::JsonSchemaConstraint& c_;
  const gen::JsonSchemaConstraint::State& request_state_;
  gen::JsonSchemaConstraint::State state_;
  bool ended_ = false;
};

}  // namespace

struct Engine::Slot {
  LatentCache cache;
  std::unique_ptr<MtpDrafter> drafter;  // with MTP: the modules' caches, as long as `cache`
  std::vector<int32_t> cached;  // ids whose rows are in the cache, in order
  int64_t last_used = 0;
  bool busy = false;
};

struct Engine::Sequence {
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
  GenerationStats stats;
  std::unique_ptr<SpeculativeSampler> speculative;  // with MTP, over `sampler`
  std::unique_ptr<gen::JsonSchemaConstraint> constraint;  // with a JSON schema
  gen::JsonSchemaConstraint::State constraint_state;       // the output so far, as the schema reads it
  std::unique_ptr<SchemaRoundMask> round_mask;             // with a schema and MTP: over the two above
  Clock::time_point decode_start;

  Sequence(std::shared_ptr<Ticket> t, EngineRequest&& r, EventSink&& k, const tok::Tokenizer& tok)
      : ticket(std::move(t)), req(std::move(r)), sink(std::move(k)), sampler(req.sampling), stop(req.stop),
        decoder(tok, req.skip_special) {}
  bool prefilling() const { return prefilled < int64_t(req.prompt.size()); }
};

Engine::Engine(const Model& model, const tok::Tokenizer& tokenizer, Exec exec, EngineOptions options)
    : model_(model), tok_(tokenizer), exec_(exec), opt_(options) {
  const ModelConfig& c = model_.config();
  if (opt_.context < 1) fail("context must be at least 1 token (got {})", opt_.context);
  if (opt_.parallel < 1) fail("parallel must be at least 1 (got {})", opt_.parallel);
  if (opt_.prefill_chunk < 1) fail("prefill chunk must be at least 1 token (got {})", opt_.prefill_chunk);
  if (opt_.mtp_draft < 0) fail("MTP drafts per step must be >= 0 (got {})", opt_.mtp_draft);
  if (opt_.mtp_draft > 0) {
    if (c.num_nextn_predict_layers < 1)
      fail("--mtp: the model has no MTP module (config.json: num_nextn_predict_layers is {})",
           c.num_nextn_predict_layers);
    speculative_ = std::make_unique<SpeculativeDecoder>(model_);
  }
  if (c.eos_token_id >= 0) eos_ids_.push_back(int32_t(c.eos_token_id));
  if (tok_.eos_id() >= 0) eos_ids_.push_back(tok_.eos_id());
  std::shared_ptr<const DraftWeights> draft_weights;
  if (speculative_) {
    DraftWeights::Options d;
    d.vocab = draft_vocabulary(tok_, c.vocab_size, default_draft_vocabulary_size(c.vocab_size));
    d.q8 = true;  // same acceptance on models/default (docs/PERFORMANCE.md), about half the bytes
    draft_weights = std::make_shared<const DraftWeights>(model_, std::move(d));
  }
  for (int i = 0; i < opt_.parallel; ++i) {
    auto s = std::make_unique<Slot>();
    s->cache = model_.make_cache(opt_.context, opt_.cache_type);
    if (speculative_) s->drafter = std::make_unique<MtpDrafter>(model_, opt_.context, opt_.cache_type, draft_weights);
    slots_.push_back(std::move(s));
  }
}

Engine::~Engine() = default;

int Engine::free_slots() const {
  return int(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return !s->busy; }));
}

int64_t Engine::kv_tokens_used() const {
  int64_t used = 0;
  for (auto& s : running_) used += s->slot->cache.length();
  return used;
}

int64_t Engine::kv_bytes_per_token() const { return slots_[0]->cache.bytes_per_token(); }

std::span<const int32_t> Engine::cached_tokens(int slot) const { return slots_.at(size_t(slot))->cached; }

void Engine::forget_cached() {
  for (auto& slot : slots_)
    if (!slot->busy) {
      slot->cache.clear();
      slot->cached.clear();
      if (slot->drafter) slot->drafter->reset();
    }
}

void Engine::add(std::shared_ptr<Ticket> ticket, EngineRequest request, EventSink sink) {
  validate_request(request, model_.config(), opt_.context);
  if (free_slots() == 0) fail("engine: no free slot for the request");
  if (!ticket) ticket = std::make_shared<Ticket>();
  auto s = std::make_unique<Sequence>(std::move(ticket), std::move(request), std::move(sink), tok_);
  s->stats.prompt_tokens = int64_t(s->req.prompt.size());
  // Before a slot is taken, so a failure here leaves the engine as it was.
  if (s->req.json_schema) {
    if (tok_.eos_id() < 0) fail("a JSON schema needs an EOS token to end the output, and the tokenizer has none");
    if (!vocabulary_) vocabulary_ = std::make_shared<const gen::TokenVocabulary>(gen::TokenVocabulary::from_tokenizer(tok_));
    s->constraint = std::make_unique<gen::JsonSchemaConstraint>(*s->req.json_schema, vocabulary_);
    s->constraint_state = s->constraint->start();
  }
  if (s->ticket->cancelled()) {  // gave up while queued: never takes a slot
    finish(*s, FinishReason::Cancelled);
    return;
  }
  // The free slot sharing the longest prefix with the prompt; among equals the least recently used.
  // At least the last prompt token is recomputed: its logits start the generation, and the cache
  // keeps no logits.
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
  // The drafter may hold fewer of those rows (it keeps hidden states only back to its last
  // committed row): then the prefix reused is what both hold.
  if (best->drafter) best_len = best->drafter->truncate(best_len);
  best->busy = true;
  best->last_used = ++clock_;
  best->cache.truncate(best_len);
  best->cached.resize(size_t(best_len));
  s->slot = best;
  s->reused = s->prefilled = s->stats.reused_tokens = best_len;
  s->sampler.accept_prompt(prompt);
  if (speculative_) s->speculative = std::make_unique<SpeculativeSampler>(s->sampler);
  counters_.prompt_tokens += int64_t(prompt.size());
  counters_.cached_prompt_tokens += best_len;
  running_.push_back(std::move(s));
}

void Engine::step() {
  try {
    // Cancelled requests (a client went away, Ctrl-C) end before any more work is spent on them.
    for (auto& s : running_)
      if (!s->done && s->ticket->cancelled()) finish(*s, FinishReason::Cancelled);

    // Prompts advance one chunk per step, so a long prompt does not stall the others' decoding.
    const auto t0 = Clock::now();
    bool prefilled = false;
    for (auto& s : running_)
      if (!s->done && s->prefilling()) {
        prefill_step(*s);
        prefilled = true;
      }
    const auto t1 = Clock::now();

    // Sequences whose logits the engine must see (logit_bias, logprobs) sample every token
    // themselves; the others speculate when MTP is on. A JSON schema's mask goes into the round
    // (SchemaRoundMask): drafts and targets are masked alike, drafts only where the schema allows.
    std::vector<Sequence*> plain, speculating;
    for (auto& s : running_) {
      if (s->done || s->prefilling() || s->feed < 0) continue;
      const bool own_logits = !s->req.logit_bias.empty() || s->req.top_logprobs >= 0 || !s->req.speculate;
      (speculative_ && !own_logits ? speculating : plain).push_back(s.get());
    }
    if (!plain.empty()) decode_step(plain);
    if (!speculating.empty()) speculative_step(speculating);
    const auto t2 = Clock::now();

    if (prefilled) counters_.prefill_seconds += seconds_between(t0, t1);
    if (!plain.empty() || !speculating.empty()) {
      counters_.decode_seconds += seconds_between(t1, t2);
      counters_.decode_steps += 1;
      counters_.decode_batch_tokens += int64_t(plain.size() + speculating.size());
    }
  } catch (const std::exception& e) {  // never take the frontend down: fail what was running
    fail_all(e.what());
  }
  std::erase_if(running_, [](auto& s) { return s->done; });
}

void Engine::fail_all(const std::string& error) {
  for (auto& s : running_) finish(*s, FinishReason::Cancelled, error);
  std::erase_if(running_, [](auto& s) { return s->done; });
}

void Engine::send_ended() {
  // Moved out first: a sink may add a request (a synchronous frontend), which may end at once.
  auto ended = std::move(ended_);
  ended_.clear();
  for (auto& [sink, event] : ended) sink(std::move(event));
}

void Engine::prefill_step(Sequence& s) {
  const int64_t H = model_.config().hidden_size;
  const auto& prompt = s.req.prompt;
  const int64_t n = std::min<int64_t>(opt_.prefill_chunk, int64_t(prompt.size()) - s.prefilled);
  const auto t0 = Clock::now();
  hidden_.resize(size_t(n * H));
  try {
    // Only the last position's logits are needed: final hidden states, then lm_head on one row
    // instead of n (vocab x hidden each).
    model_.forward(exec_, prompt.data() + s.prefilled, n, s.slot->cache, AttentionPath::Expanded, nullptr,
                   hidden_.data());
    if (s.slot->drafter) s.slot->drafter->observe(exec_, prompt.data() + s.prefilled, hidden_.data(), n);
  } catch (const std::exception& e) {
    std::vector<Sequence*> failed = {&s};
    fail_step(failed, e.what());
    return;
  }
  s.slot->cached.insert(s.slot->cached.end(), prompt.begin() + s.prefilled, prompt.begin() + s.prefilled + n);
  s.prefilled += n;
  if (s.prefilling()) {
    s.stats.prompt_seconds += seconds_between(t0, Clock::now());
    return;
  }
  logits_.resize(size_t(model_.config().vocab_size));
  linear(exec_, model_.weights().lm_head, hidden_.data() + (n - 1) * H, 1, logits_.data());
  s.decode_start = Clock::now();
  s.stats.prompt_seconds += seconds_between(t0, s.decode_start);
  if (s.req.max_tokens == 0) {
    finish(s, FinishReason::MaxTokens);
    return;
  }
  sample_and_emit(s, logits_.data());
}

void Engine::decode_step(std::vector<Sequence*>& batch) {
  const int64_t B = int64_t(batch.size()), V = model_.config().vocab_size;
  std::vector<int32_t> tokens(static_cast<size_t>(B));
  std::vector<LatentCache*> caches(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    tokens[size_t(b)] = batch[size_t(b)]->feed;
    caches[size_t(b)] = &batch[size_t(b)]->slot->cache;
  }
  const int64_t H = model_.config().hidden_size;
  logits_.resize(size_t(B * V));
  hidden_.resize(size_t(B * H));
  try {
    // The hidden states keep a slot's drafter as long as its cache (MTP on, this request not
    // speculating): a later request in the slot drafts from them.
    model_.decode_batch(exec_, tokens.data(), B, caches.data(), logits_.data(), speculative_ ? hidden_.data() : nullptr);
    for (int64_t b = 0; b < B; ++b)
      if (MtpDrafter* d = batch[size_t(b)]->slot->drafter.get()) d->observe(exec_, &tokens[size_t(b)], hidden_.data() + b * H, 1);
  } catch (const std::exception& e) {
    fail_step(batch, e.what());
    return;
  }
  for (int64_t b = 0; b < B; ++b) {
    Sequence& s = *batch[size_t(b)];
    s.slot->cached.push_back(s.feed);
    s.feed = -1;
    sample_and_emit(s, logits_.data() + b * V);
  }
}

void Engine::speculative_step(std::vector<Sequence*>& batch) {
  std::vector<SpeculativeSequence> rounds(batch.size());
  std::vector<SpeculativeSequence*> ptrs(batch.size());
  for (size_t b = 0; b < batch.size(); ++b) {
    Sequence& s = *batch[b];
    SpeculativeSequence& r = rounds[b];
    r.cache = &s.slot->cache;
    r.drafter = s.slot->drafter.get();
    r.sampler = s.speculative.get();
    if (s.constraint) {
      if (!s.round_mask) s.round_mask = std::make_unique<SchemaRoundMask>(*s.constraint, s.constraint_state);
      r.mask = s.round_mask.get();
    }
    r.next = s.feed;
    // Drafts past max_tokens would be thrown away: draft at most the tokens still wanted after t_L.
    r.max_drafts = opt_.mtp_draft;
    if (s.req.max_tokens >= 0)
      r.max_drafts = std::clamp<int64_t>(s.req.max_tokens - int64_t(s.generated.size()) - 1, 0, r.max_drafts);
    ptrs[b] = &r;
  }
  try {
    speculative_->step(exec_, ptrs);
  } catch (const std::exception& e) {
    fail_step(batch, e.what());
    return;
  }
  for (size_t b = 0; b < batch.size(); ++b) {
    Sequence& s = *batch[b];
    const SpeculativeSequence& r = rounds[b];
    // The cache now holds t_L and the accepted drafts; the round's last token is fed next round.
    s.slot->cached.push_back(s.feed);
    s.slot->cached.insert(s.slot->cached.end(), r.tokens.begin(), r.tokens.begin() + r.accepted);
    s.feed = -1;
    s.stats.drafted_tokens += r.drafted;
    s.stats.accepted_drafts += r.accepted;
    counters_.drafted_tokens += r.drafted;
    counters_.accepted_drafts += r.accepted;
    for (int32_t t : r.tokens)
      if (!emit(s, t, nullptr)) break;  // ended: EOS, a stop string, a limit or a cancel
  }
}

void Engine::fail_step(std::vector<Sequence*>& batch, const std::string& error) {
  for (Sequence* s : batch) {
    int64_t n = int64_t(s->slot->cached.size());
    // The drafter may have failed before it saw the step's rows: keep what both hold.
    if (s->slot->drafter) n = s->slot->drafter->truncate(std::min(n, s->slot->drafter->length()));
    s->slot->cache.truncate(n);
    s->slot->cached.resize(size_t(n));
    finish(*s, FinishReason::Cancelled, error);
  }
}

void Engine::prepare_logits(Sequence& s, float* logits, int64_t position) const {
  const int64_t V = model_.config().vocab_size;
  check_logits_finite(std::span<const float>(logits, size_t(V)), position);
  for (auto& [id, bias] : s.req.logit_bias) logits[id] += bias;
  if (s.constraint && !apply_schema_mask(*s.constraint, s.constraint_state, logits, V))
    fail("no token of the vocabulary can continue the JSON document at position {}", position);
}

bool Engine::sample_and_emit(Sequence& s, float* logits) {
  const int64_t V = model_.config().vocab_size;
  try {
    prepare_logits(s, logits, int64_t(s.slot->cached.size()) - 1);
  } catch (const Error& e) {
    finish(s, FinishReason::Cancelled, e.what());
    return false;
  }
  const int32_t t = s.sampler.sample(std::span<const float>(logits, size_t(V)));
  return emit(s, t, logits);
}

bool Engine::emit(Sequence& s, int32_t t, const float* logits) {
  EngineEvent ev;
  ev.token = t;
  if (s.req.top_logprobs >= 0 && logits)  // log-softmax of the (biased) logits, before the sampling filters
    ev.logprobs.push_back(token_logprob(logits, model_.config().vocab_size, t, s.req.top_logprobs));

  const bool is_stop_token = std::find(s.req.stop_tokens.begin(), s.req.stop_tokens.end(), t) != s.req.stop_tokens.end();
  const bool is_eos = !s.req.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), t) != eos_ids_.end();
  if (is_stop_token || is_eos) {  // the end-of-text token is not part of the answer
    finish(s, FinishReason::Eos);
    return false;
  }
  if (s.constraint && !s.constraint->advance(s.constraint_state, t)) {  // a masked token was emitted
    finish(s, FinishReason::Cancelled, fmt::format("token {} does not continue the JSON document", t));
    return false;
  }
  s.sampler.accept(t);
  s.generated.push_back(t);
  ev.text = s.stop.push(s.decoder.put(t));
  s.sink(std::move(ev));

  const int64_t n = int64_t(s.generated.size());
  if (s.stop.stopped())
    finish(s, FinishReason::StopString);
  else if (s.ticket->cancelled())  // the sink may have asked to stop
    finish(s, FinishReason::Cancelled);
  else if (s.req.max_tokens >= 0 && n >= s.req.max_tokens)
    finish(s, FinishReason::MaxTokens);  // no need to feed the last token
  else if (int64_t(s.req.prompt.size()) + n - 1 >= s.slot->cache.capacity())
    finish(s, FinishReason::ContextFull);  // no row left to feed it at (position prompt + n - 1)
  else {
    s.feed = t;
    return true;
  }
  return false;
}

void Engine::finish(Sequence& s, FinishReason reason, std::string error) {
  if (s.done) return;
  s.done = true;
  EngineEvent ev;
  ev.done = true;
  ev.finish = reason;
  ev.error = std::move(error);
  if (!s.stop.stopped() && ev.error.empty()) {  // release what was held back
    std::string tail = s.stop.push(s.decoder.finish());
    if (!s.stop.stopped()) tail += s.stop.flush();
    ev.text = std::move(tail);
  }
  if (s.stop.stopped()) {
    ev.finish = FinishReason::StopString;
    ev.stop_string = s.stop.matched();
  }
  ev.prompt_tokens = int64_t(s.req.prompt.size());
  ev.cached_tokens = s.reused;
  ev.completion_tokens = int64_t(s.generated.size());
  s.stats.generated_tokens = ev.completion_tokens;
  if (s.decode_start != Clock::time_point()) s.stats.generation_seconds = seconds_between(s.decode_start, Clock::now());
  ev.stats = s.stats;
  if (s.slot) {
    s.slot->busy = false;
    s.slot->last_used = ++clock_;
  }
  counters_.completion_tokens += ev.completion_tokens;
  if (reason == FinishReason::Cancelled)
    ++counters_.requests_cancelled;
  else
    ++counters_.requests_finished;
  ended_.emplace_back(s.sink, std::move(ev));
}

}  // namespace fathom
