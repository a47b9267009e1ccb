#include "vpet/model/vit.h"

#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "vpet/error.h"
#include "vpet/model/drop_path.h"
#include "vpet/model/pos_embed.h"

namespace vpet::model {
namespace {

torch::nn::LayerNorm layer_norm(std::int64_t width, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(eps));
}

std::string size_string(std::int64_t c, std::int64_t h, std::int64_t w) {
  return std::to_string(c) + "x" + std::to_string(h) + "x" + std::to_string(w);
}

// A norm's output, passed through the hooks.
torch::Tensor hooked_norm(torch::nn::LayerNorm& norm, const torch::Tensor& x, ForwardHooks& hooks,
                          std::int64_t block, NormSite site) {
  return hooks.norm(block, site, x, norm->forward(x));
}

// The identity at every point: the frozen model's own forward.
ForwardHooks& no_hooks() {
  static ForwardHooks identity;
  return identity;
}

}  // namespace

const char* site_name(Site site) {
  switch (site) {
    case Site::Q:
      return "q";
    case Site::K:
      return "k";
    case Site::V:
      return "v";
    case Site::O:
      return "o";
    case Site::Fc1:
      return "fc1";
    case Site::Fc2:
      return "fc2";
    case Site::Mlp:
      return "mlp";
  }
  return "?";
}

const char* norm_name(NormSite site) {
  switch (site) {
    case NormSite::Norm1:
      return "norm1";
    case NormSite::Norm2:
      return "norm2";
    case NormSite::Pre:
      return "norm_pre";
    case NormSite::Final:
      return "norm";
    case NormSite::Fc:
      return "fc_norm";
  }
  return "?";
}

AttentionImpl::AttentionImpl(std::int64_t width, std::int64_t heads, bool qkv_bias)
    : heads_(heads) {
  qkv = register_module(
      "qkv", torch::nn::Linear(torch::nn::LinearOptions(width, 3 * width).bias(qkv_bias)));
  proj = register_module("proj", torch::nn::Linear(width, width));
}

AttentionImpl::Qkv AttentionImpl::project(const torch::Tensor& x) {
  const auto parts = qkv->forward(x).chunk(3, -1);
  return {parts[0], parts[1], parts[2]};
}

torch::Tensor AttentionImpl::attend(const Qkv& qkv_in, const torch::Tensor& mask) const {
  const std::int64_t batch = qkv_in.q.size(0);
  const std::int64_t width = qkv_in.q.size(2);
  const std::int64_t head_dim = width / heads_;
  // [B, N, D] -> [B, H, N, hd]: the same head split as timm's
  // reshape(B, N, 3, H, hd) of the fused output.
  auto split = [&](const torch::Tensor& t) {
    return t.reshape({batch, t.size(1), heads_, head_dim}).transpose(1, 2);
  };
  const torch::Tensor q = split(qkv_in.q), k = split(qkv_in.k), v = split(qkv_in.v);
  torch::Tensor out;
#if TORCH_VERSION_MAJOR >= 2
  // Fused kernels (flash / memory-efficient on CUDA); default scale 1/sqrt(hd).
  out = at::scaled_dot_product_attention(
      q, k, v, mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt);
#else
  // LibTorch 1.13 has no public fused attention: timm's explicit path.
  torch::Tensor scores =
      torch::matmul(q * (1.0 / std::sqrt(double(head_dim))), k.transpose(-2, -1));
  if (mask.defined()) {
    scores = mask.scalar_type() == torch::kBool
                 ? scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity())
                 : scores + mask;
  }
  out = torch::matmul(scores.softmax(-1), v);
#endif
  return out.transpose(1, 2).reshape({batch, q.size(2), width});
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x) {
  return proj->forward(attend(project(x)));
}

torch::Tensor AttentionImpl::weight_of(QkvPart part) const {
  const std::int64_t width = proj->weight.size(0);
  return qkv->weight.narrow(0, std::int64_t(part) * width, width);
}

torch::Tensor AttentionImpl::bias_of(QkvPart part) const {
  if (!qkv->bias.defined()) return {};
  const std::int64_t width = proj->weight.size(0);
  return qkv->bias.narrow(0, std::int64_t(part) * width, width);
}

