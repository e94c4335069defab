// Fuzz target: a chat template (as tokenizer_config.json or chat_template.jinja carries it) parsed
// and rendered over a conversation with a system prompt, tool calls and tools, as a chat request
// does. A hostile template must end in fathom::Error, within the run's time limit.
#include "chat/chat_template.h"
#include "core/error.h"
#include "fuzz_util.h"

namespace {

const nlohmann::ordered_json& messages() {
  static const auto m = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "id": "c1",
      "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "18C"},
    {"role": "assistant", "content": "<think>ok</think>18C and dry."},
    {"role": "user", "content": "Thanks"}])");
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fathom::chat::ChatOptions o;
  o.add_generation_prompt = true;
  o.bos_token = "<bos>";
  o.eos_token = "<eos>";
  o.tools = nlohmann::ordered_json::parse(
      R"([{"type": "function", "function": {"name": "weather", "description": "Now",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  o.extra = {{"thinking", true}};
  try {
    (void)fathom::chat::render_chat(fathom::fuzz::as_text(data, size), messages(), o);
  } catch (const fathom::Error&) {
  }
  return 0;
}
