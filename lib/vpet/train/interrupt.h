// SIGINT/SIGTERM/SIGHUP/SIGQUIT during training: the loop finishes the
// current step, saves its checkpoint (when one was asked for) and the program
// exits 128 + signal (130, 143, 129, 131) without writing the adapter,
// instead of dying mid-update.
#pragma once

namespace vpet::train {

// While alive, those signals only set a flag; the previous handlers come
// back on destruction. A second signal of the same kind ends the process at
// once (the user insists), removing any temporary being written.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // The signal received, or 0.
  int signal() const;
  // The conventional exit status for it: 128 + signal (130, 143, 129, 131).
  int exit_status() const { return 128 + signal(); }
};

}  // namespace vpet::train
