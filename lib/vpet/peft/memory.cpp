#include "vpet/peft/memory.h"

#include <algorithm>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"
#include "vpet/peft/parameter_init.h"
#include "vpet/peft/settings.h"

namespace vpet::peft {
namespace {

struct KeysValues {
  torch::Tensor k, v;  // [M, D]
};

// One block's memory tokens [M, D] as keys and values: through the block's
// norm1 when `norm` (the paper's Fig. 2a), then its k and v projections.
KeysValues memory_keys_values(const model::BlockImpl& block, const torch::Tensor& memory,
                              bool norm) {
  const auto& attn = block.attn.ptr();
  const auto projected = attn->project(norm ? block.norm1.ptr()->forward(memory) : memory);
  return {projected.k, projected.v};
}

torch::Tensor batched(const torch::Tensor& tokens, std::int64_t batch) {
  return tokens.unsqueeze(0).expand({batch, -1, -1});
}

// The task rows' own pass through a block: their attention reads the
// original tokens' keys and values of that block, then the task tokens' and
// the memories' under the concatenation mask.
class TaskRows : public model::ForwardHooks {
 public:
  TaskRows(const model::AttentionInputs& original, const KeysValues& memory,
           const torch::Tensor& mask)
      : original_(original), memory_(memory), mask_(mask) {}

  void attention(std::int64_t block, const model::BlockImpl& module,
                 model::AttentionInputs& inputs) override {
    (void)block, (void)module;
    const std::int64_t batch = inputs.q.size(0);
    inputs.k = torch::cat({original_.k, inputs.k, batched(memory_.k, batch)}, 1);
    inputs.v = torch::cat({original_.v, inputs.v, batched(memory_.v, batch)}, 1);
    inputs.mask = mask_;
  }

 private:
  const model::AttentionInputs& original_;
  const KeysValues& memory_;
  const torch::Tensor& mask_;
};

}  // namespace

MemoryTasks::MemoryTasks(model::VisionTransformer vit, std::vector<MemoryTask> tasks)
    : vit_(std::move(vit)), tasks_(std::move(tasks)) {
  const auto& c = vit_->config();
  if (!vit_->cls_token.defined()) {
    throw Error("masked memory tokens need a model with a class token (use unmasked mode)");
  }
  if (tasks_.empty()) throw Error("no memory tasks to run");
  const std::int64_t k = std::int64_t(tasks_.size());
  std::int64_t total = 0;
  for (const auto& task : tasks_) {
    if (task.memory.dim() != 3 || task.memory.size(0) != c.depth ||
        task.memory.size(2) != c.width ||
        task.task_token.sizes() != torch::IntArrayRef{1, 1, c.width}) {
      throw Error("a memory task with memory " + io::shape_string(task.memory.sizes()) +
                  " and task token " + io::shape_string(task.task_token.sizes()) +
                  " does not fit this model (" + std::to_string(c.depth) + " blocks of width " +
                  std::to_string(c.width) + ")");
    }
    total += task.memory.size(1);
  }
  // Table 1 under concatenation: task t sees its own token and its own
  // memory block, no other task's.
  own_mask_ = torch::zeros({k, k + total}, torch::kBool);
  std::int64_t offset = k;
  for (std::int64_t t = 0; t < k; ++t) {
    const std::int64_t m = tasks_[std::size_t(t)].memory.size(1);
    own_mask_[t][t] = true;
    own_mask_[t].narrow(0, offset, m).fill_(true);
    offset += m;
  }
  own_mask_ = own_mask_.to(vit_->pos_embed.device());
}

torch::Tensor MemoryTasks::tokens(const torch::Tensor& x) {
  std::vector<torch::Tensor> task_tokens;
  for (const auto& task : tasks_) task_tokens.push_back(task.task_token);
  // Embedded as the original class token is (class_token.h).
  state_ = embed_class_token(vit_, torch::cat(task_tokens, 1)).expand({x.size(0), -1, -1});
  return x;
}

void MemoryTasks::attention(std::int64_t block, const model::BlockImpl& module,
                            model::AttentionInputs& inputs) {
  std::vector<torch::Tensor> keys, values;
  for (const auto& task : tasks_) {
    const KeysValues kv = memory_keys_values(module, task.memory[block], task.memory_norm);
    keys.push_back(kv.k);
    values.push_back(kv.v);
  }
  const KeysValues memory{torch::cat(keys), torch::cat(values)};
  const std::int64_t originals = inputs.k.size(1);
  const torch::Tensor mask =
      torch::cat({torch::ones({own_mask_.size(0), originals}, own_mask_.options()), own_mask_}, 1);
  TaskRows rows(inputs, memory, mask);
  // The originals' own attention (inputs) is left untouched.
  state_ = vit_->blocks[std::size_t(block)]->forward(state_, block, rows, 0.0, false);
}

torch::Tensor MemoryTasks::final_tokens(const torch::Tensor& x) {
  // timm's token pooling applied to each task token.
  torch::Tensor pooled = vit_->final_norm(state_);
  if (vit_->fc_norm) pooled = vit_->fc_norm->forward(pooled);
  features_.clear();
  for (std::int64_t t = 0; t < pooled.size(1); ++t) features_.push_back(pooled.select(1, t));
  state_ = torch::Tensor();
  return x;
}

Memory::Memory(const nlohmann::json& config) {
  const Settings settings(config);
  count_ = settings.integer("memory", 5, 1);
  masked_ = settings.choice("memory_mode", "masked", {"masked", "unmasked"}) == "masked";
  norm_ = settings.boolean("memory_norm", true);
}

const MethodOptions& Memory::options() {
  static const MethodOptions table = {
      {"memory", "memory", MethodOption::Type::Integer, "5", "Memory: memory tokens per layer",
       "M"},
      {"memory-mode",
       "memory_mode",
       MethodOption::Type::Text,
       "masked",
       "Memory: masked (original task unchanged) or unmasked",
       "MODE",
       {"masked", "unmasked"}},
      {"memory-norm", "memory_norm", MethodOption::Type::Bool, "true",
       "Memory: apply the block's first LayerNorm to the memory tokens (=false: not)", "BOOL"},
  };
  return table;
}

nlohmann::json Memory::config() const {
  return {
      {"memory", count_}, {"memory_mode", masked_ ? "masked" : "unmasked"}, {"memory_norm", norm_}};
}

void Memory::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const auto& c = vit->config();
  // N(0, 0.02²): the paper's init (§2.3).
  memory_ = trainable_like(normal({c.depth, count_, c.width}, 0.02, generator), vit->pos_embed);
  if (!masked_) {
    class_token_.attach(vit, "unmasked memory");
    return;
  }
  if (!vit->cls_token.defined()) {
    throw Error(
        "masked memory tokens need a model with a class token (use --memory-mode unmasked)");
  }
  task_token_ = trainable_like(vit->cls_token.detach().clone(), vit->pos_embed);
  pass_ = std::make_unique<MemoryTasks>(vit, std::vector<MemoryTask>{task()});
}

