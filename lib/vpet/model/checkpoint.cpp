#include "vpet/model/checkpoint.h"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "vpet/error.h"
#include "vpet/io/npz.h"
#include "vpet/io/tensor_text.h"
#include "vpet/model/fingerprint.h"
#include "vpet/model/jax_layout.h"
#include "vpet/model/random_vit.h"

namespace vpet::model {
namespace {

std::int64_t exact_sqrt(std::int64_t n) {
  if (n <= 0) return -1;
  const auto r = std::int64_t(std::llround(std::sqrt(double(n))));
  return r * r == n ? r : -1;
}

std::string with_source_key(const CanonicalWeights& weights, const std::string& canonical) {
  const auto it = weights.source_keys.find(canonical);
  const std::string key =
      it != weights.source_keys.end() ? it->second : layout_key(weights.layout, canonical);
  return key == canonical ? key : key + " (" + canonical + ")";
}

// A count the user or the file states, with where it was stated.
struct Stated {
  std::int64_t value;
  std::string where;
};

std::vector<Stated> stated_heads(const io::TensorMap& weights, const nlohmann::json& hf_config,
                                 const LoadOptions& options, const std::string& source) {
  std::vector<Stated> out;
  for (const char* key : {"num_heads", "num_attention_heads", "heads"}) {
    const auto it = weights.metadata.find(key);
    if (it == weights.metadata.end()) continue;
    std::size_t used = 0;
    std::int64_t value = -1;
    try {
      value = std::stoll(it->second, &used);
    } catch (const std::exception&) {
    }
    if (used != it->second.size() || value <= 0) {
      throw Error(source + ": __metadata__ " + key + " is '" + it->second +
                  "', not a positive integer");
    }
    out.push_back({value, std::string("__metadata__ ") + key});
  }
  if (hf_config.is_object() && hf_config.contains("num_attention_heads")) {
    const auto& v = hf_config["num_attention_heads"];
    if (!v.is_number_unsigned() || v.get<std::int64_t>() <= 0) {
      throw Error(source + ": config.json num_attention_heads is not a positive integer");
    }
    out.push_back({v.get<std::int64_t>(), "config.json num_attention_heads"});
  }
  if (options.heads) out.push_back({*options.heads, "--heads"});
  return out;
}

std::int64_t decide_heads(const std::vector<Stated>& stated, std::int64_t width,
                          const std::string& source, std::vector<std::string>& notes) {
  for (const auto& s : stated) {
    if (s.value != stated.front().value) {
      throw Error(source + ": " + stated.front().where + " says " +
                  std::to_string(stated.front().value) + " heads but " + s.where + " says " +
                  std::to_string(s.value));
    }
  }
  if (!stated.empty()) return stated.front().value;
  // Every standard ViT (Ti/S/B/L/H, DeiT, DINO) uses 64-dimensional heads.
  if (width % 64 != 0) {
    throw Error(source + ": the number of attention heads is not recorded in the file and width " +
                std::to_string(width) + " is not a multiple of 64: pass --heads");
  }
  notes.push_back("heads = width/64 = " + std::to_string(width / 64) +
                  " (not recorded in the file; pass --heads if wrong)");
  return width / 64;
}

// Grid and no_embed_class from the position embedding's length.
void decide_grid(VitConfig& c, std::int64_t pos_tokens, Layout layout, const LoadOptions& options,
                 const std::string& source) {
  const std::int64_t prefix = c.prefix_tokens();
  std::int64_t gh = -1, gw = -1;
  if (options.checkpoint_grid) {
    gh = (*options.checkpoint_grid)[0];
    gw = (*options.checkpoint_grid)[1];
    if (pos_tokens == gh * gw + prefix) {
      c.no_embed_class = false;
    } else if (prefix > 0 && pos_tokens == gh * gw) {
      c.no_embed_class = true;
    } else {
      throw Error(source + ": pos_embed has " + std::to_string(pos_tokens) +
                  " entries, which fits neither " + std::to_string(gh) + "x" + std::to_string(gw) +
                  " patches nor those plus " + std::to_string(prefix) + " prefix tokens");
    }
  } else {
    const std::int64_t with_prefix = exact_sqrt(pos_tokens - prefix);
    // Only timm has prefix tokens without position embedding.
    const std::int64_t without_prefix =
        prefix > 0 && layout == Layout::Timm ? exact_sqrt(pos_tokens) : -1;
    if (with_prefix > 0 && without_prefix > 0) {
      throw Error(source + ": pos_embed has " + std::to_string(pos_tokens) + " entries: either a " +
                  std::to_string(with_prefix) + "x" + std::to_string(with_prefix) + " grid plus " +
                  std::to_string(prefix) + " prefix tokens or a " + std::to_string(without_prefix) +
                  "x" + std::to_string(without_prefix) +
                  " grid alone; give the checkpoint's grid with --checkpoint-grid ROWSxCOLS");
    }
    if (with_prefix < 0 && without_prefix < 0) {
      throw Error(source + ": pos_embed has " + std::to_string(pos_tokens) + " entries, not " +
                  std::to_string(prefix) +
                  " prefix tokens plus a square grid of patches: give the checkpoint's grid with "
                  "--checkpoint-grid ROWSxCOLS");
    }
    c.no_embed_class = with_prefix < 0;
    gh = gw = with_prefix > 0 ? with_prefix : without_prefix;
  }
  c.img_size = {gh * c.patch_size, gw * c.patch_size};
}

double default_ln_eps(Layout layout) {
  switch (layout) {
    case Layout::HuggingFace:
      return 1e-12;  // ViTConfig's layer_norm_eps
    case Layout::HfClip:
      return 1e-5;  // CLIPVisionConfig's (PyTorch's LayerNorm default)
    default:
      return 1e-6;  // timm's, torchvision's, Dinov2Config's
  }
}

// config.json's hidden_act in vpet's names (transformers' ACT2FN keys).
Activation hf_activation(const nlohmann::json& value, const std::string& source) {
  const std::string name = value.is_string() ? value.get<std::string>() : value.dump();
  if (name == "gelu") return Activation::Gelu;
  if (name == "quick_gelu") return Activation::QuickGelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::GeluTanh;
  throw Error(source + ": config.json hidden_act is '" + name +
              "'; vpet's ViT has gelu, quick_gelu and gelu_new/gelu_pytorch_tanh");
}

// The activation the file states (config.json, a vpet export's metadata),
// the layout's own (OpenAI CLIP's QuickGELU), or --act, which wins.
Activation decide_act(const io::TensorMap& file, const nlohmann::json& hf_config, Layout layout,
                      const LoadOptions& options, const std::string& source,
                      std::vector<std::string>& notes) {
  std::optional<Activation> stated;
  std::string where;
  if (hf_config.is_object() && hf_config.contains("hidden_act")) {
    stated = hf_activation(hf_config["hidden_act"], source);
    where = "config.json hidden_act";
  }
  const auto meta = file.metadata.find("act");
  if (!stated && meta != file.metadata.end()) {
    try {
      stated = parse_activation(meta->second, "__metadata__ act");
    } catch (const UsageError& e) {
      throw Error(source + ": " + e.what());
    }
    where = "__metadata__ act";
  }
  if (options.act) {
    if (stated && *stated != *options.act) {
      notes.push_back(std::string("--act ") + activation_name(*options.act) + " overrides " +
                      where + " (" + activation_name(*stated) + ")");
    }
    return *options.act;
  }
  if (stated) return *stated;
  if (layout == Layout::HfClip) {
    notes.push_back("activation quick-gelu (OpenAI CLIP's; no config.json says otherwise)");
    return Activation::QuickGelu;
  }
  return Activation::Gelu;
}

// Dinov2's giant models use a SwiGLU MLP, which vpet's ViT does not have.
void refuse_unsupported_hf(const nlohmann::json& hf_config, const std::string& source) {
  if (hf_config.is_object() && hf_config.value("use_swiglu_ffn", nlohmann::json(false)) == true) {
    throw Error(source +
                ": config.json use_swiglu_ffn is true (Dinov2 giant's SwiGLU MLP), "
                "which vpet's ViT does not have");
  }
}

Backbone build(const CanonicalWeights& weights, const io::TensorMap& file,
               const std::string& source, const LoadOptions& options,
               const nlohmann::json& hf_config) {
  const auto& t = weights.tensors;
  auto has = [&](const std::string& name) { return t.count(name) > 0; };
  auto need = [&](const std::string& name) -> const torch::Tensor& {
    const auto it = t.find(name);
    if (it == t.end()) {
      throw Error(source + ": missing key '" + layout_key(weights.layout, name) + "'" +
                  (layout_key(weights.layout, name) == name ? "" : " (" + name + ")"));
    }
    return it->second;
  };

  refuse_unsupported_hf(hf_config, source);
  Backbone out;
  out.layout = weights.layout;
  out.source = source;
  out.ignored_keys = weights.ignored;
  out.notes = weights.notes;

  VitConfig c;
  const torch::Tensor& patch = need("patch_embed.proj.weight");
  if (patch.dim() != 4 || patch.size(2) != patch.size(3)) {
    throw Error(source + ": " + with_source_key(weights, "patch_embed.proj.weight") +
                " has shape " + io::shape_string(patch.sizes()) +
                "; expected [width, channels, patch, patch]");
  }
  c.width = patch.size(0);
  c.in_chans = patch.size(1);
  c.patch_size = patch.size(2);
  c.depth = 0;
  for (const auto& [name, tensor] : t) {
    if (name.compare(0, 7, "blocks.") != 0) continue;
    c.depth = std::max<std::int64_t>(c.depth, std::stoll(name.substr(7)) + 1);
  }
  if (c.depth == 0) throw Error(source + ": no transformer blocks in the checkpoint");
  c.mlp_hidden = need("blocks.0.mlp.fc1.weight").size(0);
  c.class_token = has("cls_token");
  c.dist_token = has("dist_token");
  c.reg_tokens = has("reg_token") ? need("reg_token").size(1) : 0;
  c.layer_scale = has("blocks.0.ls1.gamma");
  c.qkv_bias = has("blocks.0.attn.qkv.bias");
  c.patch_bias = has("patch_embed.proj.bias");
  c.norm_pre = has("norm_pre.weight");
  c.fc_norm = has("fc_norm.weight");
  if (c.fc_norm && has("norm.weight")) {
    throw Error(source + ": has both norm and fc_norm; a timm ViT has one or the other");
  }
  c.num_classes = has("head.weight") ? need("head.weight").size(0) : 0;
  c.pool = options.pool ? *options.pool : (c.fc_norm || !c.class_token) ? Pool::Avg : Pool::Token;

  c.ln_eps = default_ln_eps(weights.layout);
  if (hf_config.is_object() && hf_config.contains("layer_norm_eps")) {
    const nlohmann::json& eps = hf_config["layer_norm_eps"];
    if (!eps.is_number() || !std::isfinite(eps.get<double>()) || !(eps.get<double>() > 0)) {
      throw Error(source + ": config.json layer_norm_eps is " + eps.dump() +
                  ", not a positive finite number");
    }
    c.ln_eps = eps.get<double>();
  }
  // A vpet export (export.h) records an eps other than timm's.
  const auto eps = file.metadata.find("layer_norm_eps");
  if (eps != file.metadata.end()) {
    std::size_t used = 0;
    try {
      c.ln_eps = std::stod(eps->second, &used);
    } catch (const std::exception&) {
    }
    if (used == 0 || used != eps->second.size() || !(c.ln_eps > 0) || !std::isfinite(c.ln_eps)) {
      throw Error(source + ": __metadata__ layer_norm_eps is '" + eps->second +
                  "', not a positive number");
    }
  }
  if (options.ln_eps) c.ln_eps = *options.ln_eps;
  c.act = decide_act(file, hf_config, weights.layout, options, source, out.notes);
  c.heads =
      decide_heads(stated_heads(file, hf_config, options, source), c.width, source, out.notes);
  if (c.width % c.heads != 0) {
    throw Error(source + ": width " + std::to_string(c.width) + " is not divisible by " +
                std::to_string(c.heads) + " heads");
  }
  const torch::Tensor& pos = need("pos_embed");
  if (pos.dim() != 3 || pos.size(0) != 1 || pos.size(2) != c.width) {
    throw Error(source + ": " + with_source_key(weights, "pos_embed") + " has shape " +
                io::shape_string(pos.sizes()) + "; expected [1, tokens, " +
                std::to_string(c.width) + "]");
  }
  decide_grid(c, pos.size(1), weights.layout, options, source);
  c.validate();

  out.vit = VisionTransformer(c);
  std::map<std::string, torch::Tensor> loaded;
  {
    torch::NoGradGuard no_grad;
    std::set<std::string> used;
    for (auto& item : out.vit->named_parameters()) {
      const std::string& name = item.key();
      const torch::Tensor& stored = need(name);
      torch::Tensor& param = item.value();
      if (stored.sizes() != param.sizes()) {
        throw Error(source + ": expected " + with_source_key(weights, name) + " " +
                    io::shape_string(param.sizes()) + ", found " +
                    io::shape_string(stored.sizes()));
      }
      if (!stored.is_floating_point()) {
        throw Error(source + ": " + with_source_key(weights, name) + " is stored as " +
                    std::string(c10::toString(stored.scalar_type())) +
                    ", not a floating-point type");
      }
      param.copy_(stored.to(torch::kFloat32));
      loaded[name] = param;
      used.insert(name);
    }
    for (const auto& [name, tensor] : t) {
      if (!used.count(name)) {
        throw Error(source + ": unexpected key '" + with_source_key(weights, name) +
                    "' for this configuration");
      }
    }
  }
  out.fingerprint = backbone_fingerprint(loaded);
  apply_load_options(out, options);
  return out;
}

}  // namespace

void apply_load_options(Backbone& backbone, const LoadOptions& options) {
  if (options.img_size) {
    try {
      backbone.vit->set_img_size(*options.img_size);
    } catch (const Error& e) {  // a size off the patch grid: the option's fault
      throw UsageError("--img-size " + std::to_string((*options.img_size)[0]) + ": " + e.what());
    }
  }
  for (auto& p : backbone.vit->parameters()) p.requires_grad_(false);
  backbone.vit->eval();
  backbone.vit->to(options.device);
}

std::int64_t Backbone::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : vit->parameters()) n += p.numel();
  return n;
}

