// Fuzz target: an HTTP body parsed as a chat completions and as a completions request, as the server
// does; a chat request that parses is then rendered through a template that touches every part of
// it (messages, tools, chat_template_kwargs), where JSON becomes template values. A hostile body
// must end in ApiError (a 400) or, from rendering, fathom::Error.
#include "chat/chat_template.h"
#include "core/error.h"
#include "fuzz_util.h"
#include "server/openai_request.h"

namespace {

constexpr const char* kTemplate =
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% if m.tool_calls %}{{ m.tool_calls | tojson }}"
    "{% endif %}{% endfor %}{% if tools %}{{ tools | tojson }}{% endif %}{{ thinking }}";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(fathom::fuzz::as_text(data, size));
  try {
    (void)fathom::server::parse_completion_request(body);
  } catch (const fathom::server::ApiError&) {
  }
  try {
    const fathom::server::ChatRequest r = fathom::server::parse_chat_request(body);
    fathom::chat::ChatOptions o;
    o.add_generation_prompt = true;
    o.tools = r.tools;
    o.extra = r.template_kwargs;
    (void)fathom::chat::render_chat(kTemplate, r.messages, o);
  } catch (const fathom::server::ApiError&) {
  } catch (const fathom::Error&) {
  }
  return 0;
}
