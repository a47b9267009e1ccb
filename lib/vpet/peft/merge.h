// peft-export --merge: an adapter bundle folded into its backbone's weights
// (Method::merge_into), the bundle's head in place of the backbone's own,
// written as a plain checkpoint in a key layout that timm, torchvision or
// transformers loads by name (model/export.h): the adapted model with no
// vpet code, at no extra inference cost.
#pragma once

#include <string>

#include "vpet/io/safetensors.h"
#include "vpet/model/checkpoint.h"
#include "vpet/peft/bundle.h"

namespace vpet::peft {

// Rebuilds the bundle's method on `backbone` (see rebuild_method; the
// backbone's weights are changed) and folds it in. Throws vpet::Error naming
// the bundle for a method that cannot be merged, and naming the model for a
// layout that cannot express it.
io::TensorMap merged_checkpoint(const Bundle& bundle, const std::string& bundle_path,
                                model::Backbone& backbone, model::Layout layout);

}  // namespace vpet::peft
