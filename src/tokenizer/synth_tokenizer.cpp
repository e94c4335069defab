#include "tokenizer/synth_tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include "core/error.h"
#include "io/checkpoint.h"

namespace fathom::tok {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

// Text the merges are learned from: plain English, so common words tokenize into a few pieces.
constexpr const char* kCorpus =
    "The model reads the text one token at a time and writes the next token. "
    "A user asks a question and the assistant answers it. The answer is short when the question is "
    "simple, and the assistant thinks before it answers a hard one. In the beginning there was the "
    "word, and the word was split into bytes, and the bytes were merged into tokens. This is the "
    "story of the tokens that the model learned: the, and, that, this, there, then, these, those. "
    "Hello, how are you? I am fine, thank you. What is the capital of France? The capital of France "
    "is Paris. Write a poem about the sea. The sea is wide and the sea is deep, and the waves are "
    "singing the sea to sleep.";

// GPT-2's byte-to-character map: the bytes that are printable stand for themselves, the others
// take consecutive code points from U+0100 on, so every token is a printable string.
std::array<std::string, 256> byte_level_chars() {
  std::array<std::string, 256> out;
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const int cp = printable(b) ? b : next++;
    std::string s;
    if (cp < 0x80) {
      s += char(cp);
    } else {  // all code points here are below U+0800: two UTF-8 bytes
      s += char(0xC0 | (cp >> 6));
      s += char(0x80 | (cp & 0x3F));
    }
    out[b] = s;
  }
  return out;
}

// Words of the corpus as byte-level symbol sequences (a leading space stays with its word, as in
// GPT-2's pre-tokenization), with their counts.
std::map<std::vector<std::string>, int> corpus_words(const std::array<std::string, 256>& chars) {
  std::map<std::vector<std::string>, int> words;
  std::string text = kCorpus;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = i;
    if (text[j] == ' ') ++j;
    while (j < text.size() && std::isalpha(static_cast<unsigned char>(text[j]))) ++j;
    if (j == i || (j == i + 1 && text[i] == ' ')) j = i + 1;  // punctuation or a lone space
    std::vector<std::string> w;
    for (size_t k = i; k < j; ++k) w.push_back(chars[static_cast<unsigned char>(text[k])]);
    ++words[w];
    i = j;
  }
  return words;
}

// Byte-pair encoding training: repeatedly merge the most frequent adjacent pair (ties broken by
// the pair's text, so the result is fixed), skipping pairs whose merge is already a token.
std::vector<std::pair<std::string, std::string>> learn_merges(std::map<std::vector<std::string>, int> words,
                                                              size_t n, std::set<std::string>& vocab) {
  std::vector<std::pair<std::string, std::string>> merges;
  while (merges.size() < n) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (auto& [w, count] : words)
      for (size_t k = 0; k + 1 < w.size(); ++k) pairs[{w[k], w[k + 1]}] += count;
    const std::pair<std::string, std::string>* best = nullptr;
    int best_count = 0;
    for (auto& [p, count] : pairs)  // map order: the first of equal counts is the smallest text
      if (count > best_count && !vocab.count(p.first + p.second)) {
        best = &p;
        best_count = count;
      }
    if (!best) fail("synth tokenizer: the built-in corpus yields only {} merges, {} needed", merges.size(), n);
    const auto merge = *best;
    merges.push_back(merge);
    vocab.insert(merge.first + merge.second);
    std::map<std::vector<std::string>, int> next;
    for (auto& [w, count] : words) {
      std::vector<std::string> m;
      for (size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == merge.first && w[k + 1] == merge.second) {
          m.push_back(merge.first + merge.second);
          ++k;
        } else {
          m.push_back(w[k]);
        }
      }
      next[m] += count;
    }
    words = std::move(next);
  }
  return merges;
}

