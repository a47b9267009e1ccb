// The learning-rate schedule at known steps.
#include <gtest/gtest.h>

#include <cmath>

#include "vpet/error.h"
#include "vpet/train/schedule.h"

namespace {

using vpet::train::Schedule;
using vpet::train::ScheduleKind;
using vpet::train::ScheduleSettings;

ScheduleSettings settings(ScheduleKind kind, double base, double warmup) {
  ScheduleSettings s;
  s.kind = kind;
  s.base_lr = base;
  s.warmup_epochs = warmup;
  return s;
}

TEST(Schedule, CosineWithoutWarmupStartsAtBaseAndEndsNearZero) {
  const Schedule s(settings(ScheduleKind::Cosine, 0.1, 0.0), 10, 10);  // 100 steps
  EXPECT_EQ(s.total_steps(), 100);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_NEAR(s.lr(50), 0.05, 1e-15);  // halfway: cos(π/2) = 0
  EXPECT_NEAR(s.lr(25), 0.1 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  EXPECT_NEAR(s.lr(99), 0.1 * 0.5 * (1 + std::cos(M_PI * 0.99)), 1e-15);
  EXPECT_GT(s.lr(99), 0.0);
}

TEST(Schedule, LinearWarmupInEpochsThenCosine) {
  const Schedule s(settings(ScheduleKind::Cosine, 1.0, 2.0), 10, 5);  // warmup 10 of 50 steps
  EXPECT_EQ(s.warmup_steps(), 10);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);  // never 0: the first step already moves
  EXPECT_DOUBLE_EQ(s.lr(4), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(9), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(10), 1.0);  // cosine from the top
  EXPECT_NEAR(s.lr(30), 0.5, 1e-15);
}

TEST(Schedule, FractionalWarmupRoundsToSteps) {
  const Schedule s(settings(ScheduleKind::Constant, 2.0, 0.5), 4, 7);  // 3.5 → 4 steps
  EXPECT_EQ(s.warmup_steps(), 4);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(3), 2.0);
  EXPECT_DOUBLE_EQ(s.lr(27), 2.0);  // constant to the end
}

TEST(Schedule, RejectsBadWarmupAndNames) {
  EXPECT_THROW(Schedule(settings(ScheduleKind::Cosine, 1.0, 11.0), 10, 5), vpet::UsageError);
  EXPECT_THROW(Schedule(settings(ScheduleKind::Cosine, 1.0, -1.0), 10, 5), vpet::UsageError);
  EXPECT_THROW(vpet::train::parse_schedule("step"), vpet::UsageError);
  EXPECT_EQ(vpet::train::parse_schedule("constant"), ScheduleKind::Constant);
}

// timm's CosineLRScheduler(t_initial=epochs, lr_min, warmup_t, warmup_lr_init,
// t_in_epochs=True), as SPT's VTAB-1k recipe runs it (100 epochs, warmup 10
// from 1e-6, min_lr 1e-5, lr 1e-3), transcribed from timm/scheduler/
// cosine_lr.py's _get_lr: the warmup ramps from warmup_lr_init; after it the
// cosine runs over t / t_initial from t = 0 (warmup_prefix False).
double timm_cosine(double t, double base, double min, double warmup_t, double warmup_init,
                   double t_initial) {
  if (t < warmup_t) return warmup_init + t * (base - warmup_init) / warmup_t;
  if (t >= t_initial) return min;
  return min + 0.5 * (base - min) * (1 + std::cos(M_PI * t / t_initial));
}

TEST(Schedule, TimmCosinePerEpochIsSptsSchedule) {
  ScheduleSettings s = settings(ScheduleKind::TimmCosine, 1e-3, 10);
  s.warmup_lr = 1e-6;
  s.min_lr = 1e-5;
  s.per_epoch = true;
  const Schedule schedule(s, 100, 13);  // 13 steps an epoch
  for (std::int64_t epoch = 0; epoch < 100; ++epoch) {
    for (std::int64_t i : {0, 12}) {  // constant within an epoch
      EXPECT_NEAR(schedule.lr(epoch * 13 + i),
                  timm_cosine(double(epoch), 1e-3, 1e-5, 10, 1e-6, 100), 1e-18)
          << "epoch " << epoch;
    }
  }
  EXPECT_DOUBLE_EQ(schedule.lr(0), 1e-6);
  EXPECT_EQ(schedule.warmup_steps(), 130);
  // SPT's train_spt.py steps it with step(epoch) after epoch `epoch`: one epoch late.
  s.lag = 1;
  const Schedule late(s, 100, 13);
  EXPECT_DOUBLE_EQ(late.lr(0), 1e-6);
  EXPECT_DOUBLE_EQ(late.lr(13), 1e-6);
  EXPECT_DOUBLE_EQ(late.lr(13 * 50), timm_cosine(49, 1e-3, 1e-5, 10, 1e-6, 100));
}

// VPT's WarmupCosineSchedule (src/solver/lr_scheduler.py), stepped per
// epoch: step / warmup during the warmup (epoch 0 at lr 0), then
// ½ (1 + cos(π (step − warmup) / (total − warmup))).
TEST(Schedule, WarmupFromZeroPerEpochIsVptsSchedule) {
  ScheduleSettings s = settings(ScheduleKind::Cosine, 0.5, 10);
  s.warmup_lr = 0.0;
  s.per_epoch = true;
  const Schedule schedule(s, 100, 7);
  for (std::int64_t epoch = 0; epoch < 100; ++epoch) {
    const double want =
        epoch < 10 ? 0.5 * epoch / 10.0 : 0.5 * 0.5 * (1 + std::cos(M_PI * (epoch - 10) / 90.0));
    EXPECT_NEAR(schedule.lr(epoch * 7 + 3), want, 1e-15) << "epoch " << epoch;
  }
}

TEST(Schedule, MinLrIsTheCosinesFloorAndIsChecked) {
  ScheduleSettings s = settings(ScheduleKind::Cosine, 1.0, 0);
  s.min_lr = 0.1;
  const Schedule schedule(s, 1, 10);
  EXPECT_DOUBLE_EQ(schedule.lr(0), 1.0);
  EXPECT_NEAR(schedule.lr(5), 0.1 + 0.45, 1e-15);
  s.min_lr = 2.0;
  EXPECT_THROW(Schedule(s, 1, 10), vpet::UsageError);
  s.min_lr = 0;
  s.lag = -1;
  EXPECT_THROW(Schedule(s, 1, 10), vpet::UsageError);
}

}  // namespace
