// Classification metrics of an evaluation pass: top-1 and top-5 accuracy,
// per-class accuracy and the confusion matrix, accumulated batch by batch.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace vpet::eval {

class Accuracy {
 public:
  explicit Accuracy(std::int64_t num_classes);

  // logits [B, C] (any device), labels int64 [B] in 0..C-1.
  void add(const torch::Tensor& logits, const torch::Tensor& labels);

  std::int64_t count() const { return count_; }
  // Percentages; top-k with k capped at the number of classes.
  double top1() const;
  double top5() const;
  // Per class: percentage correct, or -1 for a class with no samples.
  std::vector<double> per_class() const;
  // [true class][predicted class] counts.
  const std::vector<std::vector<std::int64_t>>& confusion() const { return confusion_; }

  // {top1, top5, n, per_class: {name: pct or null}}.
  nlohmann::json to_json(const std::vector<std::string>& class_names) const;
  // Tab-separated confusion matrix with a header row and column of class names.
  void write_confusion_tsv(std::ostream& out, const std::vector<std::string>& class_names) const;

 private:
  std::int64_t num_classes_;
  std::int64_t count_ = 0;
  std::int64_t top1_hits_ = 0;
  std::int64_t top5_hits_ = 0;
  std::vector<std::vector<std::int64_t>> confusion_;
};

}  // namespace vpet::eval
