// peft-train's train-time augmentation options (image/augment.h): a preset
// and the options it sets, any of which may be given on its own.
//
//   --augment none|crop-flip|rrc-flip
//   --train-resize N --random-crop N      crop-flip's Resize(N) and RandomCrop
//   --rrc-scale A,B --rrc-ratio A,B       rrc-flip's RandomResizedCrop ranges
//   --hflip P                             the flip probability (presets: 0.5)
//   --mixup A --cutmix A --mixup-prob P   timm's batch MixUp/CutMix (train/mixup.h)
#pragma once

#include <cxxopts.hpp>

#include "vpet/image/augment.h"
#include "vpet/image/preprocess.h"
#include "vpet/train/mixup.h"

namespace vpet::cli {

void add_augment_options(cxxopts::Options& options);

// The augmentation for images preprocessed as `preprocess` (its size is the
// crop's). Throws vpet::UsageError naming the option for a value that cannot
// apply, or a random crop and a random resized crop asked for together.
image::Augment read_augment_options(const cxxopts::ParseResult& result,
                                    const image::Preprocess& preprocess);

// peft-train's batch MixUp/CutMix, beside the per-sample augmentation
// (vit-extract shows single images, so it has only the latter).
void add_mixup_options(cxxopts::Options& options);

// --mixup, --cutmix and --mixup-prob. Throws vpet::UsageError for a value
// out of range, or --mixup-prob without an alpha to apply.
train::MixupOptions read_mixup_options(const cxxopts::ParseResult& result);

// Whether any augmentation or mixing option was given (they need images,
// not features).
bool augment_options_given(const cxxopts::ParseResult& result);

}  // namespace vpet::cli