torch::Tensor activate(const torch::Tensor& x, Activation act) {
  switch (act) {
    case Activation::Gelu:
      return torch::gelu(x);
    case Activation::GeluTanh:
      return torch::gelu(x, "tanh");
    case Activation::QuickGelu:
      return x * torch::sigmoid(1.702 * x);
  }
  throw std::logic_error("unknown activation");
}

MlpImpl::MlpImpl(std::int64_t width, std::int64_t hidden, Activation act) : act(act) {
  fc1 = register_module("fc1", torch::nn::Linear(width, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, width));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  return fc2->forward(activate(fc1->forward(x), act));
}

LayerScaleImpl::LayerScaleImpl(std::int64_t width) {
  gamma = register_parameter("gamma", torch::ones({width}));
}

BlockImpl::BlockImpl(const VitConfig& config) {
  norm1 = register_module("norm1", layer_norm(config.width, config.ln_eps));
  attn = register_module("attn", Attention(config.width, config.heads, config.qkv_bias));
  if (config.layer_scale) ls1 = register_module("ls1", LayerScale(config.width));
  norm2 = register_module("norm2", layer_norm(config.width, config.ln_eps));
  mlp = register_module("mlp", Mlp(config.width, config.mlp_hidden, config.act));
  if (config.layer_scale) ls2 = register_module("ls2", LayerScale(config.width));
}

torch::Tensor BlockImpl::weight_of(Site site) const {
  return parameter_of(site, false);
}

torch::Tensor BlockImpl::bias_of(Site site) const {
  return parameter_of(site, true);
}

torch::Tensor BlockImpl::parameter_of(Site site, bool bias) const {
  torch::nn::Linear linear{nullptr};
  switch (site) {
    case Site::Q:
    case Site::K:
    case Site::V: {
      // Site::Q, K, V are the fused qkv's row blocks in order.
      const auto part = QkvPart(int(site) - int(Site::Q));
      return bias ? attn->bias_of(part) : attn->weight_of(part);
    }
    case Site::O:
      linear = attn->proj;
      break;
    case Site::Fc1:
      linear = mlp->fc1;
      break;
    case Site::Fc2:
      linear = mlp->fc2;
      break;
    case Site::Mlp:
      throw std::logic_error("the whole MLP is no one linear");
  }
  return bias ? linear->bias : linear->weight;
}

namespace {

// Row 0 of a [B, N, ...] sequence, kept 3-d.
torch::Tensor first_row(const torch::Tensor& x) {
  return x.narrow(1, 0, 1);
}

// The queries, residual and mask of a block that computes only some rows.
struct Queried {
  torch::Tensor q, residual, mask;
};

Queried queried_rows(const torch::Tensor& q, const torch::Tensor& residual,
                     const torch::Tensor& mask, OutputRows rows) {
  if (rows == OutputRows::All) return {q, residual, mask};
  // A mask broadcasts to [B, heads, N, M]: narrow its query axis when it has one.
  const bool per_query = mask.defined() && mask.dim() >= 2 && mask.size(-2) > 1;
  return {first_row(q), first_row(residual), per_query ? mask.narrow(-2, 0, 1) : mask};
}

}  // namespace

torch::Tensor BlockImpl::forward(const torch::Tensor& input, OutputRows rows) {
  const AttentionImpl::Qkv projected = attn->project(norm1->forward(input));
  const Queried queried = queried_rows(projected.q, input, {}, rows);
  torch::Tensor branch = attn->proj->forward(attn->attend({queried.q, projected.k, projected.v}));
  const torch::Tensor x = queried.residual + (ls1 ? ls1->forward(branch) : branch);
  branch = mlp->forward(norm2->forward(x));
  return x + (ls2 ? ls2->forward(branch) : branch);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& input, std::int64_t index,
                                 ForwardHooks& hooks, double drop_rate, bool training,
                                 OutputRows rows) {
  return hooked_forward(input, index, hooks, drop_rate, training, nullptr, rows);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& input, std::int64_t index,
                                 ForwardHooks& hooks, const BranchScales& scales, OutputRows rows) {
  return hooked_forward(input, index, hooks, 0.0, false, &scales, rows);
}

