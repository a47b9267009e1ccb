// The backbone that adapter bundles are applied to (peft-eval -a,
// vit-extract -a): loaded as the bundles were trained, checked against their
// fingerprints before anything else.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "vpet/model/checkpoint.h"
#include "vpet/peft/bundle.h"

namespace vpet::eval {

// Loads `model_path` for bundles[first..last) (`paths` names them in
// messages): with the pooling and the activation the first one recorded,
// unless `options` sets them; every bundle's fingerprint is checked before
// the model is resized, so a bundle of another backbone is refused as such,
// not on a size that backbone cannot take. `trained_size`: rebuilt for the
// input size of the first bundle's recorded preprocessing (when that
// preprocessing is the one used). No bundles (first == last): the model as
// `options` says. Throws vpet::Error naming the bundle for a bad record.
model::Backbone load_bundle_backbone(const std::string& model_path, model::LoadOptions options,
                                     const std::vector<peft::Bundle>& bundles,
                                     const std::vector<std::string>& paths, std::size_t first,
                                     std::size_t last, bool trained_size);

// The same for one bundle (peft-export), at the input size it was trained at.
model::Backbone load_bundle_backbone(const std::string& model_path,
                                     const model::LoadOptions& options, const peft::Bundle& bundle,
                                     const std::string& path);

}  // namespace vpet::eval
