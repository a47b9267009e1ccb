#include "vpet/proto/prompt_init.h"

#include <memory>
#include <string>

#include "vpet/error.h"
#include "vpet/proto/window_pool.h"

namespace vpet::proto {
namespace {

bool pools_windows(Method method) {
  return method == Method::Mean || method == Method::Max;
}

void check_windows_fit(const TokenStream& input, const PrototypeOptions& options) {
  const std::int64_t patches = input.patches_per_image();
  if (pools_windows(options.method) && !window_layout(patches, options.prompts, options.windows)) {
    throw Error(input.name() + ": --method " + method_name(options.method) + " cuts each image's " +
                std::to_string(patches) +
                " patch tokens into P−1 = " + std::to_string(options.prompts - 1) +
                " windows, which needs P−1 ≤ the patch count: use at most " +
                std::to_string(patches + 1) + " prompts, or --method random or kmeans");
  }
}

}  // namespace

std::vector<std::int64_t> prompt_layers(bool deep, std::int64_t depth) {
  std::vector<std::int64_t> layers = {0};
  if (deep) {
    for (std::int64_t layer = 1; layer < depth; ++layer) layers.push_back(layer);
  }
  return layers;
}

PromptInit build_prompt_init(TokenStream& input, const std::vector<std::int64_t>& layers,
                             const PrototypeOptions& options,
                             const std::function<void(std::int64_t)>& on_record) {
  input.select_layers(layers);
  PromptInit out;
  std::vector<std::unique_ptr<LayerPrototypes>> builders;
  std::vector<torch::Tensor> patches;  // per layer, [B, N, D]
  while (input.next(patches)) {
    if (builders.empty()) {
      check_windows_fit(input, options);
      for (std::int64_t layer : layers) {
        builders.push_back(make_layer_prototypes(options, layer, input.patches_per_image()));
      }
    }
    for (std::size_t i = 0; i < builders.size(); ++i) builders[i]->add(patches[i]);
    const std::int64_t images = patches.front().size(0);
    out.images += images;
    if (on_record) on_record(images);
  }
  if (builders.empty() || out.images == 0) {
    throw Error(input.name() + " holds no images: nothing to build prompts from");
  }
  std::vector<torch::Tensor> sets;
  for (std::size_t i = 0; i < builders.size(); ++i) {
    const std::int64_t candidates = builders[i]->candidates();
    if (candidates < options.prompts) {
      throw Error(input.name() + ": layer " + std::to_string(layers[i]) + " offers " +
                  std::to_string(candidates) + " candidate rows from " +
                  std::to_string(out.images) + " images, fewer than the " +
                  std::to_string(options.prompts) +
                  " distinct prompts asked for: feed more images or ask for fewer prompts");
    }
    LayerSummary summary;
    summary.layer = layers[i];
    sets.push_back(builders[i]->finish(summary));
    out.layers.push_back(summary);
  }
  out.prompts = torch::stack(sets);
  out.patches_per_image = input.patches_per_image();
  return out;
}

}  // namespace vpet::proto