nlohmann::json Backbone::describe() const {
  const VitConfig& c = vit->config();
  nlohmann::json out = {{"layout", layout_name(layout)},
                        {"width", c.width},
                        {"depth", c.depth},
                        {"heads", c.heads},
                        {"mlp_hidden", c.mlp_hidden},
                        {"patch", c.patch_size},
                        {"img_size", {c.img_size[0], c.img_size[1]}},
                        {"in_chans", c.in_chans},
                        {"prefix_tokens", c.prefix_tokens()},
                        {"reg_tokens", c.reg_tokens},
                        {"no_embed_class", c.no_embed_class},
                        {"layer_scale", c.layer_scale},
                        {"ln_eps", c.ln_eps},
                        {"pool", pool_name(c.pool)},
                        {"fc_norm", c.fc_norm},
                        {"classes", c.num_classes},
                        {"fingerprint", fingerprint},
                        {"params", parameter_count()}};
  // Recorded only where they are not what every earlier vpet file meant.
  if (c.act != Activation::Gelu) out["act"] = activation_name(c.act);
  if (c.dist_token) out["dist_token"] = true;
  if (preprocess_defaults) out["preprocess_defaults"] = preprocess_defaults->source;
  return out;
}

Backbone import_backbone(const io::TensorMap& weights, const std::string& source,
                         const LoadOptions& options, const nlohmann::json& hf_config) {
  const CanonicalWeights canonical = to_canonical(weights, source);
  return build(canonical, weights, source, options,
               is_hugging_face(canonical.layout) ? hf_config : nlohmann::json());
}

