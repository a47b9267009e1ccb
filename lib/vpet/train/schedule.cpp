#include "vpet/train/schedule.h"

#include <cmath>

#include "vpet/error.h"

namespace vpet::train {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "constant") return ScheduleKind::Constant;
  throw UsageError("--schedule: '" + name + "' is not one of cosine, constant");
}

const char* schedule_name(ScheduleKind kind) {
  return kind == ScheduleKind::Cosine ? "cosine" : "constant";
}

Schedule::Schedule(ScheduleKind kind, double base_lr, double warmup_epochs, std::int64_t epochs,
                   std::int64_t steps_per_epoch)
    : kind_(kind),
      base_lr_(base_lr),
      warmup_steps_(std::llround(warmup_epochs * double(steps_per_epoch))),
      total_steps_(epochs * steps_per_epoch) {
  if (!(warmup_epochs >= 0.0) || warmup_epochs > double(epochs)) {
    throw UsageError("--warmup must be between 0 and --epochs (" + std::to_string(epochs) +
                     "), got " + std::to_string(warmup_epochs));
  }
}

double Schedule::lr(std::int64_t step) const {
  if (step < warmup_steps_) return base_lr_ * double(step + 1) / double(warmup_steps_);
  if (kind_ == ScheduleKind::Constant || total_steps_ <= warmup_steps_) return base_lr_;
  const double progress = double(step - warmup_steps_) / double(total_steps_ - warmup_steps_);
  return base_lr_ * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace vpet::train
