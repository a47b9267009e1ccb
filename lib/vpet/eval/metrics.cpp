#include "vpet/eval/metrics.h"

#include <algorithm>

#include "vpet/error.h"

namespace vpet::eval {

Accuracy::Accuracy(std::int64_t num_classes)
    : num_classes_(num_classes),
      confusion_(std::size_t(num_classes), std::vector<std::int64_t>(std::size_t(num_classes))) {}

void Accuracy::add(const torch::Tensor& logits, const torch::Tensor& labels) {
  const torch::Tensor scores = logits.detach().to(torch::kCPU, torch::kFloat32);
  const torch::Tensor truth = labels.to(torch::kCPU, torch::kInt64).contiguous();
  if (scores.dim() != 2 || scores.size(0) != truth.size(0) || scores.size(1) != num_classes_) {
    throw Error("evaluation: logits of shape [" + std::to_string(scores.size(0)) + ", " +
                std::to_string(scores.dim() == 2 ? scores.size(1) : -1) + "] for " +
                std::to_string(truth.size(0)) + " labels and " + std::to_string(num_classes_) +
                " classes");
  }
  const std::int64_t k = std::min<std::int64_t>(5, num_classes_);
  const torch::Tensor top = std::get<1>(scores.topk(k, 1)).contiguous();
  const auto* top_index = top.data_ptr<std::int64_t>();
  const auto* label = truth.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < truth.size(0); ++i) {
    const std::int64_t y = label[i];
    if (y < 0 || y >= num_classes_) {
      throw Error("evaluation: label " + std::to_string(y) + " is outside the model's " +
                  std::to_string(num_classes_) + " classes");
    }
    const std::int64_t* row = top_index + i * k;
    confusion_[std::size_t(y)][std::size_t(row[0])] += 1;
    top1_hits_ += row[0] == y;
    top5_hits_ += std::find(row, row + k, y) != row + k;
  }
  count_ += truth.size(0);
}

double Accuracy::top1() const {
  return count_ ? 100.0 * double(top1_hits_) / double(count_) : 0;
}
double Accuracy::top5() const {
  return count_ ? 100.0 * double(top5_hits_) / double(count_) : 0;
}

std::vector<double> Accuracy::per_class() const {
  std::vector<double> result;
  for (std::size_t c = 0; c < confusion_.size(); ++c) {
    std::int64_t total = 0;
    for (std::int64_t n : confusion_[c]) total += n;
    result.push_back(total ? 100.0 * double(confusion_[c][c]) / double(total) : -1.0);
  }
  return result;
}

nlohmann::json Accuracy::to_json(const std::vector<std::string>& class_names) const {
  nlohmann::json per_class_json = nlohmann::json::object();
  const std::vector<double> accuracy = per_class();
  for (std::size_t c = 0; c < accuracy.size(); ++c) {
    const std::string name = c < class_names.size() ? class_names[c] : std::to_string(c);
    per_class_json[name] = accuracy[c] < 0 ? nlohmann::json() : nlohmann::json(accuracy[c]);
  }
  return {{"top1", top1()}, {"top5", top5()}, {"n", count_}, {"per_class", per_class_json}};
}

void Accuracy::write_confusion_tsv(std::ostream& out,
                                   const std::vector<std::string>& class_names) const {
  auto name = [&](std::size_t c) {
    return c < class_names.size() ? class_names[c] : std::to_string(c);
  };
  out << "true\\predicted";
  for (std::size_t c = 0; c < confusion_.size(); ++c) out << '\t' << name(c);
  out << '\n';
  for (std::size_t r = 0; r < confusion_.size(); ++r) {
    out << name(r);
    for (std::int64_t n : confusion_[r]) out << '\t' << n;
    out << '\n';
  }
}

}  // namespace vpet::eval
