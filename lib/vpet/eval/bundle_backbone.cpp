#include "vpet/eval/bundle_backbone.h"

#include "vpet/error.h"
#include "vpet/image/preprocess.h"
#include "vpet/model/config.h"

namespace vpet::eval {

model::Backbone load_bundle_backbone(const std::string& model_path, model::LoadOptions options,
                                     const std::vector<peft::Bundle>& bundles,
                                     const std::vector<std::string>& paths, std::size_t first,
                                     std::size_t last, bool trained_size) {
  const nlohmann::json trained = first < last ? bundles[first].backbone : nlohmann::json();
  const auto recorded = [&](const char* key) {
    return trained.is_object() && trained.contains(key) && trained[key].is_string();
  };
  // A bad value is the bundle's data, not usage.
  try {
    if (!options.pool && recorded("pool")) {
      options.pool = model::parse_pool(trained["pool"].get<std::string>());
    }
    // Recorded when it is not gelu (--act at training).
    if (!options.act && recorded("act")) {
      options.act = model::parse_activation(trained["act"].get<std::string>(), "backbone.act");
    }
  } catch (const UsageError& e) {
    throw Error(paths[first] + ": " + e.what());
  }
  model::Backbone backbone = model::load_backbone(model_path, options);
  for (std::size_t i = first; i < last; ++i) peft::check_backbone(bundles[i], backbone, paths[i]);
  if (trained_size && first < last) {
    const std::int64_t size = image::preprocess_from_json(bundles[first].preprocess).size;
    backbone.vit->set_img_size({size, size});
  }
  return backbone;
}

model::Backbone load_bundle_backbone(const std::string& model_path,
                                     const model::LoadOptions& options, const peft::Bundle& bundle,
                                     const std::string& path) {
  return load_bundle_backbone(model_path, options, {bundle}, {path}, 0, 1, /*trained_size=*/true);
}

}  // namespace vpet::eval
