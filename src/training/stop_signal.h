// Ctrl-C and SIGTERM during `fathom train`: the first asks the loop to stop at the end of the
// current step, after a checkpoint, so no work since the last checkpoint is lost; a second one ends
// the process at once (exit status 128 + signal), for a user who cannot wait for the step. The
// checkpoint files are replaced atomically, so even that leaves the last checkpoint readable.
#pragma once

namespace fathom::train {

// Installs the SIGINT / SIGTERM handlers for its lifetime and restores the previous ones after.
// One at a time per process (the flag it sets is process-wide).
class StopSignal {
 public:
  explicit StopSignal(bool announce);  // announce: say on stderr what the first signal will do
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // 0, or the signal number (SIGINT, SIGTERM) that asked training to stop.
  int requested() const;
};

// "SIGINT (Ctrl-C)", "SIGTERM", or "a signal".
const char* signal_description(int sig);

}  // namespace fathom::train
