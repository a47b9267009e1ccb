// Numeric precision of the forward pass (DESIGN §7): fp32, or bf16 autocast
// as PyTorch's torch.autocast(dtype=torch.bfloat16) does it. Parameters,
// gradients and optimiser state stay fp32 either way; autocast only runs the
// matrix products (and the ops PyTorch lists with them) in bf16, and keeps
// softmax, norms and losses in fp32. bf16 has fp32's range, so no loss
// scaling is needed.
#pragma once

#include <torch/torch.h>

#include <string>

namespace vpet::model {

enum class Precision { Fp32, Bf16 };

// "fp32" / "bf16"; anything else throws vpet::UsageError naming --precision.
Precision parse_precision(const std::string& text);
const char* precision_name(Precision precision);

// Autocast for the forward pass of one scope on `device`'s type: enabled on
// construction (bf16), restored on destruction. Backward runs outside it, as
// PyTorch recommends: autograd replays the casts the forward recorded.
// Precision::Fp32 does nothing.
class AutocastScope {
 public:
  AutocastScope(Precision precision, const torch::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_type_ = c10::DeviceType::CPU;
  bool was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kBFloat16;
};

}  // namespace vpet::model
