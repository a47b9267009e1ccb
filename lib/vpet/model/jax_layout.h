// Google's JAX/Flax ViT checkpoints (.npz from google-research/vision_transformer:
// ViT-B_16.npz, the AugReg files; big_vision's layout too), converted to
// timm's key names and tensor layouts, which the rest of the importer reads
// (key_layout.h). The conversion is timm's own for these files
// (timm/models/vision_transformer.py, _load_weights):
//
//   embedding/kernel [ph, pw, C, D] (HWIO)         -> patch_embed.proj.weight [D, C, ph, pw]
//   cls [1, 1, D]                                   -> cls_token
//   Transformer/posembed_input/pos_embedding        -> pos_embed
//   Transformer/encoderblock_N/
//     LayerNorm_0/{scale,bias}                      -> blocks.N.norm1.{weight,bias}
//     MultiHeadDotProductAttention_1/{query,key,value}/kernel [D, H, d]
//                                                   -> blocks.N.attn.qkv.weight [3 H d, D]
//     MultiHeadDotProductAttention_1/out/kernel [H, d, D] -> blocks.N.attn.proj.weight [D, H d]
//     LayerNorm_2/{scale,bias}                      -> blocks.N.norm2
//     MlpBlock_3/Dense_{0,1}/kernel [in, out]       -> blocks.N.mlp.fc{1,2}.weight [out, in]
//   Transformer/encoder_norm/{scale,bias}           -> norm
//   head/{kernel,bias}                              -> head
//
// big_vision names the sub-layers MultiHeadDotProductAttention_0, LayerNorm_1
// and MlpBlock_0, keeps the position embedding at pos_embedding, and may
// stack the blocks along a first axis (Transformer/encoderblock/...); keys may
// carry an "opt/target/", "params/" or "params/img/" prefix. The attention heads are read from the
// query kernel's shape and recorded as the num_heads metadata.
//
// `pre_logits` (the representation layer of the ImageNet-21k checkpoints) is
// dropped, as the PEFT papers and timm drop it, and the head with it: that
// head was trained on pre_logits' output, so without it its logits would be
// meaningless.
#pragma once

#include <string>
#include <vector>

#include "vpet/io/safetensors.h"

namespace vpet::model {

// Whether `weights` are in Google's JAX layout (an embedding/kernel key,
// under one of the prefixes above).
bool is_jax_layout(const io::TensorMap& weights);

// The same weights under timm's names and layouts. Notes on what was dropped
// are appended to `notes`. Throws vpet::Error naming `source` and the key for
// a key the layout does not know, a missing or mis-shaped array.
io::TensorMap jax_to_timm(const io::TensorMap& weights, const std::string& source,
                          std::vector<std::string>& notes);

}  // namespace vpet::model
