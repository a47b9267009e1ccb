// The shape of a Vision Transformer, with timm's vocabulary
// (timm/models/vision_transformer.py, VisionTransformer.__init__).
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace vpet::model {

// How the final token sequence becomes one feature vector (timm global_pool).
enum class Pool {
  Token,  // the class token ('token')
  Avg,    // the mean of the final-normed patch tokens, prefix tokens excluded ('avg')
  // The mean of the tokens after the prefix, before any norm, then the final
  // norm: MAE's global_pool readout as Self-Prompt's Models/MAE_vpt_deep.py
  // computes it, x[:, 1:].mean(1) then self.norm (prompts included there,
  // when a method keeps them for the pool).
  AvgNorm,
};

// The MLP's activation (timm act_layer, HF hidden_act).
enum class Activation {
  Gelu,       // the exact (erf) GELU: timm's and HF's "gelu"
  GeluTanh,   // the tanh approximation: HF "gelu_new" / "gelu_pytorch_tanh"
  QuickGelu,  // x * sigmoid(1.702 x): OpenAI CLIP's, HF "quick_gelu"
};

// "gelu", "gelu-tanh", "quick-gelu".
const char* activation_name(Activation act);
// One of activation_name's names; throws vpet::UsageError naming `option`.
Activation parse_activation(const std::string& name, const std::string& option);

const char* pool_name(Pool pool);
// "token", "avg" or "avg-norm"; throws vpet::UsageError otherwise.
Pool parse_pool(const std::string& name);

struct VitConfig {
  // The input the model is built for, {height, width}. The position
  // embedding holds one entry per patch of this grid.
  std::array<std::int64_t, 2> img_size{224, 224};
  std::int64_t patch_size = 16;
  std::int64_t in_chans = 3;
  std::int64_t width = 768;  // embed_dim
  std::int64_t depth = 12;
  std::int64_t heads = 12;
  std::int64_t mlp_hidden = 3072;
  bool class_token = true;
  // DeiT's distillation token, right after the class token (timm's
  // VisionTransformerDistilled, timm/models/deit.py). The backbone keeps it
  // in the sequence; token pooling is then the mean of the two final-normed
  // tokens, as timm's forward_head(pre_logits=True), and the model's own
  // logits are the mean of head(class token) and head_dist(its token).
  bool dist_token = false;
  std::int64_t reg_tokens = 0;
  // Prefix tokens (class, distillation, registers) get no position embedding (timm
  // no_embed_class; DINOv2 with registers).
  bool no_embed_class = false;
  bool layer_scale = false;  // ls1.gamma / ls2.gamma per block
  double ln_eps = 1e-6;
  Activation act = Activation::Gelu;
  bool qkv_bias = true;
  bool patch_bias = true;
  // LayerNorm on the embedded tokens before the first block (CLIP).
  bool norm_pre = false;
  Pool pool = Pool::Token;
  // LayerNorm after pooling; the final norm is then the identity (timm
  // use_fc_norm, e.g. MAE fine-tuning with avg pooling).
  bool fc_norm = false;
  std::int64_t num_classes = 0;  // 0: no head, logits are the pre-logits

  std::int64_t grid_h() const { return img_size[0] / patch_size; }
  std::int64_t grid_w() const { return img_size[1] / patch_size; }
  std::int64_t num_patches() const { return grid_h() * grid_w(); }
  std::int64_t prefix_tokens() const {
    return (class_token ? 1 : 0) + (dist_token ? 1 : 0) + reg_tokens;
  }
  // Tokens the position embedding covers.
  std::int64_t pos_tokens() const { return num_patches() + (no_embed_class ? 0 : prefix_tokens()); }

  // Throws vpet::Error when the numbers do not make a ViT (width not a
  // multiple of heads, image not a multiple of the patch, token pooling
  // without a class token, ...).
  void validate() const;
};

}  // namespace vpet::model
