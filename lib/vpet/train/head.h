// The new classification head every method trains (DESIGN §1): Linear(D,
// classes). The head belongs to the trainer, not to the method, so every
// method gets the same head for the same seed. Its initialisation is one of
// the papers' (--head-init, --head-bias):
//
//   trunc-normal:STD  timm's trunc_normal_(std=STD) (cut at ±2 absolute), as
//                     timm's reset_classifier, SPT and Self-Prompt initialise it
//                     (std 0.02; Self-Prompt's train_MoCo.py 0.01). The default,
//                     at 0.02.
//   normal:STD        N(0, STD²).
//   kaiming-fan-out   N(0, 2/classes): nn.init.kaiming_normal_(a=0, mode='fan_out'),
//                     VPT's head (src/models/mlp.py).
//
// and the bias 0 (timm, SPT, Self-Prompt) or uniform(±1/√D), PyTorch's
// nn.Linear default (PGN's head). VPT's constant bias, -log(99) on every
// class, is a shift softmax ignores: zero trains the same.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace vpet::train {

struct HeadInit {
  enum class Weight { kTruncNormal, kNormal, kKaimingFanOut };
  Weight weight = Weight::kTruncNormal;
  double std = 0.02;  // kTruncNormal, kNormal
  bool uniform_bias = false;

  // "trunc-normal:0.02", "kaiming-fan-out", ...: as parsed, for records.
  std::string describe() const;
};

// Parses --head-init and --head-bias; throws vpet::UsageError naming the
// option for anything else.
HeadInit parse_head_init(const std::string& weight, const std::string& bias);

// Linear(features, classes) on the CPU, drawn from `generator`.
torch::nn::Linear make_head(std::int64_t features, std::int64_t classes,
                            torch::Generator& generator, const HeadInit& init = {});

}  // namespace vpet::train
