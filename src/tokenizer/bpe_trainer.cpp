// Byte-level BPE training. The merge loop keeps a count per adjacent symbol pair, the words each
// pair occurs in, and a max-heap of (count, pair) with lazy deletion: a merge rewrites only the
// words that contain the merged pair, and every pair whose count changed is pushed again, so a
// popped entry whose count no longer matches the table is simply stale.
#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <queue>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "core/json.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"

namespace fathom::tok {

using nlohmann::ordered_json;

namespace {

constexpr const char* kBos = "<｜begin▁of▁sentence｜>";
constexpr const char* kEos = "<｜end▁of▁sentence｜>";
constexpr const char* kPad = "<｜▁pad▁｜>";
constexpr const char* kUser = "<｜User｜>";
constexpr const char* kAssistant = "<｜Assistant｜>";
constexpr int64_t kFirstByteId = 3;
constexpr int64_t kTrailingAdded = 2;  // <｜User｜>, <｜Assistant｜> after the model vocab

// A DeepSeek-V3-style chat template, minus tool calls: system prompts first, then
// <｜User｜>question<｜Assistant｜>answer<｜end▁of▁sentence｜> turns.
constexpr const char* kChatTemplate =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}"
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% endif %}{% endfor %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<｜Assistant｜>' }}{% endif %}";

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t key_left(uint64_t k) { return static_cast<int32_t>(k >> 32); }
int32_t key_right(uint64_t k) { return static_cast<int32_t>(k & 0xffffffffu); }

void write_file_atomic(const std::filesystem::path& p, const std::string& data) {
  auto tmp = p;
  tmp += ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail("cannot write {}", tmp.string());
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) fail("write to {} failed", tmp.string());
  }
  std::filesystem::rename(tmp, p);
}

ordered_json added_token(int64_t id, const char* content, bool special) {
  return ordered_json{{"id", id},         {"content", content}, {"single_word", false},
                      {"lstrip", false},  {"rstrip", false},    {"normalized", !special},
                      {"special", special}};
}

ordered_json config_token(const char* content) {
  return ordered_json{{"__type", "AddedToken"}, {"content", content}, {"lstrip", false},
                      {"normalized", true},     {"rstrip", false},    {"single_word", false}};
}

}  // namespace

// ---- pre-token counting -----------------------------------------------------------------------

struct PreTokenCounter::Impl {
  explicit Impl(int digits)
      : pre(tok::make_pre_tokenizer(nlohmann::json::parse(deepseek_pre_tokenizer_json(digits).dump()))) {}
  tok::PreTokenizerInfo pre;
  std::unordered_map<std::string, int64_t> counts;
};

PreTokenCounter::PreTokenCounter(int digits_per_token) : impl_(new Impl(digits_per_token)) {}
PreTokenCounter::~PreTokenCounter() { delete impl_; }

void PreTokenCounter::add_text(std::string_view text) {
  // Invalid UTF-8 becomes U+FFFD first, exactly as Tokenizer::encode treats it.
  std::string repaired;
  if (!tok::is_valid_utf8(text)) {
    repaired = tok::to_valid_utf8(text);
    text = repaired;
  }
  tok::PieceList list;
  list.pieces.assign(1, text);
  if (text.empty()) return;
  impl_->pre.stage->apply(list);
  for (std::string_view p : list.pieces) {
    auto it = impl_->counts.find(std::string(p));
    if (it == impl_->counts.end()) impl_->counts.emplace(std::string(p), 1);
    else ++it->second;
  }
  total_ += static_cast<int64_t>(list.pieces.size());
}

std::vector<std::pair<std::string, int64_t>> PreTokenCounter::sorted_counts() const {
  std::vector<std::pair<std::string, int64_t>> v(impl_->counts.begin(), impl_->counts.end());
  std::sort(v.begin(), v.end());
  return v;
}

// ---- the merge loop ---------------------------------------------------------------------------

