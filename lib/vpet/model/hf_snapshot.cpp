#include "vpet/model/hf_snapshot.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "vpet/error.h"
#include "vpet/strings.h"

namespace vpet::model {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndexSuffix = ".safetensors.index.json";

std::string folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

nlohmann::json parse_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot be read");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  if (!json.is_object()) throw Error(path + ": not a JSON object");
  return json;
}

// PIL's resampling filters by number, as preprocessor configs store them.
const char* pil_filter_name(std::int64_t filter) {
  switch (filter) {
    case 0:
      return "nearest";
    case 1:
      return "lanczos";
    case 2:
      return "bilinear";
    case 3:
      return "bicubic";
    case 4:
      return "box";
    case 5:
      return "hamming";
  }
  return nullptr;
}

// A preprocessor config's size: an integer, or {"height", "width"} (square
// only: vpet's inputs are), or {"shortest_edge"}.
struct Side {
  std::int64_t value;
  bool shortest_edge;
};

std::optional<Side> side_of(const nlohmann::json& config, const char* key,
                            const std::string& source) {
  if (!config.contains(key)) return std::nullopt;
  const nlohmann::json& v = config[key];
  auto positive = [&](const nlohmann::json& n, const std::string& what) {
    if (!n.is_number_integer() || n.get<std::int64_t>() <= 0) {
      throw Error(source + ": " + what + " is " + n.dump() + ", not a positive integer");
    }
    return n.get<std::int64_t>();
  };
  if (v.is_number()) return Side{positive(v, key), false};
  if (v.is_object() && v.contains("shortest_edge")) {
    return Side{positive(v["shortest_edge"], std::string(key) + ".shortest_edge"), true};
  }
  if (v.is_object() && v.contains("height") && v.contains("width")) {
    const std::int64_t h = positive(v["height"], std::string(key) + ".height");
    const std::int64_t w = positive(v["width"], std::string(key) + ".width");
    if (h != w) {
      throw Error(source + ": " + key + " is " + v.dump() +
                  "; vpet's preprocessing makes square inputs");
    }
    return Side{h, false};
  }
  throw Error(source + ": " + key + " is " + v.dump() +
              ", not an integer, {\"height\", \"width\"} or {\"shortest_edge\"}");
}

std::optional<std::array<float, 3>> triple_of(const nlohmann::json& config, const char* key,
                                              const std::string& source) {
  if (!config.contains(key)) return std::nullopt;
  const nlohmann::json& v = config[key];
  std::array<float, 3> out{};
  const bool one = v.is_array() && v.size() == 1;
  if (!v.is_array() || (v.size() != 3 && !one)) {
    throw Error(source + ": " + key + " is " + v.dump() + ", not a list of 3 numbers");
  }
  for (std::size_t i = 0; i < 3; ++i) {
    const nlohmann::json& n = v[one ? 0 : i];
    if (!n.is_number()) throw Error(source + ": " + key + " holds " + n.dump() + ", not a number");
    out[i] = n.get<float>();
  }
  return out;
}

bool flag_of(const nlohmann::json& config, const char* key, bool fallback,
             const std::string& source) {
  if (!config.contains(key)) return fallback;
  if (!config[key].is_boolean()) throw Error(source + ": " + key + " is not true or false");
  return config[key].get<bool>();
}

}  // namespace

bool is_shard_index(const std::string& path) {
  return ends_with(path, kIndexSuffix);
}

std::string snapshot_weights_path(const std::string& path) {
  if (!fs::is_directory(path)) return path;
  const fs::path single = fs::path(path) / "model.safetensors";
  const fs::path index = fs::path(path) / (std::string("model") + kIndexSuffix);
  if (!fs::exists(single) && fs::exists(index)) return index.string();
  return single.string();
}

