#include "vpet/train/examples.h"

#include "vpet/error.h"
#include "vpet/io/stream.h"
#include "vpet/io/tensor_text.h"
#include "vpet/model/device.h"
#include "vpet/model/fingerprint.h"

namespace vpet::train {

Examples Examples::images(std::shared_ptr<const data::ImageCache> cache) {
  Examples examples;
  examples.cache_ = std::move(cache);
  return examples;
}

Examples Examples::features(torch::Tensor features, torch::Tensor labels) {
  Examples examples;
  examples.features_ = std::move(features);
  examples.labels_ = std::move(labels);
  return examples;
}

std::int64_t Examples::size() const {
  return cache_ ? std::int64_t(cache_->size()) : features_.size(0);
}

Examples::Batch Examples::batch(const std::vector<std::int64_t>& rows, const torch::Device& device,
                                std::int64_t epoch) const {
  if (cache_) {
    data::Batch images = cache_->batch(rows, /*pinned=*/device.is_cuda(), epoch);
    return {model::to_device(images.images, device), model::to_device(images.labels, device)};
  }
  const torch::Tensor index = torch::tensor(rows, torch::kInt64);
  return {model::to_device(features_.index_select(0, index), device),
          model::to_device(labels_.index_select(0, index), device)};
}

Examples cache_features(const data::ImageCache& cache, model::VisionTransformer& vit,
                        std::int64_t batch, const torch::Device& device,
                        model::Precision precision) {
  model::ForwardHooks frozen;
  std::vector<torch::Tensor> features, labels;
  {
    torch::InferenceMode inference;
    const std::int64_t n = std::int64_t(cache.size());
    for (std::int64_t start = 0; start < n; start += batch) {
      std::vector<std::int64_t> rows;
      for (std::int64_t r = start; r < std::min(n, start + batch); ++r) rows.push_back(r);
      data::Batch images = cache.batch(rows);
      const model::AutocastScope autocast(precision, device);
      const torch::Tensor pooled = vit->features(model::to_device(images.images, device), frozen);
      features.push_back(pooled.to(torch::kCPU, torch::kFloat32));
      labels.push_back(images.labels);
    }
  }
  // Tensors made under InferenceMode may not be saved for backward (the
  // head's matmul saves its input): one copy outside it makes normal tensors.
  return Examples::features(torch::cat(features).clone(), torch::cat(labels).clone());
}

FeatureFile read_features(const std::string& path) {
  io::StreamReader reader(path);
  reader.require_kind("features");
  const nlohmann::json& header = reader.header();
  const nlohmann::json feature = header.value("feature", nlohmann::json());
  if (feature != "cls") {
    throw Error(reader.name() + ": features of kind " +
                (feature.is_string() ? "'" + feature.get<std::string>() + "'" : feature.dump()) +
                "; a head trains on the pre-logits: extract with vit-extract --feature cls");
  }
  for (const char* key : {"backbone", "classes", "preprocess"}) {
    if (!header.contains(key)) throw Error(reader.name() + ": the header has no '" + key + "'");
  }
  model::recorded_fingerprint(header, reader.name());
  if (!header.at("classes").is_array() || header.at("classes").empty()) {
    throw Error(reader.name() + ": the header's 'classes' is not a list of class names");
  }
  const auto classes = std::int64_t(header.at("classes").size());
  std::vector<torch::Tensor> features, labels;
  io::Record record;
  while (reader.next(record)) {
    const std::string where =
        reader.name() + ": record " + std::to_string(reader.records_read()) + ": ";
    const torch::Tensor& f = record.tensor("features");
    const torch::Tensor& l = record.tensor("labels");
    if (f.dim() != 2 || (!features.empty() && f.size(1) != features.front().size(1))) {
      throw Error(where + "'features' is " + io::shape_string(f.sizes()) + "; expected [n, " +
                  (features.empty() ? "width" : std::to_string(features.front().size(1))) + "]" +
                  (features.empty() ? "" : " as in the records before it"));
    }
    if (l.dim() != 1 || l.size(0) != f.size(0) || l.is_floating_point()) {
      throw Error(where + "'labels' is " + io::shape_string(l.sizes()) + " of " +
                  std::string(c10::toString(l.scalar_type())) + "; expected [" +
                  std::to_string(f.size(0)) + "] integers, one per row of 'features'");
    }
    const torch::Tensor out = l.lt(0).logical_or(l.ge(classes));
    if (out.any().item<bool>()) {
      const std::int64_t at = out.nonzero()[0][0].item<std::int64_t>();
      throw Error(where + "'labels' element " + std::to_string(at) + " is " +
                  std::to_string(l[at].item<std::int64_t>()) + ", but the header has " +
                  std::to_string(classes) + " classes (labels 0 to " + std::to_string(classes - 1) +
                  ")");
    }
    features.push_back(f.to(torch::kFloat32));
    labels.push_back(l.to(torch::kInt64));
  }
  if (features.empty()) throw Error(reader.name() + ": no records");
  Examples examples = Examples::features(torch::cat(features), torch::cat(labels));
  reader.check_samples(static_cast<std::uint64_t>(examples.size()));
  return {std::move(examples), header};
}

}  // namespace vpet::train
