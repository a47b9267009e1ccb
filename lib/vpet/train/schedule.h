// The learning rate of every step: linear warmup over the first `warmup`
// epochs (fractional allowed), then cosine decay to 0 at the end of the
// last epoch, or constant. Stepped per iteration, not per epoch, so a short
// VTAB-1k run (25 steps an epoch) does not move in coarse stairs.
#pragma once

#include <cstdint>
#include <string>

namespace vpet::train {

enum class ScheduleKind { Cosine, Constant };

// "cosine" or "constant"; throws vpet::UsageError naming --schedule otherwise.
ScheduleKind parse_schedule(const std::string& name);
const char* schedule_name(ScheduleKind kind);

class Schedule {
 public:
  // Throws vpet::UsageError for a negative warmup, or one longer than the run.
  Schedule(ScheduleKind kind, double base_lr, double warmup_epochs, std::int64_t epochs,
           std::int64_t steps_per_epoch);

  // The rate of step `step` (0-based over the whole run):
  //   warmup (step < W):  base · (step + 1) / W        — never 0, ends at base
  //   cosine:             base · ½ (1 + cos(π (step − W) / (T − W)))
  //   constant:           base
  // with W = round(warmup · steps_per_epoch), T = epochs · steps_per_epoch.
  double lr(std::int64_t step) const;

  std::int64_t warmup_steps() const { return warmup_steps_; }
  std::int64_t total_steps() const { return total_steps_; }

 private:
  ScheduleKind kind_;
  double base_lr_;
  std::int64_t warmup_steps_;
  std::int64_t total_steps_;
};

}  // namespace vpet::train
