#include "vpet/eval/metrics.h"

#include <gtest/gtest.h>

#include <sstream>

#include "vpet/error.h"

namespace {

using vpet::eval::Accuracy;

TEST(Accuracy, CountsTop1Top5PerClassAndConfusion) {
  Accuracy accuracy(6);
  // Row i's scores rank classes by descending value.
  torch::Tensor logits = torch::tensor({{9.f, 1.f, 2.f, 3.f, 4.f, 5.f},    // top1 0
                                        {1.f, 2.f, 9.f, 3.f, 4.f, 5.f},    // top1 2
                                        {6.f, 5.f, 4.f, 3.f, 2.f, 1.f},    // top1 0, 5 is last
                                        {0.f, 0.f, 0.f, 0.f, 1.f, 0.f}});  // top1 4
  torch::Tensor labels = torch::tensor({0, 1, 5, 4}, torch::kInt64);
  accuracy.add(logits, labels);
  EXPECT_EQ(accuracy.count(), 4);
  EXPECT_DOUBLE_EQ(accuracy.top1(), 50.0);  // rows 0 and 3
  EXPECT_DOUBLE_EQ(accuracy.top5(), 75.0);  // row 2 ranks class 5 sixth
  const std::vector<double> per_class = accuracy.per_class();
  EXPECT_DOUBLE_EQ(per_class[0], 100.0);
  EXPECT_DOUBLE_EQ(per_class[1], 0.0);
  EXPECT_DOUBLE_EQ(per_class[2], -1.0);  // no samples
  EXPECT_EQ(accuracy.confusion()[1][2], 1);
  EXPECT_EQ(accuracy.confusion()[5][0], 1);
}

TEST(Accuracy, TopFiveCapsAtTheNumberOfClasses) {
  Accuracy accuracy(2);
  accuracy.add(torch::tensor({{0.f, 1.f}}), torch::tensor({0}, torch::kInt64));
  EXPECT_DOUBLE_EQ(accuracy.top1(), 0.0);
  EXPECT_DOUBLE_EQ(accuracy.top5(), 100.0);
}

TEST(Accuracy, JsonAndConfusionTsvNameTheClasses) {
  Accuracy accuracy(2);
  accuracy.add(torch::tensor({{1.f, 0.f}, {1.f, 0.f}}), torch::tensor({0, 1}, torch::kInt64));
  nlohmann::json json = accuracy.to_json({"cat", "dog"});
  EXPECT_EQ(json["n"], 2);
  EXPECT_DOUBLE_EQ(json["per_class"]["cat"].get<double>(), 100.0);
  EXPECT_DOUBLE_EQ(json["per_class"]["dog"].get<double>(), 0.0);
  std::ostringstream tsv;
  accuracy.write_confusion_tsv(tsv, {"cat", "dog"});
  EXPECT_EQ(tsv.str(), "true\\predicted\tcat\tdog\ncat\t1\t0\ndog\t1\t0\n");
}

TEST(Accuracy, RefusesLabelsOutsideTheClassesAndMisshapedLogits) {
  Accuracy accuracy(3);
  EXPECT_THROW(accuracy.add(torch::zeros({1, 3}), torch::tensor({3}, torch::kInt64)), vpet::Error);
  EXPECT_THROW(accuracy.add(torch::zeros({2, 4}), torch::tensor({0, 1}, torch::kInt64)),
               vpet::Error);
}

}  // namespace
