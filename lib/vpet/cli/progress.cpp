#include "vpet/cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

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

// The terminal's width: stderr's window (TIOCGWINSZ, asked at every draw so
// a resized window is followed), else $COLUMNS, else 80.
std::size_t terminal_columns() {
  winsize size{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    char* end = nullptr;
    const long value = std::strtol(columns, &end, 10);
    if (end != columns && *end == '\0' && value > 0 && value < 10000) return std::size_t(value);
  }
  return 80;
}

// Columns `text` takes: one per UTF-8 sequence (printable() left no control bytes).
std::size_t columns_of(const std::string& text) {
  return std::size_t(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) >> 6) != 0x2;
  }));
}

// `text` cut to at most `columns`, at a UTF-8 sequence boundary.
std::string first_columns(const std::string& text, std::size_t columns) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) >> 6) != 0x2 && seen++ == columns) {
      return text.substr(0, i);
    }
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
  // An interrupted bar stays as it was, on a line of its own, above the error message.
  if (enabled_ && terminal_ && !finished_) end_status(/*keep=*/true);
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
  const double per_second = elapsed > 0 ? done_ / elapsed : 0.0;
  char counts[64];
  if (total_ > 0) {
    std::snprintf(counts, sizeof counts, "%lld/%lld", static_cast<long long>(done_),
                  static_cast<long long>(total_));
  } else {
    std::snprintf(counts, sizeof counts, "%lld", static_cast<long long>(done_));
  }
  std::string timing = final_line ? "in " + format_duration(elapsed)
                       : (total_ > 0 && per_second > 0)
                           ? "ETA " + format_duration((total_ - done_) / per_second)
                           : format_duration(elapsed);
  char rate[64];
  std::snprintf(rate, sizeof rate, ", %.1f %s/s, ", per_second, unit_.c_str());
  // The detail last: a line too long for the terminal loses its end first.
  const std::string counted = std::string(counts) + " " + unit_ + rate + timing;
  const std::string detail = detail_.empty() ? "" : ", " + detail_;
  if (!terminal_) {
    info(label_ + ": " + counted + detail);
    return;
  }
  // One line that never wraps (a wrapped line cannot be redrawn in place):
  // the counts, rate and time first, then the detail, then a bar of 10 to
  // 30 columns where it still fits; what is left over is cut.
  const std::size_t columns = terminal_columns() - 1;
  const std::string head = program_name() + ": " + printable(label_) + ": ";
  const std::string text = printable(counted + detail);
  std::string bar;
  constexpr std::size_t kBarMost = 30, kBarLeast = 10, kBrackets = 3;  // "[" "] "
  const std::size_t used = columns_of(head) + columns_of(text) + kBrackets;
  if (total_ > 0 && used + kBarLeast <= columns) {
    const std::size_t width = std::min(kBarMost, columns - used);
    const std::size_t filled =
        std::min(width, static_cast<std::size_t>(double(width) * double(done_) / double(total_)));
    bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
  }
  show_status(first_columns(head + bar + text, columns));
  if (final_line) end_status(/*keep=*/true);
}

}  // namespace vpet::cli
