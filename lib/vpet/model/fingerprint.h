// The backbone fingerprint: which weights a result was computed with,
// independent of the file's key layout and stored dtype. Adapter bundles
// carry it; applying a bundle to another backbone is refused.
#pragma once

#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace vpet::model {

// "sha256:" + the first 16 hex digits of SHA-256 over, for every tensor in
// ascending canonical-name order except the classifier head (head.*):
//   the name's UTF-8 bytes, one 0x00 byte, the rank as u64 little-endian,
//   each dimension as u64 little-endian, then the values as float32
//   little-endian, row-major.
// The head is left out so that one backbone with or without (or with
// another) classifier has one fingerprint. Configuration that is not a
// weight (heads, LayerNorm eps) is not included either: the same weights in
// the HF layout (eps 1e-12) and the timm one (1e-6) share a fingerprint.
std::string backbone_fingerprint(const std::map<std::string, torch::Tensor>& canonical);

// The fingerprint a vpet header records under "backbone" (features, tokens,
// prompts, plans, bundles). Throws vpet::Error naming `source` when the header
// records none: such a file cannot be checked against a model, and one made
// for another backbone would train on without a word.
std::string recorded_fingerprint(const nlohmann::json& header, const std::string& source);

}  // namespace vpet::model