BpeModel train_bpe(const std::vector<std::pair<std::string, int64_t>>& words,
                   const BpeTrainOptions& opts) {
  const int64_t model_vocab = opts.vocab_size - kTrailingAdded;
  if (model_vocab < kFirstByteId + 256)
    fail("--vocab-size {} is too small: the 3 special tokens, 256 bytes and 2 chat tokens need {}",
         opts.vocab_size, kFirstByteId + 256 + kTrailingAdded);

  BpeModel m;
  m.tokens = {kBos, kEos, kPad};
  // Byte characters sorted by code point, as Hugging Face's ByteLevel alphabet is.
  const auto& bl = tok::byte_level_map();
  std::vector<int> bytes(256);
  for (int b = 0; b < 256; ++b) bytes[b] = b;
  std::sort(bytes.begin(), bytes.end(),
            [&](int x, int y) { return bl.byte_to_char[x] < bl.byte_to_char[y]; });
  int32_t byte_id[256];
  for (int b : bytes) {
    byte_id[b] = static_cast<int32_t>(m.tokens.size());
    m.tokens.push_back(bl.byte_to_utf8[b]);
  }
  std::unordered_map<std::string, int32_t> token_id;
  for (size_t i = 0; i < m.tokens.size(); ++i) token_id[m.tokens[i]] = static_cast<int32_t>(i);

  // Words as symbol-id sequences.
  std::vector<std::vector<int32_t>> syms(words.size());
  std::vector<int64_t> freq(words.size());
  std::unordered_map<uint64_t, int64_t> count;
  std::unordered_map<uint64_t, std::vector<int32_t>> where;
  for (size_t w = 0; w < words.size(); ++w) {
    freq[w] = words[w].second;
    for (unsigned char c : words[w].first) syms[w].push_back(byte_id[c]);
    for (size_t i = 0; i + 1 < syms[w].size(); ++i) {
      uint64_t k = pair_key(syms[w][i], syms[w][i + 1]);
      count[k] += freq[w];
      auto& wl = where[k];
      if (wl.empty() || wl.back() != static_cast<int32_t>(w)) wl.push_back(static_cast<int32_t>(w));
    }
  }

  // Highest count first; among equal counts the smallest (left, right) pair.
  using Entry = std::pair<int64_t, uint64_t>;
  auto worse = [](const Entry& x, const Entry& y) {
    return x.first != y.first ? x.first < y.first : x.second > y.second;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (auto& [k, c] : count) heap.push({c, k});

  std::unordered_set<uint64_t> changed;
  auto t0 = std::chrono::steady_clock::now();
  int64_t target_merges = model_vocab - static_cast<int64_t>(m.tokens.size());
  while (static_cast<int64_t>(m.tokens.size()) < model_vocab && !heap.empty()) {
    auto [c, k] = heap.top();
    heap.pop();
    auto it = count.find(k);
    if (it == count.end() || it->second != c) continue;  // stale entry
    if (c < opts.min_frequency) break;
    int32_t a = key_left(k), b = key_right(k);
    std::string merged = m.tokens[a] + m.tokens[b];
    int32_t id;
    if (auto t = token_id.find(merged); t != token_id.end()) {
      id = t->second;  // the same string reached by another merge order: reuse its id
    } else {
      id = static_cast<int32_t>(m.tokens.size());
      m.tokens.push_back(merged);
      token_id.emplace(merged, id);
    }
    m.merges.emplace_back(m.tokens[a], m.tokens[b]);

    std::vector<int32_t> ws = std::move(where[k]);
    where.erase(k);
    std::sort(ws.begin(), ws.end());
    ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
    changed.clear();
    std::vector<int32_t> next;
    for (int32_t w : ws) {
      auto& s = syms[w];
      bool has = false;
      for (size_t i = 0; i + 1 < s.size() && !has; ++i) has = s[i] == a && s[i + 1] == b;
      if (!has) continue;
      // Remove the word's pairs, merge left to right, add its pairs back.
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        uint64_t q = pair_key(s[i], s[i + 1]);
        count[q] -= freq[w];
        changed.insert(q);
      }
      next.clear();
      for (size_t i = 0; i < s.size();) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          next.push_back(id);
          i += 2;
        } else {
          next.push_back(s[i++]);
        }
      }
      s.swap(next);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        uint64_t q = pair_key(s[i], s[i + 1]);
        count[q] += freq[w];
        changed.insert(q);
        if (s[i] == id || s[i + 1] == id) where[q].push_back(w);
      }
    }
    for (uint64_t q : changed) {
      auto ci = count.find(q);
      if (ci->second > 0) heap.push({ci->second, q});
      else count.erase(ci);
    }
    if (opts.progress && (m.merges.size() % 256 == 0 ||
                          static_cast<int64_t>(m.tokens.size()) == model_vocab)) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\r[train-tokenizer] merges %zu / %lld  (%.1f s)", m.merges.size(),
                   static_cast<long long>(target_merges), s);
      std::fflush(stderr);
    }
  }
  if (opts.progress) std::fprintf(stderr, "\n");
  return m;
}

