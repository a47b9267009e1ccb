// The ViT's forward pass as a set of seams: the pieces compose to forward(),
// q/k/v are separable views of the fused weight, attention takes a mask and
// extra keys, extract() returns what it is asked for, and the input size is
// checked.
#include <gtest/gtest.h>

#include "../fixture_paths.h"

#include <string>

#include "vpet/error.h"
#include "vpet/io/safetensors.h"
#include "vpet/model/checkpoint.h"
#include "vpet/model/pos_embed.h"

namespace {

using vpet::model::QkvPart;

using vpet::test::kVit;

class VitSeams : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(0);
    backbone = vpet::model::load_backbone(kVit + "c_timm.safetensors");
    pixels = torch::randn({2, 3, 24, 24});
  }
  vpet::model::Backbone backbone;
  torch::Tensor pixels;
  torch::NoGradGuard no_grad;
};

TEST_F(VitSeams, PiecesComposeToForward) {
  auto& vit = backbone.vit;
  torch::Tensor x = vit->add_pos_embed(vit->tokens(pixels));
  for (auto& block : vit->blocks) x = block->forward(x);
  const torch::Tensor logits = vit->head_logits(vit->pre_logits(vit->final_norm(x)));
  EXPECT_TRUE(torch::equal(logits, vit->forward(pixels)));
}

TEST_F(VitSeams, LayerZeroIsPrefixThenPatchesWithoutPositions) {
  auto& vit = backbone.vit;
  const torch::Tensor tokens = vit->tokens(pixels);
  EXPECT_EQ(tokens.sizes(), (std::vector<std::int64_t>{2, 3 + 16, 24}));
  EXPECT_TRUE(torch::equal(tokens.select(1, 0), vit->cls_token[0][0].expand({2, 24})));
  EXPECT_TRUE(torch::equal(tokens.narrow(1, 1, 2), vit->reg_token.expand({2, 2, 24})));
  EXPECT_TRUE(torch::equal(tokens.narrow(1, 3, 16), vit->patch_tokens(pixels)));
}

TEST_F(VitSeams, ExtractReturnsLayersInRequestOrder) {
  vpet::model::ExtractRequest request;
  request.layers = {2, 0, 2};
  const auto out = backbone.vit->extract(pixels, request);
  ASSERT_EQ(out.layers.size(), 3u);
  EXPECT_TRUE(torch::equal(out.layers[0], out.layers[2]));
  EXPECT_TRUE(torch::equal(out.layers[1], backbone.vit->tokens(pixels)));
  EXPECT_FALSE(out.logits.defined());
  request.layers = {3};
  EXPECT_THROW(backbone.vit->extract(pixels, request), vpet::UsageError);
}

TEST_F(VitSeams, QkvViewsShareTheFusedWeight) {
  auto& attn = backbone.vit->blocks[1]->attn;
  const torch::Tensor fused = attn->qkv->weight;
  EXPECT_TRUE(torch::equal(attn->weight_of(QkvPart::K), fused.narrow(0, 24, 24)));
  EXPECT_FALSE(attn->bias_of(QkvPart::V).defined());  // c has no qkv bias
  EXPECT_EQ(attn->weight_of(QkvPart::V).data_ptr<float>(), fused.data_ptr<float>() + 48 * 24);

  const torch::Tensor x = torch::randn({2, 5, 24});
  const auto qkv = attn->project(x);
  EXPECT_TRUE(
      torch::allclose(qkv.v, torch::matmul(x, attn->weight_of(QkvPart::V).t()), 1e-5, 1e-5));
}

