// The Vision Transformer, with timm's semantics and parameter names
// (timm/models/vision_transformer.py). The forward pass is split at the
// named points where parameter-efficient methods act (DESIGN §2):
//
//   pixels ─ patch_tokens ─ tokens ─ add_pos_embed ─ blocks[0..depth) ─ final_norm
//          (conv)          ("layer 0")  (block 0 input)  (each block's input)
//   ─ pre_logits (pool, fc_norm: the pooled feature before the head) ─ head
//
// Inside a block, the linears q, k, v (one fused qkv weight, split by rows),
// o (attn.proj), fc1 and fc2 are named submodules, and attention is split
// into projection and attend() so keys/values and a mask can be supplied.
//
// Parameter names are timm's (blocks.3.attn.qkv.weight, ...): they are the
// canonical names the checkpoint importer maps every layout to.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <vector>

#include "vpet/model/config.h"
#include "vpet/model/hooks.h"

namespace vpet::model {

// Rows of the fused qkv projection: [q; k; v], each width rows.
enum class QkvPart { Q = 0, K = 1, V = 2 };

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(std::int64_t width, std::int64_t heads, bool qkv_bias);

  struct Qkv {
    torch::Tensor q, k, v;  // each [B, N, D], heads not yet split
  };
  // The q, k and v linears of x [B, N, D]. One fused matmul, then split, so
  // each can be adapted on its own.
  Qkv project(const torch::Tensor& x);
  // Multi-head scaled dot-product attention, heads merged back: [B, N, D].
  // k and v may hold more tokens than q (memory tokens). mask, when defined,
  // broadcasts to [B, heads, N, M]: bool (true = may attend) or additive float.
  torch::Tensor attend(const Qkv& qkv, const torch::Tensor& mask = {}) const;
  // proj(attend(project(x))): timm Attention.forward.
  torch::Tensor forward(const torch::Tensor& x);

  // Views into the fused parameters for one of q, k, v: [D, D] and [D]
  // (undefined bias when qkv_bias is off). They share storage with qkv.
  torch::Tensor weight_of(QkvPart part) const;
  torch::Tensor bias_of(QkvPart part) const;

  std::int64_t heads() const { return heads_; }

  torch::nn::Linear qkv{nullptr};   // [3D, D]
  torch::nn::Linear proj{nullptr};  // o: [D, D]

 private:
  std::int64_t heads_;
};
TORCH_MODULE(Attention);

// The MLP's non-linearity, applied to fc1's output.
torch::Tensor activate(const torch::Tensor& x, Activation act);

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(std::int64_t width, std::int64_t hidden, Activation act);
  torch::Tensor forward(const torch::Tensor& x);  // fc2(act(fc1(x)))

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  Activation act;
};
TORCH_MODULE(Mlp);

// Per-channel scale of a residual branch (timm LayerScale, parameter gamma).
class LayerScaleImpl : public torch::nn::Module {
 public:
  explicit LayerScaleImpl(std::int64_t width);
  torch::Tensor forward(const torch::Tensor& x) { return x * gamma; }

  torch::Tensor gamma;
};
TORCH_MODULE(LayerScale);

// Which rows of its output a block computes. Every token's key and value
// are needed either way; with First, only row 0 is queried and goes on
// through proj, norm2 and the MLP. The last block of a model that pools its
// class token needs no more: the other rows of its output are never read, so
// the loss and every gradient are the same (those rows' terms are zero).
enum class OutputRows { All, First };

// Pre-norm transformer block: x + ls1(attn(norm1(x))), then x + ls2(mlp(norm2(x))).
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const VitConfig& config);
  torch::Tensor forward(const torch::Tensor& x, OutputRows rows = OutputRows::All);
  // The same with a method's hooks at every linear and at the attention,
  // and stochastic depth: each residual branch is dropped per sample with
  // probability drop_rate while training. With OutputRows::First the hooks
  // from o on (o, norm2, fc1, fc2, mlp) see row 0 alone.
  torch::Tensor forward(const torch::Tensor& x, std::int64_t index, ForwardHooks& hooks,
                        double drop_rate, bool training, OutputRows rows = OutputRows::All);
  // The per-sample drop-path factors (model/drop_path.h) of the two residual
  // branches, attention's and the MLP's.
  struct BranchScales {
    torch::Tensor attention, mlp;  // undefined: nothing dropped
  };
  // The same with given factors instead of new draws: rows run beside the
  // block's own (masked memory's task rows) are dropped with the samples
  // they belong to.
  torch::Tensor forward(const torch::Tensor& x, std::int64_t index, ForwardHooks& hooks,
                        const BranchScales& scales, OutputRows rows = OutputRows::All);
  // The factors the last forward with a drop rate drew (its hooks may read
  // them from block_output() on).
  const BranchScales& last_scales() const { return last_scales_; }
  // The weight [out, in] of linear `site` (q, k, v: views into the fused
  // qkv). Throws std::logic_error for Site::Mlp, which is no one linear.
  torch::Tensor weight_of(Site site) const;
  // Its bias [out], undefined for a linear without one (qkv_bias off).
  torch::Tensor bias_of(Site site) const;

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
  LayerScale ls1{nullptr}, ls2{nullptr};  // null without layer scale

 private:
  // The hooked forward; factors drawn where `scales` is null.
  torch::Tensor hooked_forward(const torch::Tensor& input, std::int64_t index, ForwardHooks& hooks,
                               double drop_rate, bool training, const BranchScales* scales,
                               OutputRows rows);

  BranchScales last_scales_;
  torch::Tensor parameter_of(Site site, bool bias) const;
};
TORCH_MODULE(Block);

