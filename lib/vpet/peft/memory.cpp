#include "vpet/peft/memory.h"

#include <algorithm>
#include <sstream>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"
#include "vpet/model/fingerprint.h"
#include "vpet/peft/bundle.h"
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
  // memory block, no other task's; under extension also those of the tasks
  // it sees.
  std::vector<std::int64_t> offsets;  // each task's memory block, in columns
  std::int64_t offset = k;
  for (const auto& task : tasks_) {
    offsets.push_back(offset);
    offset += task.memory.size(1);
  }
  own_mask_ = torch::zeros({k, k + total}, torch::kBool);
  for (std::int64_t t = 0; t < k; ++t) {
    std::vector<std::size_t> visible = tasks_[std::size_t(t)].sees;
    for (std::size_t seen : visible) {
      if (seen >= tasks_.size() || std::int64_t(seen) == t) {
        throw Error("memory task " + std::to_string(t) + " extends task " + std::to_string(seen) +
                    ", which is not another task of the pass");
      }
    }
    visible.push_back(std::size_t(t));
    for (std::size_t seen : visible) {
      own_mask_[t][std::int64_t(seen)] = true;
      own_mask_[t].narrow(0, offsets[seen], tasks_[seen].memory.size(1)).fill_(true);
    }
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
  (void)block, (void)module;
  // The originals' own attention is left untouched; the task rows run after
  // the block (block_output), when its drop-path factors are drawn.
  originals_ = inputs;
}

