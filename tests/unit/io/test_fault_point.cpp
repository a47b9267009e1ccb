// VPET_FAULT's parser, whose points the fault tests (tests/cli/faults.bats)
// rely on.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "vpet/error.h"
#include "vpet/io/fault_point.h"

namespace vpet::io {
namespace {

TEST(FaultPlan, ParsesSignalsPointsAndCounts) {
  for (const char* good : {"KILL@write:3", "SIGINT@step:1,TERM@commit:2", "9@batch:10"}) {
    setenv("VPET_FAULT", good, 1);
    EXPECT_NO_THROW(read_fault_plan()) << good;
  }
  for (const char* bad : {"KILL", "KILL@write", "KILL@nowhere:1", "NOPE@write:1", "KILL@write:0",
                          "KILL@write:x", "KILL@write:1,"}) {
    setenv("VPET_FAULT", bad, 1);
    EXPECT_THROW(read_fault_plan(), UsageError) << bad;
  }
  unsetenv("VPET_FAULT");
  read_fault_plan();
  fault_point("write");  // nothing planned: nothing happens
}

}  // namespace
}  // namespace vpet::io