// ---- tokenizer.json / tokenizer_config.json ---------------------------------------------------

nlohmann::ordered_json deepseek_pre_tokenizer_json(int digits_per_token) {
  if (digits_per_token < 1 || digits_per_token > 3)
    fail("digits per token must be 1, 2 or 3 (got {})", digits_per_token);
  const std::string digits = digits_per_token == 1 ? R"(\p{N})" : fmt::format(R"(\p{{N}}{{1,{}}})", digits_per_token);
  auto split = [](const std::string& regex) {
    return ordered_json{{"type", "Split"},
                        {"pattern", {{"Regex", regex}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  };
  return ordered_json{
      {"type", "Sequence"},
      {"pretokenizers",
       {split(digits),
        // CJK ideographs, hiragana, katakana (U+4E00-U+9FA5, U+3040-U+309F, U+30A0-U+30FF).
        split("[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"),
        split("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
              "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
              "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"),
        ordered_json{{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", true},
                     {"use_regex", false}}}}};
}

nlohmann::ordered_json tokenizer_json(const BpeModel& m, int digits_per_token) {
  ordered_json vocab = ordered_json::object();
  for (size_t i = 0; i < m.tokens.size(); ++i) vocab[m.tokens[i]] = static_cast<int64_t>(i);
  ordered_json merges = ordered_json::array();
  for (auto& [l, r] : m.merges) merges.push_back(l + " " + r);
  const int64_t n = static_cast<int64_t>(m.tokens.size());
  ordered_json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = {added_token(0, kBos, true),        added_token(1, kEos, true),
                       added_token(2, kPad, true),        added_token(n, kUser, false),
                       added_token(n + 1, kAssistant, false)};
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", ordered_json::array()}};
  j["pre_tokenizer"] = deepseek_pre_tokenizer_json(digits_per_token);
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true},
                         {"trim_offsets", false}, {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true},
                  {"use_regex", true}};
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merges)}};
  return j;
}

nlohmann::ordered_json tokenizer_config_json() {
  ordered_json j;
  j["add_bos_token"] = true;
  j["add_eos_token"] = false;
  j["bos_token"] = config_token(kBos);
  j["clean_up_tokenization_spaces"] = false;
  j["eos_token"] = config_token(kEos);
  j["legacy"] = true;
  j["model_max_length"] = 4096;
  j["pad_token"] = config_token(kPad);
  j["sp_model_kwargs"] = ordered_json::object();
  j["unk_token"] = nullptr;
  j["tokenizer_class"] = "LlamaTokenizerFast";
  j["chat_template"] = kChatTemplate;
  return j;
}

TrainTokenizerReport train_tokenizer(const std::vector<std::filesystem::path>& files,
                                     const std::filesystem::path& out_dir,
                                     const BpeTrainOptions& opts) {
  if (files.empty()) fail("train-tokenizer: no input files");
  auto t0 = std::chrono::steady_clock::now();
  TrainTokenizerReport r;
  PreTokenCounter counter(opts.digits_per_token);
  for (size_t i = 0; i < files.size(); ++i) {
    std::string text = read_text_file(files[i].string());
    r.bytes += static_cast<int64_t>(text.size());
    counter.add_text(text);
    if (opts.progress) {
      std::fprintf(stderr, "\r[train-tokenizer] pre-tokenized %zu / %zu files (%.1f MB)", i + 1,
                   files.size(), r.bytes / 1e6);
      std::fflush(stderr);
    }
  }
  if (opts.progress) std::fprintf(stderr, "\n");
  auto words = counter.sorted_counts();
  r.pre_tokens = counter.total_pre_tokens();
  r.unique_pre_tokens = static_cast<int64_t>(words.size());
  BpeModel m = train_bpe(words, opts);
  r.merges = static_cast<int64_t>(m.merges.size());
  r.vocab_size = static_cast<int64_t>(m.tokens.size()) + kTrailingAdded;

  std::filesystem::create_directories(out_dir);
  write_file_atomic(out_dir / "tokenizer.json", tokenizer_json(m, opts.digits_per_token).dump(2) + "\n");
  write_file_atomic(out_dir / "tokenizer_config.json", tokenizer_config_json().dump(2) + "\n");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace fathom::tok
