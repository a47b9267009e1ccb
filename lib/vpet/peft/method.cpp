#include "vpet/peft/method.h"

#include <set>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"

namespace vpet::peft {

bool Method::decays(const std::string& name, const torch::Tensor& tensor) const {
  return tensor.dim() >= 2 && !is_prompt(name);
}

bool Method::is_prompt(const std::string& name) const {
  (void)name;
  return false;
}

void Method::restore_structure(const NamedTensors& tensors) {
  if (!tensors.empty()) {
    throw Error("the bundle holds structure tensor '" + tensors.front().first + "', which " +
                name() + " does not use");
  }
}

void Method::load(const NamedTensors& tensors) {
  torch::NoGradGuard no_grad;
  std::set<std::string> seen;
  for (const auto& [name, target] : trainable()) {
    const torch::Tensor* source = nullptr;
    for (const auto& [stored_name, stored] : tensors) {
      if (stored_name == name) source = &stored;
    }
    if (!source) throw Error("the bundle lacks the " + this->name() + " tensor '" + name + "'");
    if (source->sizes() != target.sizes()) {
      throw Error("the bundle's " + this->name() + " tensor '" + name + "' is " +
                  io::shape_string(source->sizes()) + ", expected " +
                  io::shape_string(target.sizes()));
    }
    target.copy_(*source);
    seen.insert(name);
  }
  for (const auto& [stored_name, stored] : tensors) {
    if (!seen.count(stored_name)) {
      throw Error("the bundle holds '" + stored_name + "', which " + name() +
                  " with this configuration does not have");
    }
  }
}

std::int64_t Method::parameter_count() const {
  std::int64_t count = 0;
  for (const auto& [name, tensor] : trainable()) count += tensor.numel();
  return count;
}

void Method::merge_into(model::VisionTransformer& vit) const {
  (void)vit;
  refuse_merge("its update is not linear in the backbone's weights");
}

void Method::refuse_merge(const std::string& why) const {
  throw Error(name() + " cannot be merged into the backbone: " + why);
}

}  // namespace vpet::peft
