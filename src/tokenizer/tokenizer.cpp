// Loading tokenizer.json / tokenizer_config.json and the encode / decode pipelines:
//   encode: repair UTF-8 -> cut out added tokens -> normalize -> cut out normalized added tokens
//           -> pre-tokenize -> BPE (+ BOS/EOS when asked)
//   decode: per-token bytes (ByteLevel decoder) -> concatenate -> replace invalid UTF-8
#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>
#include <unordered_map>

#include "core/error.h"
#include "core/json.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"

namespace fathom::tok {

using nlohmann::json;

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  PreTokenizerInfo pre;
  std::unique_ptr<Bpe> bpe;
  std::vector<AddedToken> added;
  std::unique_ptr<AddedTokenMatcher> raw_matcher, normalized_matcher;

  std::vector<std::string> text;    // per id: vocab text or added-token content
  std::vector<std::string> bytes;   // per id: what the decoder makes of it
  std::vector<bool> special, valid;
  std::unordered_map<std::string, int32_t> added_ids;

  int32_t bos = -1, eos = -1, pad = -1;
  std::string bos_text, eos_text;
  bool add_bos = false, add_eos = false;
  std::vector<int32_t> template_prefix, template_suffix;  // post-processor, when no config
  std::vector<std::pair<std::string, std::string>> templates;  // (name, source)

  void encode_text(std::string_view s, std::vector<int32_t>& out) const;
};

namespace {

// tokenizer_config.json spells special tokens as a string or as {"content": ...}.
std::string token_content(const JsonField& j) {
  if (j.json().is_string()) return j.str();
  if (j.json().is_object()) return j.str_or("content", "");
  if (!j.is_null()) j.fail("must be a string or an object with \"content\"");
  return {};
}

// The ids a TemplateProcessing post-processor puts around a single sequence.
void read_template(const JsonField& pp, std::vector<int32_t>& prefix, std::vector<int32_t>& suffix) {
  if (pp.is_null()) return;
  std::string type = pp.expect_object().str_or("type", "");
  if (type == "Sequence") {
    const JsonField list = pp.required("processors").expect_array();
    for (size_t k = 0; k < list.size(); ++k) read_template(list.at(k), prefix, suffix);
    return;
  }
  if (type != "TemplateProcessing") return;  // ByteLevel and friends add no ids
  bool seen_sequence = false;
  const JsonField single = pp.required("single").expect_array();
  for (size_t k = 0; k < single.size(); ++k) {
    const JsonField item = single.at(k).expect_object();
    if (item.has("Sequence")) { seen_sequence = true; continue; }
    std::string name = item.required("SpecialToken").required("id").str();
    const JsonField special = pp.required("special_tokens");
    if (!special.has(name)) special.fail(fmt::format("has no entry for '{}', which \"single\" uses", name));
    const JsonField ids = special[name].required("ids").expect_array();
    for (size_t i = 0; i < ids.size(); ++i)
      (seen_sequence ? suffix : prefix).push_back(int32_t(ids.at(i).integer(0, INT32_MAX)));
  }
}

}  // namespace

void Tokenizer::Impl::encode_text(std::string_view s, std::vector<int32_t>& out) const {
  // Scratch state is per thread and reused across calls: encoding many short texts (a server's
  // requests, a dataset's lines) then allocates almost nothing.
  thread_local PieceList list;
  thread_local std::vector<Span> raw_spans, norm_spans;
  auto model = [&](std::string_view piece) {
    if (piece.empty()) return;
    list.pieces.assign(1, piece);
    if (pre.stage) pre.stage->apply(list);
    bpe->encode(list.pieces, out);
    list.storage.clear();
  };
  auto normalized_part = [&](std::string_view part) {
    if (part.empty()) return;
    std::string norm;
    std::string_view text = part;
    if (normalizer) text = norm = normalizer->apply(part);
    if (normalized_matcher->empty()) { model(text); return; }
    norm_spans.clear();
    normalized_matcher->split(text, norm_spans);
    for (auto& sp : norm_spans) {
      if (sp.id >= 0) out.push_back(sp.id);
      else model(text.substr(sp.begin, sp.end - sp.begin));
    }
  };
  if (raw_matcher->empty()) { normalized_part(s); return; }
  raw_spans.clear();
  raw_matcher->split(s, raw_spans);
  for (auto& sp : raw_spans) {
    if (sp.id >= 0) out.push_back(sp.id);
    else normalized_part(s.substr(sp.begin, sp.end - sp.begin));
  }
}

namespace {
std::shared_ptr<Tokenizer::Impl> build_impl(std::string_view tokenizer_json, std::string_view config_json,
                                            const std::string& tokenizer_name, const std::string& config_name);
}  // namespace

