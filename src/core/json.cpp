#include "core/json.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <set>
#include <vector>

#include "core/error.h"

namespace fathom {

namespace {

// At most this many bytes of input (a key, a number) are quoted back in a message.
constexpr size_t kExcerpt = 60;

std::string excerpt(std::string_view s) {
  if (s.size() <= kExcerpt) return std::string(s);
  size_t n = kExcerpt;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // whole UTF-8 characters
  return std::string(s.substr(0, n)) + "...";
}

// Where the parser is, kept from the callback's events: one frame per open object or array, so a
// depth, duplicate-key or number error can name the field it happened in.
struct Frame {
  bool is_array = false;
  size_t index = 0;             // array: the element being read
  std::string key;              // object: the member being read
  std::set<std::string> keys;   // object: the keys seen so far
};

// "tools[0].function.parameters"; past a dozen levels only the first and last few are named.
std::string path_of(const std::vector<Frame>& frames) {
  std::string p;
  for (size_t k = 0; k < frames.size(); ++k) {
    if (frames.size() > 12 && k >= 6 && k + 3 < frames.size()) {
      if (k == 6) p.append("...");
      continue;
    }
    const Frame& f = frames[k];
    if (f.is_array) {
      p.append("[").append(std::to_string(f.index)).append("]");
    } else {
      if (!p.empty()) p.append(".");
      p.append(excerpt(f.key));
    }
  }
  return p;
}

// nlohmann's messages start "[json.exception.parse_error.101] parse error at line 1, column 5: ";
// keep only what comes after the position, which we state ourselves, and cut the quoted input.
std::string reason_of(const std::string& what) {
  std::string r = what;
  if (size_t b = r.find("] "); r.rfind("[json.exception", 0) == 0 && b != std::string::npos) r = r.substr(b + 2);
  if (r.rfind("parse error", 0) == 0)
    if (size_t c = r.find(": "); c != std::string::npos) r = r.substr(c + 2);
  if (size_t lr = r.find("; last read: '"); lr != std::string::npos) r = r.substr(0, lr);
  return excerpt(r);
}

std::string line_column(std::string_view text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, col = 1;
    else ++col;
  }
  return fmt::format("line {}, column {}", line, col);
}

[[noreturn]] void throw_at(std::string_view source, const std::vector<Frame>& frames, const std::string& why) {
  std::string p = path_of(frames);
  throw JsonError(fmt::format("{}: {}{}", source, why, p.empty() ? std::string() : " at '" + p + "'"), p);
}

// Thrown by the fast pass at the first problem, for the slow pass to describe.
struct NeedsSlowPass {};

// The slow pass: tracks the path and every object's keys, to name the field at fault. It runs only
// after the fast pass (below) found a problem, so a valid document never pays for it.
template <typename J>
J parse_tracking_paths(std::string_view text, std::string_view source) {
  std::vector<Frame> frames;
  auto fail_at = [&](const std::string& why) { throw_at(source, frames, why); };
  auto callback = [&](int depth, nlohmann::json::parse_event_t ev, J& parsed) -> bool {
    using E = nlohmann::json::parse_event_t;
    switch (ev) {
      case E::object_start:
      case E::array_start:
        if (depth >= kMaxJsonDepth)
          fail_at(fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
        frames.push_back(Frame{ev == E::array_start, 0, {}, {}});
        break;
      case E::key: {
        Frame& f = frames.back();
        f.key = parsed.template get<std::string>();
        if (!f.keys.insert(f.key).second) fail_at(fmt::format("key '{}' appears twice in one object", excerpt(f.key)));
        break;
      }
      case E::object_end:
      case E::array_end:
        frames.pop_back();
        if (!frames.empty() && frames.back().is_array) ++frames.back().index;
        break;
      case E::value:
        if (!frames.empty() && frames.back().is_array) ++frames.back().index;
        break;
    }
    return true;
  };
  try {
    return J::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::parse_error& e) {
    throw JsonError(fmt::format("{}: not valid JSON at {}: {}", source, line_column(text, e.byte == 0 ? 0 : e.byte - 1),
                                reason_of(e.what())), "");
  } catch (const nlohmann::json::out_of_range& e) {
    // A number too large for a double (1e400): the one value error the parser raises itself.
    throw_at(source, frames, reason_of(e.what()));
  }
}

// The fast pass checks the depth and counts each object's keys: a repeated key leaves the object
// with fewer members than keys read. Any problem is then reported by the slow pass.
template <typename J>
J parse_bounded(std::string_view text, std::string_view source) {
  std::vector<size_t> keys;  // per open container: keys read (objects)
  auto callback = [&](int depth, nlohmann::json::parse_event_t ev, J& parsed) -> bool {
    using E = nlohmann::json::parse_event_t;
    switch (ev) {
      case E::object_start:
      case E::array_start:
        if (depth >= kMaxJsonDepth) throw NeedsSlowPass{};
        keys.push_back(0);
        break;
      case E::key: ++keys.back(); break;
      case E::object_end:
        if (parsed.size() != keys.back()) throw NeedsSlowPass{};
        keys.pop_back();
        break;
      case E::array_end: keys.pop_back(); break;
      case E::value: break;
    }
    return true;
  };
  try {
    return J::parse(text.begin(), text.end(), callback);
  } catch (const NeedsSlowPass&) {
  } catch (const nlohmann::json::exception&) {
  }
  return parse_tracking_paths<J>(text, source);
}

template <typename J>
std::string describe(const J& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: return j.empty() ? "an empty object" : "an object";
    case nlohmann::json::value_t::array: return fmt::format("an array of {}", j.size());
    case nlohmann::json::value_t::string: {
      const auto& s = j.template get_ref<const std::string&>();
      if (s.size() <= kExcerpt) return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return J(excerpt(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + " (" +
             std::to_string(s.size()) + " bytes)";
    }
    case nlohmann::json::value_t::discarded: return "nothing";
    default: return j.dump();  // null, boolean, number: short
  }
}

}  // namespace

nlohmann::json parse_json(std::string_view text, std::string_view source) {
  return parse_bounded<nlohmann::json>(text, source);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, std::string_view source) {
  return parse_bounded<nlohmann::ordered_json>(text, source);
}

std::string read_text_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) fail("{}: cannot open (no such file)", path);
  if (S_ISDIR(st.st_mode)) fail("{}: is a directory, not a file", path);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) fail("{}: cannot open", path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    size_t n = std::fread(buf, 1, sizeof buf, f.get());
    out.append(buf, n);
    if (n < sizeof buf) break;
  }
  if (std::ferror(f.get())) fail("{}: read error", path);
  return out;
}

