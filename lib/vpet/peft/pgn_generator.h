// PGN's prompt generator g_θ, the "resnet10" of the reference code
// (reference/lion-pgn-memory.md §1.1): a small ResNet that reads the image
// and outputs, per image, K·N logits over the token library.
//
//   stem     Conv3×3(3→16, stride 2, no bias) → BN → ReLU → MaxPool(3, 2, pad 1)
//   stages   one BasicBlock each: 16→16 (stride 1), 16→32, 32→64, 64→128 (stride 2)
//   block    Conv3×3 → BN → ReLU → Conv3×3 → BN, + shortcut, → ReLU; the
//            shortcut is the identity, or a biased Conv1×1 with stride 2 and
//            no BN when the block downsamples (unlike torchvision)
//   head     global average pool → Linear(128 → out)
//
// Parameters: 307,312 + 129·out. Convolutions start Kaiming-normal (fan_out,
// ReLU), BN γ = 1 and β = 0, the shortcut biases and the Linear as torch
// initialises them. BN uses batch statistics in training mode and its
// running statistics in eval mode.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace vpet::peft {

class PgnBlockImpl : public torch::nn::Module {
 public:
  PgnBlockImpl(std::int64_t in, std::int64_t out, std::int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};  // shortcut: may be null
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
};
TORCH_MODULE(PgnBlock);

class PgnGeneratorImpl : public torch::nn::Module {
 public:
  // `channels`: the image's; `out`: K·N. Draws from `generator`.
  PgnGeneratorImpl(std::int64_t channels, std::int64_t out, torch::Generator& generator);
  // [B, C, H, W] -> [B, out].
  torch::Tensor forward(const torch::Tensor& pixels);

  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  PgnBlock layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
};
TORCH_MODULE(PgnGenerator);

}  // namespace vpet::peft
