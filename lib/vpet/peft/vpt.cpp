#include "vpet/peft/vpt.h"

#include <cmath>

#include "vpet/error.h"
#include "vpet/io/stream.h"
#include "vpet/io/tensor_text.h"
#include "vpet/model/fingerprint.h"
#include "vpet/peft/parameter_init.h"
#include "vpet/peft/settings.h"

namespace vpet::peft {
namespace {

// The "prompts" tensor of a prompts file, and the fingerprint of the
// backbone it was made for.
torch::Tensor read_prompts(const std::string& path, std::string& made_for) {
  io::StreamReader in(path);
  in.require_kind("prompts");
  made_for = model::recorded_fingerprint(in.header(), in.name());
  io::Record record;
  if (!in.next(record)) throw Error(in.name() + " has no prompts record");
  const torch::Tensor prompts = record.tensor("prompts").to(torch::kFloat32);
  if (prompts.dim() != 3) {
    throw Error(in.name() + ": 'prompts' is " + io::shape_string(prompts.sizes()) +
                ", expected [layers, prompts, width]");
  }
  return prompts;
}

}  // namespace

Vpt::Vpt(Depth depth, const nlohmann::json& config) : depth_(depth) {
  const Settings settings(config);
  dropout_ = settings.number("prompt_dropout", 0.0, 0.0, 1.0);
  prompts_in_pool_ = settings.boolean("prompts_in_pool", false);
  init_path_ = settings.text("init_prompts", "");
  if (!init_path_.empty()) {
    init_ = read_prompts(init_path_, init_made_for_);
  }
  count_ = settings.integer("prompts", init_.defined() ? init_.size(1) : 10, 1);
}

void Vpt::check_backbone(const std::string& fingerprint) const {
  if (init_.defined() && init_made_for_ != fingerprint) {
    throw Error(init_path_ + " holds prompts for backbone " + init_made_for_ +
                ", not for this model (" + fingerprint + ")");
  }
}

const MethodOptions& Vpt::options() {
  static const MethodOptions table = {
      {"prompts", "prompts", MethodOption::Type::Integer, "10",
       "VPT: prompt tokens (with --init-prompts and no --prompts: the file's)", "P"},
      {"prompt-dropout", "prompt_dropout", MethodOption::Type::Number, "0",
       "VPT: dropout on the prompts", "F"},
      {"init-prompts", "init_prompts", MethodOption::Type::Text, "",
       "VPT: initial prompts (a prompts bundle)", "FILE"},
      {"prompts-in-pool", "prompts_in_pool", MethodOption::Type::Bool, "false",
       "VPT: keep the prompts for an averaging --pool (Self-Prompt's MAE readout with --pool "
       "avg-norm)",
       "BOOL"},
  };
  return table;
}

nlohmann::json Vpt::config() const {
  return {{"prompts", count_}, {"prompt_dropout", dropout_}, {"prompts_in_pool", prompts_in_pool_}};
}

void Vpt::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const auto& c = vit->config();
  prefix_ = c.prefix_tokens();
  const std::vector<std::int64_t> shape = {deep() ? c.depth : 1, count_, c.width};
  torch::Tensor values;
  if (init_.defined()) {
    if (init_.sizes() != torch::IntArrayRef(shape)) {
      throw Error(init_path_ + " holds prompts " + io::shape_string(init_.sizes()) + " but " +
                  name() + " with " + std::to_string(count_) + " prompts on this model needs " +
                  io::shape_string(shape));
    }
    values = init_;
  } else {
    const double bound =
        std::sqrt(6.0 / double(c.in_chans * c.patch_size * c.patch_size + c.width));
    values = uniform(shape, bound, generator);
  }
  prompts_ = trainable_like(values, vit->pos_embed);
}

torch::Tensor Vpt::inserted(std::int64_t layer, std::int64_t batch) const {
  // One dropout sample per image, as VPT drops out the batch-expanded prompts.
  return torch::dropout(prompts_.narrow(0, layer, 1).expand({batch, -1, -1}), dropout_, training());
}

torch::Tensor Vpt::tokens(const torch::Tensor& x) {
  return torch::cat(
      {x.narrow(1, 0, prefix_), inserted(0, x.size(0)), x.narrow(1, prefix_, x.size(1) - prefix_)},
      1);
}

torch::Tensor Vpt::block_input(std::int64_t block, const torch::Tensor& x) {
  if (!deep() || block == 0) return x;
  const std::int64_t rest = prefix_ + count_;
  return torch::cat(
      {x.narrow(1, 0, prefix_), inserted(block, x.size(0)), x.narrow(1, rest, x.size(1) - rest)},
      1);
}

torch::Tensor Vpt::final_tokens(const torch::Tensor& x) {
  if (prompts_in_pool_) return x;
  if (x.size(1) == 1) return x;  // the class token alone, before the prompts
  const std::int64_t rest = prefix_ + count_;
  return torch::cat({x.narrow(1, 0, prefix_), x.narrow(1, rest, x.size(1) - rest)}, 1);
}

}  // namespace vpet::peft
