// The training loss: cross-entropy with optional label smoothing (Szegedy et
// al.; torch.nn.CrossEntropyLoss(label_smoothing=ε)): the target puts 1 − ε
// on the label and ε spread evenly over all classes, averaged over the batch;
// with MixUp/CutMix (mixup.h), timm's SoftTargetCrossEntropy on the mixed
// targets.
#pragma once

#include <torch/torch.h>

namespace vpet::train {

// logits [B, C] float, labels [B] int64. smoothing in [0, 1).
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                            double smoothing);

// timm's SoftTargetCrossEntropy (timm/loss/cross_entropy.py):
// mean over rows of Σ_c −targets·log_softmax(logits). targets [B, C] float.
torch::Tensor soft_target_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

// Number of rows whose arg-max equals the label (top-1 hits).
std::int64_t top1_hits(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace vpet::train
