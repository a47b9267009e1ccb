#include "vpet/peft/hf_peft.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <regex>

#include "vpet/error.h"
#include "vpet/io/tensor_text.h"
#include "vpet/model/key_layout.h"
#include "vpet/peft/lora.h"
#include "vpet/peft/registry.h"
#include "vpet/peft/settings.h"
#include "vpet/strings.h"

namespace vpet::peft {
namespace {

using model::Layout;
using model::Site;

constexpr const char* kPeftKeyPrefix = "base_model.model.";
constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";
constexpr std::array<Site, 6> kSites = {Site::Q, Site::K, Site::V, Site::O, Site::Fc1, Site::Fc2};

bool is_qkv(Site site) {
  return site == Site::Q || site == Site::K || site == Site::V;
}

std::string without_weight(const std::string& key) {
  return key.substr(0, key.size() - std::string(".weight").size());
}

// The canonical (timm) weight of a site.
std::string canonical_weight(std::int64_t block, Site site) {
  const std::string prefix = "blocks." + std::to_string(block) + ".";
  switch (site) {
    case Site::O:
      return prefix + "attn.proj.weight";
    case Site::Fc1:
      return prefix + "mlp.fc1.weight";
    case Site::Fc2:
      return prefix + "mlp.fc2.weight";
    default:
      return prefix + "attn.qkv.weight";
  }
}

// The layouts whose module names peft targets: timm's, and Hugging Face
// ViTForImageClassification's (its ViTModel under "vit.").
Layout peft_layout(const model::Backbone& backbone, const std::string& what) {
  if (backbone.layout == Layout::Timm || backbone.layout == Layout::HuggingFace) {
    return backbone.layout;
  }
  throw Error(what + ": peft adapters are for a timm or Hugging Face ViT base; " + backbone.source +
              " is a " + model::layout_name(backbone.layout) + " checkpoint");
}

// Where a vpet LoRA site is in the base model: peft's module name and, in a
// fused qkv, which third of its rows (-1: the whole module).
struct Place {
  std::string module;
  int part = -1;
};

Place place_of(Layout layout, std::int64_t block, Site site) {
  const std::string prefix = layout == Layout::HuggingFace ? "vit." : "";
  const std::vector<std::string> keys = model::layout_keys(layout, canonical_weight(block, site));
  if (keys.size() == 3) return {prefix + without_weight(keys[std::size_t(site)]), -1};
  return {prefix + without_weight(keys[0]), is_qkv(site) ? int(site) : -1};
}

std::string head_module(Layout layout) {
  return without_weight(model::layout_keys(layout, "head.weight")[0]);
}

// What a site maps: [out, in] of its weight.
std::array<std::int64_t, 2> site_shape(const model::VitConfig& c, Site site) {
  return {site == Site::Fc1 ? c.mlp_hidden : c.width, site == Site::Fc2 ? c.mlp_hidden : c.width};
}

nlohmann::json number(double value) {
  if (value == std::floor(value) && std::abs(value) < 1e15) return std::int64_t(value);
  return value;
}

torch::Tensor stored(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone();
}

// peft's get_pattern_key: the first pattern KEY matching "(.*\.)?(KEY)$".
double pattern_value(const nlohmann::json& patterns, const std::string& module, double fallback,
                     const std::string& where) {
  for (const auto& [key, value] : patterns.items()) {
    std::regex pattern;
    try {
      pattern = std::regex("(.*\\.)?(" + key + ")");
    } catch (const std::regex_error&) {
      throw Error(where + ": pattern '" + key + "' is not a regular expression");
    }
    if (!std::regex_match(module, pattern)) continue;
    if (!value.is_number()) throw Error(where + ": pattern '" + key + "' is not a number");
    return value.get<double>();
  }
  return fallback;
}

// Whether peft would have put LoRA on `module` (its check_target_module_exists).
bool targeted(const nlohmann::json& targets, const std::string& module) {
  if (targets.is_string()) return std::regex_match(module, std::regex(targets.get<std::string>()));
  if (!targets.is_array()) return false;
  for (const auto& target : targets) {
    if (!target.is_string()) continue;
    const std::string name = target.get<std::string>();
    if (module == name || ends_with(module, "." + name)) return true;
  }
  return false;
}

// One vpet LoRA site of a peft module.
struct Part {
  std::int64_t block;
  Site site;
  torch::Tensor a, b;
};

// DoRA's magnitude vector of a peft module: its parts' magnitudes, and on
// timm's fused qkv the row norms of W for a part vpet did not adapt (which
// makes peft's m / ‖W + 0‖ exactly 1 there: those rows unchanged).
using TensorLookup = std::function<torch::Tensor(const std::string&)>;

torch::Tensor module_magnitude(const model::Backbone& backbone, Layout layout,
                               const std::vector<Part>& parts, const TensorLookup& tensor) {
  const auto magnitude_of = [&](const Part& part) {
    return tensor(LoRA::tensor_name(part.block, part.site, "magnitude"));
  };
  if (!is_qkv(parts[0].site) || layout != Layout::Timm) return magnitude_of(parts[0]);
  const model::Block& block = backbone.vit->blocks.at(std::size_t(parts[0].block));
  std::vector<torch::Tensor> rows;
  for (Site site : {Site::Q, Site::K, Site::V}) {
    const auto part =
        std::find_if(parts.begin(), parts.end(), [&](const Part& p) { return p.site == site; });
    rows.push_back(part != parts.end() ? magnitude_of(*part)
                                       : stored(block->weight_of(site).norm(2, {1})));
  }
  return torch::cat(rows).contiguous();
}

}  // namespace

PeftFolder to_peft(const Bundle& bundle, const std::string& bundle_path,
                   const model::Backbone& backbone) {
  if (bundle.method != "lora" && bundle.method != "dora") {
    throw Error(bundle_path + ": --peft exports LoRA and DoRA bundles; this one is " +
                bundle.method + " (--merge folds it into the backbone where it is linear)");
  }
  const bool dora = bundle.method == "dora";
  // The configuration is data: a bad value is the bundle's fault, named
  // with its key, before any of it is read here.
  try {
    (void)create_method(bundle.method, bundle.config);
  } catch (const SettingError& e) {
    throw Error(bundle_path + ": config key '" + e.key + "' " + e.problem);
  } catch (const UsageError& e) {
    throw Error(bundle_path + ": " + e.what());
  }
  const Layout layout = peft_layout(backbone, bundle_path);
  const model::VitConfig& c = backbone.vit->config();
  const std::int64_t rank = bundle.config.at("rank").get<std::int64_t>();
  const double alpha = bundle.config.at("alpha").get<double>();
  // Bundles from before rsLoRA have no lora_scale: standard.
  const bool rslora = bundle.config.value("lora_scale", nlohmann::json("standard")) == "rs";
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& [name, tensor] : bundle.tensors) tensors[name] = stored(tensor);
  const TensorLookup tensor = [&](const std::string& name) {
    return stored(bundle.tensor(name, bundle_path));
  };

