#include "training/stop_signal.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

#include "core/error.h"

namespace fathom::train {

namespace {

// Written by the handler, which may run on any thread: a lock-free atomic is async-signal-safe.
std::atomic<int> g_requested{0};
std::atomic<bool> g_announce{false};
std::atomic<bool> g_installed{false};
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free);

struct sigaction g_old_int, g_old_term;

void write_stderr(const char* s) {
  // write(2) is async-signal-safe; stdio is not.
  ssize_t r = ::write(2, s, std::strlen(s));
  (void)r;
}

void on_signal(int sig) {
  int expected = 0;
  if (!g_requested.compare_exchange_strong(expected, sig)) {
    write_stderr("\nfathom train: stopped at once (the last checkpoint is intact)\n");
    ::_exit(128 + sig);
  }
  if (g_announce.load())
    write_stderr("\nfathom train: stopping after this step and saving a checkpoint (Ctrl-C again to quit now)\n");
}

}  // namespace

StopSignal::StopSignal(bool announce) {
  if (g_installed.exchange(true)) fail("fathom train: a training run is already in progress in this process");
  g_requested = 0;
  g_announce = announce;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a blocking read or write in the step goes on
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
}

StopSignal::~StopSignal() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  g_requested = 0;
  g_installed = false;
}

int StopSignal::requested() const { return g_requested.load(); }

const char* signal_description(int sig) {
  if (sig == SIGINT) return "SIGINT (Ctrl-C)";
  if (sig == SIGTERM) return "SIGTERM";
  return "a signal";
}

}  // namespace fathom::train
