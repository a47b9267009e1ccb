#include "vpet/model/key_layout.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "vpet/error.h"

namespace vpet::model {
namespace {

// One canonical name and its spelling in each layout; nullptr where a layout
// has no such tensor. "{N}" stands for a block index.
struct Row {
  const char* canonical;
  const char* timm;
  const char* torchvision;
  const char* hf;
};

#define TV_BLOCK "encoder.layers.encoder_layer_{N}."
#define HF_BLOCK "encoder.layer.{N}."
constexpr Row kRows[] = {
    {"cls_token", "cls_token", "class_token", "embeddings.cls_token"},
    {"reg_token", "reg_token", nullptr, nullptr},
    {"pos_embed", "pos_embed", "encoder.pos_embedding", "embeddings.position_embeddings"},
    {"patch_embed.proj.weight", "patch_embed.proj.weight", "conv_proj.weight",
     "embeddings.patch_embeddings.projection.weight"},
    {"patch_embed.proj.bias", "patch_embed.proj.bias", "conv_proj.bias",
     "embeddings.patch_embeddings.projection.bias"},
    {"norm_pre.weight", "norm_pre.weight", nullptr, nullptr},
    {"norm_pre.bias", "norm_pre.bias", nullptr, nullptr},
    {"blocks.{N}.norm1.weight", "blocks.{N}.norm1.weight", TV_BLOCK "ln_1.weight",
     HF_BLOCK "layernorm_before.weight"},
    {"blocks.{N}.norm1.bias", "blocks.{N}.norm1.bias", TV_BLOCK "ln_1.bias",
     HF_BLOCK "layernorm_before.bias"},
    {"blocks.{N}.attn.qkv.weight", "blocks.{N}.attn.qkv.weight",
     TV_BLOCK "self_attention.in_proj_weight",
     HF_BLOCK "attention.attention.{query,key,value}.weight"},
    {"blocks.{N}.attn.qkv.bias", "blocks.{N}.attn.qkv.bias", TV_BLOCK "self_attention.in_proj_bias",
     HF_BLOCK "attention.attention.{query,key,value}.bias"},
    {"blocks.{N}.attn.proj.weight", "blocks.{N}.attn.proj.weight",
     TV_BLOCK "self_attention.out_proj.weight", HF_BLOCK "attention.output.dense.weight"},
    {"blocks.{N}.attn.proj.bias", "blocks.{N}.attn.proj.bias",
     TV_BLOCK "self_attention.out_proj.bias", HF_BLOCK "attention.output.dense.bias"},
    {"blocks.{N}.ls1.gamma", "blocks.{N}.ls1.gamma", nullptr, nullptr},
    {"blocks.{N}.norm2.weight", "blocks.{N}.norm2.weight", TV_BLOCK "ln_2.weight",
     HF_BLOCK "layernorm_after.weight"},
    {"blocks.{N}.norm2.bias", "blocks.{N}.norm2.bias", TV_BLOCK "ln_2.bias",
     HF_BLOCK "layernorm_after.bias"},
    {"blocks.{N}.mlp.fc1.weight", "blocks.{N}.mlp.fc1.weight", TV_BLOCK "mlp.0.weight",
     HF_BLOCK "intermediate.dense.weight"},
    {"blocks.{N}.mlp.fc1.bias", "blocks.{N}.mlp.fc1.bias", TV_BLOCK "mlp.0.bias",
     HF_BLOCK "intermediate.dense.bias"},
    {"blocks.{N}.mlp.fc2.weight", "blocks.{N}.mlp.fc2.weight", TV_BLOCK "mlp.3.weight",
     HF_BLOCK "output.dense.weight"},
    {"blocks.{N}.mlp.fc2.bias", "blocks.{N}.mlp.fc2.bias", TV_BLOCK "mlp.3.bias",
     HF_BLOCK "output.dense.bias"},
    {"blocks.{N}.ls2.gamma", "blocks.{N}.ls2.gamma", nullptr, nullptr},
    {"norm.weight", "norm.weight", "encoder.ln.weight", "layernorm.weight"},
    {"norm.bias", "norm.bias", "encoder.ln.bias", "layernorm.bias"},
    {"fc_norm.weight", "fc_norm.weight", nullptr, nullptr},
    {"fc_norm.bias", "fc_norm.bias", nullptr, nullptr},
    {"head.weight", "head.weight", "heads.head.weight", "classifier.weight"},
    {"head.bias", "head.bias", "heads.head.bias", "classifier.bias"},
};

// Older spellings a layout's own loader still accepts: timm remaps DeiT-3's
// gamma_1/gamma_2, torchvision (< version 2 state dicts) mlp.linear_1/_2.
struct Alias {
  Layout layout;
  const char* key;
  const char* canonical;
};
constexpr Alias kAliases[] = {
    {Layout::Timm, "blocks.{N}.gamma_1", "blocks.{N}.ls1.gamma"},
    {Layout::Timm, "blocks.{N}.gamma_2", "blocks.{N}.ls2.gamma"},
    {Layout::Torchvision, TV_BLOCK "mlp.linear_1.weight", "blocks.{N}.mlp.fc1.weight"},
    {Layout::Torchvision, TV_BLOCK "mlp.linear_1.bias", "blocks.{N}.mlp.fc1.bias"},
    {Layout::Torchvision, TV_BLOCK "mlp.linear_2.weight", "blocks.{N}.mlp.fc2.weight"},
    {Layout::Torchvision, TV_BLOCK "mlp.linear_2.bias", "blocks.{N}.mlp.fc2.bias"},
};

// HF keeps q, k and v apart; they are stacked in this order into qkv rows.
constexpr const char* kHfQkvParts[] = {"query", "key", "value"};

// Keys that carry nothing the backbone's features depend on, dropped with a
// note: timm/torchvision pre_logits (a representation layer timm itself
// drops for fine-tuning), HF's tanh pooler, masked-image-modelling tokens.
struct Ignorable {
  Layout layout;
  const char* prefix;
  const char* why;
};
constexpr Ignorable kIgnorable[] = {
    {Layout::Timm, "pre_logits.", "timm pre_logits representation layer (timm drops it too)"},
    {Layout::Timm, "mask_token", "masked-image-modelling token, unused at inference"},
    {Layout::Torchvision, "heads.pre_logits.", "torchvision pre_logits representation layer"},
    {Layout::HuggingFace, "pooler.",
     "HF pooler (dense+tanh on the class token); vpet's pre-logits are the final-normed class "
     "token"},
    {Layout::HuggingFace, "embeddings.mask_token",
     "masked-image-modelling token, unused at inference"},
};

const char* spelling(const Row& row, Layout layout) {
  switch (layout) {
    case Layout::Timm:
      return row.timm;
    case Layout::Torchvision:
      return row.torchvision;
    case Layout::HuggingFace:
      return row.hf;
  }
  return nullptr;
}

// Matches key against a pattern with at most one "{N}"; stores the index.
bool match(const std::string& pattern, const std::string& key, std::string* index) {
  const auto at = pattern.find("{N}");
  if (at == std::string::npos) return key == pattern;
  const std::string prefix = pattern.substr(0, at), suffix = pattern.substr(at + 3);
  if (key.size() <= prefix.size() + suffix.size()) return false;
  if (key.compare(0, prefix.size(), prefix) != 0) return false;
  if (key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  const std::string middle = key.substr(prefix.size(), key.size() - prefix.size() - suffix.size());
  for (char c : middle) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  *index = middle;
  return true;
}

std::string substitute(const std::string& pattern, const std::string& index) {
  std::string out = pattern;
  const auto at = out.find("{N}");
  if (at != std::string::npos) out.replace(at, 3, index);
  return out;
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// A head trained on a pre_logits layer's output means nothing once that
// layer is dropped: drop it too, so that no program computes wrong logits.
void drop_head_of_pre_logits(CanonicalWeights& out) {
  const bool pre_logits = std::any_of(out.ignored.begin(), out.ignored.end(), [](const auto& key) {
    return key.find("pre_logits.") != std::string::npos;
  });
  if (!pre_logits) return;
  for (const char* head : {"head.weight", "head.bias"}) {
    if (!out.tensors.count(head)) continue;
    out.ignored.push_back(out.source_keys[head]);
    out.tensors.erase(head);
    out.source_keys.erase(head);
  }
  out.notes.push_back("ignored the head too: it was trained on pre_logits' output");
}

}  // namespace

const char* layout_name(Layout layout) {
  switch (layout) {
    case Layout::Timm:
      return "timm";
    case Layout::Torchvision:
      return "torchvision";
    case Layout::HuggingFace:
      return "huggingface";
  }
  return "?";
}

std::string layout_key(Layout layout, const std::string& canonical) {
  for (const Row& row : kRows) {
    std::string index;
    if (!match(row.canonical, canonical, &index)) continue;
    const char* s = spelling(row, layout);
    return s ? substitute(s, index) : canonical + " (no " + layout_name(layout) + " equivalent)";
  }
  return canonical;
}

CanonicalWeights to_canonical(const io::TensorMap& weights, const std::string& source) {
  // Training wrappers (DataParallel "module.", EMA/"model." dicts) prefix every key.
  // (key without wrapper prefixes, tensor, key as in the file)
  struct Keyed {
    std::string first;
    const torch::Tensor* second;
    const std::string* original;
  };
  std::vector<Keyed> keyed;
  for (const auto& [name, tensor] : weights.tensors) keyed.push_back({name, &tensor, &name});
  for (const std::string prefix : {"module.", "model."}) {
    bool all = !keyed.empty();
    for (const auto& entry : keyed) all = all && starts_with(entry.first, prefix);
    if (!all) continue;
    for (auto& entry : keyed) entry.first.erase(0, prefix.size());
  }

  CanonicalWeights out;
  bool timm = false, torchvision = false, hf = false, hf_prefixed = false;
  for (const auto& entry : keyed) {
    timm = timm || entry.first == "patch_embed.proj.weight";
    torchvision = torchvision || entry.first == "conv_proj.weight";
    hf = hf || entry.first == "embeddings.patch_embeddings.projection.weight";
    hf_prefixed = hf_prefixed || entry.first == "vit.embeddings.patch_embeddings.projection.weight";
  }
  if (int(timm) + int(torchvision) + int(hf || hf_prefixed) != 1) {
    throw Error(source + ": cannot tell the checkpoint's key layout: expected exactly one of " +
                "patch_embed.proj.weight (timm), conv_proj.weight (torchvision), " +
                "[vit.]embeddings.patch_embeddings.projection.weight (Hugging Face)" +
                (keyed.empty() ? std::string(" (the file holds no tensors)")
                               : "; first key is '" + keyed.front().first + "'"));
  }
  out.layout = timm ? Layout::Timm : torchvision ? Layout::Torchvision : Layout::HuggingFace;
  if (hf_prefixed) {
    // ViTForImageClassification: the backbone under "vit.", the head beside it.
    for (auto& entry : keyed) {
      if (starts_with(entry.first, "vit.")) entry.first.erase(0, 4);
    }
  }

  // HF q/k/v parts per canonical qkv name, stacked once all are seen.
  std::map<std::string, std::array<const torch::Tensor*, 3>> qkv_parts;
  std::map<std::string, std::string> qkv_pattern;

  auto put = [&](const std::string& canonical, const std::string& key, const torch::Tensor& t) {
    if (out.tensors.count(canonical)) {
      throw Error(source + ": keys '" + out.source_keys[canonical] + "' and '" + key +
                  "' both give " + canonical);
    }
    out.tensors[canonical] = t;
    out.source_keys[canonical] = key;
  };

  for (const auto& [key, tensor, original] : keyed) {
    std::string index;
    bool done = false;
    for (const Row& row : kRows) {
      const char* s = spelling(row, out.layout);
      if (!s) continue;
      if (out.layout == Layout::HuggingFace &&
          std::string(s).find("{query,key,value}") != std::string::npos) {
        for (int part = 0; part < 3 && !done; ++part) {
          std::string pattern = s;
          pattern.replace(pattern.find("{query,key,value}"), 17, kHfQkvParts[part]);
          if (!match(pattern, key, &index)) continue;
          const std::string canonical = substitute(row.canonical, index);
          auto& slots =
              qkv_parts.try_emplace(canonical, std::array<const torch::Tensor*, 3>{}).first->second;
          if (slots[std::size_t(part)])
            throw Error(source + ": key '" + *original + "' given twice");
          slots[std::size_t(part)] = tensor;
          qkv_pattern[canonical] = substitute(s, index);
          done = true;
        }
        if (done) break;
        continue;
      }
      if (match(s, key, &index)) {
        put(substitute(row.canonical, index), *original, *tensor);
        done = true;
        break;
      }
    }
    for (const Alias& alias : kAliases) {
      if (done || alias.layout != out.layout || !match(alias.key, key, &index)) continue;
      put(substitute(alias.canonical, index), *original, *tensor);
      done = true;
    }
    for (const Ignorable& ignorable : kIgnorable) {
      if (done || ignorable.layout != out.layout || !starts_with(key, ignorable.prefix)) continue;
      out.ignored.push_back(*original);
      const std::string note = std::string("ignored ") + ignorable.prefix + "*: " + ignorable.why;
      if (out.notes.empty() || out.notes.back() != note) out.notes.push_back(note);
      done = true;
    }
    if (!done) {
      throw Error(source + ": unexpected key '" + *original + "': not part of a " +
                  layout_name(out.layout) +
                  " ViT that vpet supports (known-ignorable keys: pooler, pre_logits, mask_token)");
    }
  }

  for (const auto& [canonical, slots] : qkv_parts) {
    const std::string& pattern = qkv_pattern[canonical];
    std::vector<torch::Tensor> parts;
    for (int part = 0; part < 3; ++part) {
      std::string key = pattern;
      key.replace(key.find("{query,key,value}"), 17, kHfQkvParts[part]);
      if (!slots[std::size_t(part)]) throw Error(source + ": missing key '" + key + "'");
      const torch::Tensor& t = *slots[std::size_t(part)];
      if (!parts.empty() && t.sizes() != parts.front().sizes()) {
        throw Error(source + ": '" + key + "' has shape " + c10::str(t.sizes()) +
                    " but the query has " + c10::str(parts.front().sizes()));
      }
      parts.push_back(t);
    }
    // Stacking promotes mixed dtypes; the importer converts to float32 anyway.
    put(canonical, pattern, torch::cat(parts, 0));
  }
  drop_head_of_pre_logits(out);
  return out;
}

}  // namespace vpet::model
