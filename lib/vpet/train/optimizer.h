// The optimiser and its parameter groups.
//
// Weight decay follows the papers (VPT, SPT, timm's no_weight_decay): it
// applies to matrices — a method's weights and the head's weight — and never
// to 1-D tensors (biases, LayerNorm), nor, unless asked, to tokens and prompts
// (the class token, position embedding, VPT prompts, memory tokens). The
// head's weight decays with its own rate, by default the same as the rest
// (Self-Prompt tunes it separately). The head's bias never decays.
//
// AdamW and SGD are our own few lines rather than torch::optim's, so that the
// state a checkpoint holds has one layout on every LibTorch version (their
// state maps are keyed differently in 1.x and 2.x). The updates are
// torch.optim.AdamW's (decoupled decay, bias correction, betas 0.9/0.999,
// eps 1e-8) and torch.optim.SGD's (L2 decay added to the gradient, momentum
// buffer started at the first gradient, no dampening, no Nesterov).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vpet/peft/method.h"

namespace vpet::train {

enum class OptimizerKind { AdamW, Sgd };

// "adamw" or "sgd"; throws vpet::UsageError naming --optimizer otherwise.
OptimizerKind parse_optimizer(const std::string& name);
const char* optimizer_name(OptimizerKind kind);

// One trained tensor, the weight decay it gets and its learning rate as a
// multiple of the schedule's.
struct ParamEntry {
  std::string name;
  torch::Tensor tensor;
  double weight_decay = 0.0;
  double lr_scale = 1.0;
};

struct ParamGroupOptions {
  double weight_decay = 1e-4;       // --wd: the method's matrices
  double head_weight_decay = 1e-4;  // --wd-head: the head's weight
  bool prompts = false;             // --wd-prompts: tokens and prompts decay with --wd
  // --lr-ratio-b: LoRA+ (Hayou et al., ICML 2024): the LoRA B factors
  // (Method::is_lora_b) learn at this multiple of the rate of the rest.
  double lora_b_lr_ratio = 1.0;
};

// The method's trainable() tensors in its order, then "head.weight" and
// "head.bias", each with its decay and learning-rate multiple.
std::vector<ParamEntry> param_entries(const peft::Method& method, const torch::nn::Linear& head,
                                      const ParamGroupOptions& options);

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::AdamW;
  double momentum = 0.9;                          // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // AdamW
};

class Optimizer {
 public:
  Optimizer(std::vector<ParamEntry> params, const OptimizerOptions& options);

  // Drops the gradients (set to undefined, as set_to_none: no zero-filled buffers kept).
  void zero_grad();
  // One update of every tensor that has a gradient, at learning rate `lr`.
  void step(double lr);

  const std::vector<ParamEntry>& params() const { return params_; }

  // The state per tensor, for checkpoints: "<name>.step" (int64 scalar) and
  // "<name>.exp_avg", "<name>.exp_avg_sq" (AdamW) or "<name>.momentum" (SGD),
  // the latter only once the tensor has been updated. Copies: a snapshot.
  peft::NamedTensors state() const;
  // Restores state(); throws vpet::Error naming a missing or mis-shaped entry.
  void load_state(const peft::NamedTensors& state);

 private:
  struct Slot {
    std::int64_t step = 0;
    torch::Tensor first, second;  // exp_avg, exp_avg_sq (AdamW); momentum (SGD)
  };
  void adamw(ParamEntry& param, Slot& slot, double lr);
  void sgd(ParamEntry& param, Slot& slot, double lr);

  std::vector<ParamEntry> params_;
  std::vector<Slot> slots_;
  OptimizerOptions options_;
};

}  // namespace vpet::train
