#include "vpet/peft/ssf.h"

#include "vpet/peft/parameter_init.h"

namespace vpet::peft {
namespace {

using model::NormSite;
using model::Site;

// init_ssf_scale_shift: scale N(1, 0.02), shift N(0, 0.02).
constexpr double kInitStd = 0.02;

// W ← diag(γ) W (γ over W's first dimension), b ← γ ⊙ b + β.
void fold(torch::Tensor weight, torch::Tensor bias, const torch::Tensor& scale,
          const torch::Tensor& shift) {
  std::vector<std::int64_t> shape(std::size_t(weight.dim()), 1);
  shape[0] = -1;
  weight.mul_(scale.view(shape));
  bias.mul_(scale).add_(shift);
}

}  // namespace

Ssf::Ssf(const nlohmann::json& config) {
  (void)config;  // SSF has no settings
}

Ssf::ScaleShift Ssf::ScaleShift::rows(std::int64_t start, std::int64_t count) const {
  return {scale.narrow(0, start, count), shift.narrow(0, start, count)};
}

void Ssf::attach(model::VisionTransformer& vit, torch::Generator& generator) {
  const auto& c = vit->config();
  width_ = c.width;
  final_norm_ = bool(vit->norm);
  const auto make = [&](std::int64_t channels) {
    torch::Tensor scale = normal({channels}, kInitStd, generator) + 1.0;
    return ScaleShift{trainable_like(scale, vit->pos_embed),
                      trainable_like(normal({channels}, kInitStd, generator), vit->pos_embed)};
  };
  // The released code's creation order: the patch embedding's, the model's
  // own (final), then per block the attention's, the MLP's, the block's.
  patch_ = make(c.width);
  final_ = make(c.width);
  blocks_.clear();
  for (std::int64_t i = 0; i < c.depth; ++i) {
    BlockTuning block;
    block.qkv = make(3 * c.width);
    block.proj = make(c.width);
    block.fc1 = make(c.mlp_hidden);
    block.fc2 = make(c.width);
    block.norm1 = make(c.width);
    block.norm2 = make(c.width);
    blocks_.push_back(block);
  }
}

NamedTensors Ssf::trainable() const {
  NamedTensors tensors;
  const auto add = [&](const std::string& prefix, const char* index, const ScaleShift& s) {
    tensors.emplace_back(prefix + "ssf_scale_" + index, s.scale);
    tensors.emplace_back(prefix + "ssf_shift_" + index, s.shift);
  };
  add("patch_embed.", "1", patch_);
  add("", "1", final_);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    const std::string block = "blocks." + std::to_string(i) + ".";
    add(block + "attn.", "1", blocks_[i].qkv);
    add(block + "attn.", "2", blocks_[i].proj);
    add(block + "mlp.", "1", blocks_[i].fc1);
    add(block + "mlp.", "2", blocks_[i].fc2);
    add(block, "1", blocks_[i].norm1);
    add(block, "2", blocks_[i].norm2);
  }
  return tensors;
}

torch::Tensor Ssf::patches(const torch::Tensor& x) {
  return patch_.apply(x);
}

torch::Tensor Ssf::linear(std::int64_t block, Site site, const torch::Tensor& input,
                          const torch::Tensor& output) {
  (void)input;
  const BlockTuning& tuning = blocks_[std::size_t(block)];
  switch (site) {
    case Site::Q:
    case Site::K:
    case Site::V:
      return tuning.qkv.rows(std::int64_t(site) * width_, width_).apply(output);
    case Site::O:
      return tuning.proj.apply(output);
    case Site::Fc1:
      return tuning.fc1.apply(output);
    case Site::Fc2:
      return tuning.fc2.apply(output);
    case Site::Mlp:
      break;
  }
  return output;
}

torch::Tensor Ssf::norm(std::int64_t block, NormSite site, const torch::Tensor& input,
                        const torch::Tensor& output) {
  (void)input;
  if (site == NormSite::Norm1) return blocks_[std::size_t(block)].norm1.apply(output);
  if (site == NormSite::Norm2) return blocks_[std::size_t(block)].norm2.apply(output);
  if (site == NormSite::Final) return final_.apply(output);
  return output;
}

torch::Tensor Ssf::final_tokens(const torch::Tensor& x) {
  return final_norm_ ? x : final_.apply(x);
}

void Ssf::merge_into(model::VisionTransformer& vit) const {
  if (!final_norm_) {
    refuse_merge(
        "this model has no final norm: its last scale and shift come before fc_norm, "
        "which no weight can hold");
  }
  for (const auto& block : vit->blocks) {
    for (Site site : {Site::Q, Site::O, Site::Fc1, Site::Fc2}) {
      if (!block->bias_of(site).defined()) {
        refuse_merge(std::string("the model's ") + model::site_name(site) +
                     " linear has no bias to hold the shift");
      }
    }
  }
  torch::NoGradGuard no_grad;
  const torch::nn::Conv2d& patch = vit->patch_embed->proj;
  if (patch->bias.defined()) {
    fold(patch->weight, patch->bias, patch_.scale, patch_.shift);
  } else {
    // The shift then joins the position embedding of the patch rows.
    patch->weight.mul_(patch_.scale.view({-1, 1, 1, 1}));
    const std::int64_t patches = vit->config().num_patches();
    vit->pos_embed.narrow(1, vit->pos_embed.size(1) - patches, patches).add_(patch_.shift);
  }
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    const model::Block& block = vit->blocks[i];
    const BlockTuning& tuning = blocks_[i];
    fold(block->norm1->weight, block->norm1->bias, tuning.norm1.scale, tuning.norm1.shift);
    fold(block->attn->qkv->weight, block->attn->qkv->bias, tuning.qkv.scale, tuning.qkv.shift);
    fold(block->attn->proj->weight, block->attn->proj->bias, tuning.proj.scale, tuning.proj.shift);
    fold(block->norm2->weight, block->norm2->bias, tuning.norm2.scale, tuning.norm2.shift);
    fold(block->mlp->fc1->weight, block->mlp->fc1->bias, tuning.fc1.scale, tuning.fc1.shift);
    fold(block->mlp->fc2->weight, block->mlp->fc2->bias, tuning.fc2.scale, tuning.fc2.shift);
  }
  fold(vit->norm->weight, vit->norm->bias, final_.scale, final_.shift);
}

}  // namespace vpet::peft