torch::Tensor MemoryTasks::block_output(std::int64_t block, const torch::Tensor& residual,
                                        const torch::Tensor& output) {
  (void)residual;
  model::Block module = vit_->blocks[std::size_t(block)];
  std::vector<torch::Tensor> keys, values;
  for (const auto& task : tasks_) {
    const KeysValues kv = memory_keys_values(*module, task.memory[block], task.memory_norm);
    keys.push_back(kv.k);
    values.push_back(kv.v);
  }
  const KeysValues memory{torch::cat(keys), torch::cat(values)};
  const std::int64_t originals = originals_.k.size(1);
  const torch::Tensor mask =
      torch::cat({torch::ones({own_mask_.size(0), originals}, own_mask_.options()), own_mask_}, 1);
  TaskRows rows(originals_, memory, mask);
  // Each sample's task rows are dropped with its original rows: the full
  // sequence's drop-path, one residual branch for every row of a sample.
  state_ = module->forward(state_, block, rows, module->last_scales());
  originals_ = {};
  return output;
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

std::string memory_task_fingerprint(const MemoryTask& task) {
  return model::backbone_fingerprint({{"memory", task.memory}, {"task_token", task.task_token}});
}

namespace {

// The structure tensor of parent i's `field` ("task_token", "memory").
std::string parent_tensor(std::size_t i, const char* field) {
  return "parent." + std::to_string(i) + "." + field;
}

// A bundle's "parents" that is not what config() writes.
[[noreturn]] void bad_parents(const std::string& problem) {
  throw SettingError("parents", "--extends", problem);
}

// A JSON value's boolean, `fallback` for any other value (a bundle written
// by hand may hold anything; the parent's own reader validated it).
bool flag(const nlohmann::json& object, const char* key, bool fallback) {
  const nlohmann::json value = object.value(key, nlohmann::json());
  return value.is_boolean() ? value.get<bool>() : fallback;
}

}  // namespace

Memory::Memory(const nlohmann::json& config) {
  const Settings settings(config);
  count_ = settings.integer("memory", 5, 1);
  const std::string mode =
      settings.choice("memory_mode", "masked", {"masked", "extend", "unmasked"});
  mode_ = mode == "masked" ? Mode::Masked : mode == "extend" ? Mode::Extend : Mode::Unmasked;
  norm_ = settings.boolean("memory_norm", true);
  const std::string extends = settings.text("extends", "");
  if (mode_ != Mode::Extend) {
    if (!extends.empty() || settings.has("parents")) {
      throw SettingError("extends", "--extends", "is for --memory-mode extend");
    }
    return;
  }
  // The parents an extension is built on: the --extends bundles (their
  // tensors), or a bundle's "parents" (fingerprints; the tensors follow
  // through restore_structure()).
  if (!extends.empty()) {
    std::istringstream list(extends);
    for (std::string path; std::getline(list, path, ',');) {
      const Bundle parent = read_bundle(path);
      const nlohmann::json mode = parent.config.value("memory_mode", nlohmann::json());
      if (parent.method != "memory" || mode != "masked") {
        throw Error(path + ": --extends takes masked memory bundles; this one is " + parent.method +
                    (parent.method == "memory" ? " in mode " + mode.dump() : std::string()));
      }
      const auto tensor = [&](const std::string& name) {
        return parent.tensor(name, path).to(torch::kFloat32);
      };
      if (parents_made_for_.empty()) {
        parents_made_for_ = parent.fingerprint();
        parents_source_ = path;
      } else if (parent.fingerprint() != parents_made_for_) {
        throw Error(path + ": trained on backbone " + parent.fingerprint() + ", but " +
                    parents_source_ + " on " + parents_made_for_);
      }
      Parent entry;
      entry.task = {tensor("task_token"), tensor("memory"),
                    flag(parent.config, "memory_norm", true)};
      entry.fingerprint = memory_task_fingerprint(entry.task);
      parents_.push_back(entry);
    }
    if (parents_.empty()) throw SettingError("extends", "--extends", "names no bundle");
    return;
  }
  const nlohmann::json recorded = config.value("parents", nlohmann::json());
  if (!recorded.is_array() || recorded.empty()) {
    throw SettingError("extends", "--extends",
                       "must name the bundles that --memory-mode extend builds on");
  }
  for (const auto& item : recorded) {
    if (!item.is_object() || !item.contains("fingerprint") || !item["fingerprint"].is_string()) {
      bad_parents("must list {fingerprint, memory, memory_norm} objects");
    }
    Parent entry;
    entry.fingerprint = item["fingerprint"].get<std::string>();
    entry.task.memory_norm = flag(item, "memory_norm", true);
    parents_.push_back(entry);
  }
}

const MethodOptions& Memory::options() {
  static const MethodOptions table = {
      {"memory", "memory", MethodOption::Type::Integer, "5", "Memory: memory tokens per layer",
       "M"},
      {"memory-mode",
       "memory_mode",
       MethodOption::Type::Text,
       "masked",
       "Memory: masked (original task unchanged), extend (masked, also attending to the "
       "--extends tasks) or unmasked",
       "MODE",
       {"masked", "extend", "unmasked"}},
      {"extends", "extends", MethodOption::Type::Text, "",
       "Memory: with --memory-mode extend, the masked memory bundles the new task builds on",
       "FILES"},
      {"memory-norm", "memory_norm", MethodOption::Type::Bool, "true",
       "Memory: apply the block's first LayerNorm to the memory tokens (=false: not)", "BOOL"},
  };
  return table;
}

nlohmann::json Memory::config() const {
  const char* mode = mode_ == Mode::Masked   ? "masked"
                     : mode_ == Mode::Extend ? "extend"
                                             : "unmasked";
  nlohmann::json config = {{"memory", count_}, {"memory_mode", mode}, {"memory_norm", norm_}};
  if (mode_ == Mode::Extend) {
    nlohmann::json parents = nlohmann::json::array();
    for (const Parent& parent : parents_) {
      parents.push_back({{"fingerprint", parent.fingerprint},
                         {"memory", parent.task.memory.defined() ? parent.task.memory.size(1) : 0},
                         {"memory_norm", parent.task.memory_norm}});
    }
    config["parents"] = parents;
  }
  return config;
}

NamedTensors Memory::structure() const {
  NamedTensors tensors;
  for (std::size_t i = 0; i < parents_.size(); ++i) {
    tensors.emplace_back(parent_tensor(i, "task_token"), parents_[i].task.task_token);
    tensors.emplace_back(parent_tensor(i, "memory"), parents_[i].task.memory);
  }
  return tensors;
}

void Memory::restore_structure(const NamedTensors& tensors) {
  for (const auto& [name, tensor] : tensors) {
    torch::Tensor* target = nullptr;
    for (std::size_t i = 0; i < parents_.size() && !target; ++i) {
      if (name == parent_tensor(i, "task_token")) target = &parents_[i].task.task_token;
      if (name == parent_tensor(i, "memory")) target = &parents_[i].task.memory;
    }
    if (!target) {
      throw Error("the bundle holds structure tensor '" + name + "', which memory does not use");
    }
    *target = tensor.to(torch::kFloat32);
  }
}

void Memory::check_backbone(const std::string& fingerprint) const {
  if (!parents_made_for_.empty() && parents_made_for_ != fingerprint) {
    throw Error(parents_source_ + ": a memory bundle of backbone " + parents_made_for_ +
                ", not of this model (" + fingerprint + ")");
  }
}

void Memory::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const auto& c = vit->config();
  // N(0, 0.02²): the paper's init (§2.3).
  memory_ = trainable_like(normal({c.depth, count_, c.width}, 0.02, generator), vit->pos_embed);
  if (mode_ == Mode::Unmasked) {
    class_token_.attach(vit, "unmasked memory");
    return;
  }
  if (!vit->cls_token.defined()) {
    throw Error(
        "masked memory tokens need a model with a class token (use --memory-mode unmasked)");
  }
  task_token_ = trainable_like(vit->cls_token.detach().clone(), vit->pos_embed);
  for (std::size_t i = 0; i < parents_.size(); ++i) {
    Parent& parent = parents_[i];
    if (!parent.task.memory.defined() || !parent.task.task_token.defined()) {
      throw Error("the bundle lacks the structure tensors of parent " + std::to_string(i));
    }
    if (memory_task_fingerprint(parent.task) != parent.fingerprint) {
      throw Error("parent " + std::to_string(i) + "'s tensors do not have its fingerprint " +
                  parent.fingerprint);
    }
    parent.task.task_token = parent.task.task_token.to(vit->pos_embed.device());
    parent.task.memory = parent.task.memory.to(vit->pos_embed.device());
  }
  std::vector<MemoryTask> tasks;
  own_index_ = add_to(tasks);
  pass_ = std::make_unique<MemoryTasks>(vit, tasks);
}

