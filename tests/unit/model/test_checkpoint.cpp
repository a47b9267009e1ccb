// Checkpoint import: layout detection and renaming, configuration inferred
// from shapes, heads and eps sources, the fingerprint, and the errors a bad
// checkpoint gets.
#include <gtest/gtest.h>

#include "../fixture_paths.h"

#include <regex>
#include <string>

#include "vpet/error.h"
#include "vpet/io/safetensors.h"
#include "vpet/model/checkpoint.h"

namespace {

using vpet::io::TensorMap;
using vpet::model::Backbone;
using vpet::model::LoadOptions;

using vpet::test::kVit;

TensorMap read(const std::string& file) {
  return vpet::io::read_safetensors(kVit + file);
}

TensorMap without(const TensorMap& map, const std::string& name) {
  TensorMap out;
  out.metadata = map.metadata;
  for (const auto& [n, t] : map.tensors) {
    if (n != name) out.add(n, t);
  }
  return out;
}

TensorMap renamed(const TensorMap& map, const std::function<std::string(const std::string&)>& f) {
  TensorMap out;
  out.metadata = map.metadata;
  for (const auto& [n, t] : map.tensors) out.add(f(n), t);
  return out;
}

// import_backbone must throw a vpet::Error containing every part.
void expect_error(const TensorMap& map, const std::vector<std::string>& parts,
                  const LoadOptions& options = {}) {
  try {
    vpet::model::import_backbone(map, "ckpt.safetensors", options);
    ADD_FAILURE() << "loaded; expected an error containing " << parts.front();
  } catch (const vpet::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("ckpt.safetensors: ", 0), 0u) << message;
    for (const auto& part : parts) EXPECT_NE(message.find(part), std::string::npos) << message;
  }
}

torch::Tensor logits_of(const Backbone& b, const torch::Tensor& pixels) {
  torch::NoGradGuard no_grad;
  auto vit = b.vit;  // a copy of the holder: forward() is not const
  return vit->forward(pixels);
}

TEST(Checkpoint, DetectsLayoutsAndShapes) {
  const Backbone tv = vpet::model::load_backbone(kVit + "a_torchvision.safetensors");
  const Backbone timm = vpet::model::load_backbone(kVit + "a_timm.safetensors");
  const Backbone hf = vpet::model::load_backbone(kVit + "a_hf/model.safetensors");
  EXPECT_EQ(tv.layout, vpet::model::Layout::Torchvision);
  EXPECT_EQ(timm.layout, vpet::model::Layout::Timm);
  EXPECT_EQ(hf.layout, vpet::model::Layout::HuggingFace);
  const nlohmann::json d = tv.describe();
  EXPECT_EQ(d["layout"], "torchvision");
  EXPECT_EQ(d["width"], 48);
  EXPECT_EQ(d["depth"], 2);
  EXPECT_EQ(d["heads"], 3);
  EXPECT_EQ(d["mlp_hidden"], 96);
  EXPECT_EQ(d["patch"], 8);
  EXPECT_EQ(d["img_size"], nlohmann::json({32, 32}));
  EXPECT_EQ(d["prefix_tokens"], 1);
  EXPECT_EQ(d["classes"], 5);
  EXPECT_EQ(d["pool"], "token");
  EXPECT_EQ(d["ln_eps"], 1e-6);
  EXPECT_EQ(d["fingerprint"], tv.fingerprint);
  std::int64_t params = 0;
  for (const auto& [name, t] : read("a_torchvision.safetensors").tensors) params += t.numel();
  EXPECT_EQ(d["params"], params);
  EXPECT_EQ(hf.describe()["ln_eps"], 1e-12);
}