  // Per module, in model order: its parts (site, A, B).
  std::vector<std::pair<std::string, std::vector<Part>>> modules;
  std::map<std::string, std::size_t> index;
  for (std::int64_t block = 0; block < c.depth; ++block) {
    for (Site site : kSites) {
      const auto a = tensors.find(LoRA::tensor_name(block, site, "A"));
      if (a == tensors.end()) continue;
      const Place place = place_of(layout, block, site);
      if (!index.count(place.module)) {
        index[place.module] = modules.size();
        modules.push_back({place.module, {}});
      }
      modules[index[place.module]].second.push_back(
          {block, site, a->second, tensor(LoRA::tensor_name(block, site, "B"))});
    }
  }
  PeftFolder folder;
  nlohmann::json target_modules = nlohmann::json::array();
  std::int64_t fused_parts = 1;
  for (const auto& [module, parts] : modules) {
    target_modules.push_back(module);
    torch::Tensor a = parts[0].a, b = parts[0].b;
    if (is_qkv(parts[0].site) && layout == Layout::Timm) {
      // One rank-t·r LoRA on the fused rows [q; k; v]: B block-diagonal.
      fused_parts = std::int64_t(parts.size());
      std::vector<torch::Tensor> as;
      b = torch::zeros({3 * c.width, fused_parts * rank});
      for (std::size_t j = 0; j < parts.size(); ++j) {
        as.push_back(parts[j].a);
        b.narrow(0, std::int64_t(parts[j].site) * c.width, c.width)
            .narrow(1, std::int64_t(j) * rank, rank)
            .copy_(parts[j].b);
      }
      a = torch::cat(as, 0);
    }
    folder.weights.add(kPeftKeyPrefix + module + ".lora_A.weight", a.contiguous());
    folder.weights.add(kPeftKeyPrefix + module + ".lora_B.weight", b.contiguous());
    if (dora) {
      folder.weights.add(kPeftKeyPrefix + module + ".lora_magnitude_vector.weight",
                         module_magnitude(backbone, layout, parts, tensor));
    }
  }
  const std::string head = head_module(layout);
  folder.weights.add(kPeftKeyPrefix + head + ".weight", stored(bundle.head_weight));
  folder.weights.add(kPeftKeyPrefix + head + ".bias", stored(bundle.head_bias));
  folder.weights.metadata["format"] = "pt";
  folder.weights.metadata["vpet_classes"] = nlohmann::json(bundle.classes).dump();
  folder.weights.metadata["vpet_preprocess"] = bundle.preprocess.dump();