NamedTensors Memory::trainable() const {
  NamedTensors tensors{{"memory", memory_}};
  if (masked_) {
    tensors.emplace_back("task_token", task_token_);
  } else {
    tensors.emplace_back("class_token", class_token_.token());
  }
  return tensors;
}

bool Memory::is_prompt(const std::string& name) const {
  return name == "memory" || name == "task_token" || name == "class_token";
}

void Memory::load(const NamedTensors& tensors) {
  const bool has_class_token = std::any_of(
      tensors.begin(), tensors.end(), [](const auto& item) { return item.first == "class_token"; });
  if (masked_ || has_class_token) return Method::load(tensors);
  // An unmasked bundle from before the class token was trained: it was
  // trained with the pretrained one, which attach() put in place.
  NamedTensors with_pretrained = tensors;
  with_pretrained.emplace_back("class_token", class_token_.token().detach().clone());
  Method::load(with_pretrained);
}

MemoryTask Memory::task() const {
  if (!masked_) {
    throw UsageError(
        "an unmasked memory adapter changes the original tokens, so it cannot run "
        "beside other tasks in one pass");
  }
  return {task_token_, memory_, norm_};
}

torch::Tensor Memory::tokens(const torch::Tensor& x) {
  return masked_ ? pass_->tokens(x) : class_token_.replace(x);
}

void Memory::attention(std::int64_t block, const model::BlockImpl& module,
                       model::AttentionInputs& inputs) {
  if (masked_) return pass_->attention(block, module, inputs);
  // Unmasked: every token may attend to the memory.
  const KeysValues memory = memory_keys_values(module, memory_[block], norm_);
  const std::int64_t batch = inputs.q.size(0);
  inputs.k = torch::cat({inputs.k, batched(memory.k, batch)}, 1);
  inputs.v = torch::cat({inputs.v, batched(memory.v, batch)}, 1);
}

torch::Tensor Memory::final_tokens(const torch::Tensor& x) {
  return masked_ ? pass_->final_tokens(x) : x;
}

torch::Tensor Memory::pooled(const torch::Tensor& feature) {
  return masked_ ? pass_->features().front() : feature;
}

MemoryTask memory_task(const Method& method) {
  const auto* memory = dynamic_cast<const Memory*>(&method);
  if (!memory) {
    throw UsageError("a " + method.name() +
                     " adapter cannot run beside other adapters in one pass: only masked memory "
                     "adapters can");
  }
  return memory->task();
}

}  // namespace vpet::peft
