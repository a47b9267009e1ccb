#include "vpet/peft/layer_set.h"

#include <algorithm>
#include <string>

namespace vpet::peft {

LayerSet::LayerSet(const Settings& settings) : blocks_(settings.block_numbers("layers")) {}

const MethodOption& LayerSet::option() {
  static const MethodOption layers = {
      "layers",
      "layers",
      MethodOption::Type::Text,
      "all",
      "LoRA, DoRA, Adapter, VPT-deep: the blocks to adapt, from 0 (peft's layers_to_transform): "
      "all, or numbers and ranges such as 6-11 or 0,2,4-6",
      "LIST"};
  return layers;
}

void LayerSet::check(std::int64_t depth) const {
  if (!blocks_.empty() && blocks_.back() >= depth) {
    throw SettingError("layers", "--layers",
                       "names block " + std::to_string(blocks_.back()) + ", but the model has " +
                           std::to_string(depth) + " blocks (0.." + std::to_string(depth - 1) +
                           ")");
  }
}

bool LayerSet::contains(std::int64_t block) const {
  return blocks_.empty() || std::binary_search(blocks_.begin(), blocks_.end(), block);
}

std::vector<std::int64_t> LayerSet::blocks(std::int64_t depth) const {
  std::vector<std::int64_t> picked;
  for (std::int64_t block = 0; block < depth; ++block) {
    if (contains(block)) picked.push_back(block);
  }
  return picked;
}

void LayerSet::add_to(nlohmann::json& config) const {
  if (!blocks_.empty()) config["layers"] = blocks_;
}

}  // namespace vpet::peft
