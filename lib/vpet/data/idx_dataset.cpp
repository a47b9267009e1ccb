// An IDX images file paired with its labels file; the pixels stay in memory
// as uint8 (60000 Fashion-MNIST images are 47 MB).
#include <algorithm>
#include <memory>

#include "vpet/data/listing.h"
#include "vpet/error.h"

namespace vpet::data {

Listing list_idx(const std::string& images_path, const std::string& labels_path) {
  auto images = std::make_shared<IdxImages>(read_idx_images(images_path));
  const std::vector<uint8_t> labels = read_idx_labels(labels_path);
  if (static_cast<int64_t>(labels.size()) != images->count) {
    throw Error(labels_path + ": " + std::to_string(labels.size()) + " labels for " +
                std::to_string(images->count) + " images in " + images_path);
  }
  Listing listing;
  listing.samples.reserve(labels.size());
  int64_t max_label = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    listing.samples.push_back({images_path, labels[i], static_cast<int64_t>(i)});
    max_label = std::max<int64_t>(max_label, labels[i]);
  }
  for (int64_t k = 0; k <= max_label; ++k) listing.class_names.push_back(std::to_string(k));
  listing.idx = std::move(images);
  return listing;
}

}  // namespace vpet::data
