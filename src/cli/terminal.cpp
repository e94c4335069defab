#include "cli/terminal.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>

namespace fathom::cli {

bool stdin_is_tty() { return isatty(0) == 1; }
bool stdout_is_tty() { return isatty(1) == 1; }
bool stderr_is_tty() { return isatty(2) == 1; }

Style Style::for_stream(bool tty) {
  if (!tty) return {};
  return {"\x1b[2m", "\x1b[1m", "\x1b[0m"};
}

std::string terminal_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '\r') continue;
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
      out += '^';
      out += char(c ^ 0x40);
    } else {
      out += ch;
    }
  }
  return out;
}

// ---- Ctrl-C -----------------------------------------------------------------------------------

namespace {

std::atomic<bool> g_interrupt{false};
std::atomic<bool> g_interruptible{false};

void on_sigint(int) {
  // Only async-signal-safe work here: atomics and _exit.
  if (!g_interruptible.load() || g_interrupt.load()) _exit(130);
  g_interrupt.store(true);
}

}  // namespace

void Interrupt::install() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
}
const std::atomic<bool>* Interrupt::flag() { return &g_interrupt; }
void Interrupt::begin() {
  g_interrupt.store(false);
  g_interruptible.store(true);
}
void Interrupt::end() { g_interruptible.store(false); }
bool Interrupt::requested() { return g_interrupt.load(); }

// ---- line editor ------------------------------------------------------------------------------

namespace {

// Raw mode for the lifetime of the object: bytes arrive one by one, unechoed, Ctrl-C as 0x03.
class RawMode {
 public:
  RawMode() {
    ok_ = tcgetattr(0, &saved_) == 0;
    if (!ok_) return;
    termios raw = saved_;
    raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
    raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG);
    raw.c_cflag |= CS8;
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    ok_ = tcsetattr(0, TCSAFLUSH, &raw) == 0;
  }
  ~RawMode() {
    if (ok_) tcsetattr(0, TCSAFLUSH, &saved_);
  }
  bool ok() const { return ok_; }

 private:
  termios saved_{};
  bool ok_ = false;
};

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

size_t columns(const std::string& s, size_t from, size_t to) {
  size_t n = 0;
  for (size_t i = from; i < to; ++i) n += !is_continuation(s[i]);
  return n;
}

size_t prev_char(const std::string& s, size_t i) {
  if (i == 0) return 0;
  do --i;
  while (i > 0 && is_continuation(s[i]));
  return i;
}

size_t next_char(const std::string& s, size_t i) {
  if (i >= s.size()) return s.size();
  do ++i;
  while (i < s.size() && is_continuation(s[i]));
  return i;
}

void put(const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(1, s.data() + off, s.size() - off);
    if (n <= 0) return;
    off += size_t(n);
  }
}

// True when the character ending at byte `end` of s has all its bytes.
bool complete_before(const std::string& s, size_t end) {
  if (end == 0) return true;
  size_t start = prev_char(s, end);
  const unsigned char lead = static_cast<unsigned char>(s[start]);
  const size_t want = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return end - start >= want;
}

int read_byte() {
  unsigned char c;
  for (;;) {
    ssize_t n = read(0, &c, 1);
    if (n == 1) return c;
    if (n == 0) return -1;
    if (errno != EINTR) return -1;
  }
}

}  // namespace

void LineEditor::add_history(const std::string& line) {
  if (line.empty() || (!history_.empty() && history_.back() == line)) return;
  history_.push_back(line);
}