NamedTensors Memory::trainable() const {
  NamedTensors tensors{{"memory", memory_}};
  if (masked()) {
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
  if (masked() || has_class_token) return Method::load(tensors);
  // An unmasked bundle from before the class token was trained: it was
  // trained with the pretrained one, which attach() put in place.
  NamedTensors with_pretrained = tensors;
  with_pretrained.emplace_back("class_token", class_token_.token().detach().clone());
  Method::load(with_pretrained);
}

std::size_t Memory::add_to(std::vector<MemoryTask>& tasks) const {
  if (!masked()) {
    throw UsageError(
        "an unmasked memory adapter changes the original tokens, so it cannot run "
        "beside other tasks in one pass");
  }
  // A task already in the pass with this fingerprint and no parents of its
  // own computes the same rows: share it.
  const auto find = [&](const std::string& fingerprint) {
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      if (tasks[i].sees.empty() && memory_task_fingerprint(tasks[i]) == fingerprint) return i;
    }
    return tasks.size();
  };
  MemoryTask own{task_token_, memory_, norm_};
  for (const Parent& parent : parents_) {
    std::size_t index = find(parent.fingerprint);
    if (index == tasks.size()) tasks.push_back(parent.task);
    own.sees.push_back(index);
  }
  if (mode_ == Mode::Masked) {
    const std::size_t index = find(memory_task_fingerprint(own));
    if (index < tasks.size()) return index;
  }
  tasks.push_back(own);
  return tasks.size() - 1;
}

torch::Tensor Memory::tokens(const torch::Tensor& x) {
  return masked() ? pass_->tokens(x) : class_token_.replace(x);
}

void Memory::attention(std::int64_t block, const model::BlockImpl& module,
                       model::AttentionInputs& inputs) {
  if (masked()) return pass_->attention(block, module, inputs);
  // Unmasked: every token may attend to the memory.
  const KeysValues memory = memory_keys_values(module, memory_[block], norm_);
  const std::int64_t batch = inputs.q.size(0);
  inputs.k = torch::cat({inputs.k, batched(memory.k, batch)}, 1);
  inputs.v = torch::cat({inputs.v, batched(memory.v, batch)}, 1);
}

torch::Tensor Memory::block_output(std::int64_t block, const torch::Tensor& residual,
                                   const torch::Tensor& output) {
  return masked() ? pass_->block_output(block, residual, output) : output;
}

torch::Tensor Memory::final_tokens(const torch::Tensor& x) {
  return masked() ? pass_->final_tokens(x) : x;
}

torch::Tensor Memory::pooled(const torch::Tensor& feature) {
  return masked() ? pass_->features().at(own_index_) : feature;
}

namespace {

const Memory& memory_method(const Method& method) {
  const auto* memory = dynamic_cast<const Memory*>(&method);
  if (!memory) {
    throw UsageError("a " + method.name() +
                     " adapter cannot run beside other adapters in one pass: only masked memory "
                     "adapters can");
  }
  return *memory;
}

}  // namespace

MemoryTask memory_task(const Method& method) {
  std::vector<MemoryTask> tasks;
  const std::size_t index = memory_method(method).add_to(tasks);
  if (tasks.size() != 1) {
    throw UsageError("an extending memory adapter runs with its parents (add_memory_tasks)");
  }
  return tasks[index];
}

std::size_t add_memory_tasks(const Method& method, std::vector<MemoryTask>& tasks) {
  return memory_method(method).add_to(tasks);
}

}  // namespace vpet::peft
