// fathom chat: an interactive multi-turn conversation through the model's chat template. The whole
// history is re-rendered each turn (so the template decides what earlier turns look like, e.g. R1
// drops old reasoning) and the generator reuses the cached prefix. On a terminal: line editing and
// history, reasoning shown dimmed, Ctrl-C stops the answer. With piped stdin: one message per line,
// answers on stdout as plain text.
#include <cstdio>
#include <memory>

#include "cli/chat_prompt.h"
#include "cli/command.h"
#include "cli/load_model.h"
#include "cli/terminal.h"
#include "core/error.h"
#include "generation/reasoning.h"
#include "tokenizer/unicode.h"

namespace {

using namespace fathom;
using namespace fathom::cli;

struct Opts {
  ModelFlags model;
  SamplingFlags sampling;
  MtpFlags mtp;
  std::string system;
};

constexpr const char* kHelp =
    "  /reset   forget the conversation (the system message stays)\n"
    "  /exit    quit (also /quit, or Ctrl-D on an empty line)\n"
    "  /help    this list\n"
    "  a line ending in \\ continues on the next line; Ctrl-C stops the current answer\n";

void out(std::string_view s) {
  if (s.empty()) return;
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Reads one user message; nullopt at end of input. Lines ending in a backslash continue.
std::optional<std::string> read_message(LineEditor& ed, bool interactive) {
  std::string msg;
  for (bool first = true;; first = false) {
    std::string line;
    if (interactive) {
      LineEditor::Result r = ed.read(first ? ">>> " : "... ");
      if (r.status == LineEditor::Status::Eof) return std::nullopt;
      if (r.status == LineEditor::Status::Interrupted) return std::string();  // abandon the line
      line = r.line;
    } else {
      auto l = read_plain_line();
      if (!l) return msg.empty() ? std::nullopt : std::optional(msg);
      line = *l;
    }
    if (!line.empty() && line.back() == '\\') {
      msg += line.substr(0, line.size() - 1) + "\n";
      continue;
    }
    msg += line;
    return msg;
  }
}

int run(const Opts& o) {
  const SamplerParams sampling = resolve_sampling(o.sampling);
  if (!tok::is_valid_utf8(o.system)) fail("--system is not valid UTF-8");
  LoadedModel m = load_model(o.model);
  const Tokenizer& tok = *m.tokenizer;
  if (tok.chat_template().empty())
    fail("{}: the model has no chat template (tokenizer_config.json: chat_template); use `fathom run`",
         o.model.model.empty() ? "model" : o.model.model);
  const ChatPrompt chat_prompt(tok);
  const int mtp_draft = mtp_drafts(o.mtp, m.model->config());
  Generator gen(*m.model, tok, m.context, m.exec, m.cache_type, mtp_draft);

  const bool interactive = stdin_is_tty();
  const Style style = Style::for_stream(stdout_is_tty());
  std::vector<ChatMessage> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system});
  if (interactive)
    std::fprintf(stderr, "%sfathom chat: context %lld tokens. /help for commands, Ctrl-D to quit.%s\n", style.dim,
                 (long long)m.context, style.reset);

  Interrupt::install();
  LineEditor editor;
  uint64_t turn = 0;
  for (;;) {
    std::optional<std::string> input = read_message(editor, interactive);
    if (!input) break;
    const std::string text = trim(*input);
    if (text.empty()) continue;
    if (text == "/exit" || text == "/quit" || text == "/bye") break;
    if (text == "/help" || text == "/?") {
      std::fprintf(stderr, "%s", kHelp);
      continue;
    }
    if (text == "/reset" || text == "/clear") {
      messages.resize(o.system.empty() ? 0 : 1);
      gen.reset();
      std::fprintf(stderr, "%s(conversation cleared)%s\n", style.dim, style.reset);
      continue;
    }
    editor.add_history(*input);
    if (!tok::is_valid_utf8(*input)) {
      std::fprintf(stderr, "fathom: error: the message is not valid UTF-8\n");
      continue;
    }
    messages.push_back({"user", *input});
    const std::string rendered = chat_prompt.render(messages, true);
    GenerationRequest req;
    req.prompt = tok.encode(rendered, false);
    if (int64_t(req.prompt.size()) >= m.context) {
      std::fprintf(stderr, "fathom: error: the conversation is %zu tokens, it does not fit the context of %lld; "
                   "/reset to start over or restart with a larger --ctx\n", req.prompt.size(), (long long)m.context);
      messages.pop_back();
      continue;
    }
    req.max_tokens = o.sampling.n;
    req.sampling = sampling;
    req.sampling.seed = sequence_seed(sampling.seed, turn++);  // a fresh stream per turn, reproducible from --seed
    req.stop = o.sampling.stop;
    req.ignore_eos = o.sampling.ignore_eos;
    req.cancel = Interrupt::flag();

    // Reasoning shown dimmed on a terminal; elsewhere the raw text, tags included.
    ReasoningParser parser(prompt_opens_reasoning(rendered));
    bool in_dim = false;
    auto show = [&](const std::vector<ReasoningPiece>& pieces) {
      for (auto& p : pieces) {
        if (p.reasoning && !in_dim) {
          out(style.dim);
          in_dim = true;
        } else if (!p.reasoning && in_dim) {
          out(style.reset);
          out("\n\n");
          in_dim = false;
        }
        out(terminal_safe(p.text));
      }
    };
    const bool styled = stdout_is_tty();
    Interrupt::begin();
    GenerationResult r = gen.generate(req, [&](const TokenEvent& e) {
      if (styled)
        show(parser.push(e.text));
      else
        out(e.text);
      return true;
    });
    Interrupt::end();
    if (styled) show(parser.flush());
    if (in_dim) out(style.reset);
    if (r.finish == FinishReason::Cancelled) out(std::string(style.dim) + " [stopped]" + style.reset);
    out(r.text.empty() || r.text.back() != '\n' ? "\n" : "");
    if (o.model.verbose) report_speed(r.stats, r.finish, mtp_draft > 0);
    if (interactive) out("\n");

    // The history keeps the raw answer; the template decides what of it later turns see. An answer
    // cut off inside its reasoning keeps nothing: there is no answer text yet.
    const bool cut_in_reasoning = r.finish == FinishReason::Cancelled &&
                                  split_reasoning(r.text, prompt_opens_reasoning(rendered)).content.empty();
    messages.push_back({"assistant", cut_in_reasoning ? std::string() : r.text});
  }
  if (o.model.verbose) report_peak_rss();
  return 0;
}

fathom::cli::Command reg("chat", "Chat with a model interactively (or one message per line from a pipe)",
                         [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  add_model_flags(sub, o->model);
  sub.add_option("--system", o->system, "system message at the start of the conversation");
  add_sampling_flags(sub, o->sampling);
  add_mtp_flags(sub, o->mtp);
  sub.footer(std::string("In the chat:\n") + kHelp +
             "Examples:\n"
             "  fathom chat MODEL_DIR --system \"You are a concise assistant.\"\n"
             "  printf 'Hello\\nTell me a joke\\n' | fathom chat MODEL_DIR --temp 0");
  return std::function<int()>([o] { return run(*o); });
});

}  // namespace
