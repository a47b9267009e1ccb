#include "vpet/peft/vpt.h"

#include <algorithm>
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

Vpt::Vpt(Depth depth, const nlohmann::json& config) : depth_(depth), layers_(Settings(config)) {
  const Settings settings(config);
  if (!deep() && !layers_.all()) {
    throw SettingError("layers", "--layers",
                       "is for vpt-deep: vpt-shallow inserts its prompts once, before block 0 "
                       "(vpt-deep --layers K inserts them once, before block K)");
  }
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
      LayerSet::option(),
  };
  return table;
}

nlohmann::json Vpt::config() const {
  nlohmann::json config = {
      {"prompts", count_}, {"prompt_dropout", dropout_}, {"prompts_in_pool", prompts_in_pool_}};
  layers_.add_to(config);
  return config;
}

void Vpt::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const auto& c = vit->config();
  prefix_ = c.prefix_tokens();
  layers_.check(c.depth);
  blocks_ = deep() ? layers_.blocks(c.depth) : std::vector<std::int64_t>{0};
  const auto layers = std::int64_t(blocks_.size());
  const std::vector<std::int64_t> shape = {layers, count_, c.width};
  torch::Tensor values;
  if (init_.defined()) {
    torch::Tensor init = init_;
    if (deep() && layers < c.depth && init.size(0) == c.depth) {
      // A file with every block's prompts: the adapted blocks' rows.
      init = init.index_select(0, torch::tensor(blocks_));
    }
    if (init.sizes() != torch::IntArrayRef(shape)) {
      throw Error(init_path_ + " holds prompts " + io::shape_string(init_.sizes()) + " but " +
                  name() + " with " + std::to_string(count_) + " prompts on this model needs " +
                  io::shape_string(shape) +
                  (deep() && layers < c.depth
                       ? " (or every block's, " + io::shape_string({c.depth, count_, c.width}) + ")"
                       : ""));
    }
    values = init;
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

torch::Tensor Vpt::with_prompts(std::int64_t layer, const torch::Tensor& x, bool replace) const {
  const std::int64_t rest = prefix_ + (replace ? count_ : 0);
  return torch::cat(
      {x.narrow(1, 0, prefix_), inserted(layer, x.size(0)), x.narrow(1, rest, x.size(1) - rest)},
      1);
}

torch::Tensor Vpt::tokens(const torch::Tensor& x) {
  return blocks_.front() == 0 ? with_prompts(0, x, false) : x;
}

torch::Tensor Vpt::block_input(std::int64_t block, const torch::Tensor& x) {
  if (block == 0) return x;  // tokens() inserted them
  const auto found = std::find(blocks_.begin(), blocks_.end(), block);
  if (found == blocks_.end()) return x;  // the previous block's prompt outputs go on
  return with_prompts(found - blocks_.begin(), x, found != blocks_.begin());
}

torch::Tensor Vpt::final_tokens(const torch::Tensor& x) {
  if (prompts_in_pool_) return x;
  if (x.size(1) == 1) return x;  // the class token alone, before the prompts
  const std::int64_t rest = prefix_ + count_;
  return torch::cat({x.narrow(1, 0, prefix_), x.narrow(1, rest, x.size(1) - rest)}, 1);
}

}  // namespace vpet::peft