namespace {

// How to turn a PyTorch pickle into a file vpet reads, with the Python the
// user already has (torch and numpy): vpet reads .npz in every key layout.
std::string conversion_hint(const std::string& path) {
  return "convert it with the Python that wrote it: python3 -c \"import torch, numpy as np; "
         "sd = torch.load('" +
         path +
         "', map_location='cpu'); "
         "sd = sd.get('state_dict', sd.get('model', sd)); "
         "np.savez('" +
         path +
         ".npz', **{k: v.float().numpy() for k, v in sd.items()})\" "
         "(or save_file from the safetensors package)";
}

// A PyTorch pickle (torch.save before 1.6, or another pickle): vpet has no
// pickle reader (unpickling runs code), so say what it is and how to convert it.
void refuse_pickle(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char head[2] = {};
  if (!in.read(reinterpret_cast<char*>(head), 2)) return;
  if (head[0] != 0x80 || head[1] < 2 || head[1] > 5) return;
  throw Error(path + " is a Python pickle (protocol " + std::to_string(head[1]) +
              ", as torch.save wrote .pth/.bin files before PyTorch 1.6), which vpet does not "
              "read: " +
              conversion_hint(path));
}

// A zip archive: numpy's .npz (Google's JAX checkpoints, or any key layout
// saved with numpy), or PyTorch's zip pickle (torch.save since 1.6).
Backbone load_zip_checkpoint(const std::string& path, const LoadOptions& options) {
  for (const std::string& name : io::zip_entry_names(path)) {
    if (name.size() >= 8 && name.compare(name.size() - 8, 8, "data.pkl") == 0) {
      throw Error(path +
                  " is a PyTorch checkpoint (torch.save's zip pickle, .pth/.bin), which "
                  "vpet does not read (unpickling runs code): " +
                  conversion_hint(path));
    }
  }
  io::TensorMap weights = io::read_npz(path);
  std::vector<std::string> notes;
  if (is_jax_layout(weights)) weights = jax_to_timm(weights, path, notes);
  CanonicalWeights canonical = to_canonical(weights, path);
  canonical.notes.insert(canonical.notes.begin(), notes.begin(), notes.end());
  return build(canonical, weights, path, options, nullptr);
}

}  // namespace

