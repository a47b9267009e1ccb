#include "vpet/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "vpet/error.h"

namespace vpet::train {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "timm-cosine") return ScheduleKind::TimmCosine;
  if (name == "constant") return ScheduleKind::Constant;
  throw UsageError("--schedule: '" + name + "' is not one of cosine, timm-cosine, constant");
}

const char* schedule_name(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::Cosine:
      return "cosine";
    case ScheduleKind::TimmCosine:
      return "timm-cosine";
    case ScheduleKind::Constant:
      return "constant";
  }
  return "?";
}

Schedule::Schedule(const ScheduleSettings& settings, std::int64_t epochs,
                   std::int64_t steps_per_epoch)
    : settings_(settings), epochs_(epochs), steps_per_epoch_(steps_per_epoch) {
  const double warmup = settings.warmup_epochs;
  if (!(warmup >= 0.0) || warmup > double(epochs)) {
    throw UsageError("--warmup must be between 0 and --epochs (" + std::to_string(epochs) +
                     "), got " + std::to_string(warmup));
  }
  if (!(settings.min_lr >= 0.0) || !std::isfinite(settings.min_lr) ||
      settings.min_lr > settings.base_lr) {
    throw UsageError("--min-lr must be between 0 and --lr");
  }
  if (settings.warmup_lr &&
      (!(*settings.warmup_lr >= 0.0) || !std::isfinite(*settings.warmup_lr))) {
    throw UsageError("--warmup-lr must be a non-negative number");
  }
  if (settings.lag < 0) throw UsageError("--schedule-lag must not be negative");
  if (settings.per_epoch) {
    warmup_units_ = warmup;
    total_units_ = double(epochs);
  } else {
    // A fractional warmup becomes whole steps.
    warmup_units_ = double(std::llround(warmup * double(steps_per_epoch)));
    total_units_ = double(epochs * steps_per_epoch);
  }
}

std::int64_t Schedule::warmup_steps() const {
  return settings_.per_epoch ? std::llround(warmup_units_ * double(steps_per_epoch_))
                             : std::int64_t(warmup_units_);
}

double Schedule::lr(std::int64_t step) const {
  const ScheduleSettings& s = settings_;
  const std::int64_t unit = s.per_epoch ? step / steps_per_epoch_ : step;
  const double t = double(std::max<std::int64_t>(unit - s.lag, 0));
  const double base = s.base_lr, min = s.min_lr, w = warmup_units_, total = total_units_;
  if (t < w) {
    return s.warmup_lr ? *s.warmup_lr + t * (base - *s.warmup_lr) / w
                       : std::min(base, base * (t + 1) / w);
  }
  switch (s.kind) {
    case ScheduleKind::Constant:
      return base;
    case ScheduleKind::TimmCosine:
      if (t >= total) return min;
      return min + 0.5 * (base - min) * (1.0 + std::cos(M_PI * t / total));
    case ScheduleKind::Cosine:
      if (total <= w) return base;
      return min + 0.5 * (base - min) * (1.0 + std::cos(M_PI * (t - w) / (total - w)));
  }
  return base;
}

}  // namespace vpet::train
