// A tiny learnable task for the training tests: three classes of 32×32 PNGs
// (red, green and blue tinted noise) in a temporary folder, and the tiny
// timm ViT of the fixtures (32×32, patch 8, width 48, 2 blocks).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../data/test_files.h"
#include "vpet/data/dataset.h"
#include "vpet/data/image_cache.h"
#include "vpet/model/checkpoint.h"
#include "vpet/train/examples.h"

namespace vpet::train::test {

inline const std::string kTinyVit = std::string(VPET_FIXTURES) + "/vit/a_timm.safetensors";

// `per_class` images per class under root/<class>/<i>.png; `salt` varies the noise.
inline void write_tiny_task(const std::string& root, int per_class, std::uint32_t salt) {
  const char* names[] = {"blue", "green", "red"};
  std::uint32_t state = 12345u + salt;
  auto noise = [&state] {
    state = state * 1664525u + 1013904223u;
    return int(state >> 24) % 96;
  };
  for (int label = 0; label < 3; ++label) {
    for (int i = 0; i < per_class; ++i) {
      std::vector<std::uint8_t> pixels(32 * 32 * 3);
      for (std::size_t p = 0; p < pixels.size(); ++p) {
        // The class's channel is bright, the others dark, all noisy.
        const bool own = int(p % 3) == 2 - label;
        pixels[p] = std::uint8_t((own ? 150 : 20) + noise());
      }
      data::test_files::write_bytes(root + "/" + names[label] + "/" + std::to_string(i) + ".png",
                                    data::test_files::encode_png(32, 32, 3, pixels));
    }
  }
}

inline std::shared_ptr<data::ImageCache> decode(const std::string& root) {
  data::Dataset dataset(root);
  image::Preprocess preprocess;
  preprocess.size = 32;
  data::LoaderOptions options;
  options.threads = 1;
  return std::make_shared<data::ImageCache>(dataset, preprocess, options);
}

inline model::Backbone tiny_backbone() {
  return model::load_backbone(kTinyVit);
}

}  // namespace vpet::train::test
