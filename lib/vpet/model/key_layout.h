// The key layouts ViT checkpoints come in (timm, torchvision, Hugging Face's
// ViTModel, Dinov2Model and CLIPVisionModel),
// and their translation to vpet's canonical names, which are timm's (see
// vit.h). Layout differences are only names and the split of q/k/v; the
// tensors themselves are the same.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vpet/io/safetensors.h"

namespace vpet::model {

enum class Layout { Timm, Torchvision, HuggingFace, HfDinov2, HfClip };

// "timm", "torchvision", "huggingface", "huggingface-dinov2", "huggingface-clip".
const char* layout_name(Layout layout);
// One of the three Hugging Face layouts (their architecture is in config.json).
bool is_hugging_face(Layout layout);

struct CanonicalWeights {
  Layout layout = Layout::Timm;
  // Canonical name -> tensor as stored (dtype unchanged). HF's separate
  // query/key/value are concatenated into the fused qkv rows; CLIP's class
  // embedding [D] and position embedding [N, D] get timm's leading 1s.
  std::map<std::string, torch::Tensor> tensors;
  // Canonical name -> the key(s) it came from, for messages.
  std::map<std::string, std::string> source_keys;
  // Keys dropped because they play no part in the backbone's features
  // (HF pooler, pre_logits, mask_token, CLIP's text tower and projections).
  std::vector<std::string> ignored;
  std::vector<std::string> notes;
};

// Detects the layout from the keys (after stripping a "module." or "model."
// prefix that every key carries, and HF's "vit.", "dinov2." or
// "vision_model."), and renames every tensor.
// Throws vpet::Error naming `source` and the key for a key the layout does not
// know, a duplicate after renaming, or an incomplete q/k/v triple.
CanonicalWeights to_canonical(const io::TensorMap& weights, const std::string& source);

// The key(s) `canonical` is stored under in `layout`: one, or the HF
// layouts' three q/k/v parts in stacking order. Throws vpet::Error for a
// name that is not canonical or that the layout has no spelling for.
std::vector<std::string> layout_keys(Layout layout, const std::string& canonical);

// The reverse of to_canonical, for writing a checkpoint in `layout`: every
// tensor under its name there, the fused qkv split into the HF layouts'
// three parts, CLIP's leading 1s dropped. Tensors are shared, not copied.
// Throws vpet::Error for a name the layout has no spelling for (torchvision
// has no register tokens, no layer scale, ...) or that is not canonical.
io::TensorMap from_canonical(const std::map<std::string, torch::Tensor>& tensors, Layout layout);

// The name `canonical` has in `layout` (HF qkv: "...{query,key,value}.weight"),
// for messages about missing keys.
std::string layout_key(Layout layout, const std::string& canonical);

}  // namespace vpet::model
