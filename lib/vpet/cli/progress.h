// Progress on long work (DESIGN §5): a bar with rate and ETA when stderr is a
// terminal, a plain line every few seconds otherwise (logs stay readable),
// nothing at all with -q.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vpet::cli {

class Progress {
 public:
  // total <= 0: unknown; the bar then shows count and rate only.
  Progress(std::string label, std::int64_t total, std::string unit = "img");
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(std::int64_t n = 1);
  // Text shown after the counts from the next line on (a training loop's
  // epoch, step, loss and learning rate).
  void set_detail(std::string detail) { detail_ = std::move(detail); }
  // Prints the final line (count, elapsed time, rate).
  void finish();

 private:
  using Clock = std::chrono::steady_clock;
  void draw(bool final_line);

  std::string label_;
  std::string unit_;
  std::string detail_;
  std::int64_t total_;
  std::int64_t done_ = 0;
  bool enabled_;
  bool terminal_;
  bool finished_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

}  // namespace vpet::cli
