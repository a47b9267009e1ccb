// Loading a ViT from a safetensors checkpoint in timm, torchvision or
// Hugging Face key layout (ViT, Dinov2, CLIP vision tower; one file, or a
// snapshot folder with shards), or a numpy .npz: the layout is detected from the keys, the
// configuration inferred from the shapes, every tensor checked and converted
// to float32. The result is frozen (requires_grad off) and in eval mode;
// methods unfreeze what they train.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vpet/io/safetensors.h"
#include "vpet/model/config.h"
#include "vpet/model/hf_snapshot.h"
#include "vpet/model/key_layout.h"
#include "vpet/model/vit.h"

namespace vpet::model {

struct LoadOptions {
  // Attention heads. Also read from the file's __metadata__ (num_heads,
  // num_attention_heads or heads) or an HF config.json beside it; every
  // source given must agree. With none, width/64.
  std::optional<std::int64_t> heads;
  // LayerNorm eps. Default per layout: 1e-6 timm/torchvision/Dinov2, 1e-12
  // HF ViT, 1e-5 CLIP (or config.json's layer_norm_eps).
  std::optional<double> ln_eps;
  // The MLP's activation. Default: config.json's hidden_act, a vpet
  // export's __metadata__ act, quick-gelu for the CLIP layout, else gelu.
  std::optional<Activation> act;
  // Input size {height, width} to build for; the position embedding is
  // resampled once, as timm does, when it differs from the checkpoint's.
  // Default: a snapshot's preprocessor_config.json size, else the checkpoint's.
  std::optional<std::array<std::int64_t, 2>> img_size;
  // The checkpoint's patch grid {rows, cols}: needed only when it is not
  // square or the position embedding's length is ambiguous.
  std::optional<std::array<std::int64_t, 2>> checkpoint_grid;
  // Default: avg when the checkpoint has fc_norm or no class token, else token.
  std::optional<Pool> pool;
  torch::Device device = torch::kCPU;
};

struct Backbone {
  VisionTransformer vit{nullptr};
  Layout layout = Layout::Timm;
  std::string source;       // the file it came from
  std::string fingerprint;  // "sha256:<16 hex>", see fingerprint.h
  std::vector<std::string> ignored_keys;
  std::vector<std::string> notes;  // assumptions and dropped keys, for the log
  // A Hugging Face snapshot's preprocessor_config.json, when it has one.
  std::optional<PreprocessDefaults> preprocess_defaults;

  std::int64_t parameter_count() const;
  // For output headers: width, depth, heads, mlp_hidden, patch, img_size,
  // in_chans, layout, prefix_tokens, reg_tokens, no_embed_class, layer_scale,
  // ln_eps, act, pool, fc_norm, classes, fingerprint, params, and
  // preprocess_defaults (the file) when the preprocessing defaults came from one.
  nlohmann::json describe() const;
};

// Reads `path` (and, for the HF layouts, config.json and
// preprocessor_config.json in the same folder); a folder stands for the
// model.safetensors or model.safetensors.index.json inside it (a HF snapshot);
// "random:..." builds a randomly initialised ViT instead (random_vit.h).
// Throws vpet::Error naming the file and the key for anything it cannot
// load: unknown or missing keys, shape mismatches, undecidable heads.
Backbone load_backbone(const std::string& path, const LoadOptions& options = {});

// What every loaded backbone gets last: the input size (position embedding
// resampled), frozen parameters, eval mode, the device.
void apply_load_options(Backbone& backbone, const LoadOptions& options);

// The same from tensors in memory. `hf_config` is a parsed HF config.json
// or null; `source` names the origin in messages.
Backbone import_backbone(const io::TensorMap& weights, const std::string& source,
                         const LoadOptions& options = {},
                         const nlohmann::json& hf_config = nullptr);

}  // namespace vpet::model
