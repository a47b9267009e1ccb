// SPT's parameter sensitivity (reference/spt-selfprompt-vpt.md §1.1): for
// every candidate scalar w (peft::spt::candidates), the sum over mini-batches
// of the squared mini-batch gradient,
//
//   S[w] = Σ_b (∂L_b/∂w)²,   L_b the mean cross-entropy of batch b,
//
// through a fixed head (SPT's: fresh and untrained, trunc-normal 0.02, bias
// 0; spt-sensitivity --head reads another) with the backbone in training
// mode (stochastic depth on, as SPT's code runs it). The square is of the
// batch gradient, not of per-sample gradients.
//
// Memory: one gradient per backbone parameter, as a fine-tuning step has
// (no optimiser state), plus the flat score vector; nothing per scalar.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "vpet/model/vit.h"
#include "vpet/peft/spt_plan.h"

namespace vpet::spt {

class Sensitivity {
 public:
  // Makes the candidates' backbone tensors require gradients (until
  // destruction); `head` (Linear(width, classes), not trained) is moved to
  // the backbone's device. `drop_path`: the backbone's stochastic-depth rate
  // during the pass (SPT: 0.1).
  Sensitivity(model::VisionTransformer vit, torch::nn::Linear head, double drop_path);
  ~Sensitivity();
  Sensitivity(const Sensitivity&) = delete;
  Sensitivity& operator=(const Sensitivity&) = delete;

  // One mini-batch: pixels [B, C, H, W] normalised, labels int64 [B].
  // Returns the batch's loss.
  double add_batch(const torch::Tensor& pixels, const torch::Tensor& labels);

  // S, flat, in candidate order, float32 on the CPU.
  torch::Tensor scores() const;
  const std::vector<peft::spt::Candidate>& candidates() const { return candidates_; }
  std::int64_t batches() const { return batches_; }

 private:
  model::VisionTransformer vit_;
  torch::nn::Linear head_{nullptr};
  double drop_path_;
  std::vector<peft::spt::Candidate> candidates_;
  std::vector<torch::Tensor> parameters_;  // the backbone tensors holding them
  torch::Tensor scores_;                   // on the backbone's device
  std::int64_t batches_ = 0;
};

}  // namespace vpet::spt
