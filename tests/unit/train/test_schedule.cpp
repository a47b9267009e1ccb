// The learning-rate schedule at known steps.
#include <gtest/gtest.h>

#include <cmath>

#include "vpet/error.h"
#include "vpet/train/schedule.h"

namespace {

using vpet::train::Schedule;
using vpet::train::ScheduleKind;

TEST(Schedule, CosineWithoutWarmupStartsAtBaseAndEndsNearZero) {
  const Schedule s(ScheduleKind::Cosine, 0.1, 0.0, 10, 10);  // 100 steps
  EXPECT_EQ(s.total_steps(), 100);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);
  EXPECT_NEAR(s.lr(50), 0.05, 1e-15);  // halfway: cos(π/2) = 0
  EXPECT_NEAR(s.lr(25), 0.1 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  EXPECT_NEAR(s.lr(99), 0.1 * 0.5 * (1 + std::cos(M_PI * 0.99)), 1e-15);
  EXPECT_GT(s.lr(99), 0.0);
}

TEST(Schedule, LinearWarmupInEpochsThenCosine) {
  const Schedule s(ScheduleKind::Cosine, 1.0, 2.0, 10, 5);  // warmup 10 of 50 steps
  EXPECT_EQ(s.warmup_steps(), 10);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.1);  // never 0: the first step already moves
  EXPECT_DOUBLE_EQ(s.lr(4), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(9), 1.0);
  EXPECT_DOUBLE_EQ(s.lr(10), 1.0);  // cosine from the top
  EXPECT_NEAR(s.lr(30), 0.5, 1e-15);
}

TEST(Schedule, FractionalWarmupRoundsToSteps) {
  const Schedule s(ScheduleKind::Constant, 2.0, 0.5, 4, 7);  // 3.5 → 4 steps
  EXPECT_EQ(s.warmup_steps(), 4);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.5);
  EXPECT_DOUBLE_EQ(s.lr(3), 2.0);
  EXPECT_DOUBLE_EQ(s.lr(27), 2.0);  // constant to the end
}

TEST(Schedule, RejectsBadWarmupAndNames) {
  EXPECT_THROW(Schedule(ScheduleKind::Cosine, 1.0, 11.0, 10, 5), vpet::UsageError);
  EXPECT_THROW(Schedule(ScheduleKind::Cosine, 1.0, -1.0, 10, 5), vpet::UsageError);
  EXPECT_THROW(vpet::train::parse_schedule("step"), vpet::UsageError);
  EXPECT_EQ(vpet::train::parse_schedule("constant"), ScheduleKind::Constant);
}

}  // namespace
