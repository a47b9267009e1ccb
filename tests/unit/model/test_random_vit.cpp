// random: model specs: the shape they name, timm's initialisation statistics,
// reproducibility (the fingerprint), and the usage errors of a bad spec.
#include <gtest/gtest.h>

#include <string>

#include "vpet/error.h"
#include "vpet/model/checkpoint.h"
#include "vpet/model/random_vit.h"

namespace {

using vpet::model::Backbone;
using vpet::model::load_backbone;

const std::string kSpec = "random:width=96,depth=3,heads=3,patch=4,img=28,chans=1";

TEST(RandomVit, BuildsTheShapeItNames) {
  const Backbone b = load_backbone(kSpec);
  const nlohmann::json d = b.describe();
  EXPECT_EQ(d["layout"], "timm");
  EXPECT_EQ(d["width"], 96);
  EXPECT_EQ(d["depth"], 3);
  EXPECT_EQ(d["heads"], 3);
  EXPECT_EQ(d["mlp_hidden"], 384);
  EXPECT_EQ(d["patch"], 4);
  EXPECT_EQ(d["img_size"], nlohmann::json({28, 28}));
  EXPECT_EQ(d["in_chans"], 1);
  EXPECT_EQ(d["classes"], 0);
  EXPECT_EQ(d["pool"], "token");
  EXPECT_FALSE(b.vit->is_training());
  for (const auto& p : b.vit->parameters()) EXPECT_FALSE(p.requires_grad());
  torch::NoGradGuard no_grad;
  auto vit = b.vit;
  EXPECT_EQ(vit->forward(torch::zeros({2, 1, 28, 28})).sizes(), (std::vector<std::int64_t>{2, 96}));
}

TEST(RandomVit, DefaultsAreVitTinyAt224) {
  const nlohmann::json d = load_backbone("random:depth=1").describe();
  EXPECT_EQ(d["width"], 192);
  EXPECT_EQ(d["heads"], 3);
  EXPECT_EQ(d["patch"], 16);
  EXPECT_EQ(d["img_size"], nlohmann::json({224, 224}));
  EXPECT_EQ(d["in_chans"], 3);
  EXPECT_TRUE(vpet::model::is_random_spec("random"));
  EXPECT_FALSE(vpet::model::is_random_spec("random.safetensors"));
}

TEST(RandomVit, InitialisesAsTimm) {
  const Backbone b = load_backbone(kSpec);
  auto vit = b.vit;
  const torch::Tensor w = vit->blocks[1]->mlp->fc1->weight;
  // timm cuts at ±2 absolute (100σ): in effect an untruncated N(0, 0.02²).
  EXPECT_NEAR(w.std().item<double>(), 0.02, 0.002);
  EXPECT_GT(w.abs().max().item<double>(), 0.05);  // beyond ±2σ: no 2σ cut
  EXPECT_EQ(vit->blocks[0]->attn->qkv->bias.abs().max().item<double>(), 0.0);
  EXPECT_EQ(vit->norm->weight.min().item<double>(), 1.0);
  EXPECT_LT(vit->cls_token.abs().max().item<double>(), 1e-5);
  EXPECT_NEAR(vit->pos_embed.std().item<double>(), 0.02, 0.002);
  // Conv2d default, 1 channel x 4 x 4: U(±1/4).
  const torch::Tensor patch = vit->patch_embed->proj->weight;
  EXPECT_LE(patch.abs().max().item<double>(), 0.25);
  EXPECT_GT(patch.abs().max().item<double>(), 0.2);
}

TEST(RandomVit, TheSeedGivesTheWeightsAndTheFingerprint) {
  const Backbone a = load_backbone(kSpec), b = load_backbone(kSpec);
  const Backbone c = load_backbone(kSpec + ",seed=1");
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  EXPECT_NE(a.fingerprint, c.fingerprint);
  EXPECT_TRUE(torch::equal(a.vit->pos_embed, b.vit->pos_embed));
}

TEST(RandomVit, LoadOptionsApply) {
  vpet::model::LoadOptions options;
  options.img_size = std::array<std::int64_t, 2>{32, 32};
  const Backbone b = load_backbone(kSpec, options);
  EXPECT_EQ(b.describe()["img_size"], nlohmann::json({32, 32}));
  EXPECT_EQ(b.fingerprint, load_backbone(kSpec).fingerprint);
  options.heads = 4;
  EXPECT_THROW(load_backbone(kSpec, options), vpet::UsageError);
}

TEST(RandomVit, BadSpecsAreUsageErrorsNamingTheSpec) {
  for (const std::string spec :
       {"random:width=0", "random:width=-4", "random:width=9x", "random:colour=3", "random:depth",
        "random:width=100,heads=3", "random:img=30,patch=4"}) {
    try {
      load_backbone(spec);
      ADD_FAILURE() << spec << " loaded";
    } catch (const vpet::UsageError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(spec + ": ", 0), 0u) << e.what();
    }
  }
}

}  // namespace
