// fathom run: generate a continuation of one prompt, streamed to stdout as it is produced; prompt
// and generation speed go to stderr. The prompt comes from -p, -f FILE or stdin. On a terminal a
// plain prompt is echoed first, so the continuation reads on from it; piped, stdout holds exactly
// the generated text.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "cli/chat_prompt.h"
#include "cli/command.h"
#include "cli/load_model.h"
#include "cli/terminal.h"
#include "core/error.h"
#include "core/json.h"
#include "generation/json_schema.h"
#include "tokenizer/unicode.h"

namespace {

// Whether two descriptors write to the same file (both redirected to one log).
bool same_file(int a, int b) {
  struct stat sa {}, sb {};
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

using namespace fathom;
using namespace fathom::cli;

struct Opts {
  ModelFlags model;
  SamplingFlags sampling;
  MtpFlags mtp;
  std::string prompt, file, system;
  bool prompt_given = false, chat = false;
  std::string json_schema_file;  // --json-schema
  bool json = false;             // --json
};

// --json-schema FILE / --json: the schema the output is decoded under (null for free text). A
// schema outside the supported subset is an error naming the file, the keyword and its place.
std::shared_ptr<const gen::CompiledSchema> output_schema(const Opts& o) {
  if (o.json && !o.json_schema_file.empty()) fail("give --json or --json-schema, not both");
  if (o.json) return std::make_shared<const gen::CompiledSchema>(gen::json_object_schema());
  if (o.json_schema_file.empty()) return nullptr;
  const nlohmann::ordered_json schema = parse_ordered_json(read_text_file(o.json_schema_file), o.json_schema_file);
  try {
    return std::make_shared<const gen::CompiledSchema>(gen::compile_json_schema(schema));
  } catch (const Error& e) {
    fail("{}: {}", o.json_schema_file, e.what());
  }
}

std::string read_prompt(const Opts& o) {
  if (o.prompt_given && !o.file.empty()) fail("give the prompt with -p or with -f, not both");
  if (o.prompt_given) return o.prompt;
  if (!o.file.empty()) {
    return read_text_file(o.file);  // a directory or unreadable file is an error naming it
  }
  if (stdin_is_tty()) std::fprintf(stderr, "reading the prompt from stdin (end it with Ctrl-D)\n");
  std::ostringstream ss;
  ss << std::cin.rdbuf();
  return ss.str();
}

void write_out(std::string_view s) {
  if (s.empty()) return;
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

int run(const Opts& o) {
  const SamplerParams sampling = resolve_sampling(o.sampling);
  if (!o.system.empty() && !o.chat) fail("--system needs --chat");
  const std::shared_ptr<const gen::CompiledSchema> schema = output_schema(o);  // before the model loads
  const std::string prompt = read_prompt(o);
  if (!tok::is_valid_utf8(prompt)) fail("the prompt is not valid UTF-8");

  LoadedModel m = load_model(o.model);
  const Tokenizer& tok = *m.tokenizer;
  std::vector<int32_t> ids;
  if (o.chat) {
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", prompt});
    ids = tok.encode(ChatPrompt(tok).render(messages, true), false);
  } else {
    ids = tok.encode(prompt, true);
  }
  if (ids.empty()) fail("empty prompt: give some text with -p, -f or on stdin");

  const int mtp_draft = mtp_drafts(o.mtp, m.model->config());
  Generator gen(*m.model, tok, m.context, m.exec, m.cache_type, mtp_draft);
  GenerationRequest req;
  req.prompt = std::move(ids);
  req.max_tokens = o.sampling.n;
  req.sampling = sampling;
  req.stop = o.sampling.stop;
  req.ignore_eos = o.sampling.ignore_eos;
  req.json_schema = schema;
  req.cancel = Interrupt::flag();
  if (o.model.verbose) std::fprintf(stderr, "seed: %llu\n", (unsigned long long)sampling.seed);

  Interrupt::install();
  Interrupt::begin();
  const bool tty = stdout_is_tty();
  // With --chat the output answers the message rather than continuing it, so nothing is echoed.
  const bool echo = tty && !o.chat;
  if (echo) write_out(terminal_safe(prompt));
  GenerationResult r = gen.generate(req, [tty](const TokenEvent& e) {
    write_out(tty ? terminal_safe(e.text) : std::string(e.text));
    return true;
  });
  Interrupt::end();
  const std::string& last_out = !r.text.empty() ? r.text : echo ? prompt : r.text;
  if (!last_out.empty() && last_out.back() != '\n') {
    if (stdout_is_tty()) {
      write_out("\n");
    } else if (same_file(STDOUT_FILENO, STDERR_FILENO)) {
      // `run ... > log 2>&1`: the text stays exact on stdout; the speed line starts on a line of its own.
      std::fflush(stdout);
      std::fputc('\n', stderr);
    }
  }
  report_speed(r.stats, r.finish, mtp_draft > 0);
  if (o.model.verbose) report_peak_rss();
  return r.finish == FinishReason::Cancelled ? 130 : 0;
}

fathom::cli::Command reg("run", "Generate text from a prompt, streamed to stdout", [](CLI::App& sub) {
  auto o = std::make_shared<Opts>();
  add_model_flags(sub, o->model);
  sub.add_option_function<std::string>("-p,--prompt", [o](const std::string& p) {
    o->prompt = p;
    o->prompt_given = true;
  }, "the prompt (default: read from stdin)");
  sub.add_option("-f,--file", o->file, "read the prompt from FILE");
  sub.add_flag("--chat", o->chat, "wrap the prompt in the model's chat template as one user message");
  sub.add_option("--system", o->system, "system message (with --chat)");
  sub.add_option("--json-schema", o->json_schema_file,
                 "constrain the output to JSON valid under the JSON schema in FILE (docs/SERVER.md lists the "
                 "supported keywords; no MTP drafting for it)")
      ->type_name("FILE");
  sub.add_flag("--json", o->json, "constrain the output to a JSON object (any keys and values)");
  add_sampling_flags(sub, o->sampling);
  add_mtp_flags(sub, o->mtp);
  sub.footer(
      "Examples:\n"
      "  fathom run MODEL_DIR -p \"The capital of France is\" -n 32\n"
      "  fathom run MODEL_DIR --chat -p \"Write a haiku about the sea\" --temp 0.6 --seed 1\n"
      "  echo \"Once upon a time\" | fathom run MODEL_DIR --temp 0 --stop \".\"\n"
      "  fathom run MODEL_DIR --chat -p \"A user record\" --json-schema user.schema.json");
  return std::function<int()>([o] { return run(*o); });
});

}  // namespace
