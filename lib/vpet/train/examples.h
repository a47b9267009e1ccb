// The examples an epoch visits, as the loop sees them: either images,
// decoded once and kept as uint8 (data::ImageCache), that go through the
// backbone at every step; or pooled features [N, D], computed once per image
// when the method leaves the backbone's features unchanged (linear probing:
// DESIGN §7, "head-only work runs on cached features") or read from a
// vit-extract features stream.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vpet/data/image_cache.h"
#include "vpet/model/hooks.h"
#include "vpet/model/precision.h"
#include "vpet/model/vit.h"

namespace vpet::train {

class Examples {
 public:
  static Examples images(std::shared_ptr<const data::ImageCache> cache);
  // features [N, D] float32, labels [N] int64, on the CPU.
  static Examples features(torch::Tensor features, torch::Tensor labels);

  std::int64_t size() const;
  bool are_features() const { return cache_ == nullptr; }

  struct Batch {
    torch::Tensor inputs;  // [B, C, H, W] pixels or [B, D] features
    torch::Tensor labels;  // [B] int64
  };
  // The given rows, in the order given, on `device`; images augmented as
  // drawn for `epoch` (data::ImageCache).
  Batch batch(const std::vector<std::int64_t>& rows, const torch::Device& device,
              std::int64_t epoch = 0) const;

 private:
  std::shared_ptr<const data::ImageCache> cache_;
  torch::Tensor features_, labels_;
};

// The frozen backbone's pooled features of every image of `cache`, in one
// pass without autograd, `batch` images at a time (for a method whose
// changes_backbone_features() is false; it acts on them through pooled()),
// computed in `precision` and kept as float32.
Examples cache_features(const data::ImageCache& cache, model::VisionTransformer& vit,
                        std::int64_t batch, const torch::Device& device,
                        model::Precision precision = model::Precision::Fp32);

// A vit-extract features stream (kind "features", feature "cls": the
// pre-logits a head sees) and its header, whose backbone, classes and
// preprocess go into the bundle. Throws vpet::Error naming the file.
struct FeatureFile {
  Examples examples;
  nlohmann::json header;
};
FeatureFile read_features(const std::string& path);

}  // namespace vpet::train
