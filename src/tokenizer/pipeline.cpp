// Normalizers and pre-tokenizers. Each class is the tokenizer.json type of the same name; the split
// behaviours follow tokenizers' NormalizedString::split, which is where most subtle differences
// between implementations come from (how matches merge with their neighbours).
#include "tokenizer/pipeline.h"

#include <functional>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace fathom::tok {
namespace {

using nlohmann::json;

std::unique_ptr<Regex> make_pattern(const JsonField& pattern) {
  pattern.expect_object();
  if (pattern.has("Regex")) return std::make_unique<Regex>(pattern["Regex"].str());
  if (pattern.has("String")) return std::make_unique<Regex>(regex_escape(pattern["String"].str()));
  pattern.fail("a pattern must be {\"Regex\": ...} or {\"String\": ...}");
}

// ---- normalizers ----------------------------------------------------------------------------

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> s) : stages_(std::move(s)) {}
  std::string apply(std::string_view s) const override {
    std::string cur(s);
    for (auto& st : stages_) cur = st->apply(cur);
    return cur;
  }
 private:
  std::vector<std::unique_ptr<Normalizer>> stages_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm f) : form_(f) {}
  std::string apply(std::string_view s) const override { return normalize(s, form_); }
 private:
  NormalForm form_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  std::string apply(std::string_view s) const override { return to_lower(s); }
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<Regex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  std::string apply(std::string_view s) const override {
    std::string out;
    size_t last = 0;
    re_->for_each_match(s, [&](size_t b, size_t e) {
      if (b == e) return;  // an empty match replaces nothing
      out.append(s.substr(last, b - last));
      out += content_;
      last = e;
    });
    out.append(s.substr(last));
    return out;
  }
 private:
  std::unique_ptr<Regex> re_;
  std::string content_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prefix_(std::move(p)) {}
  std::string apply(std::string_view s) const override {
    return s.empty() ? std::string() : prefix_ + std::string(s);
  }
 private:
  std::string prefix_;
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  std::string apply(std::string_view s) const override {
    size_t b = 0, e = s.size();
    if (left_) {
      while (b < e) {
        size_t i = b;
        int32_t c = next_code_point(s, i);
        if (c < 0 || !is_whitespace(c)) break;
        b = i;
      }
    }
    if (right_) {
      while (e > b) {
        size_t start = e - 1;
        while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
        size_t i = start;
        int32_t c = next_code_point(s, i);
        if (c < 0 || !is_whitespace(c)) break;
        e = start;
      }
    }
    return std::string(s.substr(b, e - b));
  }
 private:
  bool left_, right_;
};

// ---- pre-tokenizers -------------------------------------------------------------------------

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const JsonField& j) {
  std::string b = j.str();
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  j.fail(fmt::format("unknown split behavior '{}'", b));
}

struct Segment {
  size_t begin, end;
  bool match;
};

// Turns the alternating match / non-match segments of one piece into the pieces it splits into.
void emit_split(std::string_view piece, std::vector<Segment>& segs, Behavior behavior, bool invert,
                std::vector<std::string_view>& out) {
  if (invert)
    for (auto& s : segs) s.match = !s.match;
  auto push = [&](size_t b, size_t e) {
    if (e > b) out.push_back(piece.substr(b, e - b));
  };
  switch (behavior) {
    case Behavior::Isolated:
      for (auto& s : segs) push(s.begin, s.end);
      return;
    case Behavior::Removed:
      for (auto& s : segs)
        if (!s.match) push(s.begin, s.end);
      return;
    default:
      break;
  }
  std::vector<std::pair<size_t, size_t>> acc;
  bool prev = false;
  if (behavior == Behavior::MergedWithNext) {
    for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
      if (it->match && !prev && !acc.empty()) acc.back().first = it->begin;
      else acc.push_back({it->begin, it->end});
      prev = it->match;
    }
    for (auto it = acc.rbegin(); it != acc.rend(); ++it) push(it->first, it->second);
    return;
  }
  for (auto& s : segs) {
    bool merge = behavior == Behavior::Contiguous ? s.match == prev : (s.match && !prev);
    if (merge && !acc.empty()) acc.back().second = s.end;
    else acc.push_back({s.begin, s.end});
    prev = s.match;
  }
  for (auto& [b, e] : acc) push(b, e);
}

// Applies a per-piece split to every piece of the list.
// Scratch vectors are per thread and reused, so short texts cost no allocation here.
template <typename F>
void split_all(PieceList& list, F&& split_one) {
  thread_local std::vector<std::string_view> out;
  thread_local std::vector<Segment> segs;
  out.clear();
  for (std::string_view p : list.pieces) {
    segs.clear();
    split_one(p, segs, out);
  }
  list.pieces.swap(out);
}

