// A Hugging Face model folder, as `save_pretrained` or the hub's snapshot
// download leaves it: the weights in model.safetensors or in shards listed by
// model.safetensors.index.json, the architecture in config.json and the
// image preprocessing in preprocessor_config.json.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vpet/io/safetensors.h"

namespace vpet::model {

// What a preprocessor_config.json says about preprocessing, in vpet's terms
// (image/preprocess.h): the defaults of the preprocessing options, which an
// option given on the command line overrides.
struct PreprocessDefaults {
  std::string source;                   // the file
  std::optional<std::int64_t> size;     // the model input's side
  std::optional<std::string> resize;    // "squash" or "crop"
  std::optional<double> crop_fraction;  // crop: crop size / shortest edge
  std::optional<std::string> interp;    // "bilinear" or "bicubic"
  std::optional<std::array<float, 3>> mean, std;
  std::vector<std::string> notes;  // what was read, and what vpet cannot do as asked
};

// The weights file a path stands for: a folder holding model.safetensors or
// model.safetensors.index.json stands for it; any other path for itself.
std::string snapshot_weights_path(const std::string& path);

// True for a path ending in .safetensors.index.json (sharded weights).
bool is_shard_index(const std::string& path);

// Every tensor of a sharded checkpoint, from the shards in the index's folder.
// Throws vpet::Error naming the index (and key or shard) when the index is
// not {"weight_map": {name: file}}, a shard is missing or outside the folder,
// or a shard's tensors do not match the map (missing, extra or duplicated).
io::TensorMap read_sharded_safetensors(const std::string& index_path);

// FILE in the folder of `weights_path`.
std::string snapshot_file(const std::string& weights_path, const std::string& file);

// The folder's FILE (config.json, preprocessor_config.json) parsed, or null
// when there is none. Throws vpet::Error for a FILE that is not a JSON object.
nlohmann::json read_snapshot_json(const std::string& weights_path, const std::string& file);

// The preprocessing a preprocessor_config.json describes (ViTImageProcessor,
// CLIPImageProcessor, BitImageProcessor, ...). Throws vpet::Error naming the
// file and the key for a value of the wrong type.
PreprocessDefaults preprocess_defaults(const nlohmann::json& config, const std::string& source);

}  // namespace vpet::model