io::TensorMap read_sharded_safetensors(const std::string& index_path) {
  const nlohmann::json index = parse_json_file(index_path);
  if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw Error(index_path +
                ": no \"weight_map\" object (a sharded checkpoint's index maps each "
                "tensor to its shard)");
  }
  std::map<std::string, std::set<std::string>> by_shard;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      throw Error(index_path + ": weight_map[\"" + name + "\"] is not a file name");
    }
    const std::string file = shard.get<std::string>();
    // Shards live beside the index; a path elsewhere is not a snapshot's.
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
      throw Error(index_path + ": weight_map[\"" + name + "\"] is '" + file +
                  "', not a file name in the index's folder");
    }
    by_shard[file].insert(name);
  }
  if (by_shard.empty()) throw Error(index_path + ": the weight_map is empty");

  io::TensorMap out;
  const fs::path folder = folder_of(index_path);
  for (const auto& [file, names] : by_shard) {
    const std::string shard_path = (folder / file).string();
    if (!fs::exists(shard_path)) {
      throw Error(index_path + ": shard '" + file + "' (holding " + *names.begin() +
                  (names.size() > 1 ? " and " + std::to_string(names.size() - 1) + " more" : "") +
                  ") is missing");
    }
    io::TensorMap shard = io::read_safetensors(shard_path);
    std::set<std::string> found;
    for (auto& [name, tensor] : shard.tensors) {
      if (!names.count(name)) {
        throw Error(shard_path + ": tensor '" + name + "' is not mapped to this shard by " +
                    index_path);
      }
      found.insert(name);
      out.add(name, std::move(tensor));
    }
    for (const std::string& name : names) {
      if (!found.count(name)) {
        throw Error(index_path + ": maps '" + name + "' to " + file + ", which does not hold it");
      }
    }
    for (const auto& [key, value] : shard.metadata) {
      const auto [it, added] = out.metadata.emplace(key, value);
      if (!added && it->second != value) {
        throw Error(shard_path + ": __metadata__ " + key + " is '" + value +
                    "' but an earlier shard says '" + it->second + "'");
      }
    }
  }
  return out;
}

std::string snapshot_file(const std::string& weights_path, const std::string& file) {
  return (fs::path(folder_of(weights_path)) / file).string();
}

nlohmann::json read_snapshot_json(const std::string& weights_path, const std::string& file) {
  const fs::path path = snapshot_file(weights_path, file);
  if (!fs::exists(path)) return nullptr;
  if (fs::is_directory(path)) throw Error(path.string() + ": is a directory, not a JSON file");
  return parse_json_file(path.string());
}

PreprocessDefaults preprocess_defaults(const nlohmann::json& config, const std::string& source) {
  PreprocessDefaults out;
  out.source = source;
  const std::optional<Side> size = side_of(config, "size", source);
  const std::optional<Side> crop = side_of(config, "crop_size", source);
  const bool resize = flag_of(config, "do_resize", true, source);
  const bool center_crop = flag_of(config, "do_center_crop", false, source);
  if (resize && center_crop && size && crop) {
    // Shorter side to `size`, then a centre crop of `crop`: vpet's crop mode.
    if (crop->value > size->value) {
      throw Error(source + ": crop_size " + std::to_string(crop->value) +
                  " exceeds the resized shortest edge " + std::to_string(size->value));
    }
    out.size = crop->value;
    out.resize = "crop";
    // vpet resizes the shorter side to floor(crop / fraction) (timm's rule):
    // the largest fraction for which that is the shortest edge exactly.
    double fraction = double(crop->value) / double(size->value);
    while (std::floor(double(crop->value) / fraction) < double(size->value)) {
      fraction = std::nextafter(fraction, 0.0);
    }
    out.crop_fraction = fraction;
  } else if (resize && size && !size->shortest_edge) {
    out.size = size->value;
    out.resize = "squash";
  } else if (resize && size) {
    out.notes.push_back(
        "size is a shortest edge without a centre crop, which vpet's square "
        "inputs cannot follow: pass --resize and --img-size");
  }
  if (config.contains("resample")) {
    const nlohmann::json& v = config["resample"];
    const char* name = v.is_number_integer() ? pil_filter_name(v.get<std::int64_t>()) : nullptr;
    if (!name) throw Error(source + ": resample is " + v.dump() + ", not a PIL filter (0-5)");
    if (std::string(name) == "bilinear" || std::string(name) == "bicubic") {
      out.interp = name;
    } else {
      out.notes.push_back(std::string("resample is PIL's ") + name +
                          ", which vpet does not have: pass --interp");
    }
  }
  if (flag_of(config, "do_normalize", true, source)) {
    out.mean = triple_of(config, "image_mean", source);
    out.std = triple_of(config, "image_std", source);
  } else {
    out.mean = std::array<float, 3>{0.f, 0.f, 0.f};
    out.std = std::array<float, 3>{1.f, 1.f, 1.f};
  }
  if (config.contains("rescale_factor")) {
    const nlohmann::json& v = config["rescale_factor"];
    if (!v.is_number() || std::abs(v.get<double>() * 255.0 - 1.0) > 1e-6) {
      out.notes.push_back("rescale_factor " + v.dump() +
                          " is not 1/255; vpet scales pixels by 1/255 as ToTensor does");
    }
  }
  return out;
}

}  // namespace vpet::model