TEST_F(VitSeams, QkvViewsOfHfCheckpointAreItsQueryKeyValue) {
  const auto hf = vpet::io::read_safetensors(kVit + "a_hf/model.safetensors");
  const auto b = vpet::model::load_backbone(kVit + "a_hf/model.safetensors");
  auto& attn = b.vit->blocks[0]->attn;
  EXPECT_TRUE(torch::equal(attn->weight_of(QkvPart::Q),
                           *hf.find("vit.encoder.layer.0.attention.attention.query.weight")));
  EXPECT_TRUE(torch::equal(attn->bias_of(QkvPart::K),
                           *hf.find("vit.encoder.layer.0.attention.attention.key.bias")));
}

TEST_F(VitSeams, AttentionMaskAndExtraKeys) {
  auto& attn = backbone.vit->blocks[0]->attn;
  const torch::Tensor x = torch::randn({2, 6, 24});
  const auto qkv = attn->project(x);
  const torch::Tensor plain = attn->attend(qkv);
  // An all-true mask changes nothing.
  EXPECT_TRUE(
      torch::allclose(attn->attend(qkv, torch::ones({6, 6}, torch::kBool)), plain, 1e-5, 1e-6));
  // Extra keys/values that the mask hides change nothing either.
  vpet::model::AttentionImpl::Qkv extended{qkv.q, torch::cat({qkv.k, torch::randn({2, 3, 24})}, 1),
                                           torch::cat({qkv.v, torch::randn({2, 3, 24})}, 1)};
  torch::Tensor mask = torch::ones({6, 9}, torch::kBool);
  mask.narrow(1, 6, 3).fill_(false);
  EXPECT_TRUE(torch::allclose(attn->attend(extended, mask), plain, 1e-5, 1e-6));
  // An additive mask of the same meaning.
  const torch::Tensor additive = torch::zeros({6, 9}).masked_fill(mask.logical_not(), -1e9);
  EXPECT_TRUE(torch::allclose(attn->attend(extended, additive), plain, 1e-5, 1e-6));
  // Unmasked, the extra tokens are attended to.
  EXPECT_FALSE(torch::allclose(attn->attend(extended), plain, 1e-3, 1e-3));
}

