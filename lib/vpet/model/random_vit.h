// A randomly initialised ViT of a given shape, named by a model spec where a
// checkpoint path would go (-m), for pre-training from scratch when no
// checkpoint can be had:
//
//   random:width=96,depth=6,heads=3,patch=4,img=28,chans=1
//
// Keys (all optional; the defaults are ViT-Ti/16 at 224): width (192), depth
// (12), heads (3), mlp (4·width), patch (16), img (224), chans (3), seed (0).
// The model has a class token, token pooling, biases everywhere, no head, and
// LayerNorm eps 1e-6: timm's VisionTransformer with those sizes.
//
// Initialisation is timm's default (init_weights mode ''): linear weights and
// the position embedding trunc-normal with std 0.02 (cut at ±2, timm's absolute
// default: in effect untruncated), linear
// biases 0, LayerNorms 1 and 0, the class token normal with std 1e-6, and the
// patch-embedding convolution as PyTorch initialises a Conv2d (U(±1/√fan_in)
// for weight and bias). Values are drawn on the CPU from one generator of
// `seed`, so a spec gives the same weights, hence the same fingerprint, on
// every machine and device: the spec can be given again wherever the
// backbone is needed (peft-eval of a bundle trained from it).
#pragma once

#include <string>

#include "vpet/model/checkpoint.h"

namespace vpet::model {

// Whether `spec` names a random ViT ("random:" or "random").
bool is_random_spec(const std::string& spec);

// The ViT a spec names. LoadOptions apply as to a checkpoint (img_size
// resamples the position embedding, device, ln_eps, pool); options.heads
// must agree with the spec. Throws vpet::UsageError naming the spec for an
// unknown key, a value that is not a positive integer, or sizes that do not
// make a ViT.
Backbone random_backbone(const std::string& spec, const LoadOptions& options = {});

}  // namespace vpet::model
