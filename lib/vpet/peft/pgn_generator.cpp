#include "vpet/peft/pgn_generator.h"

#include <cmath>
#include <functional>

namespace vpet::peft {
namespace {

torch::nn::Conv2d conv(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride,
                       bool bias) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(bias));
}

// Kaiming-normal, fan_out, ReLU gain: N(0, 2 / (out·k·k)), as the reference
// initialises every convolution.
void kaiming_fan_out(torch::nn::Conv2d& layer, torch::Generator& generator) {
  torch::NoGradGuard no_grad;
  const auto& w = layer->weight;
  const double fan_out = double(w.size(0) * w.size(2) * w.size(3));
  w.normal_(0.0, std::sqrt(2.0 / fan_out), generator);
}

// torch's default for a layer's bias (and the Linear's weight):
// U(±1/√fan_in).
void torch_default(torch::Tensor& tensor, double fan_in, torch::Generator& generator) {
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / std::sqrt(fan_in);
  tensor.uniform_(-bound, bound, generator);
}

}  // namespace

PgnBlockImpl::PgnBlockImpl(std::int64_t in, std::int64_t out, std::int64_t stride) {
  conv1 = register_module("conv1", conv(in, out, 3, stride, false));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(out));
  conv2 = register_module("conv2", conv(out, out, 3, 1, false));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(out));
  if (stride != 1 || in != out)
    shortcut = register_module("shortcut", conv(in, out, 1, stride, true));
}

torch::Tensor PgnBlockImpl::forward(const torch::Tensor& x) {
  const torch::Tensor y =
      bn2->forward(conv2->forward(torch::relu(bn1->forward(conv1->forward(x)))));
  return torch::relu(y + (shortcut ? shortcut->forward(x) : x));
}

PgnGeneratorImpl::PgnGeneratorImpl(std::int64_t channels, std::int64_t out,
                                   torch::Generator& generator) {
  stem = register_module("stem", conv(channels, 16, 3, 2, false));
  stem_bn = register_module("stem_bn", torch::nn::BatchNorm2d(16));
  layer1 = register_module("layer1", PgnBlock(16, 16, 1));
  layer2 = register_module("layer2", PgnBlock(16, 32, 2));
  layer3 = register_module("layer3", PgnBlock(32, 64, 2));
  layer4 = register_module("layer4", PgnBlock(64, 128, 2));
  fc = register_module("fc", torch::nn::Linear(128, out));
  kaiming_fan_out(stem, generator);
  for (PgnBlock& block : {std::ref(layer1), std::ref(layer2), std::ref(layer3), std::ref(layer4)}) {
    kaiming_fan_out(block->conv1, generator);
    kaiming_fan_out(block->conv2, generator);
    if (block->shortcut) {
      kaiming_fan_out(block->shortcut, generator);
      const auto& w = block->shortcut->weight;
      torch_default(block->shortcut->bias, double(w.size(1) * w.size(2) * w.size(3)), generator);
    }
  }
  torch_default(fc->weight, 128.0, generator);
  torch_default(fc->bias, 128.0, generator);
}

torch::Tensor PgnGeneratorImpl::forward(const torch::Tensor& pixels) {
  torch::Tensor x = torch::relu(stem_bn->forward(stem->forward(pixels)));
  x = torch::max_pool2d(x, 3, 2, 1);
  x = layer4->forward(layer3->forward(layer2->forward(layer1->forward(x))));
  return fc->forward(x.mean({2, 3}));
}

}  // namespace vpet::peft