TEST(Checkpoint, FingerprintIsTheSameInEveryLayout) {
  const std::string a = vpet::model::load_backbone(kVit + "a_torchvision.safetensors").fingerprint;
  EXPECT_TRUE(std::regex_match(a, std::regex("sha256:[0-9a-f]{16}"))) << a;
  EXPECT_EQ(vpet::model::load_backbone(kVit + "a_timm.safetensors").fingerprint, a);
  EXPECT_EQ(vpet::model::load_backbone(kVit + "a_hf/model.safetensors").fingerprint, a);
  const std::string b = vpet::model::load_backbone(kVit + "b_torchvision.safetensors").fingerprint;
  EXPECT_NE(b, a);
  EXPECT_EQ(vpet::model::load_backbone(kVit + "b_timm.safetensors").fingerprint, b);
  // The bare HF ViTModel has no classifier (and a pooler, ignored): the
  // classifier is not part of the backbone's fingerprint.
  EXPECT_EQ(vpet::model::load_backbone(kVit + "b_hf/model.safetensors").fingerprint, b);
  // Resampling for another input size does not change which weights these are.
  LoadOptions options;
  options.img_size = std::array<std::int64_t, 2>{48, 48};
  EXPECT_EQ(vpet::model::load_backbone(kVit + "a_timm.safetensors", options).fingerprint, a);
}

TEST(Checkpoint, FingerprintSeesOneChangedWeight) {
  TensorMap map = read("a_timm.safetensors");
  const std::string before = vpet::model::import_backbone(map, "x").fingerprint;
  for (auto& [name, t] : map.tensors) {
    if (name == "blocks.1.norm2.bias") t = t.clone().index_put_({3}, t[3] + 1);
  }
  EXPECT_NE(vpet::model::import_backbone(map, "x").fingerprint, before);
}

TEST(Checkpoint, LoadsFrozenInEvalMode) {
  const Backbone b = vpet::model::load_backbone(kVit + "a_timm.safetensors");
  EXPECT_FALSE(b.vit->is_training());
  for (const auto& p : b.vit->parameters()) {
    EXPECT_FALSE(p.requires_grad());
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  }
}

TEST(Checkpoint, HeadsFromMetadataOptionOrConfigJson) {
  // a_torchvision says num_heads, b_torchvision heads, a_hf num_attention_heads,
  // b_hf nothing but its config.json.
  EXPECT_EQ(vpet::model::load_backbone(kVit + "b_torchvision.safetensors").vit->config().heads, 4);
  EXPECT_EQ(vpet::model::load_backbone(kVit + "a_hf/model.safetensors").vit->config().heads, 3);
  const Backbone b_hf = vpet::model::load_backbone(kVit + "b_hf/model.safetensors");
  EXPECT_EQ(b_hf.vit->config().heads, 4);
  EXPECT_EQ(b_hf.vit->config().ln_eps, 1e-12);

  TensorMap bare = read("a_timm.safetensors");
  bare.metadata.clear();
  expect_error(bare, {"width 48 is not a multiple of 64: pass --heads"});
  LoadOptions options;
  options.heads = 3;
  const Backbone with_option = vpet::model::import_backbone(bare, "ckpt.safetensors", options);
  const torch::Tensor pixels = torch::randn({1, 3, 32, 32});
  EXPECT_TRUE(
      torch::allclose(logits_of(with_option, pixels),
                      logits_of(vpet::model::load_backbone(kVit + "a_timm.safetensors"), pixels)));
  options.heads = 4;
  expect_error(read("a_timm.safetensors"),
               {"__metadata__ num_heads says 3 heads but --heads says 4"}, options);
}

