#include "vpet/train/interrupt.h"

#include <csignal>

#include "vpet/io/atomic_file.h"

namespace vpet::train {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
constexpr int kSignalCount = sizeof kSignals / sizeof kSignals[0];

volatile std::sig_atomic_t received = 0;
struct sigaction previous[kSignalCount];

void on_signal(int signal_number) {
  if (received == signal_number) {
    // Second time: the user insists. Remove the temporaries (a checkpoint
    // being written) and die of the signal.
    io::remove_pending_temporaries();
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
    return;
  }
  received = signal_number;
}

}  // namespace

InterruptGuard::InterruptGuard() {
  received = 0;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  for (int i = 0; i < kSignalCount; ++i) {
    sigaction(kSignals[i], nullptr, &previous[i]);
    // SIGHUP that the parent ignores (nohup) stays ignored. SIGINT and
    // SIGQUIT are taken over even where ignored: a shell starts `cmd &`
    // with them ignored, and `kill -INT` must still stop it cleanly.
    if (kSignals[i] == SIGHUP && !(previous[i].sa_flags & SA_SIGINFO) &&
        previous[i].sa_handler == SIG_IGN) {
      continue;
    }
    sigaction(kSignals[i], &action, nullptr);
  }
}

InterruptGuard::~InterruptGuard() {
  for (int i = 0; i < kSignalCount; ++i) sigaction(kSignals[i], &previous[i], nullptr);
}

int InterruptGuard::signal() const {
  return received;
}

}  // namespace vpet::train
