// Hugging Face peft LoRA (and DoRA) adapter folders, as peft's save_pretrained writes
// them (huggingface/peft: LoraConfig, utils/save_and_load.py): both ways
// between them and vpet's LoRA bundles (peft-export --peft, --from-peft).
//
//   adapter_config.json        LoraConfig: peft_type "LORA", r, lora_alpha,
//                              target_modules, rank_pattern, alpha_pattern,
//                              modules_to_save, lora_dropout, bias "none", ...
//   adapter_model.safetensors  "base_model.model.<module>.lora_A.weight" [r, in],
//                              "base_model.model.<module>.lora_B.weight" [out, r],
//                              "base_model.model.<head>.{weight,bias}" (modules_to_save)
//
// peft's LoRA forward at each module: y = W x + b + (lora_alpha / r) · B A x
// (lora_alpha / √r with use_rslora), with r and lora_alpha from the first
// rank_pattern / alpha_pattern key matching the module's name as the regex
// "(.*\.)?(KEY)$", else the config's.
//
// Module names are the base model's: timm's (blocks.N.attn.qkv, .attn.proj,
// .mlp.fc1, .mlp.fc2; head) or ViTForImageClassification's
// (vit.encoder.layer.N.attention.attention.{query,key,value},
// .attention.output.dense, .intermediate.dense, .output.dense; classifier),
// from key_layout's table. On timm's fused qkv, vpet's LoRA on t of q, k, v
// (rank r, scale alpha/r each) is one peft LoRA of rank t·r: A stacks the
// parts' A, B is block-diagonal (part p's B in its rows and its columns),
// and lora_alpha is t·alpha (alpha_pattern), so that peft's scale
// t·alpha / (t·r) is vpet's. A DoRA bundle exports with use_dora and each
// module's "lora_magnitude_vector.weight" [out] (peft's DoraLinearLayer; on
// the fused qkv, a part vpet did not adapt gets W's row norms: unchanged). vpet's classes and
// preprocessing ride in adapter_model.safetensors' __metadata__ (vpet_classes, vpet_preprocess),
// which peft does not read.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "vpet/io/safetensors.h"
#include "vpet/model/checkpoint.h"
#include "vpet/peft/bundle.h"

namespace vpet::peft {

struct PeftFolder {
  nlohmann::json config;  // adapter_config.json
  io::TensorMap weights;  // adapter_model.safetensors
};

// The peft folder of a LoRA or DoRA bundle for `backbone` (timm or Hugging Face ViT
// layout). Throws vpet::Error naming the bundle for another method, and for
// a base whose layout peft could not target.
PeftFolder to_peft(const Bundle& bundle, const std::string& bundle_path,
                   const model::Backbone& backbone);

// Reads DIR/adapter_config.json and DIR/adapter_model.safetensors. Throws
// vpet::Error naming the file for one that is missing or not what peft writes.
PeftFolder read_peft_folder(const std::string& dir);

// The vpet LoRA bundle computing what the folder computes on `backbone`:
// each module's update split over vpet's sites (timm's qkv by rows; parts
// whose B is all zero are left out), rank components whose B column is zero
// dropped, peft's per-module scale folded into B, every site padded with
// zeros to one rank (alpha = rank: scale 1); the head from modules_to_save.
// The classes and preprocessing are the folder's vpet metadata, else class
// numbers and a null preprocess (the caller's to fill). Throws vpet::Error
// naming the file and the module for another peft method, a module that is
// not one of the backbone's linears, shapes or ranks that do not fit, or
// options vpet's LoRA lacks (DoRA, LoRA biases, fan_in_fan_out).
Bundle from_peft(const PeftFolder& folder, const std::string& dir, const model::Backbone& backbone);

}  // namespace vpet::peft
