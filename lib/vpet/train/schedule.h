// The learning rate of every step. Three forms:
//
//   cosine (vpet's default): linear warmup over the first `warmup` epochs,
//     then cosine decay from the base rate to min_lr over the steps after the
//     warmup, ending at the run's last step;
//   timm-cosine: timm's CosineLRScheduler (t_initial = epochs, one cycle, no
//     warmup_prefix), as SPT's train_spt.py runs it: the cosine is over the
//     whole run, t/T, so the warmup overlaps its start, and the rate is
//     min_lr from T on;
//   constant: the base rate after the warmup.
//
// The warmup ramps linearly from `warmup_lr` to the base rate, t·(base −
// warmup_lr)/W (timm's warmup_lr_init; 0 is VPT's, whose first epoch trains at
// lr 0); without warmup_lr it is vpet's base·(t+1)/W, whose first step already
// moves and whose last reaches the base rate. t counts iterations (vpet's
// default: a VTAB-1k run of 25-step epochs does not move in coarse stairs) or
// epochs (VPT's and SPT's per-epoch stepping: the rate is constant within an
// epoch). `lag` delays the schedule by that many of its units, clamped at 0:
// SPT's train_spt.py calls lr_scheduler.step(epoch) after epoch `epoch`, so
// epoch e trains at the rate of e − 1 (and epochs 0 and 1 both at warmup_lr).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vpet::train {

enum class ScheduleKind { Cosine, TimmCosine, Constant };

// "cosine", "timm-cosine" or "constant"; throws vpet::UsageError naming
// --schedule otherwise.
ScheduleKind parse_schedule(const std::string& name);
const char* schedule_name(ScheduleKind kind);

struct ScheduleSettings {
  ScheduleKind kind = ScheduleKind::Cosine;
  double base_lr = 1e-3;
  double warmup_epochs = 0.0;
  std::optional<double> warmup_lr;  // the warmup's first rate; unset: base·(t+1)/W
  double min_lr = 0.0;
  bool per_epoch = false;  // t counts epochs, not iterations
  std::int64_t lag = 0;    // in units of t
};

class Schedule {
 public:
  // Throws vpet::UsageError naming the option for a negative warmup or one
  // longer than the run, a negative or non-finite min_lr or warmup_lr, a
  // min_lr above the base rate, a negative lag.
  Schedule(const ScheduleSettings& settings, std::int64_t epochs, std::int64_t steps_per_epoch);

  // The rate of step `step` (0-based over the whole run), with t = step (or
  // its epoch, per epoch) − lag, clamped at 0, W = warmup in units of t, T the
  // run's length in those units:
  //   warmup (t < W):  warmup_lr + t (base − warmup_lr) / W, or base (t + 1) / W
  //   cosine:          min + ½ (base − min) (1 + cos(π (t − W) / (T − W)))
  //   timm-cosine:     min + ½ (base − min) (1 + cos(π t / T)), min from t = T on
  //   constant:        base
  double lr(std::int64_t step) const;

  // W and T in steps (W rounded to whole steps when t counts iterations).
  std::int64_t warmup_steps() const;
  std::int64_t total_steps() const { return epochs_ * steps_per_epoch_; }

 private:
  ScheduleSettings settings_;
  std::int64_t epochs_;
  std::int64_t steps_per_epoch_;
  double warmup_units_;  // W
  double total_units_;   // T
};

}  // namespace vpet::train
