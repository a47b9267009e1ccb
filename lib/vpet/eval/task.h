// A task to evaluate: the frozen backbone with its own head, or with an
// adapter bundle applied (its method attached and loaded, its new head).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/model/checkpoint.h"
#include "vpet/peft/bundle.h"
#include "vpet/peft/method.h"

namespace vpet::eval {

struct Task {
  std::string name;                     // the adapter's path, or "frozen"
  std::string method;                   // the method's name, or "frozen"
  std::unique_ptr<peft::Method> hooks;  // null for the frozen model
  torch::nn::Linear head{nullptr};      // null: the backbone's own head
  std::vector<std::string> classes;     // the bundle's; empty for the frozen model
  nlohmann::json preprocess;            // the bundle's recorded preprocessing, or null
  std::int64_t params_trainable = 0;    // the method's, head excluded
  std::int64_t params_head = 0;
  nlohmann::json seed;  // the training's --seed, or null (the frozen model, an old bundle)

  // Logits [B, classes] for normalised pixels.
  torch::Tensor logits(model::VisionTransformer& vit, const torch::Tensor& pixels);
  std::int64_t num_classes(const model::VisionTransformer& vit) const;
};

// The backbone as it is, scored with its own head. Throws vpet::Error when
// the checkpoint has no head.
Task frozen_task(const model::Backbone& backbone);

// Refuses a bundle trained on another backbone (naming both fingerprints),
// rebuilds its method on `backbone` and loads its tensors. Methods that
// train backbone tensors (full, BitFit) write them into `backbone`: give
// each such task a backbone of its own.
Task adapter_task(const peft::Bundle& bundle, const std::string& bundle_path,
                  model::Backbone& backbone);

// {method, adapter, params_trainable, params_trainable_with_head,
//  params_backbone, params_percent}: the parameter columns of a PEFT table.
nlohmann::json parameter_report(const Task& task, const model::Backbone& backbone);

// Backbone parameters without its head: what "% of backbone" is relative to.
std::int64_t backbone_parameters(const model::Backbone& backbone);

}  // namespace vpet::eval
