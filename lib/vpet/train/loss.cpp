#include "vpet/train/loss.h"

namespace vpet::train {

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                            double smoothing) {
  namespace F = torch::nn::functional;
  return F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().label_smoothing(smoothing));
}

torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  return (-targets * torch::log_softmax(logits, -1)).sum(-1).mean();
}

std::int64_t top1_hits(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.argmax(1).eq(labels.to(logits.device())).sum().item<std::int64_t>();
}

}  // namespace vpet::train
