#include "vpet/model/export.h"

#include <map>
#include <sstream>

#include "vpet/error.h"

namespace vpet::model {
namespace {

torch::Tensor stored(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone();
}

std::string decimal(double value) {
  std::ostringstream text;
  text.precision(17);
  text << value;
  return text.str();
}

// What torchvision's and HF's ViT cannot be told to do: the first feature of
// `c` that the layout's model lacks, or "" when it has them all.
std::string unsupported(const VitConfig& c, Layout layout) {
  if (!c.class_token || c.pool != Pool::Token) {
    return std::string(pool_name(c.pool)) + " pooling (it pools the class token)";
  }
  if (c.dist_token) return "a distillation token (DeiT's)";
  if (c.reg_tokens > 0) return "register tokens";
  if (c.no_embed_class) return "a class token without a position embedding";
  if (c.layer_scale) return "layer scale";
  if (c.norm_pre) return "a norm before the first block (norm_pre)";
  if (c.fc_norm) return "fc_norm";
  if (layout == Layout::Torchvision) {
    // torchvision builds LayerNorm(eps=1e-6), nn.GELU and a square input.
    if (c.ln_eps != 1e-6) return "LayerNorm eps " + c10::str(c.ln_eps) + " (its eps is 1e-6)";
    if (c.act != Activation::Gelu) {
      return std::string("the ") + activation_name(c.act) + " activation (it has GELU)";
    }
    if (c.img_size[0] != c.img_size[1]) return "a non-square input";
  }
  return "";
}

}  // namespace

io::TensorMap export_checkpoint(const VisionTransformer& vit, const torch::Tensor& head_weight,
                                const torch::Tensor& head_bias, Layout layout) {
  const VitConfig& c = vit->config();
  if (layout != Layout::Timm) {
    const std::string missing = unsupported(c, layout);
    if (!missing.empty()) {
      throw Error(std::string(layout_name(layout)) + "'s ViT cannot express " + missing +
                  ", which this model has; write it in the timm layout");
    }
  }
  std::map<std::string, torch::Tensor> canonical;
  for (const auto& item : vit->named_parameters()) {
    if (item.key().rfind("head.", 0) == 0 || item.key().rfind("head_dist.", 0) == 0) continue;
    canonical[item.key()] = stored(item.value());
  }
  if (layout != Layout::Timm) {
    if (!c.patch_bias) canonical["patch_embed.proj.bias"] = torch::zeros({c.width});
    for (std::int64_t i = 0; i < c.depth && !c.qkv_bias; ++i) {
      canonical["blocks." + std::to_string(i) + ".attn.qkv.bias"] = torch::zeros({3 * c.width});
    }
  }
  if (head_weight.defined()) {
    canonical["head.weight"] = stored(head_weight);
    canonical["head.bias"] = stored(head_bias);
    // A distilled DeiT averages head(class token) and head_dist(its token);
    // the new head was trained on their mean, so the same head twice gives
    // its logits exactly (a linear map of the mean is the mean of the maps).
    if (c.dist_token) {
      canonical["head_dist.weight"] = stored(head_weight);
      canonical["head_dist.bias"] = stored(head_bias);
    }
  }
  io::TensorMap map = from_canonical(canonical, layout);
  if (layout == Layout::HuggingFace) {
    // ViTForImageClassification: the ViTModel under "vit.", beside its classifier.
    for (auto& [name, tensor] : map.tensors) {
      if (name.rfind("classifier.", 0) != 0) name = "vit." + name;
    }
  }
  map.metadata["format"] = "pt";
  // HF's config.json says it; timm's and torchvision's files need it.
  if (layout != Layout::HuggingFace) map.metadata["num_heads"] = std::to_string(c.heads);
  if (layout == Layout::Timm) {
    if (c.ln_eps != 1e-6) map.metadata["layer_norm_eps"] = decimal(c.ln_eps);
    if (c.act != Activation::Gelu) map.metadata["act"] = activation_name(c.act);
  }
  return map;
}

nlohmann::json hf_vit_config(const VitConfig& c, const std::vector<std::string>& classes) {
  nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
  for (std::size_t i = 0; i < classes.size(); ++i) {
    id2label[std::to_string(i)] = classes[i];
    label2id[classes[i]] = i;
  }
  const char* act = c.act == Activation::Gelu        ? "gelu"
                    : c.act == Activation::QuickGelu ? "quick_gelu"
                                                     : "gelu_pytorch_tanh";
  nlohmann::json image_size = c.img_size[0];
  if (c.img_size[0] != c.img_size[1]) image_size = {c.img_size[0], c.img_size[1]};
  nlohmann::json config = {{"architectures", nlohmann::json::array({"ViTForImageClassification"})},
                           {"model_type", "vit"},
                           {"hidden_size", c.width},
                           {"num_hidden_layers", c.depth},
                           {"num_attention_heads", c.heads},
                           {"intermediate_size", c.mlp_hidden},
                           {"hidden_act", act},
                           {"hidden_dropout_prob", 0.0},
                           {"attention_probs_dropout_prob", 0.0},
                           {"initializer_range", 0.02},
                           {"layer_norm_eps", c.ln_eps},
                           {"image_size", image_size},
                           {"patch_size", c.patch_size},
                           {"num_channels", c.in_chans},
                           {"qkv_bias", true},
                           {"encoder_stride", c.patch_size},
                           {"torch_dtype", "float32"}};
  if (!classes.empty()) {
    config["id2label"] = id2label;
    config["label2id"] = label2id;
  }
  return config;
}

}  // namespace vpet::model