torch::Tensor BlockImpl::hooked_forward(const torch::Tensor& input, std::int64_t index,
                                        ForwardHooks& hooks, double drop_rate, bool training,
                                        const BranchScales* scales, OutputRows rows) {
  const torch::Tensor normed = hooked_norm(norm1, input, hooks, index, NormSite::Norm1);
  const AttentionImpl::Qkv projected = attn->project(normed);
  AttentionInputs inputs{hooks.linear(index, Site::Q, normed, projected.q),
                         hooks.linear(index, Site::K, normed, projected.k),
                         hooks.linear(index, Site::V, normed, projected.v),
                         {}};
  hooks.attention(index, *this, inputs);
  // q is projected for every row even when one is kept: its hooks see the
  // same input as k's and v's (SPT draws one dropout mask for the three).
  const Queried queried = queried_rows(inputs.q, input, inputs.mask, rows);
  const torch::Tensor attended = attn->attend({queried.q, inputs.k, inputs.v}, queried.mask);
  torch::Tensor branch = hooks.linear(index, Site::O, attended, attn->proj->forward(attended));
  if (ls1) branch = ls1->forward(branch);
  // Drawn where drop_path drew them, so that the random stream is the same.
  const torch::Tensor attention_scale =
      scales ? scales->attention : drop_path_scale(branch, drop_rate, training);
  const torch::Tensor x = queried.residual + scaled_branch(branch, attention_scale);

  const torch::Tensor mlp_in = hooked_norm(norm2, x, hooks, index, NormSite::Norm2);
  const torch::Tensor hidden =
      activate(hooks.linear(index, Site::Fc1, mlp_in, mlp->fc1->forward(mlp_in)), mlp->act);
  const torch::Tensor mlp_out = hooks.linear(index, Site::Fc2, hidden, mlp->fc2->forward(hidden));
  branch = hooks.linear(index, Site::Mlp, mlp_in, mlp_out);
  if (ls2) branch = ls2->forward(branch);
  const torch::Tensor mlp_scale =
      scales ? scales->mlp : drop_path_scale(branch, drop_rate, training);
  if (!scales) last_scales_ = {attention_scale, mlp_scale};
  return hooks.block_output(index, x, x + scaled_branch(branch, mlp_scale));
}

PatchEmbedImpl::PatchEmbedImpl(const VitConfig& config) {
  proj = register_module(
      "proj",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(config.in_chans, config.width, config.patch_size)
                            .stride(config.patch_size)
                            .bias(config.patch_bias)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& pixels) {
  return proj->forward(pixels).flatten(2).transpose(1, 2);
}

VisionTransformerImpl::VisionTransformerImpl(const VitConfig& config) : config_(config) {
  config_.validate();
  const std::int64_t d = config_.width;
  patch_embed = register_module("patch_embed", PatchEmbed(config_));
  if (config_.class_token)
    cls_token = register_parameter("cls_token", torch::randn({1, 1, d}) * 0.02);
  if (config_.dist_token)
    dist_token = register_parameter("dist_token", torch::randn({1, 1, d}) * 0.02);
  if (config_.reg_tokens > 0) {
    reg_token = register_parameter("reg_token", torch::randn({1, config_.reg_tokens, d}) * 0.02);
  }
  pos_embed = register_parameter("pos_embed", torch::randn({1, config_.pos_tokens(), d}) * 0.02);
  if (config_.norm_pre) norm_pre = register_module("norm_pre", layer_norm(d, config_.ln_eps));
  block_list = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < config_.depth; ++i) {
    blocks.push_back(Block(config_));
    block_list->push_back(blocks.back());
  }
  if (config_.fc_norm) {
    fc_norm = register_module("fc_norm", layer_norm(d, config_.ln_eps));
  } else {
    norm = register_module("norm", layer_norm(d, config_.ln_eps));
  }
  if (config_.num_classes > 0) {
    head = register_module("head", torch::nn::Linear(d, config_.num_classes));
    if (config_.dist_token) {
      head_dist = register_module("head_dist", torch::nn::Linear(d, config_.num_classes));
    }
  }
}

