// The blocks a method adapts (--layers, config key "layers"): every block by
// default, or a subset, as Hugging Face peft's layers_to_transform picks the
// layers LoRA goes into (block numbers from 0, the input's block first).
// LoRA, DoRA and Adapter put their modules only into these blocks; VPT-deep
// inserts its prompts before the first and replaces them before each later
// one (VPT's NUM_DEEP_LAYERS, 0..k−1, and REVERSE_DEEP, the last k, are two
// such sets).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "vpet/peft/method_option.h"
#include "vpet/peft/settings.h"

namespace vpet::peft {

class LayerSet {
 public:
  // Reads "layers" (Settings::block_numbers); every block where it is absent.
  explicit LayerSet(const Settings& settings);
  // The --layers option, shared by the methods that take it.
  static const MethodOption& option();

  // Throws a SettingError (a usage error; a bundle's reader names the file)
  // for a block the model of `depth` blocks does not have.
  void check(std::int64_t depth) const;
  bool all() const { return blocks_.empty(); }
  bool contains(std::int64_t block) const;
  // The adapted blocks of a model of `depth` blocks, in order.
  std::vector<std::int64_t> blocks(std::int64_t depth) const;
  // Adds "layers" to a method's config() for a subset; a config without
  // it (every bundle from before --layers) means every block.
  void add_to(nlohmann::json& config) const;

 private:
  std::vector<std::int64_t> blocks_;  // sorted, distinct; empty: every block
};

}  // namespace vpet::peft