void add_segments(std::vector<Segment>& segs, size_t& last, size_t b, size_t e) {
  if (b > last) segs.push_back({last, b, false});
  segs.push_back({b, e, true});
  last = e;
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<Regex> re, Behavior b, bool invert)
      : re_(std::move(re)), behavior_(b), invert_(invert) {}
  void apply(PieceList& list) const override {
    split_all(list, [&](std::string_view p, std::vector<Segment>& segs, auto& out) {
      size_t last = 0;
      re_->for_each_match(p, [&](size_t b, size_t e) { add_segments(segs, last, b, e); });
      if (last < p.size()) segs.push_back({last, p.size(), false});
      emit_split(p, segs, behavior_, invert_, out);
    });
  }
 private:
  std::unique_ptr<Regex> re_;
  Behavior behavior_;
  bool invert_;
};

class DigitsPreTokenizer : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
  void apply(PieceList& list) const override {
    split_all(list, [&](std::string_view p, std::vector<Segment>& segs, auto& out) {
      size_t last = 0;
      for (size_t i = 0; i < p.size();) {
        size_t b = i;
        int32_t c = next_code_point(p, i);
        if (c >= 0 && is_numeric(c)) add_segments(segs, last, b, i);
      }
      if (last < p.size()) segs.push_back({last, p.size(), false});
      emit_split(p, segs, individual_ ? Behavior::Isolated : Behavior::Contiguous, false, out);
    });
  }
 private:
  bool individual_;
};

// GPT-2's pre-tokenization regex, which ByteLevel applies when use_regex is true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        split_(use_regex ? std::make_unique<SplitPreTokenizer>(std::make_unique<Regex>(kGpt2Pattern),
                                                               Behavior::Isolated, false)
                         : nullptr) {}
  void apply(PieceList& list) const override {
    // The prefix space goes on every piece that does not start with one, not just the first.
    if (add_prefix_space_)
      for (auto& p : list.pieces)
        if (p[0] != ' ') p = list.own(std::string(" ").append(p));
    if (split_) split_->apply(list);
  }
 private:
  bool add_prefix_space_;
  std::unique_ptr<SplitPreTokenizer> split_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> s)
      : stages_(std::move(s)) {}
  void apply(PieceList& list) const override {
    for (auto& st : stages_) st->apply(list);
  }
 private:
  std::vector<std::unique_ptr<PreTokenizer>> stages_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const JsonField& j) {
  if (j.is_null()) return nullptr;
  std::string type = j.expect_object().str_or("type", "");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> stages;
    const JsonField list = j.required("normalizers").expect_array();
    for (size_t k = 0; k < list.size(); ++k)
      if (auto s = make_normalizer(list.at(k))) stages.push_back(std::move(s));
    if (stages.empty()) return nullptr;
    if (stages.size() == 1) return std::move(stages[0]);
    return std::make_unique<SequenceNormalizer>(std::move(stages));
  }
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKD);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Replace") {
    auto pattern = make_pattern(j.required("pattern"));
    return std::make_unique<ReplaceNormalizer>(std::move(pattern), j.required("content").str());
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(j.required("prepend").str());
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(j.bool_or("strip_left", true), j.bool_or("strip_right", true));
  j["type"].fail(fmt::format("normalizer type '{}' is not supported", type));
}

PreTokenizerInfo make_pre_tokenizer(const JsonField& j) {
  PreTokenizerInfo info;
  if (j.is_null()) return info;
  std::string type = j.expect_object().str_or("type", "");
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> stages;
    const JsonField list = j.required("pretokenizers").expect_array();
    for (size_t k = 0; k < list.size(); ++k) {
      if (info.byte_level) list.at(k).fail("a pre-tokenizer after ByteLevel is not supported");
      auto sub = make_pre_tokenizer(list.at(k));
      info.byte_level = sub.byte_level;
      if (sub.stage) stages.push_back(std::move(sub.stage));
    }
    if (!stages.empty()) info.stage = std::make_unique<SequencePreTokenizer>(std::move(stages));
  } else if (type == "Split") {
    auto pattern = make_pattern(j.required("pattern"));  // checked in the file's order
    const Behavior behavior = parse_behavior(j.required("behavior"));
    info.stage = std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior, j.bool_or("invert", false));
  } else if (type == "Digits") {
    info.stage = std::make_unique<DigitsPreTokenizer>(j.bool_or("individual_digits", false));
  } else if (type == "ByteLevel") {
    info.byte_level = true;
    bool prefix = j.bool_or("add_prefix_space", true), regex = j.bool_or("use_regex", true);
    if (prefix || regex) info.stage = std::make_unique<ByteLevelPreTokenizer>(prefix, regex);
  } else {
    j["type"].fail(fmt::format("pre-tokenizer type '{}' is not supported", type));
  }
  return info;
}

PreTokenizerInfo make_pre_tokenizer(const json& j) { return make_pre_tokenizer(JsonField(j, "tokenizer.json", "pre_tokenizer")); }

}  // namespace fathom::tok