TEST_F(VitSeams, WrongInputSizeIsRefused) {
  try {
    backbone.vit->forward(torch::zeros({1, 3, 32, 32}));
    ADD_FAILURE() << "accepted a 32x32 input";
  } catch (const vpet::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3x32x32 per image but the model is built for 3x24x24"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(VitSeams, ResamplingToTheSameGridIsTheIdentity) {
  const torch::Tensor before = backbone.vit->forward(pixels);
  backbone.vit->set_img_size({24, 24});
  EXPECT_TRUE(torch::equal(backbone.vit->forward(pixels), before));
  // A non-square size resamples the 4x4 grid to 4x6; prefix tokens carry no
  // position embedding here, so none is kept.
  backbone.vit->set_img_size({24, 36});
  EXPECT_EQ(backbone.vit->pos_embed.sizes(), (std::vector<std::int64_t>{1, 24, 24}));
  EXPECT_FALSE(backbone.vit->pos_embed.requires_grad());
  EXPECT_EQ(backbone.vit->forward(torch::zeros({1, 3, 24, 36})).sizes(),
            (std::vector<std::int64_t>{1, 4}));
}

// Hooks that set a per-query attention mask (query i may not attend to key
// i + 1) and may ask for the whole last sequence.
class MaskingHooks : public vpet::model::ForwardHooks {
 public:
  explicit MaskingHooks(bool all_rows) : all_rows_(all_rows) {}
  void attention(std::int64_t, const vpet::model::BlockImpl&,
                 vpet::model::AttentionInputs& inputs) override {
    const std::int64_t n = inputs.k.size(1);
    inputs.mask =
        torch::ones({n, n}, torch::kBool).logical_xor(torch::eye(n, n).roll(1, 1).to(torch::kBool));
  }
  bool reads_all_final_tokens() const override { return all_rows_; }

 private:
  bool all_rows_;
};

TEST_F(VitSeams, BlockComputingTheFirstRowGivesThatRowOfTheWholeOutput) {
  const torch::Tensor x = torch::randn({2, 7, 24});
  for (auto& block : backbone.vit->blocks) {
    const torch::Tensor first = block->forward(x, vpet::model::OutputRows::First);
    EXPECT_EQ(first.sizes(), (std::vector<std::int64_t>{2, 1, 24}));
    EXPECT_TRUE(torch::allclose(first, block->forward(x).narrow(1, 0, 1), 1e-5, 1e-6));
  }
}

// A ViT that pools its class token, and a batch of pixels for it.
struct TokenPooled {
  TokenPooled() {
    torch::manual_seed(0);
    backbone = vpet::model::load_backbone(kVit + "a_timm.safetensors");
    const auto& c = backbone.vit->config();
    EXPECT_EQ(c.pool, vpet::model::Pool::Token);
    pixels = torch::randn({3, c.in_chans, c.img_size[0], c.img_size[1]});
  }
  vpet::model::Backbone backbone;
  torch::Tensor pixels;
};

// The last block computes only the pooled class token unless the hooks read
// every final token: the features and every parameter's gradient agree.
TEST(PooledRowOnly, LastBlockGivesTheSameFeaturesAndGradients) {
  TokenPooled model;
  auto& vit = model.backbone.vit;
  for (auto& p : vit->parameters()) p.set_requires_grad(true);
  auto run = [&](bool all_rows) {
    vit->zero_grad();
    MaskingHooks hooks(all_rows);
    const torch::Tensor features = vit->features(model.pixels, hooks);
    (features * torch::linspace(-1, 1, features.size(1))).sum().backward();
    std::vector<torch::Tensor> grads{features.detach()};
    for (const auto& p : vit->parameters()) {
      grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    }
    return grads;
  };
  const auto pooled_only = run(false), every_row = run(true);
  ASSERT_EQ(pooled_only.size(), every_row.size());
  EXPECT_TRUE(torch::allclose(pooled_only[0], every_row[0], 1e-5, 1e-6));
  const auto names = vit->named_parameters().keys();
  for (std::size_t i = 1; i < every_row.size(); ++i) {
    EXPECT_TRUE(torch::allclose(pooled_only[i], every_row[i], 1e-4, 1e-6)) << names[i - 1];
  }
  // The last block's MLP is reached through the class token alone, and it is.
  EXPECT_GT(vit->blocks.back()->mlp->fc1->weight.grad().abs().sum().item<double>(), 0.0);
}

TEST(PooledRowOnly, ExtractOfPreLogitsMatchesTheWholeLastSequence) {
  TokenPooled model;
  torch::NoGradGuard no_grad;
  auto& vit = model.backbone.vit;
  vpet::model::ExtractRequest request;
  request.pre_logits = true;
  request.layers = {vit->config().depth};
  const auto whole = vit->extract(model.pixels, request);  // last layer asked: every row
  request.layers.clear();
  const auto pooled = vit->extract(model.pixels, request);
  EXPECT_TRUE(torch::allclose(pooled.pre_logits, whole.pre_logits, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(pooled.pre_logits, vit->pre_logits(vit->final_norm(whole.layers[0])),
                              1e-5, 1e-6));
}

TEST(PosEmbed, PrefixEntriesAreKeptAndAConstantGridStaysConstant) {
  const torch::Tensor prefix = torch::randn({1, 2, 8});
  const torch::Tensor grid = torch::ones({1, 9, 8}) * 0.25;
  const torch::Tensor out =
      vpet::model::resample_pos_embed(torch::cat({prefix, grid}, 1), 2, {3, 3}, {5, 4});
  ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{1, 2 + 20, 8}));
  EXPECT_TRUE(torch::equal(out.narrow(1, 0, 2), prefix));
  EXPECT_TRUE(torch::allclose(out.narrow(1, 2, 20), torch::full({1, 20, 8}, 0.25), 1e-6, 1e-6));
}

}  // namespace