  nlohmann::json rank_pattern = nlohmann::json::object(), alpha_pattern = nlohmann::json::object();
  if (fused_parts > 1) {
    // peft scales by lora_alpha / r: t·alpha / (t·r) is vpet's alpha / r;
    // with use_rslora by lora_alpha / √r: √t·alpha / √(t·r) is alpha / √r.
    rank_pattern["attn.qkv"] = fused_parts * rank;
    const double parts = double(fused_parts);
    alpha_pattern["attn.qkv"] = number((rslora ? std::sqrt(parts) : parts) * alpha);
  }
  folder.config = {{"peft_type", "LORA"},
                   {"task_type", nullptr},
                   {"base_model_name_or_path", nullptr},
                   {"revision", nullptr},
                   {"r", rank},
                   {"lora_alpha", number(alpha)},
                   {"lora_dropout", bundle.config.value("lora_dropout", 0.0)},
                   {"target_modules", target_modules},
                   {"rank_pattern", rank_pattern},
                   {"alpha_pattern", alpha_pattern},
                   {"modules_to_save", nlohmann::json::array({head})},
                   {"bias", "none"},
                   {"fan_in_fan_out", false},
                   {"use_rslora", rslora},
                   {"use_dora", dora},
                   {"init_lora_weights", true},
                   {"inference_mode", true},
                   {"layers_to_transform", nullptr},
                   {"layers_pattern", nullptr}};
  return folder;
}

PeftFolder read_peft_folder(const std::string& dir) {
  PeftFolder folder;
  const std::string config_path = dir + "/" + kConfigFile;
  std::ifstream in(config_path);
  if (!in) throw Error(config_path + ": cannot open (a peft adapter folder has one)");
  try {
    folder.config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(config_path + ": not JSON: " + e.what());
  }
  if (!folder.config.is_object()) throw Error(config_path + ": not a JSON object");
  folder.weights = io::read_safetensors(dir + "/" + kWeightsFile);
  return folder;
}

