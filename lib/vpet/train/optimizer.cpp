#include "vpet/train/optimizer.h"

#include <cmath>
#include <map>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"

namespace vpet::train {

OptimizerKind parse_optimizer(const std::string& name) {
  if (name == "adamw") return OptimizerKind::AdamW;
  if (name == "sgd") return OptimizerKind::Sgd;
  throw UsageError("--optimizer: '" + name + "' is not one of adamw, sgd");
}

const char* optimizer_name(OptimizerKind kind) {
  return kind == OptimizerKind::AdamW ? "adamw" : "sgd";
}

std::vector<ParamEntry> param_entries(const peft::Method& method, const torch::nn::Linear& head,
                                      const ParamGroupOptions& options) {
  std::vector<ParamEntry> entries;
  for (const auto& [name, tensor] : method.trainable()) {
    const bool decays = method.decays(name, tensor) || (options.prompts && method.is_prompt(name));
    entries.push_back({name, tensor, decays ? options.weight_decay : 0.0,
                       method.is_lora_b(name) ? options.lora_b_lr_ratio : 1.0});
  }
  entries.push_back({"head.weight", head->weight, options.head_weight_decay});
  entries.push_back({"head.bias", head->bias, 0.0});
  return entries;
}

Optimizer::Optimizer(std::vector<ParamEntry> params, const OptimizerOptions& options)
    : params_(std::move(params)), slots_(params_.size()), options_(options) {}

void Optimizer::zero_grad() {
  for (ParamEntry& param : params_) param.tensor.mutable_grad().reset();
}

void Optimizer::step(double lr) {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].tensor.grad().defined()) continue;
    // A tensor's own rate, decay included, as a torch param group's lr.
    const double rate = lr * params_[i].lr_scale;
    if (options_.kind == OptimizerKind::AdamW) {
      adamw(params_[i], slots_[i], rate);
    } else {
      sgd(params_[i], slots_[i], rate);
    }
  }
}

void Optimizer::adamw(ParamEntry& param, Slot& slot, double lr) {
  torch::Tensor& p = param.tensor;
  const torch::Tensor& grad = p.grad();
  if (slot.step == 0) {
    slot.first = torch::zeros_like(p);
    slot.second = torch::zeros_like(p);
  }
  ++slot.step;
  // torch.optim.AdamW (single-tensor path), operation for operation.
  p.mul_(1.0 - lr * param.weight_decay);
  slot.first.mul_(options_.beta1).add_(grad, 1.0 - options_.beta1);
  slot.second.mul_(options_.beta2).addcmul_(grad, grad, 1.0 - options_.beta2);
  const double correction1 = 1.0 - std::pow(options_.beta1, double(slot.step));
  const double correction2 = 1.0 - std::pow(options_.beta2, double(slot.step));
  const torch::Tensor denom = (slot.second.sqrt() / std::sqrt(correction2)).add_(options_.eps);
  p.addcdiv_(slot.first, denom, -lr / correction1);
}

void Optimizer::sgd(ParamEntry& param, Slot& slot, double lr) {
  torch::Tensor& p = param.tensor;
  torch::Tensor direction = p.grad();
  if (param.weight_decay != 0.0) direction = direction.add(p, param.weight_decay);
  if (options_.momentum != 0.0) {
    if (slot.step == 0) {
      slot.first = direction.clone();
    } else {
      slot.first.mul_(options_.momentum).add_(direction);
    }
    direction = slot.first;
  }
  ++slot.step;
  p.add_(direction, -lr);
}

peft::NamedTensors Optimizer::state() const {
  peft::NamedTensors out;
  const bool adamw = options_.kind == OptimizerKind::AdamW;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_[i].name;
    const Slot& slot = slots_[i];
    out.emplace_back(name + ".step", torch::tensor(slot.step, torch::kInt64));
    if (slot.first.defined()) {
      out.emplace_back(name + (adamw ? ".exp_avg" : ".momentum"), slot.first.clone());
    }
    if (slot.second.defined()) out.emplace_back(name + ".exp_avg_sq", slot.second.clone());
  }
  return out;
}

void Optimizer::load_state(const peft::NamedTensors& state) {
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  auto take = [&](const std::string& key, const torch::Tensor& like) {
    auto found = by_name.find(key);
    if (found == by_name.end()) throw Error("the checkpoint lacks optimiser state '" + key + "'");
    if (found->second.sizes() != like.sizes()) {
      throw Error("the checkpoint's optimiser state '" + key + "' is " +
                  io::shape_string(found->second.sizes()) + ", expected " +
                  io::shape_string(like.sizes()));
    }
    return found->second.to(like.device(), like.scalar_type()).clone();
  };
  const bool adamw = options_.kind == OptimizerKind::AdamW;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const ParamEntry& param = params_[i];
    Slot& slot = slots_[i];
    auto step = by_name.find(param.name + ".step");
    if (step == by_name.end()) {
      throw Error("the checkpoint lacks optimiser state '" + param.name + ".step'");
    }
    const torch::Tensor& stored_step = step->second;
    if (stored_step.numel() != 1 || stored_step.is_floating_point() ||
        stored_step.item<std::int64_t>() < 0) {
      throw Error("the checkpoint's optimiser state '" + param.name +
                  ".step' is not a non-negative step count");
    }
    slot = Slot{};
    slot.step = stored_step.item<std::int64_t>();
    if (slot.step == 0) continue;
    if (adamw || options_.momentum != 0.0) {
      slot.first = take(param.name + (adamw ? ".exp_avg" : ".momentum"), param.tensor);
    }
    if (adamw) slot.second = take(param.name + ".exp_avg_sq", param.tensor);
  }
}

}  // namespace vpet::train
