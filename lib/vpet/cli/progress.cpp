#include "vpet/cli/progress.h"

#include <unistd.h>

#include <cstdio>

#include "vpet/cli/log.h"

namespace vpet::cli {
namespace {

// Redraw a terminal bar at most this often; print a plain line this often.
constexpr auto kTerminalInterval = std::chrono::milliseconds(100);
constexpr auto kPlainInterval = std::chrono::seconds(10);

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "--:--";
  long s = static_cast<long>(seconds + 0.5);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%02ld:%02ld", s / 60, s % 60);
  }
  return text;
}

}  // namespace

Progress::Progress(std::string label, std::int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(!quiet()),
      terminal_(isatty(STDERR_FILENO) != 0),
      start_(Clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  // An interrupted bar must not leave the cursor mid-line for the error message.
  if (enabled_ && terminal_ && !finished_ && done_ > 0) std::fputc('\n', stderr);
}

void Progress::advance(std::int64_t n) {
  done_ += n;
  if (!enabled_) return;
  auto now = Clock::now();
  if (now - last_draw_ >= (terminal_ ? kTerminalInterval : kPlainInterval)) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final_line) {
  double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  char counts[64];
  if (total_ > 0) {
    std::snprintf(counts, sizeof counts, "%lld/%lld", static_cast<long long>(done_),
                  static_cast<long long>(total_));
  } else {
    std::snprintf(counts, sizeof counts, "%lld", static_cast<long long>(done_));
  }
  std::string timing = final_line ? "in " + format_duration(elapsed)
                       : (total_ > 0 && rate > 0)
                           ? "ETA " + format_duration((total_ - done_) / rate)
                           : format_duration(elapsed);
  const std::string detail = detail_.empty() ? "" : ", " + detail_;
  if (terminal_) {
    std::string bar;
    if (total_ > 0) {
      constexpr int kWidth = 30;
      int filled = static_cast<int>(kWidth * static_cast<double>(done_) / total_);
      if (filled > kWidth) filled = kWidth;
      bar = "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "] ";
    }
    std::fprintf(stderr, "\r\033[K%s: %s: %s%s %s%s, %.1f %s/s, %s", program_name().c_str(),
                 label_.c_str(), bar.c_str(), counts, unit_.c_str(), detail.c_str(), rate,
                 unit_.c_str(), timing.c_str());
    if (final_line) std::fputc('\n', stderr);
  } else {
    std::fprintf(stderr, "%s: %s: %s %s%s, %.1f %s/s, %s\n", program_name().c_str(), label_.c_str(),
                 counts, unit_.c_str(), detail.c_str(), rate, unit_.c_str(), timing.c_str());
  }
  std::fflush(stderr);
}

}  // namespace vpet::cli