LineEditor::Result LineEditor::read(const std::string& prompt) {
  RawMode raw;
  if (!raw.ok()) {  // not a terminal after all
    put(prompt);
    auto line = read_plain_line();
    return line ? Result{Status::Line, *line} : Result{Status::Eof, ""};
  }
  std::string buf;
  size_t cur = 0;                   // byte offset of the cursor in buf
  size_t hist = history_.size();    // history entry shown; == size(): the line being typed
  std::string typed;                // the line being typed, kept while browsing history
  auto redraw = [&] {
    std::string s = "\r" + prompt + buf + "\x1b[K";
    const size_t back = columns(buf, cur, buf.size());
    if (back) s += "\x1b[" + std::to_string(back) + "D";
    put(s);
  };
  auto show_history = [&](size_t h) {
    if (hist == history_.size()) typed = buf;
    hist = h;
    buf = hist == history_.size() ? typed : history_[hist];
    cur = buf.size();
  };
  redraw();
  for (;;) {
    int c = read_byte();
    if (c < 0) {
      put("\r\n");
      return {buf.empty() ? Status::Eof : Status::Line, buf};
    }
    switch (c) {
      case '\r':
      case '\n':
        put("\r\n");
        return {Status::Line, buf};
      case 3:  // Ctrl-C
        put("^C\r\n");
        return {Status::Interrupted, ""};
      case 4:  // Ctrl-D: end of input on an empty line, else delete under the cursor
        if (buf.empty()) {
          put("\r\n");
          return {Status::Eof, ""};
        }
        if (cur < buf.size()) buf.erase(cur, next_char(buf, cur) - cur);
        break;
      case 1: cur = 0; break;            // Ctrl-A
      case 5: cur = buf.size(); break;   // Ctrl-E
      case 2: cur = prev_char(buf, cur); break;  // Ctrl-B
      case 6: cur = next_char(buf, cur); break;  // Ctrl-F
      case 11: buf.erase(cur); break;    // Ctrl-K
      case 21:                           // Ctrl-U
        buf.erase(0, cur);
        cur = 0;
        break;
      case 23: {  // Ctrl-W: the word before the cursor and the spaces after it
        size_t i = cur;
        while (i > 0 && buf[i - 1] == ' ') --i;
        while (i > 0 && buf[i - 1] != ' ') --i;
        buf.erase(i, cur - i);
        cur = i;
        break;
      }
      case 12: put("\x1b[H\x1b[2J"); break;  // Ctrl-L
      case 127:
      case 8:  // Backspace
        if (cur > 0) {
          size_t p = prev_char(buf, cur);
          buf.erase(p, cur - p);
          cur = p;
        }
        break;
      case 16: if (hist > 0) show_history(hist - 1); break;                    // Ctrl-P
      case 14: if (hist < history_.size()) show_history(hist + 1); break;      // Ctrl-N
      case 27: {  // escape sequences: arrows, home/end, delete
        int a = read_byte();
        if (a != '[' && a != 'O') break;
        int b = read_byte();
        if (b >= '0' && b <= '9') {
          int d = read_byte();
          if (d != '~') break;
          if (b == '3' && cur < buf.size()) buf.erase(cur, next_char(buf, cur) - cur);  // Delete
          if (b == '1' || b == '7') cur = 0;                                            // Home
          if (b == '4' || b == '8') cur = buf.size();                                   // End
          break;
        }
        if (b == 'A' && hist > 0) show_history(hist - 1);
        if (b == 'B' && hist < history_.size()) show_history(hist + 1);
        if (b == 'C') cur = next_char(buf, cur);
        if (b == 'D') cur = prev_char(buf, cur);
        if (b == 'H') cur = 0;
        if (b == 'F') cur = buf.size();
        break;
      }
      default:
        if (c >= 32 || c == '\t') {  // text, including the bytes of multi-byte characters
          buf.insert(buf.begin() + cur, char(c));
          ++cur;
        }
    }
    // Redraw only on whole characters: a multi-byte character arrives byte by byte.
    if (complete_before(buf, cur)) redraw();
  }
}

std::optional<std::string> read_plain_line() {
  std::string line;
  if (!std::getline(std::cin, line)) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

ProgressBar::ProgressBar(const char* label, uint64_t total) : label_(label), total_(total), on_(stderr_is_tty()) {}

void ProgressBar::set(uint64_t done) {
  if (!on_ || total_ == 0) return;
  const int pct = int(100.0 * double(done) / double(total_));
  if (pct == last_) return;
  last_ = pct;
  const int bars = pct * 30 / 100;
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%% %.2f / %.2f GB", label_, bars, "==============================",
               30 - bars, "", pct, double(done) / 1e9, double(total_) / 1e9);
  std::fflush(stderr);
}

void ProgressBar::done() {
  if (on_ && last_ >= 0) std::fprintf(stderr, "\r\x1b[K");
}

}  // namespace fathom::cli
