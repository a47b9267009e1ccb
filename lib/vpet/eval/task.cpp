#include "vpet/eval/task.h"

#include "vpet/error.h"
#include "vpet/image/preprocess.h"

namespace vpet::eval {

torch::Tensor Task::logits(model::VisionTransformer& vit, const torch::Tensor& pixels) {
  if (!hooks) return vit->forward(pixels);
  return head->forward(vit->features(pixels, *hooks));
}

std::int64_t Task::num_classes(const model::VisionTransformer& vit) const {
  return head ? head->weight.size(0) : vit->config().num_classes;
}

namespace {

// training.settings.seed, where the bundle has it.
const nlohmann::json* training_seed(const nlohmann::json& training) {
  const nlohmann::json* node = &training;
  for (const char* key : {"settings", "seed"}) {
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
  }
  return node->is_number_integer() ? node : nullptr;
}

}  // namespace

Task frozen_task(const model::Backbone& backbone) {
  if (backbone.vit->config().num_classes == 0) {
    throw Error(backbone.source + ": the checkpoint has no head; give an adapter with -a");
  }
  Task task;
  task.name = "frozen";
  task.method = "frozen";
  return task;
}

Task adapter_task(const peft::Bundle& bundle, const std::string& bundle_path,
                  model::Backbone& backbone) {
  Task task;
  task.name = bundle_path;
  task.method = bundle.method;
  task.classes = bundle.classes;
  task.preprocess = bundle.preprocess;
  if (const nlohmann::json* seed = training_seed(bundle.training)) task.seed = *seed;
  task.hooks = peft::rebuild_method(bundle, bundle_path, backbone);
  const torch::Device device = backbone.vit->pos_embed.device();
  task.head = torch::nn::Linear(bundle.head_weight.size(1), bundle.head_weight.size(0));
  {
    torch::NoGradGuard no_grad;
    task.head->weight.copy_(bundle.head_weight);
    task.head->bias.copy_(bundle.head_bias);
  }
  task.head->to(device);
  task.head->eval();
  task.params_trainable = task.hooks->parameter_count();
  task.params_head = bundle.head_weight.numel() + bundle.head_bias.numel();
  return task;
}

std::int64_t backbone_parameters(const model::Backbone& backbone) {
  std::int64_t count = 0;
  for (const auto& item : backbone.vit->named_parameters()) {
    if (item.key().rfind("head.", 0) != 0) count += item.value().numel();
  }
  return count;
}

nlohmann::json parameter_report(const Task& task, const model::Backbone& backbone) {
  const std::int64_t total = backbone_parameters(backbone);
  return {{"method", task.method},
          {"adapter", task.name},
          {"seed", task.seed},
          {"params_trainable", task.params_trainable},
          {"params_trainable_with_head", task.params_trainable + task.params_head},
          {"params_backbone", total},
          {"params_percent", total ? 100.0 * double(task.params_trainable) / double(total) : 0.0}};
}

}  // namespace vpet::eval