torch::Tensor VisionTransformerImpl::patch_tokens(const torch::Tensor& pixels) {
  const auto& c = config_;
  if (pixels.dim() != 4 || pixels.size(1) != c.in_chans || pixels.size(2) != c.img_size[0] ||
      pixels.size(3) != c.img_size[1]) {
    std::string got = pixels.dim() == 4
                          ? size_string(pixels.size(1), pixels.size(2), pixels.size(3))
                          : "a " + std::to_string(pixels.dim()) + "-d tensor";
    throw Error("ViT input is " + got + " per image but the model is built for " +
                size_string(c.in_chans, c.img_size[0], c.img_size[1]) +
                " (load the model with that image size to resample its position embedding)");
  }
  return patch_embed->forward(pixels);
}

torch::Tensor VisionTransformerImpl::tokens(const torch::Tensor& pixels) {
  return tokens(pixels, no_hooks());
}

torch::Tensor VisionTransformerImpl::tokens(const torch::Tensor& pixels, ForwardHooks& hooks) {
  const torch::Tensor patches = hooks.patches(patch_tokens(pixels));
  const std::int64_t batch = patches.size(0);
  std::vector<torch::Tensor> parts;
  if (cls_token.defined()) parts.push_back(cls_token.expand({batch, -1, -1}));
  if (dist_token.defined()) parts.push_back(dist_token.expand({batch, -1, -1}));
  if (reg_token.defined()) parts.push_back(reg_token.expand({batch, -1, -1}));
  if (parts.empty()) return patches;
  parts.push_back(patches);
  return torch::cat(parts, 1);
}

torch::Tensor VisionTransformerImpl::add_pos_embed(const torch::Tensor& tokens) {
  return add_pos_embed(tokens, no_hooks());
}

torch::Tensor VisionTransformerImpl::add_pos_embed(const torch::Tensor& tokens,
                                                   ForwardHooks& hooks) {
  torch::Tensor x;
  if (config_.no_embed_class) {
    const std::int64_t prefix = config_.prefix_tokens();
    x = torch::cat({tokens.narrow(1, 0, prefix),
                    tokens.narrow(1, prefix, tokens.size(1) - prefix) + pos_embed},
                   1);
  } else {
    x = tokens + pos_embed;
  }
  return norm_pre ? hooked_norm(norm_pre, x, hooks, -1, NormSite::Pre) : x;
}

torch::Tensor VisionTransformerImpl::final_norm(const torch::Tensor& x) {
  return norm ? norm->forward(x) : x;
}

torch::Tensor VisionTransformerImpl::pre_logits(const torch::Tensor& x) {
  return pre_logits(x, no_hooks());
}

torch::Tensor VisionTransformerImpl::pre_logits(const torch::Tensor& x, ForwardHooks& hooks) {
  if (config_.pool == Pool::AvgNorm) {
    throw std::logic_error("avg-norm pools before the final norm: use features() or extract()");
  }
  torch::Tensor pooled;
  if (config_.pool == Pool::Avg) {
    pooled = mean_of_patches(x);
  } else {
    pooled = dist_token.defined() ? (x.select(1, 0) + x.select(1, 1)) / 2 : x.select(1, 0);
  }
  return fc_norm ? hooked_norm(fc_norm, pooled, hooks, -1, NormSite::Fc) : pooled;
}

torch::Tensor VisionTransformerImpl::patch_mean(const torch::Tensor& x) {
  const torch::Tensor mean = mean_of_patches(x);
  return fc_norm ? fc_norm->forward(mean) : mean;
}

torch::Tensor VisionTransformerImpl::mean_of_patches(const torch::Tensor& x) const {
  const std::int64_t prefix = config_.prefix_tokens();
  return x.narrow(1, prefix, x.size(1) - prefix).mean(1);
}

torch::Tensor VisionTransformerImpl::head_logits(const torch::Tensor& features) {
  return head ? head->forward(features) : features;
}

torch::Tensor VisionTransformerImpl::distilled_logits(const torch::Tensor& x) {
  return (head->forward(x.select(1, 0)) + head_dist->forward(x.select(1, 1))) / 2;
}

bool VisionTransformerImpl::class_token_only(bool hooks_read_all) const {
  return config_.pool == Pool::Token && !dist_token.defined() && !hooks_read_all;
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& pixels) {
  if (head_dist) {
    ExtractRequest request;
    request.logits = true;
    return extract(pixels, request).logits;
  }
  return head_logits(features(pixels, no_hooks()));
}