TEST(Checkpoint, HeadsDefaultToWidthOver64WithANote) {
  TensorMap map;
  map.add("patch_embed.proj.weight", torch::zeros({128, 3, 4, 4}));
  map.add("pos_embed", torch::zeros({1, 5, 128}));
  map.add("cls_token", torch::zeros({1, 1, 128}));
  for (const char* n : {"norm1", "norm2"}) {
    map.add(std::string("blocks.0.") + n + ".weight", torch::ones({128}));
    map.add(std::string("blocks.0.") + n + ".bias", torch::zeros({128}));
  }
  map.add("blocks.0.attn.qkv.weight", torch::zeros({384, 128}));
  map.add("blocks.0.attn.proj.weight", torch::zeros({128, 128}));
  map.add("blocks.0.attn.proj.bias", torch::zeros({128}));
  map.add("blocks.0.mlp.fc1.weight", torch::zeros({256, 128}));
  map.add("blocks.0.mlp.fc1.bias", torch::zeros({256}));
  map.add("blocks.0.mlp.fc2.weight", torch::zeros({128, 256}));
  map.add("blocks.0.mlp.fc2.bias", torch::zeros({128}));
  map.add("norm.weight", torch::ones({128}));
  map.add("norm.bias", torch::zeros({128}));
  const Backbone b = vpet::model::import_backbone(map, "tiny");
  const auto& c = b.vit->config();
  EXPECT_EQ(c.heads, 2);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(c.num_classes, 0);
  EXPECT_EQ(c.img_size[0], 8);
  bool noted = false;
  for (const auto& n : b.notes)
    noted = noted || n.find("heads = width/64 = 2") != std::string::npos;
  EXPECT_TRUE(noted);

  // A 3x4 grid is not square: refused unless the grid is given.
  TensorMap wide = without(map, "pos_embed");
  wide.add("pos_embed", torch::zeros({1, 13, 128}));
  EXPECT_THROW(vpet::model::import_backbone(wide, "wide"), vpet::Error);
  LoadOptions options;
  options.checkpoint_grid = std::array<std::int64_t, 2>{3, 4};
  const Backbone w = vpet::model::import_backbone(wide, "wide", options);
  EXPECT_EQ(w.vit->config().img_size, (std::array<std::int64_t, 2>{12, 16}));
  torch::NoGradGuard no_grad;
  EXPECT_EQ(logits_of(w, torch::zeros({2, 3, 12, 16})).sizes(),
            (std::vector<std::int64_t>{2, 128}));
}

TEST(Checkpoint, TimmExtrasAreInferred) {
  const Backbone c = vpet::model::load_backbone(kVit + "c_timm.safetensors");
  const auto& cfg = c.vit->config();
  EXPECT_EQ(cfg.reg_tokens, 2);
  EXPECT_TRUE(cfg.no_embed_class);
  EXPECT_TRUE(cfg.layer_scale);
  EXPECT_TRUE(cfg.norm_pre);
  EXPECT_TRUE(cfg.fc_norm);
  EXPECT_FALSE(cfg.qkv_bias);
  EXPECT_FALSE(cfg.patch_bias);
  EXPECT_EQ(cfg.pool, vpet::model::Pool::Avg);
  EXPECT_EQ(cfg.prefix_tokens(), 3);
  EXPECT_EQ(cfg.img_size[0], 24);
}

