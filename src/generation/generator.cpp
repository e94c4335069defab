#include "generation/generator.h"

#include "core/error.h"

namespace fathom {

namespace {

EngineOptions one_slot(int64_t context, CacheType cache_type, int mtp_draft) {
  EngineOptions o;
  o.context = context;
  o.parallel = 1;
  o.prefill_chunk = Generator::kPrefillChunk;
  o.cache_type = cache_type;
  o.mtp_draft = mtp_draft;
  return o;
}

}  // namespace

Generator::Generator(const Model& model, const tok::Tokenizer& tokenizer, int64_t context, Exec exec,
                     CacheType cache_type, int mtp_draft)
    : engine_(model, tokenizer, exec, one_slot(context, cache_type, mtp_draft)) {}

void Generator::reset() { engine_.forget_cached(); }

GenerationResult Generator::generate(const GenerationRequest& req, const OnToken& on_token) {
  GenerationResult r;
  bool done = false;
  std::string error;
  auto ticket = std::make_shared<Ticket>();
  engine_.add(ticket, EngineRequest(req), [&](EngineEvent&& e) {
    r.text += e.text;
    for (auto& lp : e.logprobs) r.logprobs.push_back(std::move(lp));
    if (e.token >= 0) {
      r.tokens.push_back(e.token);
      if (on_token && !on_token({e.token, e.text})) ticket->cancel();  // the engine ends it after this token
    }
    if (!e.done) return;
    if (on_token && !e.text.empty()) on_token({-1, e.text});
    r.finish = e.finish;
    r.stop_string = std::move(e.stop_string);
    r.stats = e.stats;
    error = std::move(e.error);
    done = true;
  });
  engine_.send_ended();  // a request cancelled before it started ends at once
  while (!done) {
    if (req.cancel && req.cancel->load(std::memory_order_relaxed)) ticket->cancel();
    engine_.step();
    engine_.send_ended();
  }
  if (!error.empty()) fail("{}", error);
  return r;
}

}  // namespace fathom