nlohmann::json read_json_file(const std::string& path) { return parse_json(read_text_file(path), path); }

std::string describe_json(const nlohmann::json& j) { return describe(j); }
std::string describe_json(const nlohmann::ordered_json& j) { return describe(j); }

// ---- JsonField ---------------------------------------------------------------------------------

std::string JsonField::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

void JsonField::fail(std::string_view why) const {
  if (path_.empty()) fathom::fail("{}: {}", source_, why);
  fathom::fail("{}: '{}': {}", source_, path_, why);
}

const JsonField& JsonField::expect_object() const {
  if (!j_->is_object()) fail("must be an object (got " + describe_json(*j_) + ")");
  return *this;
}

const JsonField& JsonField::expect_array() const {
  if (!j_->is_array()) fail("must be an array (got " + describe_json(*j_) + ")");
  return *this;
}

bool JsonField::has(std::string_view key) const {
  expect_object();
  auto it = j_->find(std::string(key));
  return it != j_->end() && !it->is_null();
}

JsonField JsonField::operator[](std::string_view key) const {
  static const nlohmann::json null_value;
  expect_object();
  auto it = j_->find(std::string(key));
  return JsonField(it == j_->end() ? null_value : *it, source_, child_path(key));
}

JsonField JsonField::required(std::string_view key) const {
  JsonField f = (*this)[key];
  if (f.is_null()) f.fail("is required");
  return f;
}

JsonField JsonField::at(size_t i) const {
  expect_array();
  if (i >= j_->size()) fail(fmt::format("has no element {}", i));
  return JsonField((*j_)[i], source_, path_ + "[" + std::to_string(i) + "]");
}

size_t JsonField::size() const {
  if (!j_->is_array() && !j_->is_object()) fail("must be an array or an object (got " + describe_json(*j_) + ")");
  return j_->size();
}

std::string JsonField::str() const {
  if (!j_->is_string()) fail("must be a string (got " + describe_json(*j_) + ")");
  return j_->get<std::string>();
}

bool JsonField::boolean() const {
  if (!j_->is_boolean()) fail("must be true or false (got " + describe_json(*j_) + ")");
  return j_->get<bool>();
}

double JsonField::number() const {
  if (!j_->is_number() || !std::isfinite(j_->get<double>())) fail("must be a number (got " + describe_json(*j_) + ")");
  return j_->get<double>();
}

int64_t JsonField::integer(int64_t lo, int64_t hi) const {
  bool in_range = false;
  if (j_->is_number_unsigned()) {
    const uint64_t u = j_->get<uint64_t>();
    in_range = hi >= 0 && u <= uint64_t(hi) && (lo <= 0 || u >= uint64_t(lo));
  }
  else if (j_->is_number_integer()) in_range = j_->get<int64_t>() >= lo && j_->get<int64_t>() <= hi;
  else fail("must be an integer (got " + describe_json(*j_) + ")");
  if (!in_range) fail(fmt::format("must be an integer in [{}, {}] (got {})", lo, hi, describe_json(*j_)));
  return j_->get<int64_t>();
}

std::string JsonField::str_or(std::string_view key, std::string fallback) const {
  return has(key) ? (*this)[key].str() : fallback;
}

bool JsonField::bool_or(std::string_view key, bool fallback) const {
  return has(key) ? (*this)[key].boolean() : fallback;
}

}  // namespace fathom