Backbone load_backbone(const std::string& given_path, const LoadOptions& options) {
  if (is_random_spec(given_path)) return random_backbone(given_path, options);
  const std::string path = snapshot_weights_path(given_path);
  if (io::is_zip_file(path)) return load_zip_checkpoint(path, options);
  refuse_pickle(path);
  const io::TensorMap weights =
      is_shard_index(path) ? read_sharded_safetensors(path) : io::read_safetensors(path);
  const CanonicalWeights canonical = to_canonical(weights, path);
  if (!is_hugging_face(canonical.layout)) return build(canonical, weights, path, options, nullptr);

  // HF keeps the architecture in config.json beside the weights (a CLIPModel's
  // under vision_config), the preprocessing in preprocessor_config.json.
  nlohmann::json hf_config = read_snapshot_json(path, "config.json");
  if (hf_config.is_object() && hf_config.contains("vision_config")) {
    hf_config = hf_config["vision_config"];
  }
  std::optional<PreprocessDefaults> defaults;
  LoadOptions effective = options;
  const std::string preprocessor = snapshot_file(path, "preprocessor_config.json");
  const nlohmann::json preprocessor_config = read_snapshot_json(path, "preprocessor_config.json");
  if (preprocessor_config.is_object()) {
    defaults = preprocess_defaults(preprocessor_config, preprocessor);
    if (!effective.img_size && defaults->size) {
      effective.img_size = std::array<std::int64_t, 2>{*defaults->size, *defaults->size};
    }
  }
  Backbone out = build(canonical, weights, path, effective, hf_config);
  if (defaults) {
    out.notes.push_back("preprocessing defaults from " + preprocessor);
    out.notes.insert(out.notes.end(), defaults->notes.begin(), defaults->notes.end());
    out.preprocess_defaults = std::move(defaults);
  }
  return out;
}

}  // namespace vpet::model
