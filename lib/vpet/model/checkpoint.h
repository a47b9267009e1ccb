// Loading a ViT from a safetensors checkpoint in timm, torchvision or
// Hugging Face key layout: the layout is detected from the keys, the
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
#include "vpet/model/key_layout.h"
#include "vpet/model/vit.h"

namespace vpet::model {

struct LoadOptions {
  // Attention heads. Also read from the file's __metadata__ (num_heads,
  // num_attention_heads or heads) or an HF config.json beside it; every
  // source given must agree. With none, width/64.
  std::optional<std::int64_t> heads;
  // LayerNorm eps. Default per layout: 1e-6 timm/torchvision, 1e-12 HF (or
  // config.json's layer_norm_eps).
  std::optional<double> ln_eps;
  // Input size {height, width} to build for; the position embedding is
  // resampled once, as timm does, when it differs from the checkpoint's.
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

  std::int64_t parameter_count() const;
  // For output headers: width, depth, heads, mlp_hidden, patch, img_size,
  // in_chans, layout, prefix_tokens, reg_tokens, no_embed_class, layer_scale,
  // ln_eps, pool, fc_norm, classes, fingerprint, params.
  nlohmann::json describe() const;
};

// Reads `path` (and, for the HF layout, a config.json in the same folder);
// a folder stands for the model.safetensors inside it (a HF snapshot);
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
