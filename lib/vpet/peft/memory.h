// Learnable memory tokens (Sandler et al., CVPR 2022;
// reference/lion-pgn-memory.md §2). Each block l owns M memory tokens
// E_mem^l [M, D] (init N(0, 0.02²)) that serve only as extra keys and values
// of its attention: they never act as queries and are not propagated.
// With memory_norm (the paper's Fig. 2a, the default) the block's norm1 is
// applied to them before the k/v projection; without it they enter the k/v
// projection as they are (the public reimplementations' variant).
//
// Two modes (memory_mode):
//
//   extend    masked, and the task's class token also attends to the class
//             tokens and memories of the tasks it extends (Table 1's
//             starred cells: a new task builds on earlier ones), whose rows
//             run beside it, frozen; those parents attend as masked tasks.
//   unmasked  every token may attend to the memory, and the class token is
//             trained too (the paper's Fig. 1 trains it with the memory;
//             class_token.h); pooling as the model's.
//   masked    a new task class token C is added, at position-embedding
//             index 0 (it gets pos_embed[0], as the original class token,
//             and starts as a copy of the pretrained class token), and the
//             mask of the paper's Table 1 applies:
//
//               Q \ K      INP,CLS   C    M
//               INP, CLS     ✓       –    –
//               C            ✓       ✓    ✓
//
//             The original tokens never see anything new, so their outputs
//             and the original head's logits are bit-identical to the frozen
//             model; features() pools C (final norm, fc_norm as timm's
//             token pooling) and that is what the new head sees.
//
// Masked mode runs the frozen model untouched and computes only the task
// rows on the side (the paper's §2.2 "optimized path"): at every block the
// task tokens attend to the original tokens' keys/values of that block, to
// themselves and to their memory. This is exactly the masked full-sequence
// computation, and the originals stay bit-identical by construction, not by
// luck of floating-point summation order. The task rows run after each
// block, with the per-sample drop-path factors the block drew for the
// original rows: while training with --drop-path, a sample's task rows are
// dropped with its original ones, as in the full sequence.
//
// Config keys: memory (M; 5), memory_mode ("masked" | "extend" | "unmasked";
// masked), memory_norm (true); for extend, extends (the parents' bundle
// paths, comma-separated: masked memory bundles of the same backbone, read
// when the method is built, like VPT's init_prompts) or, in a bundle,
// parents ([{fingerprint, memory, memory_norm}] in order), with the parents'
// tensors as structure "parent.<i>.task_token" and "parent.<i>.memory", so
// that an extension runs alone. Trainable: "memory" [L, M, D], plus "task_token"
// [1, 1, D] in masked mode or "class_token" [1, 1, D] unmasked; L·M·D + D.
// All are tokens: is_prompt(). An unmasked bundle from before the class
// token was trained loads with the pretrained one.
//
// Several tasks in one pass (the paper's "concatenation", Fig. 3): masked
// memory methods trained independently on the same backbone run together in
// ONE forward pass, each task token seeing the original tokens, its own
// memory and itself, never another task:
//
//   std::vector<MemoryTask> tasks;
//   for (auto& method : methods) tasks.push_back(memory_task(*method));  // attached + loaded
//   MemoryTasks pass(vit, tasks);
//   torch::Tensor original = vit->features(pixels, pass);  // frozen model's, bit-identical
//   torch::Tensor logits = vit->head_logits(original);     // the original head's logits
//   for (std::size_t t = 0; t < tasks.size(); ++t) use(pass.features()[t]);  // task t's [B, D]
//
// Each task's features equal what its own method's features() gives alone
// (to float rounding).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vpet/peft/class_token.h"
#include "vpet/peft/method.h"
#include "vpet/peft/method_option.h"

namespace vpet::peft {

// A trained masked memory task: views of its method's tensors (they follow
// load()).
struct MemoryTask {
  torch::Tensor task_token;  // [1, 1, D], before the position embedding
  torch::Tensor memory;      // [L, M, D]
  bool memory_norm = true;   // norm1 applied to the memory before k/v
  // Extension (Table 1's starred cells): the tasks of the same pass, by
  // index, whose class token and memory this one attends to as well.
  std::vector<std::size_t> sees = {};
};

// The fingerprint of a task's token and memory (model::backbone_fingerprint
// of them): how an extension names its parents.
std::string memory_task_fingerprint(const MemoryTask& task);

// Hooks that run N masked memory tasks beside the frozen model in one pass.
// The pooled feature features() returns through them is the frozen model's;
// each task's pooled feature is in features() afterwards.
class MemoryTasks : public model::ForwardHooks {
 public:
  // Throws vpet::Error when a task does not fit the model (its memory is not
  // [depth, M, width]), sees a task that is not in the pass or itself, or
  // the model has no class token to stand beside.
  MemoryTasks(model::VisionTransformer vit, std::vector<MemoryTask> tasks);

