// The one small interface every parameter-efficient method implements
// (DESIGN §2). A method owns its parameters, says which are trainable,
// attaches at the ViT's hook points (model/hooks.h) and saves/loads itself
// to a bundle. The training loop, the evaluator and the programs see only
// this interface; adding a method touches its own file and one registry line
// (peft/registry.cpp).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "vpet/model/hooks.h"
#include "vpet/model/vit.h"

namespace vpet::peft {

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

class Method : public model::ForwardHooks {
 public:
  // The registry name ("lora", "vpt-deep", ...).
  virtual std::string name() const = 0;

  // The method's settings as given at construction, completed with its
  // defaults: recorded in the bundle, and enough to rebuild the method.
  virtual nlohmann::json config() const = 0;

  // Creates the method's parameters for this backbone (and unfreezes the
  // backbone tensors it trains, for full and BitFit). Called once, before
  // training or loading. Random initialisation draws from `generator`.
  virtual void attach(model::VisionTransformer& vit, torch::Generator& generator) = 0;

  // Every tensor the method trains, under stable names: its own parameters
  // ("blocks.3.lora_q.A") and backbone tensors it unfroze
  // ("backbone.blocks.3.attn.qkv.bias"). These, and nothing else of the
  // backbone, go into the bundle. The new head is not the method's.
  virtual NamedTensors trainable() const = 0;

  // Tensors that shape the method but are not trained (SPT's sparse
  // indices, LION's masks, PGN's BatchNorm statistics): the bundle saves them
  // beside trainable(), and a method rebuilt from a bundle gets them back
  // through restore_structure() before attach(). Those that change while
  // training are returned live (checkpoints restore them in place). Most
  // methods have none.
  virtual NamedTensors structure() const { return {}; }
  // Throws vpet::Error for tensors this method does not expect.
  virtual void restore_structure(const NamedTensors& tensors);

  // Throws vpet::Error, naming the file, when a file the method was built
  // from (initial prompts, an SPT plan) was made for a backbone other than
  // the one with `fingerprint`.
  virtual void check_backbone(const std::string& fingerprint) const { (void)fingerprint; }

  // Whether `name` (one of trainable()) gets weight decay by default:
  // matrices do; biases, norms, tokens and prompts do not (the papers'
  // convention; --wd-prompts overrides for tokens and prompts).
  virtual bool decays(const std::string& name, const torch::Tensor& tensor) const;
  // Tokens and prompts, which --wd-prompts puts under weight decay.
  virtual bool is_prompt(const std::string& name) const;
  // A LoRA up-projection B (LoRA's, SPT-LoRA's), which --lr-ratio-b (LoRA+)
  // trains at a multiple of the learning rate.
  virtual bool is_lora_b(const std::string& name) const {
    (void)name;
    return false;
  }

  // Restores trained tensors saved from trainable() (same names, shapes).
  // Throws vpet::Error naming a missing or mis-shaped tensor.
  virtual void load(const NamedTensors& tensors);

  // Dropout and other train-only behaviour of the method's own modules.
  virtual void set_training(bool training) { training_ = training; }
  bool training() const { return training_; }

  // False when the frozen backbone's pooled feature does not depend on the
  // method (linear probing, LION without an input layer): features can then
  // be cached once per image, and the method acts on them through pooled().
  virtual bool changes_backbone_features() const { return true; }

  // Trainable scalars, the head excluded (what papers count); for a pruned
  // method, the ones not pruned.
  virtual std::int64_t parameter_count() const;

  // Training-loop hooks, no-ops for most methods. before_step(): after the
  // backward pass, before the optimiser step (a regulariser's gradient).
  // finish_training(): once, when training ends (fixing what was learnt
  // into the method's structure). diagnostics(): numbers about the last
  // step for the metrics log; a string "warning" in it is shown to the user.
  virtual void before_step() {}
  virtual void finish_training() {}
  virtual nlohmann::json diagnostics() const { return nlohmann::json::object(); }

  // Folds what the method learnt into `vit`'s own weights, so that the plain
  // ViT, with no hooks, computes what the ViT with this method computes at
  // inference (peft-export --merge): possible where each adapted map is still
  // one linear map (LoRA, DoRA, SSF, SPT-LoRA, BitFit, full; the linear probe
  // has nothing to fold). Afterwards the method must not be applied to `vit` again.
  // Throws vpet::Error saying why for a method that cannot be folded.
  virtual void merge_into(model::VisionTransformer& vit) const;

 protected:
  // Throws the vpet::Error of a method that cannot be folded, with `why`.
  [[noreturn]] void refuse_merge(const std::string& why) const;

  bool training_ = false;
};

}  // namespace vpet::peft