Tokenizer Tokenizer::load(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) fail("{} does not exist", path.string());
  fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  fs::path tj = fs::is_directory(path) ? path / "tokenizer.json" : path;
  if (!fs::exists(tj)) fail("{} has no tokenizer.json", path.string());
  std::string config;
  const fs::path cj = dir / "tokenizer_config.json";
  if (fs::exists(cj)) config = read_text_file(cj.string());
  Tokenizer t(build_impl(read_text_file(tj.string()), config, tj.string(), cj.string()));
  // Newer transformers save the template beside the config; it takes precedence there too.
  if (fs::exists(dir / "chat_template.jinja")) {
    auto impl = std::const_pointer_cast<Impl>(t.impl_);
    std::string src = read_text_file((dir / "chat_template.jinja").string());
    bool replaced = false;
    for (auto& [name, s] : impl->templates)
      if (name == "default") { s = src; replaced = true; }
    if (!replaced) impl->templates.insert(impl->templates.begin(), {"default", src});
  }
  return t;
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json) {
  return Tokenizer(build_impl(tokenizer_json, config_json, "tokenizer.json", "tokenizer_config.json"));
}

namespace {

// Loads both files, checking every field: a malformed file is a fathom::Error naming the file (as
// `tokenizer_name` / `config_name`), the field and the token.
std::shared_ptr<Tokenizer::Impl> build_impl(std::string_view tokenizer_json, std::string_view config_json,
                                            const std::string& tokenizer_name, const std::string& config_name) {
  using Impl = Tokenizer::Impl;
  auto impl = std::make_shared<Impl>();
  const json doc = parse_json(tokenizer_json, tokenizer_name);
  const JsonField j = JsonField(doc, tokenizer_name).expect_object();
  impl->normalizer = make_normalizer(j["normalizer"]);
  impl->pre = make_pre_tokenizer(j["pre_tokenizer"]);
  impl->bpe = std::make_unique<Bpe>(j.required("model"), impl->pre.byte_level);

  // Hugging Face ignores the "id" written beside each added token and numbers them itself: a
  // token already in the vocab keeps its vocab id, the others count up from the vocab size.
  // Real files agree with that numbering; hand-made ones may not, and then the library wins.
  std::unordered_map<std::string, int32_t> assigned;
  int32_t max_added = -1;
  const JsonField added = j["added_tokens"];
  const size_t n_added = added.is_null() ? 0 : added.expect_array().size();
  for (size_t k = 0; k < n_added; ++k) {
    const JsonField a = added.at(k).expect_object();
    AddedToken t;
    t.content = a.required("content").str();
    if (t.content.empty()) continue;
    if (auto it = assigned.find(t.content); it != assigned.end()) {
      t.id = it->second;
    } else if (int32_t vid = impl->bpe->token_to_id(t.content); vid >= 0) {
      t.id = vid;
    } else {
      int32_t vs = static_cast<int32_t>(impl->bpe->size());
      t.id = max_added >= vs ? max_added + 1 : vs;
    }
    max_added = std::max(max_added, t.id);
    assigned[t.content] = t.id;
    t.single_word = a.bool_or("single_word", false);
    t.lstrip = a.bool_or("lstrip", false);
    t.rstrip = a.bool_or("rstrip", false);
    t.normalized = a.bool_or("normalized", false);
    t.special = a.bool_or("special", false);
    impl->added.push_back(t);
  }
  std::vector<const AddedToken*> raw, normed;
  std::vector<std::string> raw_pat, normed_pat;
  for (auto& t : impl->added) {
    impl->added_ids.emplace(t.content, t.id);
    if (t.normalized) {
      normed.push_back(&t);
      normed_pat.push_back(impl->normalizer ? impl->normalizer->apply(t.content) : t.content);
    } else {
      raw.push_back(&t);
      raw_pat.push_back(t.content);
    }
  }
  impl->raw_matcher = std::make_unique<AddedTokenMatcher>(raw, raw_pat);
  impl->normalized_matcher = std::make_unique<AddedTokenMatcher>(normed, normed_pat);

  // Per-id text and decoded bytes.
  int32_t n = impl->bpe->max_id() + 1;
  for (auto& t : impl->added) n = std::max(n, t.id + 1);
  impl->text.resize(n);
  impl->bytes.resize(n);
  impl->special.assign(n, false);
  impl->valid.assign(n, false);
  for (int32_t id = 0; id <= impl->bpe->max_id(); ++id)
    if (auto* s = impl->bpe->id_to_token(id)) { impl->text[id] = *s; impl->valid[id] = true; }
  for (auto& t : impl->added) {
    impl->text[t.id] = t.content;
    impl->valid[t.id] = true;
    impl->special[t.id] = t.special;
  }
  const JsonField dec = j["decoder"];
  std::string dec_type = dec.is_null() ? "" : dec.expect_object().str_or("type", "");
  if (dec_type != "" && dec_type != "ByteLevel")
    dec["type"].fail(fmt::format("decoder type '{}' is not supported (only ByteLevel)", dec_type));
  const auto& bl = byte_level_map();
  for (int32_t id = 0; id < n; ++id) {
    const std::string& s = impl->text[id];
    if (dec_type != "ByteLevel") { impl->bytes[id] = s; continue; }
    // A token whose characters are all in the byte map decodes to those bytes; any other
    // (an added token such as "<｜User｜>") passes through as its own UTF-8.
    std::string out;
    bool mapped = true;
    for (size_t i = 0; i < s.size() && mapped;) {
      int32_t c = next_code_point(s, i);
      int b = c < 0 ? -1 : bl.char_to_byte(c);
      if (b < 0) mapped = false;
      else out += static_cast<char>(b);
    }
    impl->bytes[id] = mapped ? out : s;
  }
  read_template(j["post_processor"], impl->template_prefix, impl->template_suffix);
  for (int32_t id : impl->template_prefix)
    if (id >= n || !impl->valid[id]) j["post_processor"].fail(fmt::format("adds token id {}, which is not in the vocab", id));
  for (int32_t id : impl->template_suffix)
    if (id >= n || !impl->valid[id]) j["post_processor"].fail(fmt::format("adds token id {}, which is not in the vocab", id));

  if (!config_json.empty()) {
    const json cdoc = parse_json(config_json, config_name);
    const JsonField c = JsonField(cdoc, config_name).expect_object();
    impl->bos_text = token_content(c["bos_token"]);
    impl->eos_text = token_content(c["eos_token"]);
    std::string pad_text = token_content(c["pad_token"]);
    auto id_of = [&](const std::string& text) {
      if (auto it = impl->added_ids.find(text); it != impl->added_ids.end()) return it->second;
      return impl->bpe->token_to_id(text);
    };
    impl->bos = impl->bos_text.empty() ? -1 : id_of(impl->bos_text);
    impl->eos = impl->eos_text.empty() ? -1 : id_of(impl->eos_text);
    impl->pad = pad_text.empty() ? -1 : id_of(pad_text);
    bool has_flags = c.json().contains("add_bos_token") || c.json().contains("add_eos_token");
    impl->add_bos = c.bool_or("add_bos_token", false);
    impl->add_eos = c.bool_or("add_eos_token", false);
    if (has_flags) impl->template_prefix.clear(), impl->template_suffix.clear();
    if (impl->add_bos && impl->bos >= 0) impl->template_prefix = {impl->bos};
    if (impl->add_eos && impl->eos >= 0) impl->template_suffix = {impl->eos};
    const JsonField ct = c["chat_template"];
    if (ct.json().is_string()) {
      impl->templates.push_back({"default", ct.str()});
    } else if (ct.json().is_array()) {
      for (size_t k = 0; k < ct.size(); ++k) {
        const JsonField e = ct.at(k).expect_object();
        impl->templates.push_back({e.required("name").str(), e.required("template").str()});
      }
    } else if (!ct.is_null()) {
      ct.fail("must be a string or a list of {\"name\", \"template\"} objects (got " + describe_json(ct.json()) + ")");
    }
  }
  return impl;
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out = impl_->template_prefix;
  if (is_valid_utf8(text)) {
    impl_->encode_text(text, out);
  } else {
    impl_->encode_text(to_valid_utf8(text), out);
  }
  if (add_special) out.insert(out.end(), impl_->template_suffix.begin(), impl_->template_suffix.end());
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (!is_valid_id(id)) continue;  // Hugging Face skips unknown ids silently as well
    if (skip_special && impl_->special[id]) continue;
    out += impl_->bytes[id];
  }
  return to_valid_utf8(out);
}

