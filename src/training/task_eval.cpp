#include "training/task_eval.h"

#include "generation/generator.h"
#include "training/chat_tokens.h"

namespace fathom::train {

TaskEvalReport evaluate_task(Generator& gen, const ChatRenderer& chat, const Task& task, int64_t n, uint64_t seed,
                             int64_t max_tokens, float temperature,
                             const std::function<void(const TaskItem&, const std::string&, const Verdict&)>& on_item) {
  TaskEvalReport r;
  int64_t well_formed = 0;
  for (int64_t i = 0; i < n; ++i) {
    const TaskItem item = task.item(seed, i);
    const std::string ptext = chat.prompt_text(item.question);
    GenerationRequest req;
    req.prompt = gen.tokenizer().encode(ptext);
    req.max_tokens = std::min<int64_t>(max_tokens, gen.context() - int64_t(req.prompt.size()));
    req.sampling.temperature = temperature;
    if (temperature > 0.0f) {
      req.sampling = SamplerParams::plain(temperature);
      req.sampling.seed = seed * 1000003ull + uint64_t(i);
    }
    const GenerationResult res = gen.generate(req);
    const std::string completion = ChatRenderer::answer_prefix(ptext) + res.text;
    const Verdict v = task.verify(item, completion);
    r.total.add(v);
    r.by_kind[item.kind].add(v);
    if (v.format_ok) {
      ++well_formed;
      r.think_chars += double(v.think_chars);
    }
    r.answer_tokens += double(res.tokens.size());
    if (on_item) on_item(item, completion, v);
  }
  if (well_formed > 0) r.think_chars /= double(well_formed);
  if (n > 0) r.answer_tokens /= double(n);
  return r;
}

}  // namespace fathom::train