  torch::Tensor tokens(const torch::Tensor& x) override;
  void attention(std::int64_t block, const model::BlockImpl& module,
                 model::AttentionInputs& inputs) override;
  torch::Tensor block_output(std::int64_t block, const torch::Tensor& residual,
                             const torch::Tensor& output) override;
  torch::Tensor final_tokens(const torch::Tensor& x) override;

  // After a forward pass with these hooks: task t's pooled feature [B, D],
  // in the order the tasks were given.
  const std::vector<torch::Tensor>& features() const { return features_; }

 private:
  model::VisionTransformer vit_;
  std::vector<MemoryTask> tasks_;
  // Over the task rows' keys [task tokens; memories] (the original tokens'
  // keys are always allowed): [k, k + Σm], true = may attend.
  torch::Tensor own_mask_;
  torch::Tensor state_;               // the task tokens between blocks, [B, k, D]
  model::AttentionInputs originals_;  // the current block's, from attention()
  std::vector<torch::Tensor> features_;
};

class Memory final : public Method {
 public:
  explicit Memory(const nlohmann::json& config);
  // The options peft-train offers for it (method_option.h).
  static const MethodOptions& options();

  std::string name() const override { return "memory"; }
  nlohmann::json config() const override;
  // Throws vpet::Error in masked mode when the model has no class token.
  void attach(model::VisionTransformer& vit, torch::Generator& generator) override;
  NamedTensors trainable() const override;
  bool is_prompt(const std::string& name) const override;
  void load(const NamedTensors& tensors) override;

  torch::Tensor tokens(const torch::Tensor& x) override;
  void attention(std::int64_t block, const model::BlockImpl& module,
                 model::AttentionInputs& inputs) override;
  torch::Tensor block_output(std::int64_t block, const torch::Tensor& residual,
                             const torch::Tensor& output) override;
  torch::Tensor final_tokens(const torch::Tensor& x) override;
  torch::Tensor pooled(const torch::Tensor& feature) override;
  void merge_into(model::VisionTransformer& vit) const override {
    (void)vit;
    refuse_merge(
        "its memory tokens are extra keys and values in every attention, which no weight of the "
        "plain ViT holds");
  }

  // Masked or extend: the original tokens stay the frozen model's.
  bool masked() const { return mode_ != Mode::Unmasked; }
  // This method as one task of a MemoryTasks pass, its parents (extend) as
  // tasks of their own before it. Throws vpet::UsageError in unmasked mode
  // (it changes the original tokens, so it cannot share).
  std::size_t add_to(std::vector<MemoryTask>& tasks) const;
  NamedTensors structure() const override;
  void restore_structure(const NamedTensors& tensors) override;
  void check_backbone(const std::string& fingerprint) const override;

 private:
  enum class Mode { Masked, Extend, Unmasked };
  struct Parent {
    std::string fingerprint;
    MemoryTask task;  // frozen
  };

  std::int64_t count_;  // M
  Mode mode_;
  bool norm_;
  std::vector<Parent> parents_;   // extend mode
  std::string parents_made_for_;  // the backbone the --extends bundles were trained on
  std::string parents_source_;
  std::size_t own_index_ = 0;          // this task's place in pass_
  torch::Tensor memory_;               // [L, M, D]
  torch::Tensor task_token_;           // [1, 1, D], masked mode
  TrainableClassToken class_token_;    // unmasked mode
  std::unique_ptr<MemoryTasks> pass_;  // masked mode: this one task
};

// `method` as a task of a MemoryTasks pass. Throws vpet::UsageError, naming
// the method, unless it is a masked memory method (not an extension, which
// needs its parents: add_memory_tasks).
MemoryTask memory_task(const Method& method);

// Adds `method`'s task to `tasks`, after its parents where it extends some
// (a parent already there, by fingerprint, is shared, not repeated), and
// returns its index. Throws vpet::UsageError unless `method` is a masked or
// extending memory method.
std::size_t add_memory_tasks(const Method& method, std::vector<MemoryTask>& tasks);

}  // namespace vpet::peft
