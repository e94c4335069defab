// Terminal handling for the interactive commands: whether a stream is a terminal (escape codes and
// progress bars only go to terminals), Ctrl-C that interrupts the current answer instead of the
// process, and a small line editor (raw mode) with history for `fathom chat`.
#pragma once
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fathom::cli {

bool stdin_is_tty();
bool stdout_is_tty();
bool stderr_is_tty();

// SGR styles, or "" when the stream is not a terminal.
struct Style {
  const char* dim = "";
  const char* bold = "";
  const char* reset = "";
  static Style for_stream(bool tty);
};

// Text from a model, made harmless for a terminal: control characters other than newline and tab
// (a random or hostile model can emit escape sequences that would drive the terminal) become
// caret notation (^[ for ESC); carriage returns are dropped.
std::string terminal_safe(std::string_view text);

// A one-line "label [=====     ] 42% 1.20 / 2.90 GB" on stderr when it is a terminal; nothing when
// stderr is piped or redirected.
class ProgressBar {
 public:
  ProgressBar(const char* label, uint64_t total);
  void set(uint64_t done);
  void done();  // the bar goes away

 private:
  const char* label_;
  uint64_t total_;
  bool on_;
  int last_ = -1;
};

// Ctrl-C handling. While an interruptible section is active, SIGINT sets the flag (the generator
// polls it between tokens); otherwise, or on a second Ctrl-C, the process exits with status 130.
class Interrupt {
 public:
  static void install();
  static const std::atomic<bool>* flag();
  static void begin();  // clears the flag and makes SIGINT interrupt instead of exit
  static void end();
  static bool requested();
};

// A single-line editor on a raw-mode terminal: left/right, home/end (Ctrl-A/E), backspace/delete,
// Ctrl-K/U/W kills, up/down history, Ctrl-L clears the screen. Characters are UTF-8; each code
// point is taken as one column (wide characters then misplace the cursor, text stays right).
class LineEditor {
 public:
  enum class Status { Line, Interrupted /* Ctrl-C */, Eof /* Ctrl-D on an empty line */ };
  struct Result {
    Status status;
    std::string line;
  };
  Result read(const std::string& prompt);
  void add_history(const std::string& line);

 private:
  std::vector<std::string> history_;
};

// Reads one line from a non-terminal stdin (no trailing newline); nullopt at end of input.
std::optional<std::string> read_plain_line();

}  // namespace fathom::cli
