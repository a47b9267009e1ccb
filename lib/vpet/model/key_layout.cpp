#include "vpet/model/key_layout.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

#include "vpet/error.h"
#include "vpet/strings.h"

namespace vpet::model {
namespace {

// One canonical name and its spelling in each layout, in Layout's order
// (timm, torchvision, HF ViT, HF Dinov2, HF CLIP); nullptr where a layout has
// no such tensor. "{N}" stands for a block index, "{qkv}" for the HF
// layouts' separate q, k and v projections (kQkvParts).
struct Row {
  const char* canonical;
  std::array<const char*, 5> spellings;
};

#define TV_BLOCK "encoder.layers.encoder_layer_{N}."
#define HF_BLOCK "encoder.layer.{N}."
#define CLIP_BLOCK "encoder.layers.{N}."
constexpr Row kRows[] = {
    {"cls_token",
     {"cls_token", "class_token", "embeddings.cls_token", "embeddings.cls_token",
      "embeddings.class_embedding"}},
    {"dist_token", {"dist_token", nullptr, nullptr, nullptr, nullptr}},
    {"reg_token", {"reg_token", nullptr, nullptr, nullptr, nullptr}},
    {"pos_embed",
     {"pos_embed", "encoder.pos_embedding", "embeddings.position_embeddings",
      "embeddings.position_embeddings", "embeddings.position_embedding.weight"}},
    {"patch_embed.proj.weight",
     {"patch_embed.proj.weight", "conv_proj.weight",
      "embeddings.patch_embeddings.projection.weight",
      "embeddings.patch_embeddings.projection.weight", "embeddings.patch_embedding.weight"}},
    {"patch_embed.proj.bias",
     {"patch_embed.proj.bias", "conv_proj.bias", "embeddings.patch_embeddings.projection.bias",
      "embeddings.patch_embeddings.projection.bias", nullptr}},
    {"norm_pre.weight", {"norm_pre.weight", nullptr, nullptr, nullptr, "pre_layrnorm.weight"}},
    {"norm_pre.bias", {"norm_pre.bias", nullptr, nullptr, nullptr, "pre_layrnorm.bias"}},
    {"blocks.{N}.norm1.weight",
     {"blocks.{N}.norm1.weight", TV_BLOCK "ln_1.weight", HF_BLOCK "layernorm_before.weight",
      HF_BLOCK "norm1.weight", CLIP_BLOCK "layer_norm1.weight"}},
    {"blocks.{N}.norm1.bias",
     {"blocks.{N}.norm1.bias", TV_BLOCK "ln_1.bias", HF_BLOCK "layernorm_before.bias",
      HF_BLOCK "norm1.bias", CLIP_BLOCK "layer_norm1.bias"}},
    {"blocks.{N}.attn.qkv.weight",
     {"blocks.{N}.attn.qkv.weight", TV_BLOCK "self_attention.in_proj_weight",
      HF_BLOCK "attention.attention.{qkv}.weight", HF_BLOCK "attention.attention.{qkv}.weight",
      CLIP_BLOCK "self_attn.{qkv}.weight"}},
    {"blocks.{N}.attn.qkv.bias",
     {"blocks.{N}.attn.qkv.bias", TV_BLOCK "self_attention.in_proj_bias",
      HF_BLOCK "attention.attention.{qkv}.bias", HF_BLOCK "attention.attention.{qkv}.bias",
      CLIP_BLOCK "self_attn.{qkv}.bias"}},
    {"blocks.{N}.attn.proj.weight",
     {"blocks.{N}.attn.proj.weight", TV_BLOCK "self_attention.out_proj.weight",
      HF_BLOCK "attention.output.dense.weight", HF_BLOCK "attention.output.dense.weight",
      CLIP_BLOCK "self_attn.out_proj.weight"}},
    {"blocks.{N}.attn.proj.bias",
     {"blocks.{N}.attn.proj.bias", TV_BLOCK "self_attention.out_proj.bias",
      HF_BLOCK "attention.output.dense.bias", HF_BLOCK "attention.output.dense.bias",
      CLIP_BLOCK "self_attn.out_proj.bias"}},
    {"blocks.{N}.ls1.gamma",
     {"blocks.{N}.ls1.gamma", nullptr, nullptr, HF_BLOCK "layer_scale1.lambda1", nullptr}},
    {"blocks.{N}.norm2.weight",
     {"blocks.{N}.norm2.weight", TV_BLOCK "ln_2.weight", HF_BLOCK "layernorm_after.weight",
      HF_BLOCK "norm2.weight", CLIP_BLOCK "layer_norm2.weight"}},
    {"blocks.{N}.norm2.bias",
     {"blocks.{N}.norm2.bias", TV_BLOCK "ln_2.bias", HF_BLOCK "layernorm_after.bias",
      HF_BLOCK "norm2.bias", CLIP_BLOCK "layer_norm2.bias"}},
    {"blocks.{N}.mlp.fc1.weight",
     {"blocks.{N}.mlp.fc1.weight", TV_BLOCK "mlp.0.weight", HF_BLOCK "intermediate.dense.weight",
      HF_BLOCK "mlp.fc1.weight", CLIP_BLOCK "mlp.fc1.weight"}},
    {"blocks.{N}.mlp.fc1.bias",
     {"blocks.{N}.mlp.fc1.bias", TV_BLOCK "mlp.0.bias", HF_BLOCK "intermediate.dense.bias",
      HF_BLOCK "mlp.fc1.bias", CLIP_BLOCK "mlp.fc1.bias"}},
    {"blocks.{N}.mlp.fc2.weight",
     {"blocks.{N}.mlp.fc2.weight", TV_BLOCK "mlp.3.weight", HF_BLOCK "output.dense.weight",
      HF_BLOCK "mlp.fc2.weight", CLIP_BLOCK "mlp.fc2.weight"}},
    {"blocks.{N}.mlp.fc2.bias",
     {"blocks.{N}.mlp.fc2.bias", TV_BLOCK "mlp.3.bias", HF_BLOCK "output.dense.bias",
      HF_BLOCK "mlp.fc2.bias", CLIP_BLOCK "mlp.fc2.bias"}},
    {"blocks.{N}.ls2.gamma",
     {"blocks.{N}.ls2.gamma", nullptr, nullptr, HF_BLOCK "layer_scale2.lambda1", nullptr}},
    {"norm.weight",
     {"norm.weight", "encoder.ln.weight", "layernorm.weight", "layernorm.weight",
      "post_layernorm.weight"}},
    {"norm.bias",
     {"norm.bias", "encoder.ln.bias", "layernorm.bias", "layernorm.bias", "post_layernorm.bias"}},
    {"fc_norm.weight", {"fc_norm.weight", nullptr, nullptr, nullptr, nullptr}},
    {"fc_norm.bias", {"fc_norm.bias", nullptr, nullptr, nullptr, nullptr}},
    {"head.weight", {"head.weight", "heads.head.weight", "classifier.weight", nullptr, nullptr}},
    {"head.bias", {"head.bias", "heads.head.bias", "classifier.bias", nullptr, nullptr}},
    {"head_dist.weight", {"head_dist.weight", nullptr, nullptr, nullptr, nullptr}},
    {"head_dist.bias", {"head_dist.bias", nullptr, nullptr, nullptr, nullptr}},
};

// The parts "{qkv}" stands for, stacked in this order into qkv rows.
const std::array<const char*, 3>& qkv_parts(Layout layout) {
  static constexpr std::array<const char*, 3> kHf{"query", "key", "value"};
  static constexpr std::array<const char*, 3> kClip{"q_proj", "k_proj", "v_proj"};
  return layout == Layout::HfClip ? kClip : kHf;
}

std::string with_qkv_part(std::string pattern, const char* part) {
  pattern.replace(pattern.find("{qkv}"), 5, part);
  return pattern;
}

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

// Keys that carry nothing the backbone's features depend on, dropped with a
// note: timm/torchvision pre_logits (a representation layer timm itself
// drops for fine-tuning), HF's tanh pooler, masked-image-modelling tokens,
// CLIP's text tower and its projections into the joint image-text space
// (the PEFT papers read the image tower's pre-projection feature).
struct Ignorable {
  Layout layout;
  const char* prefix;
  const char* why;
};
constexpr const char* kMaskToken = "masked-image-modelling token, unused at inference";
constexpr const char* kClipJoint =
    "CLIP's text tower and joint-space projections; vpet reads the image tower";
constexpr Ignorable kIgnorable[] = {
    {Layout::Timm, "pre_logits.", "timm pre_logits representation layer (timm drops it too)"},
    {Layout::Timm, "mask_token", kMaskToken},
    {Layout::Torchvision, "heads.pre_logits.", "torchvision pre_logits representation layer"},
    {Layout::HuggingFace, "pooler.",
     "HF pooler (dense+tanh on the class token); vpet's pre-logits are the final-normed class "
     "token"},
    {Layout::HuggingFace, "embeddings.mask_token", kMaskToken},
    {Layout::HfDinov2, "embeddings.mask_token", kMaskToken},
    {Layout::HfDinov2, "classifier.",
     "Dinov2ForImageClassification's head reads [class token, mean patch token], which vpet's "
     "head does not"},
    {Layout::HfClip, "embeddings.position_ids", "a buffer of the indices 0..N-1"},
    {Layout::HfClip, "text_model.", kClipJoint},
    {Layout::HfClip, "text_projection.", kClipJoint},
    {Layout::HfClip, "visual_projection.", kClipJoint},
    {Layout::HfClip, "logit_scale", kClipJoint},
};

const char* spelling(const Row& row, Layout layout) {
  return row.spellings[std::size_t(layout)];
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

// A head trained on a pre_logits layer's output means nothing once that
// layer is dropped: drop it too, so that no program computes wrong logits.
void drop_head_of_pre_logits(CanonicalWeights& out) {
  const bool pre_logits = std::any_of(out.ignored.begin(), out.ignored.end(), [](const auto& key) {
    return key.find("pre_logits.") != std::string::npos;
  });
  if (!pre_logits) return;
  for (const char* head : {"head.weight", "head.bias", "head_dist.weight", "head_dist.bias"}) {
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
    case Layout::HfDinov2:
      return "huggingface-dinov2";
    case Layout::HfClip:
      return "huggingface-clip";
  }
  return "?";
}

bool is_hugging_face(Layout layout) {
  return layout == Layout::HuggingFace || layout == Layout::HfDinov2 || layout == Layout::HfClip;
}

std::string layout_key(Layout layout, const std::string& canonical) {
  for (const Row& row : kRows) {
    std::string index;
    if (!match(row.canonical, canonical, &index)) continue;
    const char* s = spelling(row, layout);
    if (!s) return canonical + " (no " + layout_name(layout) + " equivalent)";
    std::string key = substitute(s, index);
    if (key.find("{qkv}") == std::string::npos) return key;
    const auto& parts = qkv_parts(layout);
    return with_qkv_part(
        key, ("{" + std::string(parts[0]) + "," + parts[1] + "," + parts[2] + "}").c_str());
  }
  return canonical;
}

namespace {

// Which layout a key set is in, from the patch embedding's key (every
// layout has one) and, for the HF ViT/Dinov2 pair that share it, block 0's
// first norm.
struct Detected {
  Layout layout;
  std::string strip;  // a model-class prefix every backbone key carries ("vit.", ...)
};

template <typename Keys>
Detected detect_layout(const Keys& keyed, const std::string& source) {
  std::set<std::string> keys;
  for (const auto& entry : keyed) keys.insert(entry.first);
  struct Candidate {
    Layout layout;
    const char* prefix;
    const char* probe;  // a key only this layout has, after the prefix
  };
  constexpr Candidate kCandidates[] = {
      {Layout::Timm, "", "patch_embed.proj.weight"},
      {Layout::Torchvision, "", "conv_proj.weight"},
      {Layout::HuggingFace, "", "encoder.layer.0.layernorm_before.weight"},
      {Layout::HuggingFace, "vit.", "encoder.layer.0.layernorm_before.weight"},
      {Layout::HfDinov2, "", "encoder.layer.0.norm1.weight"},
      {Layout::HfDinov2, "dinov2.", "encoder.layer.0.norm1.weight"},
      {Layout::HfClip, "", "embeddings.patch_embedding.weight"},
      {Layout::HfClip, "vision_model.", "embeddings.patch_embedding.weight"},
  };
  std::vector<Detected> found;
  for (const Candidate& c : kCandidates) {
    if (keys.count(std::string(c.prefix) + c.probe)) found.push_back({c.layout, c.prefix});
  }
  if (found.size() != 1) {
    throw Error(source + ": cannot tell the checkpoint's key layout: expected exactly one of " +
                "patch_embed.proj.weight (timm), conv_proj.weight (torchvision), " +
                "[vit.]encoder.layer.0.layernorm_before.weight (Hugging Face ViT), " +
                "[dinov2.]encoder.layer.0.norm1.weight (Hugging Face Dinov2), " +
                "[vision_model.]embeddings.patch_embedding.weight (Hugging Face CLIP)" +
                (keyed.empty() ? std::string(" (the file holds no tensors)")
                               : "; first key is '" + keyed.begin()->first + "'"));
  }
  return found.front();
}

// CLIP stores its class embedding as [D] and its position embedding as an
// nn.Embedding weight [N, D]; timm's (and vpet's) are [1, 1, D] and [1, N, D].
void add_leading_ones(CanonicalWeights& out, const std::string& source) {
  for (const auto& [name, dims] : {std::pair<const char*, std::int64_t>{"cls_token", 1},
                                   std::pair<const char*, std::int64_t>{"pos_embed", 2}}) {
    const auto it = out.tensors.find(name);
    if (it == out.tensors.end()) continue;
    torch::Tensor& t = it->second;
    if (t.dim() != dims) {
      throw Error(source + ": '" + out.source_keys[name] + "' has " + std::to_string(t.dim()) +
                  " dimensions; CLIP's has " + std::to_string(dims));
    }
    t = dims == 1 ? t.view({1, 1, -1}) : t.unsqueeze(0);
  }
}

}  // namespace

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
  const Detected detected = detect_layout(keyed, source);
  out.layout = detected.layout;
  if (!detected.strip.empty()) {
    // ViTForImageClassification, Dinov2ForImageClassification, CLIPModel: the
    // backbone under its model prefix, the head (or the text tower) beside it.
    for (auto& entry : keyed) {
      if (starts_with(entry.first, detected.strip)) entry.first.erase(0, detected.strip.size());
    }
  }

  // HF q/k/v parts per canonical qkv name, stacked once all are seen.
  std::map<std::string, std::array<const torch::Tensor*, 3>> qkv_slots;
  std::map<std::string, std::string> qkv_pattern;
  const auto& parts = qkv_parts(out.layout);

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
      if (std::string(s).find("{qkv}") != std::string::npos) {
        for (std::size_t part = 0; part < 3 && !done; ++part) {
          if (!match(with_qkv_part(s, parts[part]), key, &index)) continue;
          const std::string canonical = substitute(row.canonical, index);
          auto& slots =
              qkv_slots.try_emplace(canonical, std::array<const torch::Tensor*, 3>{}).first->second;
          if (slots[part]) throw Error(source + ": key '" + *original + "' given twice");
          slots[part] = tensor;
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
      if (std::find(out.notes.begin(), out.notes.end(), note) == out.notes.end()) {
        out.notes.push_back(note);
      }
      done = true;
    }
    if (!done) {
      throw Error(source + ": unexpected key '" + *original + "': not part of a " +
                  layout_name(out.layout) +
                  " ViT that vpet supports (known-ignorable keys: pooler, pre_logits, mask_token)");
    }
  }

  for (const auto& [canonical, slots] : qkv_slots) {
    const std::string& pattern = qkv_pattern[canonical];
    std::vector<torch::Tensor> stacked;
    for (std::size_t part = 0; part < 3; ++part) {
      const std::string key = with_qkv_part(pattern, parts[part]);
      if (!slots[part]) throw Error(source + ": missing key '" + key + "'");
      const torch::Tensor& t = *slots[part];
      if (!stacked.empty() && t.sizes() != stacked.front().sizes()) {
        throw Error(source + ": '" + key + "' has shape " + c10::str(t.sizes()) + " but '" +
                    with_qkv_part(pattern, parts[0]) + "' has " +
                    c10::str(stacked.front().sizes()));
      }
      stacked.push_back(t);
    }
    // Stacking promotes mixed dtypes; the importer converts to float32 anyway.
    put(canonical, pattern, torch::cat(stacked, 0));
  }
  if (out.layout == Layout::HfClip) add_leading_ones(out, source);
  drop_head_of_pre_logits(out);
  return out;
}

std::vector<std::string> layout_keys(Layout layout, const std::string& canonical) {
  for (const Row& row : kRows) {
    std::string index;
    if (!match(row.canonical, canonical, &index)) continue;
    const char* s = spelling(row, layout);
    if (!s) {
      throw Error(std::string(layout_name(layout)) + "'s ViT has no '" + canonical +
                  "': the model cannot be written in that layout");
    }
    const std::string key = substitute(s, index);
    if (key.find("{qkv}") == std::string::npos) return {key};
    std::vector<std::string> keys;
    for (const char* part : qkv_parts(layout)) keys.push_back(with_qkv_part(key, part));
    return keys;
  }
  throw Error("'" + canonical + "' is not a tensor of vpet's ViT");
}

io::TensorMap from_canonical(const std::map<std::string, torch::Tensor>& tensors, Layout layout) {
  io::TensorMap out;
  for (const auto& [canonical, tensor] : tensors) {
    const std::vector<std::string> keys = layout_keys(layout, canonical);
    if (keys.size() == 1) {
      // CLIP's class and position embeddings have no leading 1s (add_leading_ones).
      const bool squeeze =
          layout == Layout::HfClip && (canonical == "cls_token" || canonical == "pos_embed");
      out.add(keys[0], squeeze ? tensor.flatten(0, canonical == "cls_token" ? 2 : 1) : tensor);
      continue;
    }
    const std::vector<torch::Tensor> chunks = tensor.chunk(3, 0);
    for (std::size_t part = 0; part < 3; ++part) out.add(keys[part], chunks[part].contiguous());
  }
  return out;
}

}  // namespace vpet::model