class PatchEmbedImpl : public torch::nn::Module {
 public:
  explicit PatchEmbedImpl(const VitConfig& config);
  // [B, C, H, W] -> [B, gh*gw, D], patches in row-major grid order.
  torch::Tensor forward(const torch::Tensor& pixels);

  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

// What vit-extract asks one forward pass for.
struct ExtractRequest {
  // Layer 0: tokens(), before the position embedding. Layer i (1..depth):
  // the output of block i-1. Each [B, prefix + N, D].
  std::vector<std::int64_t> layers;
  bool pre_logits = false;  // timm forward_head(pre_logits=True)
  bool patch_mean = false;  // fc_norm(mean of final-normed patch tokens)
  bool logits = false;
};

struct Extracted {
  std::vector<torch::Tensor> layers;             // in request order
  torch::Tensor pre_logits, patch_mean, logits;  // defined when requested
};

class VisionTransformerImpl : public torch::nn::Module {
 public:
  // Parameters get LibTorch's default initialisation (tokens: normal, std
  // 0.02); a checkpoint normally overwrites them all.
  explicit VisionTransformerImpl(const VitConfig& config);

  const VitConfig& config() const { return config_; }

  // The pieces of the forward pass, in order.
  // [B, C, H, W] pixels of exactly config().img_size -> [B, N, D].
  torch::Tensor patch_tokens(const torch::Tensor& pixels);
  // [cls, dist, reg..., patches] before any position embedding: [B, prefix + N, D].
  torch::Tensor tokens(const torch::Tensor& pixels);
  // The same with the patch embedding's output passed through the hooks.
  torch::Tensor tokens(const torch::Tensor& pixels, ForwardHooks& hooks);
  // + position embedding (timm _pos_embed: prefix tokens included unless
  // no_embed_class), then norm_pre: the input of block 0.
  torch::Tensor add_pos_embed(const torch::Tensor& tokens);
  // The same with norm_pre passed through the hooks.
  torch::Tensor add_pos_embed(const torch::Tensor& tokens, ForwardHooks& hooks);
  // The final norm (identity for an fc_norm model).
  torch::Tensor final_norm(const torch::Tensor& x);
  // fc_norm(pool(x)) of the final-normed sequence: the feature the head sees.
  // Not for avg-norm pooling, which pools before the norm (std::logic_error).
  torch::Tensor pre_logits(const torch::Tensor& x);
  // The same with fc_norm passed through the hooks.
  torch::Tensor pre_logits(const torch::Tensor& x, ForwardHooks& hooks);
  // fc_norm(mean over the patch tokens of the final-normed sequence).
  torch::Tensor patch_mean(const torch::Tensor& x);
  // head(features), or the features themselves when there is no head. A
  // distilled DeiT's own logits need its two tokens apart: forward() and
  // extract() give them.
  torch::Tensor head_logits(const torch::Tensor& features);

  // The whole pass: logits [B, classes] (pre-logits when there is no head).
  torch::Tensor forward(const torch::Tensor& pixels);
  // The pass up to the pooled feature [B, D] with a method's hooks at every
  // point of hooks.h: what a new head trains on.
  torch::Tensor features(const torch::Tensor& pixels, ForwardHooks& hooks,
                         const ForwardOptions& options = {});
  // Several outputs of one pass; runs blocks only as deep as needed.
  // Throws vpet::UsageError for a layer outside 0..depth.
  Extracted extract(const torch::Tensor& pixels, const ExtractRequest& request);

  // Rebuilds the position embedding for another input size (timm resampling,
  // see pos_embed.h) and updates config().img_size. Call once, not per batch.
  void set_img_size(std::array<std::int64_t, 2> img_size);

  PatchEmbed patch_embed{nullptr};
  torch::Tensor cls_token;   // [1, 1, D], undefined without a class token
  torch::Tensor dist_token;  // [1, 1, D], DeiT's distillation token, or undefined
  torch::Tensor reg_token;   // [1, R, D], undefined without registers
  torch::Tensor pos_embed;   // [1, pos_tokens, D]
  torch::nn::LayerNorm norm_pre{nullptr};
  torch::nn::ModuleList block_list{nullptr};  // registered as "blocks"
  std::vector<Block> blocks;                  // the same modules, typed
  torch::nn::LayerNorm norm{nullptr};         // null when fc_norm is on
  torch::nn::LayerNorm fc_norm{nullptr};
  torch::nn::Linear head{nullptr};
  torch::nn::Linear head_dist{nullptr};  // a distilled DeiT's second head, or null

 private:
  // A distilled DeiT's logits from the final-normed sequence: the mean of
  // head(x[:, 0]) and head_dist(x[:, 1]) (timm's forward_head at inference).
  torch::Tensor distilled_logits(const torch::Tensor& x);
  // Pooling the class token needs only row 0 of the last block's output;
  // a distilled model's rows 0 and 1.
  bool class_token_only(bool hooks_read_all) const;
  // Mean over the patch tokens, prefix tokens left out.
  torch::Tensor mean_of_patches(const torch::Tensor& x) const;

  VitConfig config_;
};
TORCH_MODULE(VisionTransformer);

}  // namespace vpet::model