TEST(Checkpoint, OlderSpellingsAndWrapperPrefixesLoad) {
  const torch::Tensor pixels = torch::randn({1, 3, 24, 24});
  const Backbone c = vpet::model::load_backbone(kVit + "c_timm.safetensors");
  // DeiT-3 gamma_1/gamma_2 and a DataParallel "module." prefix.
  const TensorMap old = renamed(read("c_timm.safetensors"), [](const std::string& n) {
    std::string out = std::regex_replace(n, std::regex(R"(\.ls([12])\.gamma$)"), ".gamma_$1");
    return "module." + out;
  });
  const Backbone c_old = vpet::model::import_backbone(old, "old");
  EXPECT_EQ(c_old.fingerprint, c.fingerprint);
  EXPECT_TRUE(torch::equal(logits_of(c_old, pixels), logits_of(c, pixels)));

  // torchvision's pre-v2 mlp.linear_1/linear_2.
  const TensorMap legacy = renamed(read("a_torchvision.safetensors"), [](const std::string& n) {
    return std::regex_replace(std::regex_replace(n, std::regex(R"(mlp\.0\.)"), "mlp.linear_1."),
                              std::regex(R"(mlp\.3\.)"), "mlp.linear_2.");
  });
  EXPECT_EQ(vpet::model::import_backbone(legacy, "legacy").fingerprint,
            vpet::model::load_backbone(kVit + "a_torchvision.safetensors").fingerprint);

  // Any stored float dtype becomes float32.
  TensorMap bf16 = read("a_torchvision.safetensors");
  for (auto& entry : bf16.tensors) entry.second = entry.second.to(torch::kBFloat16);
  const Backbone b = vpet::model::import_backbone(bf16, "bf16");
  for (const auto& p : b.vit->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
}

TEST(Checkpoint, HfPoolerIsIgnoredWithANote) {
  const Backbone b = vpet::model::load_backbone(kVit + "b_hf/model.safetensors");
  EXPECT_EQ(b.ignored_keys, (std::vector<std::string>{"pooler.dense.bias", "pooler.dense.weight"}));
  ASSERT_FALSE(b.notes.empty());
  EXPECT_NE(b.notes.front().find("pooler"), std::string::npos);
}

TEST(Checkpoint, MissingKeyIsNamedInTheFilesLayout) {
  expect_error(without(read("a_timm.safetensors"), "blocks.1.mlp.fc2.bias"),
               {"missing key 'blocks.1.mlp.fc2.bias'"});
  expect_error(
      without(read("a_torchvision.safetensors"), "encoder.layers.encoder_layer_1.mlp.3.bias"),
      {"missing key 'encoder.layers.encoder_layer_1.mlp.3.bias' (blocks.1.mlp.fc2.bias)"});
  expect_error(without(read("a_hf/model.safetensors"),
                       "vit.encoder.layer.0.attention.attention.value.weight"),
               {"missing key 'encoder.layer.0.attention.attention.value.weight'"});
}

TEST(Checkpoint, WrongShapeIsNamed) {
  TensorMap map = read("a_timm.safetensors");
  for (auto& [name, t] : map.tensors) {
    if (name == "blocks.1.mlp.fc2.weight") t = torch::zeros({48, 50});
  }
  expect_error(map, {"expected blocks.1.mlp.fc2.weight [48, 96], found [48, 50]"});
  TensorMap tv = read("a_torchvision.safetensors");
  for (auto& [name, t] : tv.tensors) {
    if (name == "encoder.layers.encoder_layer_0.ln_2.weight") t = torch::zeros({47});
  }
  expect_error(tv,
               {"expected encoder.layers.encoder_layer_0.ln_2.weight (blocks.0.norm2.weight) [48], "
                "found [47]"});
}

TEST(Checkpoint, ExtraKeyIsRefused) {
  TensorMap map = read("a_timm.safetensors");
  map.add("blocks.0.attn.q_norm.weight", torch::ones({16}));
  expect_error(map, {"unexpected key 'blocks.0.attn.q_norm.weight'", "known-ignorable"});
  TensorMap hf = read("a_hf/model.safetensors");
  hf.add("vit.encoder.layer.0.attention.attention.rotary.weight", torch::ones({16}));
  expect_error(hf, {"unexpected key 'vit.encoder.layer.0.attention.attention.rotary.weight'"});
  // A key that maps to a tensor this configuration has no place for.
  TensorMap deeper = read("a_timm.safetensors");
  deeper.add("blocks.1.ls1.gamma", torch::ones({48}));
  expect_error(deeper, {"unexpected key 'blocks.1.ls1.gamma' for this configuration"});
}

TEST(Checkpoint, UnknownLayoutIsRefused) {
  TensorMap map;
  map.add("foo.weight", torch::zeros({2}));
  expect_error(map, {"cannot tell the checkpoint's key layout", "first key is 'foo.weight'"});
}

}  // namespace

namespace {

// Average pooling asked of a class-token model: the pre-logits become the
// mean of the final-normed patch tokens, which the fixture records too.
TEST(Checkpoint, PoolOptionOverridesTheDefault) {
  LoadOptions options;
  options.pool = vpet::model::parse_pool("avg");
  Backbone b = vpet::model::load_backbone(kVit + "a_timm.safetensors", options);
  EXPECT_EQ(b.describe()["pool"], "avg");
  const TensorMap expected = read("expected_a.safetensors");
  vpet::model::ExtractRequest request;
  request.pre_logits = true;
  torch::NoGradGuard no_grad;
  const auto out = b.vit->extract(*expected.find("pixels"), request);
  EXPECT_LE((out.pre_logits - *expected.find("e6/patch_mean")).abs().max().item<double>(), 1e-4);
  EXPECT_THROW(vpet::model::parse_pool("max"), vpet::UsageError);
}

}  // namespace
