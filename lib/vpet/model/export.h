// A backbone as a safetensors checkpoint in a key layout that its own
// library loads by name, with no vpet code: timm (vpet's canonical names),
// torchvision (VisionTransformer's state_dict: class_token, conv_proj,
// encoder.layers.encoder_layer_N) or Hugging Face (ViTForImageClassification:
// "vit." + ViTModel's names, the head as "classifier", and config.json).
// What `peft-train --export-backbone` and `peft-export --merge` write.
//
// Tensors: every parameter under its name in the layout, except the
// backbone's own head, which is replaced by the given one or left out (a
// distilled DeiT's head_dist too: the given head serves as both, timm only);
// float32. The names come from key_layout's table, the one the loader reads.
// __metadata__: format "pt" (as timm writes); num_heads for timm and
// torchvision (vpet's loader reads it, so widths that are not a multiple of
// 64 load without --heads; HF's config.json has it); for timm also
// layer_norm_eps when it is not 1e-6 and act when it is not gelu.
// torchvision and HF always have q/k/v and patch biases: a model without them
// gets zeros there, the same function.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/io/safetensors.h"
#include "vpet/model/key_layout.h"
#include "vpet/model/vit.h"

namespace vpet::model {

// `head_weight`/`head_bias` may be undefined: no head. `layout` is Timm,
// Torchvision or HuggingFace. Throws vpet::Error saying what the layout's
// model lacks (torchvision: register tokens, layer scale, average pooling,
// an eps other than 1e-6, ...) when it cannot compute what `vit` computes.
io::TensorMap export_checkpoint(const VisionTransformer& vit, const torch::Tensor& head_weight,
                                const torch::Tensor& head_bias, Layout layout = Layout::Timm);

// The config.json of ViTForImageClassification for `vit`, with `classes` as
// id2label/label2id (none: no labels). Call after export_checkpoint, which
// refuses what HF's ViT cannot express.
nlohmann::json hf_vit_config(const VitConfig& config, const std::vector<std::string>& classes);

}  // namespace vpet::model