const std::string& Tokenizer::token_bytes(int32_t id) const {
  if (!is_valid_id(id)) fail("token id {} is not in the vocabulary (size {})", id, vocab_size());
  return impl_->bytes[id];
}

const std::string& Tokenizer::token_text(int32_t id) const {
  if (!is_valid_id(id)) fail("token id {} is not in the vocabulary (size {})", id, vocab_size());
  return impl_->text[id];
}

int32_t Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_ids.find(std::string(token)); it != impl_->added_ids.end())
    return it->second;
  return impl_->bpe->token_to_id(token);
}

bool Tokenizer::is_special(int32_t id) const { return is_valid_id(id) && impl_->special[id]; }
bool Tokenizer::is_valid_id(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->valid.size() && impl_->valid[id];
}
size_t Tokenizer::vocab_size() const { return impl_->text.size(); }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
int32_t Tokenizer::pad_id() const { return impl_->pad; }
const std::string& Tokenizer::bos_token() const { return impl_->bos_text; }
const std::string& Tokenizer::eos_token() const { return impl_->eos_text; }
bool Tokenizer::add_bos() const { return impl_->add_bos; }
bool Tokenizer::add_eos() const { return impl_->add_eos; }

const std::string& Tokenizer::chat_template(std::string_view name) const {
  static const std::string none;
  if (name.empty()) name = "default";
  for (auto& [n, s] : impl_->templates)
    if (n == name) return s;
  return none;
}

std::string StreamDecoder::put(int32_t id) {
  if (!tok_->is_valid_id(id) || (skip_special_ && tok_->is_special(id))) return {};
  pending_ += tok_->token_bytes(id);
  size_t n = complete_utf8_prefix(pending_);
  std::string out = to_valid_utf8(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = to_valid_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace fathom::tok