ojson added_token(int id, const std::string& content, bool special) {
  // As in DeepSeek-V3's tokenizer.json: BOS/EOS/pad are special and not normalized; the role and
  // think markers are ordinary added tokens (decoded even when special tokens are skipped).
  return {{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
          {"normalized", !special}, {"special", special}};
}

ojson config_token(const std::string& content) {
  return {{"__type", "AddedToken"}, {"content", content}, {"lstrip", false}, {"normalized", true},
          {"rstrip", false}, {"single_word", false}};
}

// DeepSeek-V3's chat layout: BOS, the system prompts, then <｜User｜>text / <｜Assistant｜>text<EOS>
// turns; earlier answers lose their reasoning (everything up to </think>) as in R1's template.
constexpr const char* kChatTemplate =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{%- if ns.system_prompt %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' %}{% endif %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{%- endif %}{%- endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}"
    "{%- elif message['role'] == 'assistant' %}{% set content = message['content'] %}"
    "{%- if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{ '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' }}"
    "{%- endif %}{%- endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";

int64_t max_token_id(const nlohmann::json& tokenizer_json) {
  int64_t top = -1;
  if (tokenizer_json.contains("model") && tokenizer_json["model"].contains("vocab"))
    for (auto& [k, v] : tokenizer_json["model"]["vocab"].items()) top = std::max<int64_t>(top, v.get<int64_t>());
  if (tokenizer_json.contains("added_tokens"))
    for (auto& t : tokenizer_json["added_tokens"]) top = std::max<int64_t>(top, t["id"].get<int64_t>());
  return top;
}

}  // namespace

SynthTokenizer synth_tokenizer(const SynthTokenizerShape& c) {
  const std::vector<std::string> head = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>"};
  const std::vector<std::string> tail = {"<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"};
  if (c.bos_token_id != 0 || c.eos_token_id != 1)
    fail("synth tokenizer: needs bos_token_id 0 and eos_token_id 1 (config has {} and {})", c.bos_token_id,
         c.eos_token_id);
  const int64_t fixed = int64_t(head.size() + 256 + tail.size());
  if (c.vocab_size < fixed) fail("synth tokenizer: vocab_size {} is below the {} fixed tokens", c.vocab_size, fixed);

  const auto chars = byte_level_chars();
  ojson vocab = ojson::object();
  std::set<std::string> known;
  int id = 0;
  for (auto& s : head) vocab[s] = id++;
  for (int b = 0; b < 256; ++b) {
    vocab[chars[b]] = id++;
    known.insert(chars[b]);
  }
  auto merges = learn_merges(corpus_words(chars), size_t(c.vocab_size - fixed), known);
  ojson merge_list = ojson::array();
  for (auto& [a, b] : merges) {
    vocab[a + b] = id++;
    merge_list.push_back(a + " " + b);
  }

  ojson added = ojson::array();
  for (size_t i = 0; i < head.size(); ++i) added.push_back(added_token(int(i), head[i], true));
  for (auto& s : tail) added.push_back(added_token(id++, s, false));

  SynthTokenizer t;
  t.tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model",
       {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab},
        {"merges", merge_list}}},
  };
  t.config = {
      {"add_bos_token", true},
      {"add_eos_token", false},
      {"bos_token", config_token(head[0])},
      {"eos_token", config_token(head[1])},
      {"pad_token", config_token(head[1])},
      {"clean_up_tokenization_spaces", false},
      {"legacy", true},
      {"model_max_length", c.max_position_embeddings},
      {"unk_token", nullptr},
      {"tokenizer_class", "LlamaTokenizerFast"},
      {"chat_template", kChatTemplate},
  };
  return t;
}

bool synth_write_tokenizer(const SynthTokenizerShape& c, const std::string& out_dir, const std::string& copy_from) {
  const fs::path out(out_dir);
  if (!copy_from.empty()) {
    const fs::path src(copy_from);
    const fs::path tj = src / "tokenizer.json";
    if (!fs::exists(tj)) fail("--tokenizer: {} has no tokenizer.json", copy_from);
    const int64_t top = max_token_id(io::read_json_file(tj.string()));
    if (top >= c.vocab_size)
      fail("--tokenizer: {} has token id {}, outside the model's vocab_size {}", tj.string(), top, c.vocab_size);
    fs::copy_file(tj, out / "tokenizer.json", fs::copy_options::overwrite_existing);
    for (const char* extra : {"tokenizer_config.json", "chat_template.jinja"})
      if (fs::exists(src / extra)) fs::copy_file(src / extra, out / extra, fs::copy_options::overwrite_existing);
    return true;
  }
  // Learned merges fill at most a few hundred ids; real-shape vocabularies need a real tokenizer.
  if (c.vocab_size > 512) return false;
  SynthTokenizer t = synth_tokenizer(c);
  std::ofstream(out / "tokenizer.json") << t.tokenizer.dump(2) << "\n";
  std::ofstream(out / "tokenizer_config.json") << t.config.dump(2) << "\n";
  return true;
}

}  // namespace fathom::tok
