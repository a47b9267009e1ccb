#include "vpet/train/interrupt.h"

#include <csignal>

namespace vpet::train {
namespace {

volatile std::sig_atomic_t received = 0;
struct sigaction previous_int, previous_term;

void on_signal(int signal_number) {
  if (received == signal_number) {
    // Second time: restore the default action and die of the signal.
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
    return;
  }
  received = signal_number;
}

void install() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  received = 0;
  sigaction(SIGINT, nullptr, &previous_int);
  sigaction(SIGTERM, nullptr, &previous_term);
  install();
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
}

int InterruptGuard::signal() const {
  return received;
}

}  // namespace vpet::train
