// SIGINT/SIGTERM during training: the loop finishes the current step, saves
// its checkpoint (when one was asked for) and the program exits 130/143
// without writing the adapter, instead of dying mid-update.
#pragma once

namespace vpet::train {

// While alive, SIGINT and SIGTERM only set a flag; the previous handlers
// come back on destruction. A second signal of the same kind ends the
// process at once (the user insists).
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // The signal received, or 0.
  int signal() const;
  // The conventional exit status for it: 128 + signal (130, 143).
  int exit_status() const { return 128 + signal(); }
};

}  // namespace vpet::train