Bundle from_peft(const PeftFolder& folder, const std::string& dir,
                 const model::Backbone& backbone) {
  const std::string config_path = dir + "/" + kConfigFile;
  const std::string weights_path = dir + "/" + kWeightsFile;
  const nlohmann::json& cfg = folder.config;
  auto config_error = [&](const std::string& what) { return Error(config_path + ": " + what); };
  auto weights_error = [&](const std::string& what) { return Error(weights_path + ": " + what); };
  // Compared as JSON values, so that a field of the wrong type is refused
  // with the file's name, not by nlohmann's type_error.
  auto shown = [](const nlohmann::json& v) {
    return v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump();
  };
  const nlohmann::json type = cfg.value("peft_type", nlohmann::json());
  if (type != "LORA") {
    throw config_error("peft_type is " + shown(type) + "; vpet imports LoRA adapters only");
  }
  if (cfg.value("use_dora", nlohmann::json(false)) != false) {
    throw config_error(
        "DoRA (use_dora): --from-peft reads LoRA adapters only (vpet's dora bundles export to "
        "peft with --peft)");
  }
  if (cfg.value("fan_in_fan_out", nlohmann::json(false)) != false) {
    throw config_error("fan_in_fan_out (GPT-2's Conv1D) does not apply to a ViT");
  }
  const nlohmann::json bias = cfg.value("bias", nlohmann::json("none"));
  if (bias != "none") throw config_error("bias " + shown(bias) + ": vpet's LoRA trains no biases");
  if (!cfg.contains("r") || !cfg["r"].is_number_integer() || cfg["r"].get<std::int64_t>() < 1) {
    throw config_error("'r' must be a positive integer");
  }
  const double r = double(cfg["r"].get<std::int64_t>());
  const double lora_alpha = cfg.contains("lora_alpha") && cfg["lora_alpha"].is_number()
                                ? cfg["lora_alpha"].get<double>()
                                : r;
  const nlohmann::json use_rslora = cfg.value("use_rslora", nlohmann::json(false));
  if (!use_rslora.is_boolean()) throw config_error("'use_rslora' must be true or false");
  const bool rslora = use_rslora.get<bool>();
  const nlohmann::json no_patterns = nlohmann::json::object();
  const nlohmann::json& rank_pattern =
      cfg.contains("rank_pattern") && cfg["rank_pattern"].is_object() ? cfg["rank_pattern"]
                                                                      : no_patterns;
  const nlohmann::json& alpha_pattern =
      cfg.contains("alpha_pattern") && cfg["alpha_pattern"].is_object() ? cfg["alpha_pattern"]
                                                                        : no_patterns;
  const nlohmann::json targets = cfg.value("target_modules", nlohmann::json());
  const double dropout = cfg.contains("lora_dropout") && cfg["lora_dropout"].is_number()
                             ? cfg["lora_dropout"].get<double>()
                             : 0.0;

  const Layout layout = peft_layout(backbone, dir);
  const model::VitConfig& c = backbone.vit->config();
  std::map<std::string, std::vector<std::pair<std::int64_t, Site>>> places;
  for (std::int64_t block = 0; block < c.depth; ++block) {
    for (Site site : kSites) places[place_of(layout, block, site).module].push_back({block, site});
  }
  const std::string head = head_module(layout);
  std::map<std::string, torch::Tensor> lora_a, lora_b;
  Bundle bundle;
  for (const auto& [name, tensor] : folder.weights.tensors) {
    if (!starts_with(name, kPeftKeyPrefix)) {
      throw weights_error("key '" + name + "' does not start with '" + kPeftKeyPrefix + "'");
    }
    const std::string key = name.substr(std::string(kPeftKeyPrefix).size());
    const torch::Tensor t = tensor.to(torch::kFloat32);
    if (ends_with(key, ".lora_A.weight")) {
      lora_a[key.substr(0, key.size() - 14)] = t;
    } else if (ends_with(key, ".lora_B.weight")) {
      lora_b[key.substr(0, key.size() - 14)] = t;
    } else if (key == head + ".weight") {
      bundle.head_weight = t;
    } else if (key == head + ".bias") {
      bundle.head_bias = t;
    } else {
      throw weights_error("unexpected key '" + name + "': neither a LoRA factor nor the " +
                          model::layout_name(layout) + " head '" + head + "'");
    }
  }
  if (!bundle.head_weight.defined() || !bundle.head_bias.defined() ||
      bundle.head_weight.dim() != 2 || bundle.head_weight.size(1) != c.width ||
      bundle.head_bias.dim() != 1 || bundle.head_bias.size(0) != bundle.head_weight.size(0)) {
    throw weights_error("no head of width " + std::to_string(c.width) + " under '" +
                        kPeftKeyPrefix + head +
                        ".{weight,bias}' (modules_to_save: vpet bundles carry their head)");
  }
  for (const auto& [module, b] : lora_b) {
    if (!lora_a.count(module)) throw weights_error("'" + module + "' has lora_B but no lora_A");
  }

  // Each site's factors, B scaled by peft's lora_alpha / r and zero rank
  // components dropped.
  std::map<std::pair<std::int64_t, Site>, std::pair<torch::Tensor, torch::Tensor>> factors;
  for (const auto& [module, a] : lora_a) {
    const auto found = places.find(module);
    if (found == places.end()) {
      throw weights_error("LoRA on '" + module +
                          "', which is not a q, k, v, o, fc1 or fc2 linear of " + backbone.source +
                          " (a " + model::layout_name(layout) + " ViT of depth " +
                          std::to_string(c.depth) + ")");
    }
    if (!targeted(targets, module)) {
      throw Error(weights_path + ": LoRA on '" + module + "', which " + config_path +
                  "'s target_modules does not name");
    }
    const auto b_found = lora_b.find(module);
    if (b_found == lora_b.end()) throw weights_error("'" + module + "' has lora_A but no lora_B");
    const torch::Tensor& b = b_found->second;
    const auto& sites = found->second;
    const std::array<std::int64_t, 2> shape = site_shape(c, sites.front().second);
    const std::int64_t out = shape[0] * std::int64_t(sites.size()), in = shape[1];
    if (a.dim() != 2 || b.dim() != 2 || a.size(1) != in || b.size(0) != out ||
        a.size(0) != b.size(1)) {
      throw weights_error("'" + module + "': lora_A is " + io::shape_string(a.sizes()) +
                          " and lora_B " + io::shape_string(b.sizes()) + "; this model needs [r, " +
                          std::to_string(in) + "] and [" + std::to_string(out) + ", r]");
    }
    const double rank = pattern_value(rank_pattern, module, r, config_path);
    const double alpha = pattern_value(alpha_pattern, module, lora_alpha, config_path);
    if (double(a.size(0)) != rank) {
      throw Error(weights_path + ": '" + module + "' has rank " + std::to_string(a.size(0)) +
                  ", but " + config_path + " gives it r " + number(rank).dump());
    }
    const double scale = rslora ? alpha / std::sqrt(rank) : alpha / rank;
    for (std::size_t j = 0; j < sites.size(); ++j) {
      const torch::Tensor part = b.narrow(0, std::int64_t(j) * shape[0], shape[0]) * scale;
      const torch::Tensor keep = part.abs().sum(0).ne(0).nonzero().flatten();
      if (sites.size() > 1 && keep.numel() == 0) continue;  // a third of qkv left alone
      factors[sites[j]] = {a.index_select(0, keep), part.index_select(1, keep)};
    }
  }
  if (factors.empty()) throw weights_error("no LoRA factor changes the model");

  std::int64_t rank = 1;
  std::array<bool, 6> used{};
  for (const auto& [where, ab] : factors) {
    rank = std::max(rank, ab.first.size(0));
    used[std::size_t(where.second)] = true;
  }
  nlohmann::json site_names = nlohmann::json::array();
  for (Site site : kSites) {
    if (used[std::size_t(site)]) site_names.push_back(model::site_name(site));
  }
  bundle.method = "lora";
  bundle.config = {
      {"rank", rank}, {"alpha", double(rank)}, {"lora_dropout", dropout}, {"targets", site_names}};
  for (std::int64_t block = 0; block < c.depth; ++block) {
    for (Site site : kSites) {
      if (!used[std::size_t(site)]) continue;
      const std::array<std::int64_t, 2> shape = site_shape(c, site);
      torch::Tensor a = torch::zeros({rank, shape[1]}), b = torch::zeros({shape[0], rank});
      const auto found = factors.find({block, site});
      if (found != factors.end()) {
        const std::int64_t k = found->second.first.size(0);
        a.narrow(0, 0, k).copy_(found->second.first);
        b.narrow(1, 0, k).copy_(found->second.second);
      }
      bundle.tensors.emplace_back(LoRA::tensor_name(block, site, "A"), a);
      bundle.tensors.emplace_back(LoRA::tensor_name(block, site, "B"), b);
    }
  }
  const auto classes = folder.weights.metadata.find("vpet_classes");
  if (classes != folder.weights.metadata.end()) {
    try {
      bundle.classes = nlohmann::json::parse(classes->second).get<std::vector<std::string>>();
    } catch (const nlohmann::json::exception&) {
      throw weights_error("__metadata__ vpet_classes is not a JSON list of names");
    }
  }
  if (bundle.classes.empty()) {
    for (std::int64_t i = 0; i < bundle.head_weight.size(0); ++i) {
      bundle.classes.push_back(std::to_string(i));
    }
  }
  if (std::int64_t(bundle.classes.size()) != bundle.head_weight.size(0)) {
    throw weights_error("__metadata__ vpet_classes names " + std::to_string(bundle.classes.size()) +
                        " classes, but the head has " + std::to_string(bundle.head_weight.size(0)));
  }
  const auto preprocess = folder.weights.metadata.find("vpet_preprocess");
  if (preprocess != folder.weights.metadata.end()) {
    try {
      bundle.preprocess = nlohmann::json::parse(preprocess->second);
    } catch (const nlohmann::json::exception&) {
      throw weights_error("__metadata__ vpet_preprocess is not JSON");
    }
  }
  bundle.backbone = backbone.describe();
  return bundle;
}

}  // namespace vpet::peft
