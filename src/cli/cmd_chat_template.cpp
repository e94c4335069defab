// `fathom chat-template`: renders the model's chat template for a JSON list of messages, exactly
// as transformers' apply_chat_template(tokenize=False) would, and prints it (no newline added).
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "chat/chat_template.h"
#include "cli/command.h"
#include "core/error.h"
#include "core/json.h"
#include "tokenizer/tokenizer.h"

namespace {

struct Options {
  std::string model, messages_file, tools_file, template_file, template_name, jsonl;
  std::vector<std::string> vars;
  bool add_generation_prompt = false;
};

nlohmann::ordered_json read_json(const std::string& path) {
  return fathom::parse_ordered_json(fathom::read_text_file(path), path);
}

int run_batch(const Options& o) {
  std::string tmpl, bos, eos;
  if (!o.model.empty()) {
    auto tok = fathom::Tokenizer::load(o.model);
    tmpl = tok.chat_template(o.template_name);
    bos = tok.bos_token();
    eos = tok.eos_token();
  }
  std::ifstream f(o.jsonl, std::ios::binary);
  if (!f) fathom::fail("cannot open {}", o.jsonl);
  std::optional<fathom::chat::ChatTemplate> model_template;  // parsed on first use, then reused
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    auto c = fathom::parse_ordered_json(line, o.jsonl);
    fathom::chat::ChatOptions opt;
    opt.add_generation_prompt = c.value("add_generation_prompt", false);
    opt.bos_token = c.value("bos_token", bos);
    opt.eos_token = c.value("eos_token", eos);
    if (c.contains("tools")) opt.tools = c["tools"];
    if (c.contains("vars")) opt.extra = c["vars"];
    nlohmann::ordered_json out;
    try {
      if (c.contains("template")) {
        out["text"] = fathom::chat::render_chat(c["template"].get<std::string>(), c.at("messages"), opt);
      } else {
        if (!model_template) model_template.emplace(tmpl);
        out["text"] = model_template->render(c.at("messages"), opt);
      }
    } catch (const std::exception& e) {
      out["error"] = e.what();
    }
    std::string s = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
  }
  return 0;
}

int run(const Options& o) {
  if (!o.jsonl.empty()) return run_batch(o);
  if (o.model.empty() || o.messages_file.empty())
    fathom::fail("chat-template needs MODEL_DIR and --messages-file (or --jsonl)");
  auto tok = fathom::Tokenizer::load(o.model);
  std::string tmpl;
  if (!o.template_file.empty()) {
    tmpl = fathom::read_text_file(o.template_file);
  } else {
    tmpl = tok.chat_template(o.template_name);
    if (tmpl.empty()) fathom::fail("{} has no chat template{}", o.model,
                                   o.template_name.empty() ? "" : " named '" + o.template_name + "'");
  }
  fathom::chat::ChatOptions opt;
  opt.add_generation_prompt = o.add_generation_prompt;
  opt.bos_token = tok.bos_token();
  opt.eos_token = tok.eos_token();
  if (!o.tools_file.empty()) opt.tools = read_json(o.tools_file);
  for (auto& kv : o.vars) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) fathom::fail("--var expects key=json, got '{}'", kv);
    try {
      opt.extra[kv.substr(0, eq)] = fathom::parse_ordered_json(kv.substr(eq + 1), "--var " + kv.substr(0, eq));
    } catch (const std::exception&) {
      opt.extra[kv.substr(0, eq)] = kv.substr(eq + 1);  // a bare word is taken as a string
    }
  }
  std::string out = fathom::chat::render_chat(tmpl, read_json(o.messages_file), opt);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

fathom::cli::Command reg("chat-template", "Render the model's chat template for a list of messages",
                         [](CLI::App& sub) {
  auto o = std::make_shared<Options>();
  sub.add_option("model", o->model, "model directory (tokenizer.json, tokenizer_config.json)");
  sub.add_option("--messages-file", o->messages_file, "JSON array of messages");
  sub.add_option("--jsonl", o->jsonl, "render one JSON case per line (see the source for the keys)");
  sub.add_flag("--add-generation-prompt", o->add_generation_prompt, "end with the assistant prompt");
  sub.add_option("--tools-file", o->tools_file, "JSON array of tool definitions");
  sub.add_option("--var", o->vars, "extra template variable key=json (repeatable), e.g. thinking=true");
  sub.add_option("--template-file", o->template_file, "use this template instead of the model's");
  sub.add_option("--template-name", o->template_name, "pick a named template (tokenizer_config list form)");
  return std::function<int()>([o] { return run(*o); });
});

}  // namespace