torch::Tensor VisionTransformerImpl::features(const torch::Tensor& pixels, ForwardHooks& hooks,
                                              const ForwardOptions& options) {
  torch::Tensor x = hooks.tokens(add_pos_embed(tokens(hooks.pixels(pixels), hooks), hooks));
  const std::int64_t depth = config_.depth;
  const OutputRows last_rows =
      class_token_only(hooks.reads_all_final_tokens()) ? OutputRows::First : OutputRows::All;
  for (std::int64_t i = 0; i < depth; ++i) {
    // timm's stochastic-depth schedule: linspace(0, rate, depth).
    const double rate = depth > 1 ? options.drop_path * double(i) / double(depth - 1) : 0.0;
    x = blocks[std::size_t(i)]->forward(hooks.block_input(i, x), i, hooks, rate, options.training,
                                        i == depth - 1 ? last_rows : OutputRows::All);
  }
  x = hooks.final_tokens(x);
  if (config_.pool == Pool::AvgNorm) {
    return hooks.pooled(hooked_norm(norm, mean_of_patches(x), hooks, -1, NormSite::Final));
  }
  if (norm) x = hooked_norm(norm, x, hooks, -1, NormSite::Final);
  return hooks.pooled(pre_logits(x, hooks));
}

Extracted VisionTransformerImpl::extract(const torch::Tensor& pixels,
                                         const ExtractRequest& request) {
  const bool need_final = request.pre_logits || request.patch_mean || request.logits;
  std::int64_t depth_needed = need_final ? config_.depth : 0;
  for (std::int64_t layer : request.layers) {
    if (layer < 0 || layer > config_.depth) {
      throw UsageError("layer " + std::to_string(layer) +
                       " is out of range: this ViT has layers 0.." + std::to_string(config_.depth) +
                       " (0 = tokens before the position embedding)");
    }
    depth_needed = std::max(depth_needed, layer);
  }
  // Keep each requested layer once, then hand it to every slot that asked.
  std::vector<torch::Tensor> by_layer(std::size_t(config_.depth + 1));
  auto wanted = [&](std::int64_t layer) {
    return std::find(request.layers.begin(), request.layers.end(), layer) != request.layers.end();
  };
  torch::Tensor x = tokens(pixels);
  if (wanted(0)) by_layer[0] = x;
  x = add_pos_embed(x);
  // Pooling the class token reads row 0 of the last block alone (OutputRows).
  const bool first_row_only =
      need_final && !request.patch_mean && class_token_only(wanted(config_.depth));
  for (std::int64_t i = 0; i < depth_needed; ++i) {
    const bool last = i == config_.depth - 1;
    x = blocks[std::size_t(i)]->forward(
        x, last && first_row_only ? OutputRows::First : OutputRows::All);
    if (wanted(i + 1)) by_layer[std::size_t(i + 1)] = x;
  }
  Extracted out;
  for (std::int64_t layer : request.layers) out.layers.push_back(by_layer[std::size_t(layer)]);
  if (need_final) {
    // avg-norm pools before the norm; patch_mean is of the normed tokens.
    const torch::Tensor pooled_first =
        config_.pool == Pool::AvgNorm ? norm->forward(mean_of_patches(x)) : torch::Tensor();
    x = final_norm(x);
    const torch::Tensor features = pooled_first.defined() ? pooled_first : pre_logits(x);
    if (request.pre_logits) out.pre_logits = features;
    if (request.patch_mean) out.patch_mean = patch_mean(x);
    if (request.logits) out.logits = head_dist ? distilled_logits(x) : head_logits(features);
  }
  return out;
}

void VisionTransformerImpl::set_img_size(std::array<std::int64_t, 2> img_size) {
  VitConfig next = config_;
  next.img_size = img_size;
  next.validate();
  torch::NoGradGuard no_grad;
  const torch::Tensor resampled =
      resample_pos_embed(pos_embed, config_.no_embed_class ? 0 : config_.prefix_tokens(),
                         {config_.grid_h(), config_.grid_w()}, {next.grid_h(), next.grid_w()});
  // set_data keeps the registered parameter (and its requires_grad) while
  // changing its shape.
  pos_embed.set_data(resampled.contiguous());
  config_ = next;
}

}  // namespace vpet::model
