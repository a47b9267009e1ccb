// bf16 autocast as a scope: products run in bf16 inside it, everything is
// as before outside, and scopes nest.
#include <gtest/gtest.h>

#include "vpet/error.h"
#include "vpet/model/precision.h"

namespace {

using vpet::model::AutocastScope;
using vpet::model::Precision;

TEST(Precision, ParsesItsNamesAndRefusesOthers) {
  EXPECT_EQ(vpet::model::parse_precision("fp32"), Precision::Fp32);
  EXPECT_EQ(vpet::model::parse_precision("bf16"), Precision::Bf16);
  EXPECT_STREQ(vpet::model::precision_name(Precision::Bf16), "bf16");
  EXPECT_THROW(vpet::model::parse_precision("fp16"), vpet::UsageError);
}

TEST(Precision, Bf16ScopeRunsProductsInBf16AndRestoresOnExit) {
  const torch::Tensor a = torch::randn({4, 8}), b = torch::randn({8, 3});
  {
    const AutocastScope outer(Precision::Bf16, torch::kCPU);
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    {
      const AutocastScope inner(Precision::Bf16, torch::kCPU);
      EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
    }
    EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::mm(a, b).scalar_type(), torch::kFloat32);
}

TEST(Precision, Fp32ScopeChangesNothing) {
  const AutocastScope scope(Precision::Fp32, torch::kCPU);
  EXPECT_EQ(torch::mm(torch::randn({2, 2}), torch::randn({2, 2})).scalar_type(), torch::kFloat32);
}

}  // namespace
