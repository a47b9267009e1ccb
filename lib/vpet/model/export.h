// A backbone as a timm-layout safetensors checkpoint: what `peft-train
// --export-backbone` writes after full fine-tuning (or BitFit), so that the
// trained backbone is a model like any other (-m), in vpet and in timm.
//
// Tensors: every parameter under its timm name, except the backbone's own
// head, which is replaced by the given one (the head trained with it) or left
// out (a distilled DeiT's head_dist too: the given head serves as both). __metadata__: num_heads (the loader reads it, so widths that are not a
// multiple of 64 load without --heads), layer_norm_eps when it is not timm's
// 1e-6 (a Hugging Face backbone's 1e-12; the loader reads it too) and
// format "pt" (as timm writes).
#pragma once

#include <torch/torch.h>

#include "vpet/io/safetensors.h"
#include "vpet/model/vit.h"

namespace vpet::model {

// Float32 CPU copies. `head_weight`/`head_bias` may be undefined: no head.
io::TensorMap timm_checkpoint(const VisionTransformer& vit, const torch::Tensor& head_weight,
                              const torch::Tensor& head_bias);

}  // namespace vpet::model
