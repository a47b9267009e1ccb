// Self-Prompt Tuning's prompt initialisation (reference/spt-selfprompt-vpt.md
// §2.2) over a tokens stream: one set of P prototypes per layer, built from
// that layer's patch tokens while the stream goes by, so memory does not
// grow with the number of images.
//
// Prompt set i initialises the prompts VPT inserts before block i, and is
// built from layer i of vit-extract: layer 0 is the patch embedding without
// the position embedding, layer i ≥ 1 is block i−1's output (block i's
// input). Deep prompts use layers 0..depth−1, shallow ones layer 0.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "vpet/proto/layer_prototypes.h"
#include "vpet/proto/token_stream.h"

namespace vpet::proto {

struct PromptInit {
  torch::Tensor prompts;  // [layers, P, D] float32
  std::vector<LayerSummary> layers;
  std::int64_t images = 0;
  std::int64_t patches_per_image = 0;  // N
};

// The layers the prompt sets come from: 0..depth−1 deep, {0} shallow.
std::vector<std::int64_t> prompt_layers(bool deep, std::int64_t depth);

// Reads `input` to its end and builds a prompt set from each of `layers`.
// `on_record(images)` is called after each record. Throws vpet::Error naming
// the input when it has no records, when mean/max cannot cut its images into
// windows for P, or when a layer ends with fewer candidate rows than P.
PromptInit build_prompt_init(TokenStream& input, const std::vector<std::int64_t>& layers,
                             const PrototypeOptions& options,
                             const std::function<void(std::int64_t)>& on_record);

}  // namespace vpet::proto
